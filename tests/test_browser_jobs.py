"""An operator checks a few thousand leads from the admin: the action starts a background job,
a real worker runs it, the progress bar moves; a second job is cancelled from its page."""

import pytest
from django.test import override_settings

from jobs.models import Job, JobState
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
