"""Signing in through the real login page (two_factor's, at /admin/login/) with the test client:
lockout after repeated failures (django-axes) and its unlocking by an administrator, and the
second factor (django-otp): required of superusers, administrators and personal-data holders,
optional for the others, recovery codes, and an administrator's reset."""

import re
import time
from base64 import b32decode
from datetime import timedelta

import pytest
from axes.models import AccessAttempt
from django.contrib import admin
from django.contrib.auth.models import Group, Permission, User
from django.contrib.messages.storage.fallback import FallbackStorage
from django.core.management import call_command
from django.test import Client, RequestFactory
from django.urls import reverse
from django.utils import timezone
from django_otp.oath import TOTP
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from core.lockout import client_ip_address
from core.roles import ROLES
from core.two_factor import reset_two_factor
from tests.conftest import log_in_verified, totp_code, totp_device

pytestmark = pytest.mark.django_db

OPERATOR, AUDITOR, ADMINISTRATOR = ROLES
LOGIN = reverse("two_factor:login")
SETUP = reverse("two_factor:setup")
LEAD_LIST = reverse("admin:leads_lead_changelist")
ATTEMPTS = reverse("admin:axes_accessattempt_changelist")
PASSWORD = "correct-horse-battery-2026"
LOCKED = "登录失败次数过多"


def user(name: str, role: str | None = None, *perms: str, **fields) -> User:
    account = User.objects.create_user(name, password=PASSWORD, is_staff=True, **fields)
    if role:
        account.groups.add(Group.objects.get(name=role))
    account.user_permissions.set(
        Permission.objects.get(content_type__app_label=app, codename=codename)
        for app, codename in (perm.split(".") for perm in perms)
    )
    return account


def pii_holder(name: str = "pii") -> User:
    return user(name, OPERATOR, "leads.view_lead_pii")


def sign_in(client: Client, username: str, password: str = PASSWORD, **request):
    """The login page's first step, as the browser posts it."""
    data = {"login_view-current_step": "auth", "auth-username": username, "auth-password": password}
    return client.post(LOGIN, data, **request)


def enter_code(client: Client, code: str, step: str = "token"):
    """The second step: an authenticator's code ("token") or a recovery code ("backup")."""
    return client.post(LOGIN, {"login_view-current_step": step, f"{step}-otp_token": code})


def signed_in_as(client: Client) -> str | None:
    pk = client.session.get("_auth_user_id")
    return User.objects.get(pk=pk).username if pk else None


# -- lockout (finding 4) ---------------------------------------------------------------------


def test_five_wrong_passwords_lock_the_account_with_a_message_and_the_right_one_is_refused(
    settings,
):
    """Before: 50 wrong passwords in 40 s, then the right one, logged in."""
    user("op", OPERATOR)
    client = Client()
    for attempt in range(settings.AXES_FAILURE_LIMIT - 1):
        assert sign_in(client, "op", f"guess-{attempt}").status_code == 200
    locking = sign_in(client, "op", "guess-last")
    right = sign_in(client, "op")

    for response in (locking, right):
        assert response.status_code == 429
        page = response.content.decode()
        assert LOCKED in page and "30 分钟后再试" in page and "联系管理员解锁" in page
    assert signed_in_as(client) is None


def test_an_administrator_unlocks_and_the_right_password_then_signs_in():
    """The 管理员 group (not a superuser) sees the failed logins and deletes them."""
    user("op", OPERATOR)
    for attempt in range(5):
        sign_in(Client(), "op", f"guess-{attempt}")
    assert sign_in(Client(), "op").status_code == 429
    administrator = log_in_verified(Client(), user("boss", ADMINISTRATOR))

    listing = administrator.get(ATTEMPTS, {"username": "op"})
    assert listing.status_code == 200
    assert "已锁定" in listing.content.decode()
    rows = [attempt.pk for attempt in AccessAttempt.objects.filter(username="op")]
    unlocked = administrator.post(
        ATTEMPTS, {"action": "unlock", "_selected_action": rows}, follow=True
    )
    assert "锁定已解除" in unlocked.content.decode()

    client = Client()
    assert sign_in(client, "op").status_code == 302
    assert signed_in_as(client) == "op"


