"""An operator creates an exclusive plan over two partners, runs it on an import batch from the
batch's page, watches the run's progress while a real worker runs it, and reads where each
lead went: the counts add up, and each one opens the list of exactly those leads."""

import re

import pytest
from django.test import override_settings

from distribution.models import Run, RunState
from leads.models import ImportBatch, ImportState, Lead
from partners.models import Partner
from partners.protocols import yrxd_collision
from pushes.models import LIVE_STATES, Push, PushState
from sandbox.server import SandboxConfig, SandboxPartner
from tests.browser import browser_page, log_in, operator_user, requires_chromium
from tests.conftest import CLIENT_ID, PARTNER_KEY, UTM_SOURCE
from tests.workers import DB_TASKS, start_worker

pytestmark = [pytest.mark.browser, requires_chromium, pytest.mark.django_db(transaction=True)]
BATCH_LEADS = 120


@pytest.fixture
def two_sandboxes():
    servers = [
        SandboxPartner(
            SandboxConfig(
                credentials={UTM_SOURCE: PARTNER_KEY, CLIENT_ID: PARTNER_KEY}, latency_ms=30
            )
        )
        for _ in range(2)
    ]
    for server in servers:
        server.start()
    yield servers
    for server in servers:
        server.stop()


def partner_on(server, name: str, slug: str, priority: int) -> Partner:
    return Partner.objects.create(
        name=name,
        slug=slug,
        test_base_url=server.base_url,
        push_url=server.push_url,
        utm_source=UTM_SOURCE,
        client_id=CLIENT_ID,
        secret_key=PARTNER_KEY,
        priority=priority,
        price_per_push=30 if priority > 1 else 20,
        max_concurrency=2,
    )


def shown_count(page) -> int:
    """The list's total ("53 线索"), after the page links when there is more than one page."""
    text = page.inner_text("#changelist-form .paginator")
    return int(re.search(r"(\d+)\s*线索", text).group(1))


@override_settings(TASKS=DB_TASKS)
def test_operator_runs_a_plan_on_a_batch_and_reads_where_each_lead_went(
    live_server, two_sandboxes, make_leads
):
    first_server, second_server = two_sandboxes
    first = partner_on(first_server, "甲平台", "jia", priority=2)
    second = partner_on(second_server, "乙平台", "yi", priority=1)
    operator = operator_user("operator", "correct-horse-battery")
    batch = ImportBatch.objects.create(
        file_name="渠道D-1201.xlsx",
        state=ImportState.DONE,
        created_by=operator,
        rows_total=BATCH_LEADS,
        rows_new=BATCH_LEADS,
        leads_created=BATCH_LEADS,
    )
    leads = make_leads(BATCH_LEADS)
    Lead.objects.filter(pk__in=[lead.pk for lead in leads]).update(import_batch=batch)
    # Every third lead is already 甲's customer: 甲's check says so, and the waterfall sends
    # those to 乙 instead.
    first_server.registered[PARTNER_KEY].update(
        yrxd_collision.phone_md5(lead.phone) for lead in leads[::3]
    )
    base = live_server.url
    worker = start_worker()
    try:
        with browser_page() as page:
            log_in(page, base, "operator", "correct-horse-battery")

            page.goto(f"{base}/admin/distribution/plan/add/")
            page.fill("#id_name", "甲乙独家")
            page.check("#id_mode input[value=exclusive]")
            page.check(f"#id_partners input[value='{first.pk}']")
            page.check(f"#id_partners input[value='{second.pk}']")
            with page.expect_navigation():
                page.click("input[name=_save]")
            assert "甲乙独家" in page.inner_text("#result_list")
            assert "甲平台（优先级 2" in page.inner_text("#result_list")  # the waterfall's order

            page.goto(f"{base}/admin/leads/importbatch/{batch.pk}/change/")
            with page.expect_navigation():
                page.click("#distribute-batch input[type=submit]")
            assert str(BATCH_LEADS) in page.inner_text("form#choose-plan p")
            page.check("#plans input[type=radio] >> nth=0")
            with page.expect_navigation():
                page.click("input[name=apply]")
            assert "已开始分发任务" in page.inner_text("ul.messagelist")

            # The live block follows the run without a reload, until it is over.
            seen = {page.get_attribute("#run-live-inner", "data-state")}
            for _ in range(240):
                state = page.get_attribute("#run-live-inner", "data-state")
                seen.add(state)
                if state == RunState.FINISHED:
                    break
                page.wait_for_timeout(250)
            assert RunState.FINISHED in seen and len(seen) > 1, seen
            page.screenshot(path="/tmp/leaddesk-run.png", full_page=True)

            run = Run.objects.get()
            counts = {
                key: int(page.inner_text(f"#run-placement tr[data-key='{key}'] td >> nth=0"))
                for key in ("total", "sold", "held", "unplaced")
            }
            assert counts["total"] == BATCH_LEADS
            assert counts["sold"] + counts["held"] + counts["unplaced"] == BATCH_LEADS
            per_partner = {}
            for partner in (first, second):
                row = f"#run-placement tr[data-key='sold-{partner.pk}']"
                per_partner[partner.slug] = int(page.inner_text(f"{row} td >> nth=0"))
            assert per_partner["jia"] > 0 and per_partner["yi"] > 0
            assert per_partner["jia"] + per_partner["yi"] == counts["sold"]  # exclusive: once

            # Each count opens the list of exactly those leads.
            with page.expect_navigation():
                page.click(f"#run-placement tr[data-key='sold-{second.pk}'] a")
            assert shown_count(page) == per_partner["yi"]
            page.go_back()
            with page.expect_navigation():
                page.click("#run-placement tr[data-key='unplaced'] a")
            assert shown_count(page) == counts["unplaced"]
    finally:
        worker.kill()
        worker.wait(timeout=10)

    accepted = Push.objects.filter(state=PushState.ACCEPTED)
    assert accepted.filter(partner=second).count() == per_partner["yi"]
    for lead in leads:
        assert Push.objects.filter(lead=lead, state__in=LIVE_STATES).count() <= 1
    # 乙 took only leads 甲 would not: its customers already.
    registered_at_first = {yrxd_collision.phone_md5(lead.phone) for lead in leads[::3]}
    for push in accepted.filter(partner=second).select_related("lead"):
        assert yrxd_collision.phone_md5(push.lead.phone) in registered_at_first
    assert run.state == RunState.FINISHED or Run.objects.get().state == RunState.FINISHED
