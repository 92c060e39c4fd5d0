"""The dashboard on the admin's home page (reporting): its numbers are the database's counts
after an import, a check, a push and a job, per partner, per source and per period; each number
links to a list that shows that same count; who sees it; what it costs in queries."""

import datetime
import re
import statistics
from decimal import Decimal
from html import unescape

import pytest
from django.contrib.auth.models import Group, User
from django.db.models import Sum
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from collision.models import CheckOutcome, CollisionResult
from collision.services import check_leads
from core.roles import ADMINISTRATOR, AUDITOR, OPERATOR
from jobs.models import Job, JobKind, JobState
from jobs.services import create_job
from leads.erasure import erase, people_of
from leads.imports import services as import_services
from leads.models import ImportBatch, ImportState, Lead, OnDuplicate
from partners.models import AuditLogEntry, Partner
from pushes.models import Push, PushState
from pushes.services import push_leads, pushes_left_today
from reporting import counts
from reporting.selectors import Period, activity, partner_health
from tests.conftest import log_in_verified, run_job_to_end
from tests.import_files import CHINESE_HEADERS, lead_rows, xlsx_bytes

INDEX = "/admin/"
# The job runs in threads of its own: they see only committed rows.
pytestmark = pytest.mark.django_db(transaction=True)


def member(username: str, role: str | None) -> User:
    user = User.objects.create_user(username, password="Dash-pass-2026!", is_staff=True)
    if role:
        user.groups.add(Group.objects.get(name=role))
    return user


def signed_in(user: User) -> Client:
    return log_in_verified(Client(), user)


@pytest.fixture
def operator(db):
    return signed_in(member("dashboard.operator", OPERATOR))


def days_ago(days: int) -> datetime.datetime:
    return timezone.now() - datetime.timedelta(days=days)


@pytest.fixture
def world(partner, make_leads):
    """Two channels' leads imported (one batch), one without a source, checked with the sandbox
    partner; the marketable ones pushed; a check job over the first channel; a second partner
    that did nothing; and some of it moved back 3 and 12 days."""
    # A transactional test's flush on SQLite DELETEs the tables one by one, so the triggers
    # counted the last test's leads out after their counts were gone: start from the rows.
    counts.recompute()
    batch = ImportBatch.objects.create(
        file_name="渠道甲.xlsx", source="渠道甲", state=ImportState.DONE
    )
    first = make_leads(8, source="渠道甲", import_batch=batch)
    second = make_leads(5, source="渠道乙")
    unsourced = make_leads(2, source="")
    everyone = Lead.objects.filter(pk__in=[lead.pk for lead in first + second + unsourced])
    check_leads(partner=partner, leads=list(everyone))
    marketable = everyone.filter(collision_results__is_marketable=True).distinct()
    push_leads(partner=partner, leads=marketable)
    for n, push in enumerate(Push.objects.order_by("pk")):  # prices as a partner's terms set them
        Push.objects.filter(pk=push.pk).update(price=Decimal("9.90") + n)
    job = create_job(kind=JobKind.CHECK, partner=partner, lead_ids=[lead.pk for lead in first])
    run_job_to_end(job)
    Partner.objects.create(
        name="空闲平台", slug="idle", test_base_url="http://127.0.0.1:9", utm_source="idle",
        secret_key="idle-key-0123456789", receives_pushes=False,
    )  # fmt: skip
    # Three days back: a lead of 渠道乙 with its checks and pushes; twelve days back: another.
    for lead, days in ((second[0], 3), (second[1], 12)):
        Lead.objects.filter(pk=lead.pk).update(created_at=days_ago(days))
        CollisionResult.objects.filter(lead=lead).update(checked_at=days_ago(days))
        Push.objects.filter(lead=lead).update(created_at=days_ago(days))
        Push.objects.filter(lead=lead, finished_at__isnull=False).update(finished_at=days_ago(days))
    assert Push.objects.exists() and CollisionResult.objects.filter(job=job).exists()
    return {"partner": partner, "batch": batch}


