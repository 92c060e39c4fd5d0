"""测试连接 on a partner's change page: one signed check of a dummy hash to the active
environment, through the normal call path (audited, the operator as actor), its outcome shown in
Chinese; never a push. Against the real loopback sandbox, healthy and failing."""

import json
import socket

import pytest
from django.contrib.auth.models import Group, User
from django.test import Client
from django.urls import reverse

from core.roles import ROLES
from partners.connection import DUMMY_HASH
from partners.models import AuditLogEntry, CallOutcome, Environment, Operation, Partner
from partners.protocols import yrxd_collision
from sandbox.server import PUSH_PATH, Fault
from tests.conftest import PARTNER_KEY, log_in_verified

OPERATOR, _AUDITOR, ADMINISTRATOR = ROLES


def member(role: str, name: str) -> Client:
    user = User.objects.create_user(name, is_staff=True)
    user.groups.add(Group.objects.get(name=role))
    return log_in_verified(Client(), user)


def test_url(partner: Partner) -> str:
    return reverse("admin:partners_partner_test_connection", args=[partner.pk])


test_url.__test__ = False  # a helper, not a test


def shown(response) -> list[tuple[str, str]]:
    return [(message.level_tag, str(message)) for message in response.context["messages"]]


def dead_port() -> int:
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        return closed.getsockname()[1]


def test_an_administrator_tests_the_connection_and_reads_the_outcome(partner, sandbox):
    client = member(ADMINISTRATOR, "wang.admin")
    page = client.get(reverse("admin:partners_partner_change", args=[partner.pk]))
    assert "测试连接（测试环境）" in page.content.decode()

    response = client.post(test_url(partner), follow=True)

    assert response.redirect_chain[-1][0] == reverse(
        "admin:partners_partner_change", args=[partner.pk]
    )
    ((level, text),) = shown(response)
    assert level == "success"
    assert text.startswith(f"连接正常（测试环境 {sandbox.base_url}）：耗时 ")
    assert "毫秒，HTTP 200，合作平台应答成功，测试哈希的用户状态为 " in text
    # One signed single check of the dummy hash; no push, no person.
    assert sandbox.calls(yrxd_collision.SINGLE_PATH) == 1 and sandbox.calls(PUSH_PATH) == 0
    assert sandbox.calls(yrxd_collision.BATCH_PATH) == 0
    entry = AuditLogEntry.objects.get()
    assert (entry.operation, entry.outcome, entry.environment) == (
        Operation.CONNECTION_TEST,
        CallOutcome.OK,
        Environment.TEST,
    )
    assert entry.actor.username == "wang.admin" and entry.partner == partner
    assert entry.lead_count == 0  # no lead was asked about
    assert entry.url == sandbox.base_url + yrxd_collision.SINGLE_PATH
    sent = json.loads(entry.request_body)
    assert set(sent) == {"phoneMd5", "utmSource", "sign"}
    assert DUMMY_HASH.startswith(sent["phoneMd5"].rstrip("…"))
    assert f"已记入审计日志 #{entry.pk}。" in text
    assert PARTNER_KEY not in response.content.decode()


def fail_with(fault: str, partner: Partner, sandbox) -> None:
    if fault == "wrong_key":
        partner.secret_key = "not-the-key"
        partner.save()
    elif fault == "refused":
        partner.test_base_url = f"http://127.0.0.1:{dead_port()}"
        partner.save()
    else:
        sandbox.inject(fault)
        sandbox.config.timeout_delay_s = 1.5  # past the partner's 1 s read timeout


@pytest.mark.parametrize(
    ("fault", "outcome", "reason"),
    [
        (
            "wrong_key",
            CallOutcome.SIGNATURE_REJECTED,
            "合作平台拒绝了签名或凭证：9999 签名验证失败",
        ),
        (Fault.TIMEOUT, CallOutcome.TIMEOUT, "合作平台在 1 秒内没有应答（读取超时）"),
        ("refused", CallOutcome.CONNECTION_ERROR, "连不上合作平台"),
        (Fault.RESET, CallOutcome.CONNECTION_ERROR, "连不上合作平台"),
        (Fault.GARBAGE, CallOutcome.MALFORMED, "合作平台的应答无法解析"),
        (Fault.HTTP_500, CallOutcome.HTTP_ERROR, "合作平台返回 HTTP 500"),
        (Fault.REFUSE, CallOutcome.REFUSED, "平台返回失败：9999 处理失败"),
    ],
)
def test_a_failing_partner_is_shown_why_and_the_call_is_audited(
    fault, outcome, reason, partner, sandbox
):
    fail_with(fault, partner, sandbox)
    client = member(ADMINISTRATOR, "wang.admin")

    response = client.post(test_url(partner), follow=True)

    ((level, text),) = shown(response)
    assert level == "error"
    assert text.startswith(f"连接失败（测试环境 {partner.test_base_url}）：{reason}"), text
    entry = AuditLogEntry.objects.get()
    assert (entry.operation, entry.outcome, entry.actor.username) == (
        Operation.CONNECTION_TEST,
        outcome,
        "wang.admin",
    )
    assert f"已记入审计日志 #{entry.pk}。" in text
    assert sandbox.calls(PUSH_PATH) == 0
    partner.refresh_from_db()
    assert partner.consecutive_failures == 1  # a failing test is a failing partner


def test_the_test_goes_to_the_active_environment(partner, sandbox):
    """In production, the production address and key: the test environment's are not used."""
    partner.test_base_url = f"http://127.0.0.1:{dead_port()}"
    partner.production_base_url = sandbox.base_url
    partner.production_push_url = sandbox.push_url
    partner.production_client_id = "THIRDPARTY_QUNADAI"
    partner.production_secret_key = PARTNER_KEY
    partner.test_secret_key = "the-test-environments-key"
    partner.environment = Environment.PRODUCTION
    partner.save()

    response = member(ADMINISTRATOR, "wang.admin").post(test_url(partner), follow=True)

    ((level, text),) = shown(response)
    assert level == "success" and f"（生产环境 {sandbox.base_url}）" in text
    assert AuditLogEntry.objects.get().environment == Environment.PRODUCTION


def test_only_who_may_change_the_partner_may_test_it_and_only_by_post(partner, sandbox):
    operator = member(OPERATOR, "li.operator")
    page = operator.get(reverse("admin:partners_partner_change", args=[partner.pk]))
    assert page.status_code == 200 and "测试连接" not in page.content.decode()
    assert operator.post(test_url(partner)).status_code == 403

    admin = member(ADMINISTRATOR, "wang.admin")
    assert admin.get(test_url(partner)).status_code == 405
    assert sandbox.calls(yrxd_collision.SINGLE_PATH) == 0
    assert not AuditLogEntry.objects.exists()


def test_the_test_needs_the_csrf_token(partner, sandbox):
    user = User.objects.create_user("wang.admin", is_staff=True)
    user.groups.add(Group.objects.get(name=ADMINISTRATOR))
    client = log_in_verified(Client(enforce_csrf_checks=True), user)
    assert client.post(test_url(partner)).status_code == 403
    assert sandbox.calls(yrxd_collision.SINGLE_PATH) == 0