def test_each_failed_login_is_named_in_chinese_on_its_checkbox():
    """A screen reader reads each row's checkbox with the record's name: axes' own is English."""
    sign_in(Client(), "op", "guess")
    attempt = AccessAttempt.objects.get(username="op")
    when = timezone.localtime(attempt.attempt_time).strftime("%Y年%-m月%-d日 %H:%M:%S")
    administrator = log_in_verified(Client(), user("boss", ADMINISTRATOR))

    page = administrator.get(ATTEMPTS).content.decode()

    checkbox = re.search(r'<input[^>]*name="_selected_action"[^>]*>', page)[0]
    assert f'aria-label="选择此对象执行操作 - 登录失败：op {when}"' in checkbox
    assert f'value="{attempt.pk}"' in checkbox and "checked" not in checkbox
    assert "Attempted Access" not in page


def test_failures_from_one_address_lock_it_for_every_username():
    """Trying many accounts from one address (password spraying) locks the address: another
    user's right password from it is refused; from elsewhere, the same login succeeds."""
    user("victim", OPERATOR)
    for name in ["alice", "bob", "carol", "dave", "erin"]:
        sign_in(Client(), name, "Spring2026!", REMOTE_ADDR="203.0.113.9")

    assert sign_in(Client(), "victim", REMOTE_ADDR="203.0.113.9").status_code == 429
    elsewhere = Client()
    assert sign_in(elsewhere, "victim", REMOTE_ADDR="198.51.100.7").status_code == 302
    assert signed_in_as(elsewhere) == "victim"


def test_failures_from_many_addresses_lock_the_account():
    """Guessing one account from many addresses locks the account, from any address."""
    user("op", OPERATOR)
    for host in range(5):
        sign_in(Client(), "op", f"guess-{host}", REMOTE_ADDR=f"192.0.2.{host}")
    assert sign_in(Client(), "op", REMOTE_ADDR="198.51.100.7").status_code == 429


def test_the_lock_lifts_after_the_cool_off_and_a_success_forgets_the_failures():
    user("op", OPERATOR)
    for attempt in range(5):
        sign_in(Client(), "op", f"guess-{attempt}")
    assert sign_in(Client(), "op").status_code == 429

    AccessAttempt.objects.update(attempt_time=timezone.now() - timedelta(minutes=31))
    assert sign_in(Client(), "op").status_code == 302
    assert not AccessAttempt.objects.exists()


def test_a_failed_attempt_keeps_no_typed_password():
    """axes keeps a failed attempt's form data for the administrator to read: the password the
    user typed (often the real one, mistyped) must not be in it."""
    user("op", OPERATOR)
    sign_in(Client(), "op", "Almost-My-Passw0rd")
    attempt = AccessAttempt.objects.get(username="op")
    assert "Almost-My-Passw0rd" not in attempt.post_data
    assert "auth-username=op" in attempt.post_data


@pytest.mark.parametrize(
    ("proxies", "forwarded", "expected"),
    [
        (0, "203.0.113.9", "10.0.0.1"),  # no proxy: the header is the client's to invent
        (1, "203.0.113.9", "203.0.113.9"),
        (1, "6.6.6.6, 203.0.113.9", "203.0.113.9"),  # a forged first hop is ignored
        (2, "6.6.6.6, 203.0.113.9, 10.0.0.2", "203.0.113.9"),
        (2, "203.0.113.9", "10.0.0.1"),  # fewer hops than proxies: misconfigured, fall back
    ],
)
def test_client_address_behind_trusted_proxies(settings, proxies, forwarded, expected):
    settings.TRUSTED_PROXY_COUNT = proxies
    request = RequestFactory().post(LOGIN, REMOTE_ADDR="10.0.0.1", HTTP_X_FORWARDED_FOR=forwarded)
    assert client_ip_address(request) == expected


# -- the second factor -----------------------------------------------------------------------


def test_a_pii_holder_without_a_device_lands_on_setup_and_reaches_nothing_else():
    pii_holder()
    client = Client()
    signed = sign_in(client, "pii", follow=True)

    assert signed.redirect_chain[-1][0] == SETUP
    assert "必须先设置两步验证" in signed.content.decode()
    for url in [LEAD_LIST, reverse("admin:index"), reverse("two_factor:backup_tokens")]:
        response = client.get(url)
        assert response.status_code == 302 and response["Location"] == SETUP, url


