"""The protocol adapters on their own: what they accept from a partner, what they refuse, and
how. Pure functions, no database, no network."""

import json

import pytest

from partners.protocols import qunadai_push, yrxd_collision
from partners.protocols.base import PartnerRefusal, ProtocolError
from partners.protocols.yrxd_collision import UserStatus

HASH_A = "a" * 32
HASH_B = "b" * 32


def answer(status="0000", msg="成功", **extra) -> bytes:
    return json.dumps({"status": status, "msg": msg, **extra}, ensure_ascii=False).encode()


@pytest.mark.parametrize(
    "item",
    [
        {"status": "0", "marketable": "1", "userMd5": HASH_A},
        {"status": 0, "marketable": 1, "userMd5": HASH_A},
        {"status": " 0 ", "marketable": True, "userMd5": HASH_A.upper()},
    ],
)
def test_single_answer_takes_strings_and_numbers_alike(item):
    parsed = yrxd_collision.parse_single_answer(answer(data=item), phone_md5=HASH_A)
    assert (parsed.user_md5, parsed.status, parsed.marketable) == (HASH_A, UserStatus.NEW, True)


def test_single_answer_without_user_md5_is_the_hash_that_was_sent():
    parsed = yrxd_collision.parse_single_answer(answer(data={"status": 2}), phone_md5=HASH_B)
    assert (parsed.user_md5, parsed.status, parsed.marketable) == (HASH_B, 2, False)


def test_batch_answer_keeps_each_hash_with_its_own_status():
    items = [
        {"status": "3", "marketable": 0, "userMd5": HASH_B},
        {"status": 0, "marketable": "1", "userMd5": HASH_A},
    ]
    parsed = yrxd_collision.parse_batch_answer(answer(data=items))
    assert {p.user_md5: (p.status, p.marketable) for p in parsed} == {
        HASH_A: (UserStatus.NEW, True),
        HASH_B: (UserStatus.ANOMALY, False),
    }


@pytest.mark.parametrize(
    ("body", "error"),
    [
        (b"<html>502</html>", "not JSON"),
        (b"[1, 2]", "not a JSON object"),
        (answer(status=None), "status"),
        (json.dumps({"msg": "ok"}).encode(), "no status"),
        (answer(), "no data"),
        (answer(data={"marketable": 1}), "no user status"),
        (answer(data={"status": "9", "userMd5": HASH_A}), "unknown user status 9"),
        (answer(data={"status": "--1", "userMd5": HASH_A}), "not an integer"),
        (answer(data={"status": "²", "userMd5": HASH_A}), "not an integer"),
        (answer(data={"status": 0, "marketable": 2, "userMd5": HASH_A}), "0 or 1"),
        (answer(data=["not an object"]), "not an object"),
    ],
)
def test_malformed_collision_answers_are_refused_with_the_reason(body, error):
    with pytest.raises(ProtocolError, match=error):
        yrxd_collision.parse_single_answer(body, phone_md5=HASH_A)


@pytest.mark.parametrize(
    ("data", "error"),
    [
        ({"status": 0, "userMd5": HASH_A}, "not a list"),
        ([{"status": 0, "marketable": 1}], "no userMd5"),
    ],
)
def test_malformed_batch_answers_are_refused_with_the_reason(data, error):
    with pytest.raises(ProtocolError, match=error):
        yrxd_collision.parse_batch_answer(answer(data=data))


@pytest.mark.parametrize(
    ("msg", "signature", "throttled"),
    [("签名验证失败", True, False), ("请求过于频繁", False, True), ("系统繁忙", False, False)],
)
def test_a_failure_envelope_is_the_partners_refusal_with_its_message(msg, signature, throttled):
    with pytest.raises(PartnerRefusal) as refused:
        yrxd_collision.parse_batch_answer(answer(status="9999", msg=msg, data=None))
    assert (refused.value.code, refused.value.message) == ("9999", msg)
    assert refused.value.is_signature_error is signature
    assert refused.value.is_rate_limited is throttled


def test_a_batch_request_holds_at_most_1000_hashes():
    build = dict(base_url="http://127.0.0.1:1", utm_source="x", key="k")
    request = yrxd_collision.build_batch_request(**build, phone_md5s=[HASH_A] * 1000)
    assert len(json.loads(request.body)["userMd5List"]) == 1000
    with pytest.raises(ValueError, match="at most 1000"):
        yrxd_collision.build_batch_request(**build, phone_md5s=[HASH_A] * 1001)


@pytest.mark.parametrize("status", ["1", 1])
def test_push_answer_accepted_with_its_download_url(status):
    body = answer(status=status, msg="推送成功", data={"appDownloadUrl": "https://x.cn/h5/1"})
    parsed = qunadai_push.parse_answer(body)
    assert (parsed.accepted, parsed.message, parsed.app_download_url) == (
        True,
        "推送成功",
        "https://x.cn/h5/1",
    )


def test_push_answer_rejecting_the_lead_is_an_answer_not_an_error():
    parsed = qunadai_push.parse_answer(answer(status=0, msg="用户已存在", data=None))
    assert (parsed.accepted, parsed.message, parsed.app_download_url) == (False, "用户已存在", None)


@pytest.mark.parametrize(
    "msg", ["签名验证失败", "clientTime 已过期", "未知的 clientId", "超出当日额度"]
)
def test_push_answer_refusing_the_call_itself_is_a_refusal(msg):
    with pytest.raises(PartnerRefusal, match=msg):
        qunadai_push.parse_answer(answer(status="0", msg=msg, data=None))


@pytest.mark.parametrize(
    ("body", "error"),
    [
        (answer(status="2", msg="处理中"), "unknown push status '2'"),
        (json.dumps({"msg": "ok"}).encode(), "no status"),
        (answer(status="1", data={"appDownloadUrl": 12}), "appDownloadUrl is not text"),
        (answer(status="1", data={"appDownloadUrl": "https://x.cn/" + "a" * 2048}), "longer than"),
        (b"", "not JSON"),
    ],
)
def test_malformed_push_answers_are_refused_with_the_reason(body, error):
    with pytest.raises(ProtocolError, match=error):
        qunadai_push.parse_answer(body)
