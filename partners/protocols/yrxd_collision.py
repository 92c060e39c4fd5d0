"""Collision check (撞库) protocol: ``specs/collision-check-api.md``.

Only MD5s leave the building: the phone's 11 digits, or the 18-character ID number with an
uppercase ``X``. An optional hash we do not have is left out of the body and the signature.
"""

from dataclasses import dataclass
from enum import IntEnum

from core.masking import SIGNATURE_PREFIX, short_hash
from partners.protocols.base import (
    CallRefusalRules,
    OutboundRequest,
    PartnerRefusal,
    ProtocolError,
    as_int,
    as_text,
    load_json_object,
)
from partners.protocols.signing import collision_sign, compact_json, md5_hex

NAME = "yrxd_collision_v1"
LABEL = "宜人撞库 v1（MD5，参数排序签名）"
SINGLE_PATH = "/api/collision/v1/advert/check/access"
BATCH_PATH = "/api/collision/v1/advert/check/access/batch"
MAX_BATCH = 1000
SUCCESS = "0000"
PHONE_MD5 = 0  # userMd5Type: the partner supports phone hashes only today
# Every answer but "0000" is a failure of the whole call (the spec: "其他失败"); a lead is only
# ever judged inside data. No default needs telling apart; a partner may still name its codes.
CALL_REFUSAL = CallRefusalRules()


class UserStatus(IntEnum):
    NEW = 0  # not registered with the partner
    OURS = 1  # registered through our channel
    OTHER_CHANNEL = 2  # registered through another channel
    ANOMALY = 3


@dataclass(frozen=True)
class CollisionAnswer:
    user_md5: str
    status: UserStatus
    marketable: bool

    @property
    def is_marketable(self) -> bool:
        """The spec's rule: market a lead only when status is 0 and marketable is 1."""
        return self.status == UserStatus.NEW and self.marketable


def phone_md5(phone: str) -> str:
    return md5_hex(phone.encode("ascii"))


def id_number_md5(id_number: str) -> str:
    return md5_hex(id_number.upper().encode("ascii"))


def _request(url: str, params: dict, key: str) -> OutboundRequest:
    signed = {**params, "sign": collision_sign(params, key)}
    audit = {
        name: ([short_hash(h) for h in value] if isinstance(value, list) else value)
        for name, value in signed.items()
    }
    for name in ("phoneMd5", "idNoMd5"):
        if name in audit:
            audit[name] = short_hash(audit[name])
    audit["sign"] = short_hash(audit["sign"], keep=SIGNATURE_PREFIX)
    headers = {"Content-Type": "application/json"}
    return OutboundRequest(
        url=url,
        body=compact_json(signed).encode("utf-8"),
        headers=headers,
        audit_headers=headers,
        audit_body=compact_json(audit),
    )


def build_single_request(
    *, base_url: str, utm_source: str, key: str, phone_md5: str = "", id_md5: str = ""
) -> OutboundRequest:
    if not (phone_md5 or id_md5):
        raise ValueError("a single check needs a phone or an ID number hash")
    params = {"utmSource": utm_source}
    if phone_md5:
        params["phoneMd5"] = phone_md5
    if id_md5:
        params["idNoMd5"] = id_md5
    return _request(base_url.rstrip("/") + SINGLE_PATH, params, key)


def build_batch_request(
    *, base_url: str, utm_source: str, key: str, phone_md5s: list[str]
) -> OutboundRequest:
    if not phone_md5s:
        raise ValueError("a batch check needs at least one hash")
    if len(phone_md5s) > MAX_BATCH:
        raise ValueError(f"a batch check takes at most {MAX_BATCH} hashes, got {len(phone_md5s)}")
    params = {"userMd5List": list(phone_md5s), "userMd5Type": PHONE_MD5, "utmSource": utm_source}
    return _request(base_url.rstrip("/") + BATCH_PATH, params, key)


def _envelope_data(body: bytes):
    payload = load_json_object(body)
    if "status" not in payload:
        raise ProtocolError("answer has no status")
    code = as_text(payload["status"], name="status")
    if code != SUCCESS:
        raise PartnerRefusal(code, str(payload.get("msg") or ""))
    if "data" not in payload:
        raise ProtocolError("successful answer has no data")
    return payload["data"]


def _answer(item, *, default_md5: str = "") -> CollisionAnswer:
    if not isinstance(item, dict):
        raise ProtocolError(f"answer item is not an object: {item!r}")
    if item.get("status") in (None, ""):
        raise ProtocolError("answer item has no user status")
    raw_status = as_int(item["status"], name="data.status")
    try:
        status = UserStatus(raw_status)
    except ValueError as exc:
        raise ProtocolError(f"unknown user status {raw_status}") from exc
    marketable = as_int(item.get("marketable", 0) or 0, name="data.marketable")
    if marketable not in (0, 1):
        raise ProtocolError(f"marketable must be 0 or 1, got {marketable}")
    user_md5 = as_text(item.get("userMd5") or default_md5, name="data.userMd5").lower()
    return CollisionAnswer(user_md5=user_md5, status=status, marketable=bool(marketable))


def parse_single_answer(body: bytes, *, phone_md5: str = "", id_md5: str = "") -> CollisionAnswer:
    data = _envelope_data(body)
    return _answer(data, default_md5=phone_md5 or id_md5)


def parse_batch_answer(body: bytes) -> list[CollisionAnswer]:
    data = _envelope_data(body)
    if not isinstance(data, list):
        raise ProtocolError("batch answer data is not a list")
    answers = [_answer(item) for item in data]
    if any(not answer.user_md5 for answer in answers):
        raise ProtocolError("batch answer item has no userMd5")
    return answers


def mask_answer(body: bytes) -> str:
    """The answer as kept in the audit log: echoed hashes cut to a prefix (partners.calls then
    masks whatever else the partner wrote, its msg included)."""
    try:
        payload = load_json_object(body)
    except ProtocolError:
        return body[:2000].decode("utf-8", errors="replace")
    data = payload.get("data")
    items = data if isinstance(data, list) else [data]
    for item in items:
        if isinstance(item, dict) and isinstance(item.get("userMd5"), str):
            item["userMd5"] = short_hash(item["userMd5"])
    return compact_json(payload)