def expected(since: datetime.datetime, **scope):
    """The funnel from the raw rows, written independently of reporting.selectors."""
    leads = Lead.objects.filter(created_at__gte=since)
    checks = CollisionResult.objects.filter(checked_at__gte=since)
    pushes = Push.objects.filter(created_at__gte=since)
    if "source" in scope:
        leads = leads.filter(source=scope["source"])
        checks = checks.filter(lead__source=scope["source"])
        pushes = pushes.filter(lead__source=scope["source"])
    if "partner" in scope:
        leads = leads.none()
        checks = checks.filter(partner=scope["partner"])
        pushes = pushes.filter(partner=scope["partner"])
    return {
        "imported": leads.count(),
        "checked": checks.count(),
        "marketable": checks.filter(is_marketable=True).count(),
        "check_failed": checks.exclude(outcome=CheckOutcome.ANSWERED).count(),
        "pushed": pushes.count(),
        "accepted": pushes.filter(state=PushState.ACCEPTED).count(),
        "rejected": pushes.filter(state=PushState.REJECTED).count(),
        "unknown": pushes.filter(state=PushState.UNKNOWN).count(),
        "push_failed": pushes.filter(state=PushState.FAILED).count(),
    }


def two_significant_digits(ms: int) -> int:
    """DailyLatency's buckets: 57 → 57, 345 → 340, 1234 → 1200."""
    return ms if ms < 100 else int(str(ms)[:2]) * 10 ** (len(str(ms)) - 2)


def as_dict(funnel) -> dict:
    return {name: getattr(funnel, name) for name in expected(timezone.now())}


PERIOD_STARTS = {"today": 0, "7d": 6, "30d": 29}


@pytest.mark.parametrize("key", PERIOD_STARTS)
def test_the_numbers_are_the_databases_counts_per_partner_source_and_period(world, key):
    period = Period.ending_today(key)
    since = period.start
    assert since == timezone.make_aware(
        datetime.datetime.combine(
            timezone.localdate() - datetime.timedelta(days=PERIOD_STARTS[key]), datetime.time()
        )
    )
    seen = activity(period)
    assert as_dict(seen.total) == expected(since)
    assert seen.total.imported == {"today": 13, "7d": 14, "30d": 15}[key]
    by_source = {row.source: as_dict(row.funnel) for row in seen.by_source}
    assert by_source == {
        source: expected(since, source=source)
        for source in Lead.objects.values_list("source", flat=True).distinct()
        if any(expected(since, source=source).values())
    }
    assert {"渠道甲", "渠道乙", ""} <= by_source.keys()
    partner = world["partner"]
    [row] = seen.by_partner  # the idle partner made no call: not a row
    assert row.partner == partner
    assert as_dict(row.funnel) == expected(since, partner=partner)
    latencies = AuditLogEntry.objects.filter(partner=partner, created_at__gte=since)
    assert row.calls == latencies.count() > 0
    lower_median = statistics.median_low(latencies.values_list("latency_ms", flat=True))
    assert row.latency_median_ms == two_significant_digits(lower_median)
    # Revenue: the prices of the pushes accepted in the period, by the moment they were settled.
    accepted = Push.objects.filter(state=PushState.ACCEPTED, finished_at__gte=since)
    assert seen.total.revenue == accepted.aggregate(s=Sum("price"))["s"] > 0
    assert {r.source: r.funnel.revenue for r in seen.by_source if r.funnel.revenue} == {
        source: total
        for source, total in accepted.values_list("lead__source").annotate(Sum("price"))
    }
    assert row.funnel.revenue == seen.total.revenue  # the only partner
    # The funnel is not empty: the check found marketable leads and the push was accepted.
    assert seen.total.marketable > 0 and seen.total.accepted > 0
    # The trend covers at least a week, each day its own counts, adding up to the period's.
    assert len(seen.by_day) == max(period.days, 7)
    in_period = [f for day, f in seen.by_day if day >= period.first_day]
    assert sum(f.checked for f in in_period) == seen.total.checked


