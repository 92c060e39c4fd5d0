"""An operator checks a few thousand leads from the admin: the action starts a background job,
a real worker runs it, the progress bar moves; a second job is cancelled from its page."""

import pytest
from django.test import override_settings

from jobs.models import Job, JobKind, JobState
from partners.models import Partner
from tests.browser import browser_page, log_in, operator_user, requires_chromium
from tests.workers import DB_TASKS, start_worker

pytestmark = [pytest.mark.browser, requires_chromium, pytest.mark.django_db(transaction=True)]
LEADS = 2000


def start_check_of_every_lead(page, base_url: str, partner) -> None:
    page.goto(f"{base_url}/admin/leads/lead/")
    page.check("#action-toggle")
    page.click("div.actions .question a")  # "select all 2000" (Django's select-across)
    page.select_option("select[name=action]", "collision_check")
    page.click("button[name=index]")
    page.wait_for_selector("form#choose-partner")
    assert str(LEADS) in page.inner_text("form#choose-partner p")
    page.select_option("#id_partner", str(partner.pk))
    page.click("input[name=apply]")
    page.wait_for_selector("#job-live")


def progress(page) -> int:
    return int(page.get_attribute("#job-progress", "value") or 0)


@override_settings(TASKS=DB_TASKS)
def test_check_job_progress_moves_and_a_second_job_is_cancelled(
    live_server, partner, sandbox, bulk_leads
):
    bulk_leads(LEADS)
    sandbox.config.latency_ms = 40
    Partner.objects.filter(pk=partner.pk).update(max_concurrency=1)
    operator_user("operator", "correct-horse-battery")  # cancels a job it started itself
    worker = start_worker()
    try:
        with browser_page() as page:
            log_in(page, live_server.url, "operator", "correct-horse-battery")

            start_check_of_every_lead(page, live_server.url, partner)
            assert "已创建后台任务" in page.inner_text("ul.messagelist")
            # Arrow functions: a bare expression is eval'd, which the page's CSP refuses.
            page.wait_for_function(
                "() => Number(document.getElementById('job-progress').value) > 0", timeout=30_000
            )
            first_seen = progress(page)
            page.wait_for_function(
                f"() => Number(document.getElementById('job-progress').value) > {first_seen}",
                timeout=30_000,
            )
            assert first_seen < progress(page) < LEADS  # it moves, live, without a reload
            first_job = Job.objects.order_by("pk").first()

            start_check_of_every_lead(page, live_server.url, partner)
            second_job = Job.objects.order_by("pk").last()
            assert second_job.pk != first_job.pk
            with page.expect_navigation():
                page.click("#cancel-job button")
            assert "已请求取消任务" in page.inner_text("ul.messagelist")
            page.wait_for_function(
                "() => document.getElementById('job-live')?.dataset.state === 'cancelled'"
            )
            assert "已取消" in page.inner_text("#job-state")
    finally:
        worker.kill()
        worker.wait(timeout=10)

    second_job.refresh_from_db()
    assert second_job.state == JobState.CANCELLED and second_job.processed == 0
    first_job.refresh_from_db()
    assert first_job.processed > 0 and first_job.state != JobState.CANCELLED


DUMMY_TASKS = {"default": {"BACKEND": "django.tasks.backends.dummy.DummyBackend"}}


def test_job_page_shows_one_live_status_and_a_breakdown_whose_links_list_those_leads(
    live_server, partner, sandbox, make_leads
):
    """The page opens on a queued job; the job runs; without a reload the one status at the top
    says 已完成, the breakdown adds up to the total, and a count's link lists that many rows."""
    from jobs.runner import run_job
    from jobs.services import create_job
    from leads.models import Lead

    make_leads(40)
    operator_user("operator", "correct-horse-battery")
    with override_settings(TASKS=DUMMY_TASKS):  # queued, not run, until the test runs it
        job = create_job(
            kind=JobKind.CHECK,
            partner=partner,
            lead_ids=list(Lead.objects.values_list("pk", flat=True)),
        )
    with browser_page() as page:
        log_in(page, live_server.url, "operator", "correct-horse-battery")
        page.goto(f"{live_server.url}/admin/jobs/job/{job.pk}/change/")
        assert page.inner_text("#job-state") == "排队中"
        assert partner.name in page.inner_text("#content")
        remaining = page.inner_text("#job-breakdown li[data-key=remaining] .job-bucket-count")
        assert remaining == "40"

        run_job(job.pk)
        page.wait_for_function(
            "() => document.getElementById('job-live').dataset.settled === '1'", timeout=30_000
        )
        assert page.inner_text("#job-state") == "已完成"
        assert "结束于" in page.inner_text("#job-times")  # the end time arrives live too
        content = page.inner_text("#content")
        assert "排队中" not in content and content.count("已完成") == 1
        counts = {
            item.get_attribute("data-key"): int(
                item.query_selector(".job-bucket-count").inner_text()
            )
            for item in page.query_selector_all("#job-breakdown li")
        }
        assert sum(counts.values()) == 40 and "remaining" not in counts
        assert counts["marketable"] > 0
        page.screenshot(path="/tmp/job-page.png", full_page=True)

        page.click("#job-breakdown li[data-key=marketable] a")
        page.wait_for_selector("#result_list")
        assert len(page.query_selector_all("#result_list tbody tr")) == counts["marketable"]
