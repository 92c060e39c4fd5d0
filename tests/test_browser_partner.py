"""An administrator (the 管理员 role, no superuser) opens a partner in Chromium, clicks 测试连接
and reads the outcome; then the partner's sandbox breaks and the page says why."""

import pytest
from django.contrib.auth.models import Group, User

from core.roles import ROLES
from partners.models import AuditLogEntry, CallOutcome, Operation
from sandbox.server import Fault
from tests.browser import browser_page, log_in, requires_chromium

pytestmark = [pytest.mark.browser, requires_chromium, pytest.mark.django_db(transaction=True)]
PASSWORD = "correct-horse-battery"
SCREENSHOTS = "/tmp/leaddesk-partner-connection-{}.png"


def administrator() -> User:
    user = User.objects.create_user("wang.admin", password=PASSWORD, is_staff=True)
    user.groups.add(Group.objects.get(name=list(ROLES)[2]))  # 管理员 administrator
    return user


def test_an_administrator_tests_a_partners_connection(live_server, partner, sandbox):
    administrator()
    with browser_page() as page:
        log_in(page, live_server.url, "wang.admin", PASSWORD)
        page.goto(f"{live_server.url}/admin/partners/partner/")
        page.click(f"text={partner.name}")
        page.wait_for_selector("#test-connection")
        headings = page.locator("fieldset h2").all_inner_texts()
        assert "测试环境" in headings and "生产环境" in headings
        page.screenshot(path=SCREENSHOTS.format("form"), full_page=True)

        with page.expect_navigation():
            page.click("#test-connection button")
        message = page.inner_text("ul.messagelist li.success")
        assert message.startswith(f"连接正常（测试环境 {sandbox.base_url}）：耗时 ")
        assert "HTTP 200" in message
        page.screenshot(path=SCREENSHOTS.format("ok"), full_page=False)

        sandbox.inject(Fault.GARBAGE)
        with page.expect_navigation():
            page.click("#test-connection button")
        message = page.inner_text("ul.messagelist li.error")
        assert message.startswith(
            f"连接失败（测试环境 {sandbox.base_url}）：合作平台的应答无法解析"
        )
        page.screenshot(path=SCREENSHOTS.format("failed"), full_page=False)

    entries = AuditLogEntry.objects.order_by("pk")
    assert [(e.operation, e.outcome, e.actor.username) for e in entries] == [
        (Operation.CONNECTION_TEST, CallOutcome.OK, "wang.admin"),
        (Operation.CONNECTION_TEST, CallOutcome.MALFORMED, "wang.admin"),
    ]
