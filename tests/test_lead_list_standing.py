"""The lead list shows where each lead stands (issue 13, finding 4): the newest check outcome and
push state, for the partner chosen or per active partner, each linking to the row behind it;
filters by partner, check outcome, push state, import batch, check job and a from–to date range
whose groups add up to the list's total; a select-across action gets exactly the filtered set;
and the page loads its standing in two queries, whatever the page size."""

import datetime
import re

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from collision.models import CheckOutcome, CollisionResult
from jobs.models import Job, JobKind, JobState
from leads.models import ImportBatch, ImportState, Lead
from partners.models import Partner
from pushes.lead_standing import CHECK_VERDICTS, PUSH_STANDINGS
from pushes.models import Push, PushState
from tests.browser import operator_user
from tests.conftest import log_in_verified

pytestmark = pytest.mark.django_db
LIST = "/admin/leads/lead/"
ROW_ID = re.compile(r'<th class="field-id"><a href="/admin/leads/lead/(\d+)/change/')


def other_partner(name="乙平台", **extra) -> Partner:
    return Partner.objects.create(
        name=name,
        slug=f"p{Partner.objects.count() + 1}",
        test_base_url="http://127.0.0.1:9/",
        push_url="http://127.0.0.1:9/push",
        utm_source="other",
        client_id="OTHER",
        secret_key="k" * 16,
        **extra,
    )


def checked(lead, partner, *, marketable=None, status=0, failed=False, ago=0, job=None):
    """A check result: marketable (status 0, flag 1), not (status, or the flag 0), or failed."""
    when = timezone.now() - datetime.timedelta(minutes=ago)
    if failed:
        fields = {"outcome": CheckOutcome.CALL_FAILED}
    else:
        flag = bool(marketable) if marketable is not None else False
        fields = {
            "outcome": CheckOutcome.ANSWERED,
            "user_status": status,
            "marketable": flag,
            "is_marketable": flag and status == 0,
        }
    return CollisionResult.objects.create(
        lead=lead, partner=partner, checked_at=when, job=job, **fields
    )


def pushed(lead, partner, state, *, ago=0):
    return Push.objects.create(
        lead=lead,
        partner=partner,
        state=state,
        created_at=timezone.now() - datetime.timedelta(minutes=ago),
    )


def listed_ids(client, query="") -> list[int]:
    response = client.get(f"{LIST}?{query}")
    assert response.status_code == 200, response.status_code
    return [int(pk) for pk in ROW_ID.findall(response.content.decode())]


def count_of(client, query="") -> int:
    response = client.get(f"{LIST}?{query}")
    assert response.status_code == 200
    return response.context["cl"].result_count


def cells(client, query, lead) -> tuple[str, str]:
    """The check and push cells of ``lead``'s row."""
    html = client.get(f"{LIST}?{query}").content.decode()
    row = re.search(rf"lead/{lead.pk}/change/.*?</tr>", html, re.S).group(0)
    check = re.search(r'<td class="field-check_standing">(.*?)</td>', row, re.S).group(1)
    push = re.search(r'<td class="field-push_standing">(.*?)</td>', row, re.S).group(1)
    return check, push


@pytest.fixture
def scene(make_leads, partner):
    """Five leads with the sandbox partner (甲 of the story) and a second partner:
    marketable then pushed and accepted; marketable once, newest not (status 2) and a rejected
    push; failed; never checked; and one marketable only at the other partner, sending."""
    other = other_partner()
    a, b, c, d, e = make_leads(5)
    checked(a, partner, marketable=True)
    pushed(a, partner, PushState.ACCEPTED)
    checked(b, partner, marketable=True, ago=10)
    checked(b, partner, status=2)
    pushed(b, partner, PushState.FAILED, ago=20)
    pushed(b, partner, PushState.REJECTED, ago=5)
    checked(c, partner, failed=True)
    checked(e, other, marketable=True)
    checked(e, partner, status=1)
    pushed(e, other, PushState.SENDING)
    return {"partner": partner, "other": other, "leads": (a, b, c, d, e)}


