"""Signing in as its users would, in Chromium: a personal-data holder without a second factor
sets one up (the QR code shows under the Content-Security-Policy), saves recovery codes and
reaches the leads; the next login asks for the code; a guessed password locks the login with a
message in Chinese. Screenshots of each page land in the test's tmp_path."""

from base64 import b32decode

import pytest
from django.contrib.auth.models import Group, Permission, User
from django_otp.oath import TOTP

from core.roles import ROLES
from tests.browser import browser_page, log_in, requires_chromium

pytestmark = [pytest.mark.browser, requires_chromium, pytest.mark.django_db(transaction=True)]

PASSWORD = "correct-horse-battery"
OPERATOR, AUDITOR, ADMINISTRATOR = ROLES
# Violations of the page's CSP, as the page itself sees them (see test_browser_csp).
COLLECT_VIOLATIONS = """
window.cspViolations = [];
document.addEventListener("securitypolicyviolation", (event) => {
  window.cspViolations.push(`${event.violatedDirective} blocked ${event.blockedURI || "inline"}`);
});
"""


def pii_holder() -> User:
    user = User.objects.create_user("pii", password=PASSWORD, is_staff=True)
    user.groups.add(Group.objects.get(name=OPERATOR))
    user.user_permissions.add(Permission.objects.get(codename="view_lead_pii"))
    return user


def no_violations(page) -> None:
    assert page.evaluate("window.cspViolations") == []


def test_a_pii_holder_sets_up_the_second_factor_and_signs_in_with_it(
    live_server, make_leads, tmp_path
):
    leads = make_leads(2)
    pii_holder()

    with browser_page() as page:
        page.add_init_script(COLLECT_VIOLATIONS)
        page.goto(f"{live_server.url}/admin/leads/lead/")
        assert "/admin/login/" in page.url
        page.screenshot(path=tmp_path / "1-login.png")
        page.fill("#id_auth-username", "pii")
        page.fill("#id_auth-password", PASSWORD)
        page.click("#login-form input[type=submit]")

        page.wait_for_selector("#two-factor-setup")
        assert "必须先设置两步验证" in page.inner_text("#content")
        page.screenshot(path=tmp_path / "2-setup-welcome.png")
        page.click("#two-factor-setup input[type=submit]")
        page.wait_for_selector("#totp-qr")
        page.wait_for_load_state("load")  # images included
        assert page.evaluate("document.getElementById('totp-qr').naturalWidth") > 0
        no_violations(page)
        page.screenshot(path=tmp_path / "3-setup-qr.png")
        secret = page.inner_text("#totp-secret")
        page.fill("#id_generator-token", f"{TOTP(b32decode(secret)).token():06d}")
        page.click("#two-factor-setup input[type=submit]")

        page.wait_for_selector("#show-backup-tokens")
        page.screenshot(path=tmp_path / "4-setup-complete.png")
        page.click("#show-backup-tokens")
        page.click("#content-main input[type=submit]")  # 生成新的恢复码
        codes = page.locator("#backup-tokens li").all_inner_texts()
        assert len(codes) == 10
        no_violations(page)
        page.screenshot(path=tmp_path / "5-recovery-codes.png")

        page.goto(f"{live_server.url}/admin/leads/lead/")
        assert page.locator("#result_list tbody tr").count() == 2
        assert leads[0].phone in page.inner_text("#result_list")  # the holder sees it in full
        page.click("#logout-form button")

        # The next login asks for the code; a recovery code (phone left at home) works too.
        page.goto(f"{live_server.url}/admin/login/")
        page.fill("#id_auth-username", "pii")
        page.fill("#id_auth-password", PASSWORD)
        page.click("#login-form input[type=submit]")
        page.wait_for_selector("#id_token-otp_token")
        page.screenshot(path=tmp_path / "6-code-step.png")
        page.click("#login-other-ways button[value=backup]")
        page.fill("#id_backup-otp_token", codes[0])
        page.screenshot(path=tmp_path / "7-recovery-step.png")
        page.click("#login-form input[type=submit]")
        page.wait_for_selector("#user-tools")
        no_violations(page)
        page.click("#user-tools a[href='/admin/two_factor/']")
        assert "还剩 9 个恢复码" in page.inner_text("#content-main")
        page.screenshot(path=tmp_path / "8-profile.png")


def test_a_guessed_password_locks_the_login_and_an_administrator_unlocks_it(live_server, tmp_path):
    """The administrator (the 管理员 group, not a superuser) is signed in already: a lock stops
    new logins, from the account and from the address, not the sessions that exist."""
    User.objects.create_user("op", password=PASSWORD, is_staff=True)
    boss = User.objects.create_user("boss", password=PASSWORD, is_staff=True)
    boss.groups.add(Group.objects.get(name=ADMINISTRATOR))

    with browser_page() as page:
        log_in(page, live_server.url, "boss", PASSWORD)
        guesser = page.context.browser.new_page(locale="zh-CN")
        guesser.add_init_script(COLLECT_VIOLATIONS)
        for attempt in range(5):
            guesser.goto(f"{live_server.url}/admin/login/")
            guesser.fill("#id_auth-username", "op")
            guesser.fill("#id_auth-password", f"guess-{attempt}")
            guesser.click("#login-form input[type=submit]")
        guesser.wait_for_selector("#locked-out")
        assert "30 分钟后再试" in guesser.inner_text("#locked-out")
        no_violations(guesser)
        guesser.screenshot(path=tmp_path / "1-locked-out.png")

        page.goto(f"{live_server.url}/admin/")
        page.click("a[href='/admin/axes/accessattempt/']")
        assert "已锁定" in page.inner_text("#result_list")
        page.screenshot(path=tmp_path / "2-failed-logins.png")
        page.check("#action-toggle")
        page.select_option("select[name=action]", "unlock")
        page.click("button[name=index]")
        assert "锁定已解除" in page.inner_text("ul.messagelist")

        guesser.goto(f"{live_server.url}/admin/login/")
        guesser.fill("#id_auth-username", "op")
        guesser.fill("#id_auth-password", PASSWORD)
        guesser.click("#login-form input[type=submit]")
        guesser.wait_for_selector("#user-tools")


def test_an_operator_signs_in_with_the_password_and_may_enrol(live_server, tmp_path):
    user = User.objects.create_user("op", password=PASSWORD, is_staff=True)
    user.groups.add(Group.objects.get(name=OPERATOR))

    with browser_page() as page:
        log_in(page, live_server.url, "op", PASSWORD)  # no code: optional for an operator
        page.click("#user-tools a[href='/admin/two_factor/']")
        assert "未启用" in page.inner_text("#two-factor-state")
        page.screenshot(path=tmp_path / "operator-profile.png")