@pytest.mark.parametrize(
    "make",
    [
        pytest.param(lambda: pii_holder(), id="view-pii-direct"),
        pytest.param(
            lambda: user("x", None, "leads.view_lead", "leads.export_lead_pii"), id="export-pii"
        ),
        pytest.param(lambda: user("x", ADMINISTRATOR), id="administrator"),
        pytest.param(lambda: user("x", None, is_superuser=True), id="superuser"),
    ],
)
def test_who_must_have_a_second_factor(make):
    account = make()
    client = Client()
    sign_in(client, account.username)
    assert client.get(LEAD_LIST)["Location"] == SETUP


def test_pii_via_a_group_requires_it_too():
    group = Group.objects.create(name="看完整信息")
    group.permissions.add(Permission.objects.get(codename="view_lead_pii"))
    account = user("x", OPERATOR)
    account.groups.add(group)
    client = Client()
    sign_in(client, "x")
    assert client.get(LEAD_LIST)["Location"] == SETUP


def test_setting_up_the_authenticator_opens_the_admin():
    """The setup page's two steps, with the code an app computes from the key it shows."""
    pii_holder()
    client = Client()
    sign_in(client, "pii")
    page = client.post(SETUP, {"setup_view-current_step": "welcome"})  # on to the QR code
    secret = re.search(r'<code id="totp-secret">([A-Z2-7]+)</code>', page.content.decode())[1]
    assert client.get(reverse("two_factor:qr"))["Content-Type"].startswith("image/svg+xml")
    code = f"{TOTP(b32decode(secret)).token():06d}"

    done = client.post(SETUP, {"setup_view-current_step": "generator", "generator-token": code})

    assert done["Location"] == reverse("two_factor:setup_complete")
    assert TOTPDevice.objects.get(user__username="pii").confirmed
    assert client.get(LEAD_LIST).status_code == 200


def test_with_a_device_the_password_alone_signs_nobody_in_and_a_wrong_code_fails():
    device = totp_device(pii_holder())
    client = Client()

    asked = sign_in(client, "pii")
    assert asked.status_code == 200 and 'name="token-otp_token"' in asked.content.decode()
    assert signed_in_as(client) is None
    assert client.get(LEAD_LIST)["Location"].startswith(LOGIN)

    right = totp_code(device)
    wrong = f"{(int(right) + 1) % 1_000_000:06d}"
    refused = enter_code(client, wrong)
    assert "验证码不正确" in refused.content.decode()
    assert signed_in_as(client) is None

    time.sleep(1.1)  # django-otp throttles a device for 1 s after a wrong code, 2 s after two …
    assert enter_code(client, totp_code(device)).status_code == 302
    assert signed_in_as(client) == "pii"
    assert client.get(LEAD_LIST).status_code == 200


def test_every_login_asks_for_the_code_again():
    """A new login (another browser) passes the password and stops at the code step."""
    account = pii_holder()
    first = log_in_verified(Client(), account)
    assert first.get(LEAD_LIST).status_code == 200
    second = Client()
    assert sign_in(second, "pii").status_code == 200
    assert signed_in_as(second) is None


def test_a_session_that_never_passed_the_device_is_sent_to_the_login():
    """A session opened before the user set up a device (or otherwise unverified) must sign in
    again, with the code."""
    account = user("op", OPERATOR)
    client = Client()
    sign_in(client, "op")
    assert client.get(LEAD_LIST).status_code == 200
    totp_device(account)  # set up from another browser
    response = client.get(LEAD_LIST)
    assert response.status_code == 302 and response["Location"].startswith(LOGIN)


def test_a_recovery_code_signs_in_once():
    account = pii_holder()
    totp_device(account)
    backup = StaticDevice.objects.create(user=account, name="backup")
    backup.token_set.create(token="rcv12345")
    backup.token_set.create(token="rcv67890")

    client = Client()
    offered = sign_in(client, "pii")
    assert "使用恢复码" in offered.content.decode()
    client.post(LOGIN, {"wizard_goto_step": "backup"})
    assert enter_code(client, "rcv12345", step="backup").status_code == 302
    assert signed_in_as(client) == "pii" and client.get(LEAD_LIST).status_code == 200

    again = Client()
    sign_in(again, "pii")
    again.post(LOGIN, {"wizard_goto_step": "backup"})
    assert "验证码不正确" in enter_code(again, "rcv12345", step="backup").content.decode()
    assert signed_in_as(again) is None
    assert list(StaticToken.objects.values_list("token", flat=True)) == ["rcv67890"]