def test_columns_show_the_newest_check_and_push_with_the_chosen_partner(admin_client, scene):
    partner = scene["partner"]
    a, b, c, d, e = scene["leads"]
    query = f"partner={partner.pk}"
    html = admin_client.get(f"{LIST}?{query}").content.decode()
    assert f"撞库结果<br>（{partner.name}）" in html and f"推送状态<br>（{partner.name}）" in html

    check, push = cells(admin_client, query, a)
    result = CollisionResult.objects.get(lead=a)
    assert f'href="/admin/collision/collisionresult/{result.pk}/change/"' in check
    assert "可营销" in check and "已接收" in push
    assert f"/admin/pushes/push/{Push.objects.get(lead=a).pk}/change/" in push

    check, push = cells(admin_client, query, b)  # the newest of two checks and of two pushes
    assert "不可营销 · 2 其他渠道已注册" in check and "被拒绝" in push and "未送达" not in push
    check, push = cells(admin_client, query, c)
    assert "失败" in check and "未推送" in push and "href" not in push
    check, push = cells(admin_client, query, d)
    assert "未撞库" in check and "href" not in check
    check, push = cells(admin_client, query, e)  # its push went to the other partner
    assert "不可营销 · 1 本渠道已注册" in check and "未推送" in push


def test_with_no_partner_chosen_each_active_partner_has_a_line(admin_client, scene):
    partner, other = scene["partner"], scene["other"]
    other_partner("停用平台", is_active=False)
    e = scene["leads"][4]
    check, push = cells(admin_client, "", e)
    assert f"{other.name}：" in check and f"{partner.name}：" in check
    assert "停用平台" not in check
    assert check.index(f"{other.name}：") < check.index(f"{partner.name}：")  # by name
    assert "可营销" in check and "不可营销 · 1" in check
    assert "发送中" in push and "未推送" in push


def test_check_filter_groups_add_up_for_a_partner_and_across_partners(admin_client, scene):
    partner = scene["partner"]
    a, b, c, d, e = scene["leads"]
    by_partner = {
        verdict: set(listed_ids(admin_client, f"partner={partner.pk}&check={verdict}"))
        for verdict in CHECK_VERDICTS
    }
    assert by_partner == {
        "marketable": {a.pk},
        "not_marketable": {b.pk, e.pk},
        "failed": {c.pk},
        "unchecked": {d.pk},
    }
    across = {
        verdict: set(listed_ids(admin_client, f"check={verdict}")) for verdict in CHECK_VERDICTS
    }
    # Best standing at any partner: e is marketable at the other partner.
    assert across == {
        "marketable": {a.pk, e.pk},
        "not_marketable": {b.pk},
        "failed": {c.pk},
        "unchecked": {d.pk},
    }
    assert sum(map(len, across.values())) == count_of(admin_client) == 5


def test_push_filter_groups_add_up_for_a_partner_and_across_partners(admin_client, scene):
    partner = scene["partner"]
    a, b, c, d, e = scene["leads"]
    by_partner = {
        key: set(listed_ids(admin_client, f"partner={partner.pk}&push={key}"))
        for key in PUSH_STANDINGS
    }
    assert by_partner == {
        "none": {c.pk, d.pk, e.pk},
        "accepted": {a.pk},
        "rejected": {b.pk},  # its older failed push is not its standing
        "unknown": set(),
        "failed": set(),
        "sending": set(),
    }
    across = {key: set(listed_ids(admin_client, f"push={key}")) for key in PUSH_STANDINGS}
    assert across["sending"] == {e.pk} and across["none"] == {c.pk, d.pk}
    assert sum(map(len, across.values())) == count_of(admin_client) == 5


def test_filters_combine(admin_client, scene):
    partner = scene["partner"]
    a, b, *_ = scene["leads"]
    query = f"partner={partner.pk}&check=not_marketable&push=rejected"
    assert listed_ids(admin_client, query) == [b.pk]
    assert listed_ids(admin_client, "partner=abc") == []  # a hand-edited id matches nothing


