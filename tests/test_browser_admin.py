"""An operator runs a collision check from the admin in a real browser, against the sandbox."""

import pytest

from collision.models import CollisionResult
from tests.browser import browser_page, log_in, operator_user, requires_chromium

pytestmark = [pytest.mark.browser, requires_chromium, pytest.mark.django_db(transaction=True)]


def test_operator_checks_selected_leads_through_the_partner_page(live_server, partner, make_leads):
    leads = make_leads(8)
    operator_user("operator", "correct-horse-battery")
    chosen = sorted(lead.pk for lead in leads)[:5]

    with browser_page() as page:
        log_in(page, live_server.url, "operator", "correct-horse-battery")
        page.goto(f"{live_server.url}/admin/leads/lead/")
        for pk in chosen:
            page.check(f"input.action-select[value='{pk}']")
        page.select_option("select[name=action]", "collision_check")
        page.click("button[name=index]")

        page.wait_for_selector("form#choose-partner")
        assert "5" in page.inner_text("form#choose-partner p")
        environment_row = page.inner_text("tr.partner-environment")
        assert partner.name in environment_row and "测试环境" in environment_row
        page.select_option("#id_partner", str(partner.pk))
        page.click("input[name=apply]")

        summary = page.inner_text("ul.messagelist")
        assert "撞库完成" in summary and "已检查 5 条" in summary

        page.goto(f"{live_server.url}/admin/collision/collisionresult/")
        rows = page.locator("#result_list tbody tr")
        assert rows.count() == 5
        assert partner.name in rows.first.inner_text()
        # Phones are masked on the results page.
        assert "****" in rows.first.inner_text()

    assert sorted(CollisionResult.objects.values_list("lead_id", flat=True)) == chosen
