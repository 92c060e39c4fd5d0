"""An operator's round in Chromium (issue 13, finding 4): from an import batch's page to its leads,
撞库这些线索 (a check job of the whole batch), the finished check's 推送可营销的 N 条, and the lead
list's standing columns and filters showing where each lead now stands."""

import re

import pytest
from django.utils import timezone

from leads.models import ImportBatch, ImportState, Lead
from pushes.models import Push, PushState
from tests.browser import browser_page, log_in, operator_user, requires_chromium

pytestmark = [pytest.mark.browser, requires_chromium, pytest.mark.django_db(transaction=True)]
BATCH_LEADS = 30  # over JOB_INLINE_LIMIT (20): the check runs as a job (inline in tests)


def result_count(page) -> int:
    """Django's "N 条线索" under the list (or the select-across line's total)."""
    text = page.inner_text("#changelist-form .paginator")
    return int(re.search(r"(\d+)", text).group(1))


def test_operator_checks_a_batch_pushes_the_marketable_ones_and_sees_where_they_stand(
    live_server, partner, sandbox, make_leads
):
    operator = operator_user("operator", "correct-horse-battery")
    batch = ImportBatch.objects.create(
        file_name="渠道C-1201.xlsx",
        state=ImportState.DONE,
        created_by=operator,
        rows_total=BATCH_LEADS,
        rows_new=BATCH_LEADS,
        leads_created=BATCH_LEADS,
    )
    Lead.objects.filter(pk__in=[lead.pk for lead in make_leads(BATCH_LEADS)]).update(
        import_batch=batch
    )
    make_leads(7)  # other leads, in no batch: never checked nor pushed here
    base = live_server.url
    with browser_page() as page:
        log_in(page, base, "operator", "correct-horse-battery")

        # The batch page links to its leads: the list filtered by the batch, named in the sidebar.
        page.goto(f"{base}/admin/leads/importbatch/{batch.pk}/change/")
        assert page.inner_text("#batch-leads-link") == f"{BATCH_LEADS} 条"
        assert page.inner_text("#batch-part-new") == str(BATCH_LEADS)
        page.screenshot(path="/tmp/lead-list-batch-page.png", full_page=True)
        page.click("#batch-leads-link")
        page.wait_for_selector("#result_list")
        assert f"batch={batch.pk}" in page.url
        assert len(page.query_selector_all("#result_list tbody tr")) == BATCH_LEADS
        assert "渠道C-1201.xlsx" in page.inner_text("#changelist-filter")
        assert "未撞库" in page.inner_text("#result_list")

        # 撞库这些线索: the list's check action over the whole batch; the partner page follows.
        page.goto(f"{base}/admin/leads/importbatch/{batch.pk}/change/")
        page.click("#check-batch input[type=submit]")
        page.wait_for_selector("form#choose-partner")
        assert str(BATCH_LEADS) in page.inner_text("form#choose-partner p")
        assert page.input_value("#id_partner") == ""  # 请选择, never a partner
        page.select_option("#id_partner", str(partner.pk))
        page.click("input[name=apply]")
        page.wait_for_selector("#job-live")
        page.wait_for_function(
            "() => ['finished', 'cancelled', 'failed'].includes("
            "document.getElementById('job-live').dataset.state)",
            timeout=30_000,
        )
        page.reload()  # the offer is rendered for a finished check
        marketable = int(
            page.inner_text("#job-breakdown li[data-key=marketable] .job-bucket-count")
        )
        assert marketable > 0
        offer = page.locator("#push-marketable input[type=submit]")
        assert offer.get_attribute("value") == f"推送可营销的 {marketable} 条"
        page.screenshot(path="/tmp/lead-list-job-offer.png", full_page=True)

        # The list it acts on shows exactly those leads.
        page.click("#marketable-leads")
        page.wait_for_selector("#result_list")
        assert len(page.query_selector_all("#result_list tbody tr")) == marketable
        cells = page.query_selector_all("#result_list td.field-check_standing")
        assert all(cell.inner_text() == "可营销" for cell in cells)
        page.go_back()

        # 推送可营销的 N 条: the list's push action for the job's partner.
        with page.expect_navigation():
            offer.click()
        page.screenshot(path="/tmp/lead-list-push-step.png", full_page=True)
        page.wait_for_selector("#content form")
        assert f"check_job={batch_job_id(partner)}" in page.url
        assert str(marketable) in page.inner_text("#content")
        if page.locator("#id_partner").count() and not page.input_value("#id_partner"):
            page.select_option("#id_partner", str(partner.pk))
        page.click("input[name=apply]")
        page.wait_for_selector("ul.messagelist")

        # Where they stand now, with that partner: the list's columns and filters.
        page.goto(f"{base}/admin/leads/lead/?batch={batch.pk}&partner={partner.pk}")
        page.wait_for_selector("#result_list")
        header = page.inner_text("#result_list thead")
        assert (
            f"撞库结果\n（{partner.name}）" in header and f"推送状态\n（{partner.name}）" in header
        )
        page.screenshot(path="/tmp/lead-list-standing.png", full_page=True)
        pushes = {
            state: Push.objects.filter(partner=partner, state=state).count() for state in PushState
        }
        assert pushes[PushState.ACCEPTED] + pushes[PushState.REJECTED] > 0
        page.goto(f"{base}/admin/leads/lead/?batch={batch.pk}&partner={partner.pk}&push=accepted")
        page.wait_for_selector("#changelist-form")
        accepted_rows = page.query_selector_all("#result_list tbody tr")
        assert len(accepted_rows) == pushes[PushState.ACCEPTED]
        if accepted_rows:  # a cell links to the push behind it, and it opens
            page.click("#result_list td.field-push_standing a")
            page.wait_for_selector("#content")
            assert "/admin/pushes/push/" in page.url
            assert "403" not in page.title()

        # The date range filter keeps the other filters and includes both days.
        page.goto(f"{base}/admin/leads/lead/?batch={batch.pk}")
        newest = Lead.objects.order_by("-pk").first().created_at
        today = timezone.localtime(newest).date().isoformat()  # the operator's day
        page.fill("#id_created_from", today)
        page.fill("#id_created_to", today)
        with page.expect_navigation():
            page.click("#created_from-range-filter input[type=submit]")
        assert f"batch={batch.pk}" in page.url and f"created_to={today}" in page.url
        assert len(page.query_selector_all("#result_list tbody tr")) == BATCH_LEADS
        page.screenshot(path="/tmp/lead-list-filters.png", full_page=True)


def batch_job_id(partner) -> int:
    from jobs.models import Job, JobKind

    return Job.objects.filter(kind=JobKind.CHECK, partner=partner).latest("pk").pk


DUMMY_TASKS = {"default": {"BACKEND": "django.tasks.backends.dummy.DummyBackend"}}


def test_a_check_that_finishes_while_watched_points_to_its_push_offer(
    live_server, partner, sandbox, make_leads
):
    from django.test import override_settings

    from jobs.models import JobKind
    from jobs.runner import run_job
    from jobs.services import create_job

    make_leads(30)
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
        assert not page.is_visible("#job-next-hint")
        assert page.locator("#push-marketable").count() == 0
        run_job(job.pk)
        page.wait_for_selector("#job-next-hint", state="visible", timeout=30_000)
        with page.expect_navigation():
            page.click("#job-next-hint a")
        assert page.get_attribute("#push-marketable input[type=submit]", "value").startswith(
            "推送可营销的"
        )