def test_batch_filter_lists_the_batch_and_names_it(admin_client, make_leads):
    batch = ImportBatch.objects.create(file_name="渠道A-1201.xlsx", state=ImportState.DONE)
    older = ImportBatch.objects.create(file_name="旧批次.xlsx", state=ImportState.DONE)
    mine = make_leads(3)
    make_leads(2)
    Lead.objects.filter(pk__in=[lead.pk for lead in mine]).update(import_batch=batch)
    assert sorted(listed_ids(admin_client, f"batch={batch.pk}")) == sorted(m.pk for m in mine)
    assert listed_ids(admin_client, f"batch={older.pk}") == []
    html = admin_client.get(f"{LIST}?batch={batch.pk}").content.decode()
    assert "渠道A-1201.xlsx" in html  # the chosen batch by name, among the recent ones


def test_a_chosen_batch_job_or_partner_that_does_not_exist_lists_nothing(admin_client, make_leads):
    """Django drops a filter with nothing to show: a gone batch must not widen the list to every
    lead (and an action on "all" with it)."""
    make_leads(3)
    queries = (
        "batch=999",
        "check_job=999",
        "partner=999",
        "partner=abc",
        "batch=x",
        "batch_part=new",
    )
    for query in queries:
        assert listed_ids(admin_client, query) == [], query
    assert "#999（不存在）" in admin_client.get(f"{LIST}?batch=999").content.decode()


def test_batch_filter_names_a_chosen_batch_older_than_the_recent_ones(admin_client):
    oldest = ImportBatch.objects.create(file_name="很久以前.xlsx")
    for n in range(12):
        ImportBatch.objects.create(file_name=f"新{n}.xlsx")
    html = admin_client.get(f"{LIST}?batch={oldest.pk}").content.decode()
    assert "很久以前.xlsx" in html and "新0.xlsx" not in html  # 10 newest + the chosen one


def test_created_range_includes_both_days_and_keeps_the_other_filters(admin_client, make_leads):
    leads = make_leads(4)
    days = ["2026-11-01 00:00", "2026-11-03 23:59", "2026-11-04 00:00", "2026-10-31 23:59"]
    for lead, day in zip(leads, days, strict=True):
        moment = timezone.make_aware(datetime.datetime.fromisoformat(day))
        Lead.objects.filter(pk=lead.pk).update(created_at=moment)
    query = "created_from=2026-11-01&created_to=2026-11-03"
    assert sorted(listed_ids(admin_client, query)) == sorted([leads[0].pk, leads[1].pk])
    assert sorted(listed_ids(admin_client, "created_from=2026-11-04")) == [leads[2].pk]
    assert listed_ids(admin_client, "created_to=not-a-day") == []
    html = admin_client.get(f"{LIST}?{query}&source=x").content.decode()
    form = re.search(r'<form method="get" class="date-range-filter".*?</form>', html, re.S)
    assert '<input type="hidden" name="source" value="x">' in form.group(0)
    assert 'value="2026-11-01"' in form.group(0) and 'type="date"' in form.group(0)
    assert "By " not in html  # the title reads like the other filters', in Chinese
    # the presets are still there
    assert "created_at__gte" in html


def test_select_across_acts_on_exactly_the_filtered_leads(admin_client, scene):
    partner = scene["partner"]
    query = f"partner={partner.pk}&check=not_marketable"
    response = admin_client.post(
        f"{LIST}?{query}",
        {
            "action": "collision_check",
            "index": 0,
            "select_across": 1,
            "_selected_action": [scene["leads"][1].pk],
        },
    )
    assert response.status_code == 200
    assert response.context["count"] == 2  # b and e, not the 5 leads of the table


def test_check_job_filter_lists_exactly_the_job_marketable_leads(admin_client, scene, make_leads):
    partner = scene["partner"]
    job = Job.objects.create(kind=JobKind.CHECK, partner=partner, state=JobState.FINISHED)
    fresh = make_leads(3)
    checked(fresh[0], partner, marketable=True, job=job)
    checked(fresh[1], partner, marketable=True, job=job)
    checked(fresh[2], partner, status=3, job=job)
    checked(fresh[1], partner, status=1, ago=-1)  # checked again since: still marketable *in job*
    query = f"check_job={job.pk}&check=marketable"
    assert sorted(listed_ids(admin_client, query)) == sorted([fresh[0].pk, fresh[1].pk])
    assert count_of(admin_client, f"check_job={job.pk}") == 3
    assert listed_ids(admin_client, f"check_job={job.pk}&check=unchecked") == []