def test_the_daily_counts_equal_the_rows_after_imports_checks_pushes_and_an_erasure(
    world, partner, make_leads
):
    """The counts the triggers keep (reporting.counts) are what the rows say, counted again
    with the ORM: after the world's checks, pushes, job and back-dated rows, an import through
    the import's services, a second import that updates those leads, a change of their source
    (their checks and pushes move with them), an erasure, a push whose state changes, and a lead
    deleted with its checks."""
    assert counts.stored() == counts.from_rows() != {}
    assert counts.stored_amounts() == counts.amounts_from_rows() != {}
    data = xlsx_bytes(CHINESE_HEADERS, lead_rows(4, seed=11))
    for source, on_duplicate in (("渠道丙", OnDuplicate.SKIP), ("渠道丁", OnDuplicate.UPDATE)):
        batch = import_services.import_batch_create(
            file_name="新线索.xlsx", data=data, source=source, on_duplicate=on_duplicate
        )
        import_services.import_batch_analyse(batch.pk)
        batch = import_services.import_batch_confirm(batch)
        assert batch.state == ImportState.DONE, batch.error
        if source == "渠道丙":
            imported = Lead.objects.filter(import_batch=batch)
            check_leads(partner=partner, leads=list(imported))
            push_leads(partner=partner, leads=imported)
            assert counts.stored() == counts.from_rows()
    assert counts.stored() == counts.from_rows()
    Lead.objects.filter(source="渠道丙").update(source="渠道丁")  # with their checks and pushes
    assert Lead.objects.filter(source="渠道丁").count() == 4
    assert counts.stored() == counts.from_rows()
    assert counts.stored_amounts() == counts.amounts_from_rows()
    assert counts.stored()[max(counts.stored())] > 0
    erased = Lead.objects.filter(source="渠道丁").order_by("pk").values_list("pk", flat=True)[:2]
    erase(people_of(Lead.objects.filter(pk__in=list(erased))), reason="本人申请")
    assert Lead.objects.filter(erased_at__isnull=False).count() == 2
    first = Push.objects.filter(state=PushState.ACCEPTED).order_by("pk").first()
    revenue = counts.stored_amounts()
    Push.objects.filter(pk=first.pk).update(state=PushState.UNKNOWN)  # no longer billed
    assert sum(counts.stored_amounts().values()) == sum(revenue.values()) - first.price
    [unpushed] = make_leads(1, source="渠道戊")
    check_leads(partner=partner, leads=[unpushed])
    assert counts.stored() == counts.from_rows()
    assert counts.stored_amounts() == counts.amounts_from_rows()
    unpushed.delete()
    assert counts.stored() == counts.from_rows()
    before, amounts = counts.stored(), counts.stored_amounts()
    counts.rebuild()
    assert counts.stored() == before
    assert counts.stored_amounts() == amounts == counts.amounts_from_rows()


def linked_numbers_in(html: str) -> list[tuple[str, int]]:
    return [
        (unescape(href), int(text))
        for href, text in re.findall(r'<a href="([^"]+)">([^<]*)</a>', html)
        if text.strip().isdigit()
    ]


def linked_numbers(html: str) -> list[tuple[str, int]]:
    """Every number the dashboard links, with its link: table cells, cards, job counts, gauges,
    and the chart's points (their number is the last word of their title)."""
    dashboard = html[html.index('id="dashboard"') : html.index('id="dashboard-apps"')]
    found = linked_numbers_in(dashboard)
    for href, title in re.findall(
        r'<a href="([^"]+)"><circle[^>]*><title>([^<]*)</title>', dashboard
    ):
        found.append((unescape(href), int(title.split()[-1])))
    return found


def listed_count(client: Client, url: str) -> int:
    response = client.get(url)
    assert response.status_code == 200, url
    assert "e=1" not in response.url if hasattr(response, "url") else True
    return response.context["cl"].result_count


def linked_amounts(html: str) -> list[tuple[str, Decimal]]:
    dashboard = html[html.index('id="dashboard"') : html.index('id="dashboard-apps"')]
    return [
        (unescape(href), Decimal(text[1:].replace(",", "")))
        for href, text in re.findall(r'<a href="([^"]+)">(¥[\d,]+\.\d\d)</a>', dashboard)
    ]


def listed_amount(client: Client, url: str) -> Decimal:
    """The sum of the prices of the accepted pushes the list shows."""
    response = client.get(url)
    assert response.status_code == 200, url
    rows = response.context["cl"].queryset
    assert set(rows.values_list("state", flat=True)) <= {PushState.ACCEPTED}
    return rows.aggregate(total=Sum("price"))["total"] or Decimal("0.00")


@pytest.mark.parametrize("key", ["today", "30d"])
def test_each_number_links_to_a_list_that_shows_it(world, operator, key):
    page = operator.get(INDEX, {"period": key})
    numbers = linked_numbers(page.content.decode())
    assert len(numbers) > 60  # cards, tables, chart, jobs, gauges
    wrong = [(url, n, got) for url, n in numbers if (got := listed_count(operator, url)) != n]
    assert wrong == []
    # Each amount (收入) opens the accepted pushes it adds up.
    amounts = linked_amounts(page.content.decode())
    assert len(amounts) >= 4 and {amount for _url, amount in amounts} - {Decimal("0.00")}
    wrong = [(url, a, got) for url, a in amounts if (got := listed_amount(operator, url)) != a]
    assert wrong == []
    # Some links show rows and some none: the lists are really filtered.
    assert {n for _url, n in numbers} - {0}