def test_an_operator_without_personal_data_signs_in_with_the_password_only():
    user("op", OPERATOR)
    client = Client()
    assert sign_in(client, "op")["Location"] == reverse("admin:index")
    assert signed_in_as(client) == "op"
    assert client.get(LEAD_LIST).status_code == 200
    profile = client.get(reverse("two_factor:profile")).content.decode()
    assert "未启用" in profile and reverse("two_factor:setup") in profile


def test_the_user_tools_link_to_two_step_verification():
    client = Client()
    user("op", OPERATOR)
    sign_in(client, "op")
    page = client.get(reverse("admin:index")).content.decode()
    assert f'<a href="{reverse("two_factor:profile")}">两步验证</a>' in page


def test_only_who_may_go_without_it_may_disable_it():
    disable = reverse("two_factor:disable")
    required = log_in_verified(Client(), pii_holder())
    refused = required.post(disable, {"understand": "on"}, follow=True)
    assert "必须使用两步验证，不能停用" in refused.content.decode()
    assert TOTPDevice.objects.filter(user__username="pii").exists()

    optional = log_in_verified(Client(), user("op", OPERATOR))
    assert optional.post(disable, {"understand": "on"}).status_code == 302
    assert not TOTPDevice.objects.filter(user__username="op").exists()
    assert optional.get(LEAD_LIST).status_code == 200


# -- an administrator resets a second factor -------------------------------------------------


def run_reset(actor: User, *targets: User) -> list[str]:
    """core.two_factor.reset_two_factor as the users list runs it, on the registered UserAdmin."""
    request = RequestFactory().post(reverse("admin:auth_user_changelist"))
    request.user = actor
    request.session = {}
    request._messages = FallbackStorage(request)
    queryset = User.objects.filter(pk__in=[target.pk for target in targets])
    reset_two_factor(admin.site.get_model_admin(User), request, queryset)
    return [str(message) for message in request._messages]


def test_an_administrator_resets_an_operators_second_factor():
    operator = user("op", OPERATOR)
    totp_device(operator)
    StaticDevice.objects.create(user=operator, name="backup").token_set.create(token="x1y2z3w4")
    administrator = user("boss", ADMINISTRATOR)

    shown = run_reset(administrator, operator)

    assert shown == ["已重置 1 个用户的两步验证，需要时他们会在下次访问时重新设置。"]
    assert not TOTPDevice.objects.filter(user=operator).exists()
    assert not StaticDevice.objects.filter(user=operator).exists()
    client = Client()
    assert sign_in(client, "op")["Location"] == reverse("admin:index")  # the password only


def test_only_a_superuser_resets_a_superuser_a_pii_holder_or_an_administrator():
    administrator = user("boss", ADMINISTRATOR)
    targets = [
        user("root", None, is_superuser=True),
        pii_holder(),
        user("boss2", ADMINISTRATOR),
        administrator,
    ]
    for target in targets:
        totp_device(target)

    shown = run_reset(administrator, *targets)
    assert shown == ["只有超级用户可以重置这些用户的两步验证：boss、boss2、pii、root"]
    assert TOTPDevice.objects.count() == 4

    superuser = user("chief", None, is_superuser=True)
    assert run_reset(superuser, targets[1]) == [
        "已重置 1 个用户的两步验证，需要时他们会在下次访问时重新设置。"
    ]
    client = Client()
    sign_in(client, "pii")  # no code asked: there is no device; a new one must be set up
    assert client.get(LEAD_LIST)["Location"] == SETUP


# -- the demo --------------------------------------------------------------------------------


def test_the_demo_admin_signs_in_with_a_printed_recovery_code_once(capsys):
    """`make run` works without a phone: seed_demo prints the password and one-time recovery
    codes; a re-run prints new ones and the old ones stop working."""

    def seed() -> tuple[str, list[str]]:
        call_command("seed_demo", "--leads", "0")
        lines = capsys.readouterr().out.splitlines()
        password = lines[-2].rsplit(" ", 1)[-1]
        return password, lines[-1].split(": ")[-1].split()

    _, old_codes = seed()
    password, codes = seed()
    assert len(codes) == 5

    client = Client()
    sign_in(client, "admin", password)
    client.post(LOGIN, {"wizard_goto_step": "backup"})
    assert "验证码不正确" in enter_code(client, old_codes[0], step="backup").content.decode()
    time.sleep(1.1)  # the failure throttles the device for a second
    assert enter_code(client, codes[0], step="backup").status_code == 302
    assert signed_in_as(client) == "admin" and client.get(LEAD_LIST).status_code == 200