def test_cells_link_only_where_the_viewer_may_look(scene):
    from django.contrib.auth.models import Permission, User

    user = User.objects.create_user("viewer", password="x", is_staff=True)
    user.user_permissions.add(Permission.objects.get(codename="view_lead"))
    client = log_in_verified(Client(), user)
    a = scene["leads"][0]
    check, push = cells(client, f"partner={scene['partner'].pk}", a)
    assert "可营销" in check and "已接收" in push
    assert "href" not in check and "href" not in push


def test_operator_links_open(scene):
    client = log_in_verified(Client(), operator_user())
    a = scene["leads"][0]
    check, push = cells(client, f"partner={scene['partner'].pk}", a)
    for cell in (check, push):
        url = re.search(r'href="([^"]+)"', cell).group(1)
        assert client.get(url).status_code == 200


def _page_queries(client, query="") -> list[str]:
    with CaptureQueriesContext(connection) as captured:
        assert client.get(f"{LIST}?{query}").status_code == 200
    return [q["sql"] for q in captured.captured_queries]


def test_the_page_loads_standing_in_two_queries_whatever_its_size(
    admin_client, bulk_leads, partner, django_assert_max_num_queries
):
    other_partner()
    bulk_leads(60)
    leads = list(Lead.objects.order_by("-pk")[:50])
    for n, lead in enumerate(leads):
        checked(lead, partner, marketable=bool(n % 2), status=n % 4)
        checked(lead, partner, failed=True, ago=5)
        pushed(lead, partner, PushState.ACCEPTED if n % 3 else PushState.REJECTED)
    few = len(_page_queries(admin_client, "id__in=" + ",".join(str(x.pk) for x in leads[:2])))
    many = _page_queries(admin_client)
    assert len(many) <= few  # no query per row
    standing = [sql for sql in many if "collision_collisionresult" in sql or "pushes_push" in sql]
    assert len(standing) == 2
    # The counts of every lead stay plain: no check or push table in them.
    counts = [sql for sql in many if "COUNT(" in sql.upper()]
    assert counts and all("collision" not in sql and "pushes" not in sql for sql in counts)
    with django_assert_max_num_queries(len(many)):
        admin_client.get(f"{LIST}?partner={partner.pk}")


def test_an_action_on_the_list_does_not_load_the_standing_of_every_lead(admin_client, scene):
    """The standing is loaded for a page's rows only (a changelist subclass), never through the
    queryset an action receives."""
    queries = _page_queries(admin_client, "")
    assert sum("ROW_NUMBER" in sql.upper() for sql in queries) == 2


# --- the batch page and the job page lead into the list -------------------------------------

FORM_INPUT = re.compile(r'<input type="hidden" name="(\w+)" value="([^"]*)">')


def post_form(client, html: str, form_id: str):
    """Submit the page's form ``form_id`` as a browser would (its action and hidden fields)."""
    form = re.search(rf'<form method="post" action="([^"]+)" id="{form_id}".*?</form>', html, re.S)
    action = form.group(1).replace("&amp;", "&")
    data = {}
    for name, value in FORM_INPUT.findall(form.group(0)):
        data.setdefault(name, []).append(value)
    return client.post(action, data)


def forms_nest(html: str) -> bool:
    depth = 0
    for tag in re.findall(r"<(/?)form\b", html):
        depth += -1 if tag else 1
        if depth > 1:
            return True
    return False


def auditor_client():
    from django.contrib.auth.models import Group, User

    from core.roles import ROLES

    user = User.objects.create_user("auditor", password="x", is_staff=True)
    user.groups.add(Group.objects.get(name=list(ROLES)[1]))
    return log_in_verified(Client(), user)