def test_the_source_and_date_filters_narrow_the_lists_the_numbers_open(world, operator):
    """The check and push lists filter by a lead's source (?source=, the empty one included)
    and by a range of days, as the dashboard's links say."""
    url = reverse("admin:pushes_push_changelist")
    by_source = {
        source: listed_count(operator, f"{url}?source={source}")
        for source in ("渠道甲", "渠道乙", "")
    }
    assert by_source == {
        source: Push.objects.filter(lead__source=source).count() for source in by_source
    }
    assert sum(by_source.values()) == Push.objects.count()
    check_url = reverse("admin:collision_collisionresult_changelist")
    assert listed_count(operator, f"{check_url}?source=无此渠道") == 0


def test_a_partner_near_its_cap_paused_or_failing_is_shown_with_todays_pushes(world, operator):
    partner = world["partner"]
    sent = Push.objects.filter(partner=partner).exclude(state=PushState.FAILED).count()
    Partner.objects.filter(pk=partner.pk).update(  # as partners.calls records failures
        daily_push_cap=sent + 1,
        consecutive_failures=2,
        last_error="连接超时",
        last_error_at=timezone.now(),
    )
    partner.refresh_from_db()
    [health, idle] = partner_health()
    assert health.partner == partner and health.needs_attention and health.failing
    assert health.partner.daily_push_cap - health.sent_today == pushes_left_today(partner)
    assert health.near_cap and not idle.needs_attention
    html = operator.get(INDEX).content.decode()
    assert "接近上限" in html and "调用失败中" in html and "连接超时" in html
    assert 'class="cap-gauge"' in html
    partners = html[html.index('id="dashboard-partners"') : html.index('id="dashboard-by-partner"')]
    [(sent_url, shown)] = linked_numbers_in(partners)
    assert shown == health.sent_today == listed_count(operator, sent_url)
    Partner.objects.filter(pk=idle.partner.pk).update(is_paused=True)
    assert "已暂停" in operator.get(INDEX).content.decode()


def test_running_and_paused_jobs_are_listed_with_their_progress(world, operator):
    job = Job.objects.get()
    Job.objects.filter(pk=job.pk).update(
        state=JobState.PAUSED, processed=3, pause_reason="非工作时段"
    )
    html = operator.get(INDEX).content.decode()
    jobs = html[html.index('id="dashboard-jobs"') :]
    assert reverse("admin:jobs_job_change", args=[job.pk]) in jobs
    assert f'<progress class="job-progress" max="{job.total}" value="3">' in jobs
    assert "非工作时段" in jobs


@pytest.mark.parametrize("role", [OPERATOR, AUDITOR, ADMINISTRATOR])
def test_every_role_that_sees_leads_sees_the_dashboard_and_the_app_list(db, role):
    client = signed_in(member("someone", role))
    html = client.get(INDEX).content.decode()
    assert 'id="dashboard"' in html and 'id="trend-chart"' in html
    assert reverse("admin:leads_lead_changelist") in html  # the app list is still there


def test_audit_links_only_for_who_may_open_the_audit_log(world):
    audit_list = reverse("admin:partners_auditlogentry_changelist")
    operator = signed_in(member("op", OPERATOR))
    auditor = signed_in(member("au", AUDITOR))
    assert audit_list not in operator.get(INDEX).content.decode()
    assert audit_list in auditor.get(INDEX).content.decode()


def test_staff_without_a_role_keeps_djangos_index(db):
    html = signed_in(member("nobody", None)).get(INDEX).content.decode()
    assert 'id="dashboard"' not in html
    assert 'id="content-main"' in html


def test_the_query_count_does_not_grow_with_partners_sources_or_jobs(
    world, operator, make_leads, django_assert_max_num_queries
):
    Partner.objects.filter(pk=world["partner"].pk).update(daily_push_cap=1000)
    with django_assert_max_num_queries(30) as few:
        operator.get(INDEX, {"period": "30d"})
    for n in range(4):
        other = Partner.objects.create(
            name=f"平台{n}", slug=f"p{n}", test_base_url="http://127.0.0.1:9", utm_source="x",
            secret_key="key-0123456789abcdef", daily_push_cap=100, receives_pushes=False,
        )  # fmt: skip
        make_leads(1, source=f"渠道{n}")
        Job.objects.create(kind=JobKind.CHECK, partner=other, total=10, state=JobState.RUNNING)
    with django_assert_max_num_queries(len(few.captured_queries)):
        operator.get(INDEX, {"period": "30d"})
