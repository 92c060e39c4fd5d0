"""An operator pushes from the lead list in a real browser: the forecast says how many go out and
why the others do not; confirming sends exactly those, and the others are listed with their
reasons in 未推送及原因."""

import os
import re

import pytest

from collision.models import CollisionResult
from collision.services import check_leads
from leads.models import Lead
from pushes.models import Push, PushSkip
from sandbox.server import PUSH_PATH
from tests.browser import browser_page, log_in, operator_user, requires_chromium

pytestmark = [pytest.mark.browser, requires_chromium, pytest.mark.django_db(transaction=True)]
SCREENSHOTS = os.environ.get("SCREENSHOT_DIR", "")


def count_in(page, selector: str) -> int:
    return int(page.inner_text(f"{selector} .forecast-count").strip())


def test_operator_sees_the_forecast_then_pushes_exactly_it(
    live_server, partner, sandbox, make_leads
):
    leads = make_leads(12)
    check_leads(partner=partner, leads=Lead.objects.all())
    Lead.objects.filter(pk=leads[0].pk).update(zhima_score=None)  # incomplete
    incomplete_is_marketable = CollisionResult.objects.get(lead=leads[0]).is_marketable
    make_leads(3)  # never checked
    operator_user("operator", "correct-horse-battery")

    with browser_page() as page:
        log_in(page, live_server.url, "operator", "correct-horse-battery")
        page.goto(f"{live_server.url}/admin/leads/lead/")
        page.check("#action-toggle")
        page.select_option("select[name=action]", "push_to_partner")
        page.click("button[name=index]")

        page.wait_for_selector("form#choose-partner")
        assert page.input_value("#id_partner") == ""  # 请选择: never a partner by default
        page.select_option("#id_partner", str(partner.pk))
        page.click("input[name=forecast]")

        page.wait_for_selector("#push-forecast")
        if SCREENSHOTS:
            page.screenshot(path=f"{SCREENSHOTS}/push-forecast.png", full_page=True)
        selected = count_in(page, "tr.forecast-total")
        to_push = count_in(page, "tr[data-key=to_push]")
        skipped = {
            row.get_attribute("data-key"): int(row.locator(".forecast-count").inner_text())
            for row in page.locator("tr.forecast-skip").all()
        }
        assert selected == 15 == to_push + sum(skipped.values())
        assert skipped["not_checked"] == 3 and skipped["not_marketable"] > 0
        assert skipped.get("incomplete", 0) == int(incomplete_is_marketable)
        assert sandbox.calls(PUSH_PATH) == 0

        page.click(f"input[name=apply][value='确认推送 {to_push} 条']")
        message = page.inner_text("ul.messagelist")
        assert f"共 15 条，发出 {to_push} 条" in message, message

        page.goto(f"{live_server.url}/admin/pushes/pushskip/")
        if SCREENSHOTS:
            page.screenshot(path=f"{SCREENSHOTS}/push-skips.png", full_page=True)
        paginator = page.inner_text(".paginator")
        assert re.search(rf"\b{sum(skipped.values())}\b", paginator), paginator

    assert sandbox.calls(PUSH_PATH) == to_push == Push.objects.count()
    assert PushSkip.objects.count() == sum(skipped.values())