@pytest.fixture
def done_batch(make_leads):
    batch = ImportBatch.objects.create(
        file_name="渠道B.xlsx", state=ImportState.DONE, leads_created=2, leads_updated=2
    )
    mine = make_leads(3)
    make_leads(2)  # not this batch's
    Lead.objects.filter(pk__in=[lead.pk for lead in mine]).update(import_batch=batch)
    # one of them existed before the upload: the batch updated it
    before = batch.created_at - datetime.timedelta(days=3)
    Lead.objects.filter(pk=mine[0].pk).update(created_at=before)
    return batch


def test_batch_page_links_to_its_leads_and_checks_them(done_batch, partner):
    client = log_in_verified(Client(), operator_user())
    html = client.get(f"/admin/leads/importbatch/{done_batch.pk}/change/").content.decode()
    link = re.search(r'<a href="([^"]+)" id="batch-leads-link">3 条</a>', html)
    assert link and link.group(1) == f"{LIST}?batch={done_batch.pk}"
    assert count_of(client, f"batch={done_batch.pk}") == 3  # the count is its rows
    assert "另有 1 条之后又被其他批次写入" in html  # 2 + 2 written, 3 still this batch's
    parts = dict(re.findall(r'<a href="([^"]+)" id="batch-part-\w+">(\d+)</a>', html))
    assert sorted(parts.values()) == ["1", "2"]  # new and updated add up to the 3
    for url, count in parts.items():  # each links to exactly its rows
        assert count_of(client, url.replace("&amp;", "&").split("?", 1)[1]) == int(count)
    assert "撞库这些线索（3 条）" in html

    assert not forms_nest(html)
    response = post_form(client, html, "check-batch")
    assert response.status_code == 200
    page = response.content.decode()
    assert 'id="choose-partner"' in page and response.context["count"] == 3
    assert '<option value="" selected>请选择</option>' in page


def test_batch_page_offers_no_check_to_whoever_may_not_check(done_batch):
    html = auditor_client().get(f"/admin/leads/importbatch/{done_batch.pk}/change/")
    html = html.content.decode()
    assert 'id="batch-leads-link"' in html and "撞库这些线索" not in html


@pytest.fixture
def finished_check(scene, make_leads):
    partner = scene["partner"]
    job = Job.objects.create(
        kind=JobKind.CHECK, partner=partner, state=JobState.FINISHED, total=3, processed=3
    )
    fresh = make_leads(3)
    checked(fresh[0], partner, marketable=True, job=job)
    checked(fresh[1], partner, marketable=True, job=job)
    checked(fresh[2], partner, status=2, job=job)
    return job


def test_a_finished_check_offers_to_push_its_marketable_leads(finished_check):
    client = log_in_verified(Client(), operator_user())
    job = finished_check
    html = client.get(f"/admin/jobs/job/{job.pk}/change/").content.decode()
    assert "推送可营销的 2 条" in html
    # The job's breakdown says 2 marketable; the list the button acts on shows exactly those 2.
    assert re.search(r'data-key="marketable">.*?>2<', html, re.S)
    query = f"check_job={job.pk}&check=marketable&partner={job.partner_id}"
    assert f'href="{LIST}?{query.replace("&", "&amp;")}"' in html
    assert count_of(client, query) == 2

    assert not forms_nest(html)  # a nested form would post to the job page (403)
    assert 'form="push-marketable-form"' in html
    response = post_form(client, html, "push-marketable-form")
    assert response.status_code == 200
    assert 'id="choose-partner"' in response.content.decode()
    assert response.context["count"] == 2
    assert response.wsgi_request.POST["partner"] == str(job.partner_id)


def test_the_push_offer_needs_the_push_permission_and_a_finished_check(finished_check):
    job = finished_check
    html = auditor_client().get(f"/admin/jobs/job/{job.pk}/change/").content.decode()
    assert "推送可营销的" not in html and 'id="marketable-leads"' in html  # the list, no button
    Job.objects.filter(pk=job.pk).update(state=JobState.RUNNING)
    client = log_in_verified(Client(), operator_user())
    assert "推送可营销的" not in client.get(f"/admin/jobs/job/{job.pk}/change/").content.decode()
