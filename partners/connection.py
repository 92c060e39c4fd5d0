"""The partner's connection test (测试连接): one signed collision check of a dummy hash, sent to
the active environment through the normal call path, so it is audited like any call.

It checks what an administrator has just typed in (address, utmSource, key) without touching a
lead: the hash is of no phone number, and nothing is ever pushed (a push would hand the partner
a person). The partner's health counts it like any call: a partner that fails the test is
failing.
"""

from dataclasses import dataclass

from django.utils.translation import gettext as _

from partners.calls import CallResult, call_partner
from partners.models import CallOutcome, Operation, Partner
from partners.protocols import collision_protocol
from partners.protocols.signing import md5_hex

# The MD5 of a text that is no phone number: no person is looked up.
DUMMY_HASH = md5_hex(b"leaddesk-connection-test")


@dataclass(frozen=True)
class ConnectionReport:
    ok: bool
    text: str  # what the operator reads, in Chinese
    call: CallResult


def run_connection_test(*, partner: Partner, actor) -> ConnectionReport:
    protocol = collision_protocol(partner.collision_protocol)
    request = protocol.build_single_request(
        base_url=partner.base_url,
        utm_source=partner.utm_source,
        key=partner.signing_key,
        phone_md5=DUMMY_HASH,
    )
    call = call_partner(
        partner,
        request,
        operation=Operation.CONNECTION_TEST,
        parse=lambda body: protocol.parse_single_answer(body, phone_md5=DUMMY_HASH),
        mask_answer=protocol.mask_answer,
        actor=actor,
        lead_count=0,  # a dummy hash: no lead was asked about
    )
    where = _("%(environment)s %(url)s") % {
        "environment": partner.get_environment_display(),
        "url": partner.base_url,
    }
    facts = {
        "where": where,
        "latency": call.exchange.latency_ms if call.exchange else 0,
        "status": call.exchange.status if call.exchange else "",
        "audit": call.audit_entry.pk,
    }
    if call.ok:
        text = _(
            "连接正常（%(where)s）：耗时 %(latency)s 毫秒，HTTP %(status)s，合作平台应答成功，"
            "测试哈希的用户状态为 %(user_status)s（%(meaning)s）。已记入审计日志 #%(audit)s。"
        ) % {
            **facts,
            "user_status": int(call.answer.status),
            "meaning": _user_status_meaning(call.answer.status),
        }
        return ConnectionReport(True, text, call)
    text = _(
        "连接失败（%(where)s）：%(reason)s（耗时 %(latency)s 毫秒）。已记入审计日志 #%(audit)s。"
    ) % {
        **facts,
        "reason": _reason(call, partner),
    }
    return ConnectionReport(False, text, call)


def _reason(call: CallResult, partner: Partner) -> str:
    """Why, in the operator's words; the partner's own message where it sent one (masked)."""
    outcome = call.outcome
    status = call.exchange.status if call.exchange else None
    if outcome == CallOutcome.TIMEOUT:
        return _("合作平台在 %(seconds)s 秒内没有应答（读取超时）") % {
            "seconds": f"{partner.read_timeout:g}"
        }
    if outcome == CallOutcome.CONNECTION_ERROR:
        return _("连不上合作平台（连接被拒绝、被重置或地址不通），请检查当前环境的地址")
    if outcome == CallOutcome.HTTP_ERROR:
        return _("合作平台返回 HTTP %(status)s，请检查当前环境的地址是否正确") % {"status": status}
    if outcome == CallOutcome.MALFORMED:
        return _("合作平台的应答无法解析（不是约定的 JSON），请检查地址是否指向撞库接口")
    if outcome == CallOutcome.SIGNATURE_REJECTED:
        return _("合作平台拒绝了签名或凭证：%(message)s。请检查当前环境的签名密钥和 utmSource") % {
            "message": call.error
        }
    return _("%(outcome)s：%(message)s") % {"outcome": outcome.label, "message": call.error}


def _user_status_meaning(status: int) -> str:
    """The spec's words for a user status (a dummy hash usually reads as 0, 未注册)."""
    meanings = {0: _("未注册"), 1: _("本渠道已注册"), 2: _("其他渠道已注册"), 3: _("异常")}
    return meanings[int(status)]
