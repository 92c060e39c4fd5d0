"""A job's page tells one story: one live status at the top, the partner by name, and a
breakdown of the job's leads whose counts add up to its total, each a link to a list that shows
exactly that many rows."""

import re

import pytest
from django.test import Client
from django.urls import reverse

from collision.models import CollisionResult
from collision.services import check_leads
from jobs.models import Job, JobKind, JobState
from jobs.services import create_job
from leads.models import Lead
from pushes.models import Push
from pushes.services import push_leads
from sandbox.server import Fault
from tests.browser import operator_user
from tests.conftest import log_in_verified, run_job_to_end

pytestmark = pytest.mark.django_db(transaction=True)
BUCKET = re.compile(
    r'<li data-key="(?P<key>[\w-]+)"><span class="job-bucket-label">(?P<label>[^<]*)</span>\s*'
    r'(?:<a href="(?P<url>[^"]+)" class="job-bucket-count">|<span class="job-bucket-count">)'
    r"(?P<count>\d+)<"
)


@pytest.fixture
def operator_client():
    return log_in_verified(Client(), operator_user())


def all_ids():
    return list(Lead.objects.order_by("pk").values_list("pk", flat=True))


def page_of(client, job: Job) -> str:
    response = client.get(reverse("admin:jobs_job_change", args=[job.pk]))
    assert response.status_code == 200
    return response.content.decode()


def buckets_on(page: str) -> dict[str, dict]:
    return {m["key"]: m.groupdict() for m in BUCKET.finditer(page)}


def assert_each_link_lists_its_count(client, buckets: dict) -> None:
    for bucket in buckets.values():
        if not bucket["url"]:
            continue
        response = client.get(bucket["url"].replace("&amp;", "&"))
        assert response.status_code == 200, bucket
        assert response.context["cl"].result_count == int(bucket["count"]), bucket


def assert_one_status_and_the_partner_by_name(page: str, job: Job) -> None:
    for state in JobState:
        expected = 1 if state == job.state else 0
        assert page.count(str(state.label)) == expected, state.label
    assert job.partner.name in page
    assert f"→ {job.partner_id} " not in page and f"→ {job.partner_id}<" not in page


def test_a_finished_check_job_page_adds_up_and_links_to_each_outcome(
    operator_client, partner, sandbox, make_leads
):
    make_leads(45)
    sandbox.inject(Fault.DROP_HASHES)  # every third hash unanswered: failures among answers
    job = run_job_to_end(create_job(kind=JobKind.CHECK, partner=partner, lead_ids=all_ids()))
    assert job.state == JobState.FINISHED

    page = page_of(operator_client, job)

    assert_one_status_and_the_partner_by_name(page, job)
    buckets = buckets_on(page)
    assert {"marketable", "status_0", "status_1", "status_2", "status_3", "failed"} <= set(buckets)
    assert sum(int(b["count"]) for b in buckets.values()) == job.total == 45
    assert int(buckets["marketable"]["count"]) == job.marketable > 0
    assert int(buckets["failed"]["count"]) == job.errors > 0
    assert int(buckets["marketable"]["count"]) + int(buckets["failed"]["count"]) < 45
    assert_each_link_lists_its_count(operator_client, buckets)

    answer = operator_client.get(reverse("admin:jobs_job_progress", args=[job.pk])).json()
    assert {b["key"]: b["count"] for b in answer["breakdown"]} == {
        key: int(b["count"]) for key, b in buckets.items()
    }
    assert answer["eta_text"] == ""  # finished: no estimate
    assert_the_job_list_adds_up(operator_client, job)


def assert_the_job_list_adds_up(client, job: Job) -> None:
    """The job list's outcome column: its numbers add up to the total it names."""
    page = client.get(reverse("admin:jobs_job_changelist")).content.decode()
    line = re.search(r"(?:可营销|接收) [^<]*（共 (\d+)）", page)
    assert line and int(line[1]) == job.total
    parts = re.findall(r" (\d+)(?= ·|（)", " " + line[0])
    assert sum(map(int, parts)) == job.total, line[0]


def test_a_finished_push_job_page_adds_up_and_links_to_each_outcome(
    operator_client, partner, sandbox, make_leads
):
    make_leads(30)
    check_leads(partner=partner, leads=Lead.objects.all())
    marketable = CollisionResult.objects.filter(is_marketable=True).count()
    job = run_job_to_end(create_job(kind=JobKind.PUSH, partner=partner, lead_ids=all_ids()))

    page = page_of(operator_client, job)

    assert_one_status_and_the_partner_by_name(page, job)
    buckets = buckets_on(page)
    assert {"accepted", "rejected", "unknown", "failed", "skipped_not_marketable"} <= set(buckets)
    assert sum(int(b["count"]) for b in buckets.values()) == job.total == 30
    assert int(buckets["accepted"]["count"]) == marketable == Push.objects.filter(job=job).count()
    # Each skip by its reason, linked to the 未推送及原因 rows that say so.
    assert int(buckets["skipped_not_marketable"]["count"]) == 30 - marketable
    assert "reason__exact=not_marketable" in buckets["skipped_not_marketable"]["url"]
    assert_each_link_lists_its_count(operator_client, buckets)

    answer = operator_client.get(reverse("admin:jobs_job_progress", args=[job.pk])).json()
    assert sum(b["count"] for b in answer["breakdown"]) == 30
    assert_the_job_list_adds_up(operator_client, job)


def test_a_running_job_shows_an_estimate_and_its_unprocessed_leads(
    operator_client, partner, make_leads
):
    from datetime import timedelta

    from django.utils import timezone

    make_leads(3)
    job = Job.objects.create(
        kind=JobKind.CHECK,
        partner=partner,
        state=JobState.RUNNING,
        total=1000,
        processed=100,
        started_at=timezone.now() - timedelta(minutes=1),
    )

    answer = operator_client.get(reverse("admin:jobs_job_progress", args=[job.pk])).json()

    assert 500 <= answer["eta_seconds"] <= 560  # 900 left at 100 a minute
    assert answer["eta_text"] == "预计还需约 9 分钟"
    counts = {b["key"]: b["count"] for b in answer["breakdown"]}
    assert counts["remaining"] == 900 and counts["gone"] == 100  # no results were written
    assert sum(counts.values()) == 1000
    assert "预计还需约 9 分钟" in page_of(operator_client, job)


def test_a_job_filter_naming_no_job_lists_nothing(operator_client, partner, sandbox, make_leads):
    """With no job of its kind to offer, Django would drop the filter and list every row."""
    leads = make_leads(3)
    check_leads(partner=partner, leads=Lead.objects.all())
    push_leads(partner=partner, leads=Lead.objects.all())
    assert Push.objects.exists() and not Job.objects.exists()

    for name in ("admin:pushes_push_changelist", "admin:collision_collisionresult_changelist"):
        response = operator_client.get(reverse(name), {"job": "999"})
        assert response.status_code == 200 and response.context["cl"].result_count == 0, name
    assert len(leads) == 3
