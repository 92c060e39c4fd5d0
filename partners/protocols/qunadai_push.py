"""User push (推送) protocol: ``specs/push-user-api.md``.

The body is serialised once and those exact bytes are signed and sent:
``s = md5Hex(clientId + clientTime + bodyString + key)``. By default ``data`` is the user object
as a JSON *string* and integers are sent as strings, as the spec's example does; both are
per-partner options.
"""

from dataclasses import asdict, dataclass

from core.masking import (
    SIGNATURE_PREFIX,
    mask_address,
    mask_id_number,
    mask_middle,
    mask_name,
    mask_phone,
    short_hash,
)
from partners.protocols.base import (
    CALL_REFUSAL_WORDS,
    CallRefusalRules,
    OutboundRequest,
    PartnerRefusal,
    ProtocolError,
    UnexpectedAnswer,
    Verdict,
    as_text,
    load_json_object,
)
from partners.protocols.signing import compact_json, push_sign

NAME = "qunadai_push_v1"
LABEL = "去哪上岸用户推送 v1（请求头 MD5 签名）"
ACCEPTED = "1"
REJECTED = "0"
MAX_URL_LENGTH = 2048  # what Push.app_download_url holds

# The spec's status "0" is both "the lead is rejected" and, from some partners, "the call is
# refused" (a missing or wrong header): only the message tells them apart. These words mark a
# refusal of the call by default; a partner adds its own codes and words.
CALL_REFUSAL = CallRefusalRules(words=CALL_REFUSAL_WORDS)

EDU_LEVELS = ("硕士及以上", "本科", "大专", "中专/高中及以下")
EMERGENCY_RELATIONS = ("配偶", "父母", "兄弟姐妹", "子女", "同事", "同学", "朋友")


@dataclass(frozen=True)
class PushProfile:
    """The 15 fields of the push spec, in the spec's order (which is also the wire order)."""

    phone: str
    idNum: str
    name: str
    wechat: str
    qq: str
    eduLevel: str
    province: str
    city: str
    district: str
    address: str
    socialInsurancePayed: int
    emergencyContactName: str
    emergencyRelation: str
    emergencyContactPhone: str
    zhimaScore: int


def missing_fields(lead) -> list[str]:
    """The lead's fields (by our names, so that the caller can label them) that the push spec
    requires and this lead lacks: the enumerations and integers (eduLevel, emergencyRelation,
    socialInsurancePayed, zhimaScore), which have no empty value. Free text goes out as "" when
    the list had none. ``lead``: anything with the lead's field names (no model is imported)."""
    required = ("edu_level", "emergency_relation", "social_insurance_paid", "zhima_score")
    return [name for name in required if getattr(lead, name) in (None, "")]


def profile_of(lead) -> PushProfile:
    """The lead as this spec's user object: the mapping from our field names to the wire's is
    the protocol's, so a partner with another format is another module, not a change to Lead."""
    return PushProfile(
        phone=lead.phone,
        idNum=lead.id_number,
        name=lead.name,
        wechat=lead.wechat,
        qq=lead.qq,
        eduLevel=lead.edu_level,
        province=lead.province,
        city=lead.city,
        district=lead.district,
        address=lead.address,
        socialInsurancePayed=int(bool(lead.social_insurance_paid)),
        emergencyContactName=lead.emergency_contact_name,
        emergencyRelation=lead.emergency_relation,
        emergencyContactPhone=lead.emergency_contact_phone,
        zhimaScore=int(lead.zhima_score or 0),
    )


INTEGER_FIELDS = ("socialInsurancePayed", "zhimaScore")
_MASKERS = {
    "phone": mask_phone,
    "emergencyContactPhone": mask_phone,
    "idNum": mask_id_number,
    "name": mask_name,
    "emergencyContactName": mask_name,
    "wechat": mask_middle,
    "qq": mask_middle,
    "address": mask_address,
}


@dataclass(frozen=True)
class PushAnswer(Verdict):
    accepted: bool
    message: str
    app_download_url: str | None
    code: str = ACCEPTED

    def refusal(self) -> tuple[str, str] | None:
        return None if self.accepted else (self.code, self.message)


def _user_object(profile: PushProfile, *, integers_as_strings: bool) -> dict:
    user = asdict(profile)
    if integers_as_strings:
        for name in INTEGER_FIELDS:
            user[name] = str(user[name])
    return user


def _body(user: dict, *, data_as_string: bool) -> bytes:
    data = compact_json(user) if data_as_string else user
    return compact_json({"data": data}).encode("utf-8")


def build_request(
    *,
    url: str,
    client_id: str,
    key: str,
    client_time_ms: int,
    profile: PushProfile,
    data_as_string: bool = True,
    integers_as_strings: bool = True,
) -> OutboundRequest:
    user = _user_object(profile, integers_as_strings=integers_as_strings)
    body = _body(user, data_as_string=data_as_string)
    client_time = str(client_time_ms)
    signature = push_sign(client_id, client_time, body, key)
    headers = {
        "Content-Type": "application/json;charset=utf-8",
        "clientId": client_id,
        "clientTime": client_time,
        "s": signature,
    }
    masked_user = {name: _MASKERS.get(name, lambda v: v)(value) for name, value in user.items()}
    return OutboundRequest(
        url=url,
        body=body,
        headers=headers,
        audit_headers={**headers, "s": short_hash(signature, keep=SIGNATURE_PREFIX)},
        audit_body=_body(masked_user, data_as_string=data_as_string).decode("utf-8"),
    )


def parse_answer(body: bytes, *, refusal: CallRefusalRules = CALL_REFUSAL) -> PushAnswer:
    """``refusal``: which failure answers refuse the call rather than the lead (they raise
    ``PartnerRefusal``: the lead was never looked at)."""
    payload = load_json_object(body)
    if "status" not in payload:
        raise ProtocolError("answer has no status")
    status = as_text(payload["status"], name="status")
    message = str(payload.get("msg") or "")
    if status != ACCEPTED and refusal.refuses(status, message):
        raise PartnerRefusal(status, message)
    if status not in (ACCEPTED, REJECTED):
        raise UnexpectedAnswer(status, message, what="push status")
    data = payload.get("data")
    url = data.get("appDownloadUrl") if isinstance(data, dict) else None
    if url is not None and not isinstance(url, str):
        raise ProtocolError(f"appDownloadUrl is not text: {url!r}")
    if url and len(url) > MAX_URL_LENGTH:
        raise ProtocolError(f"appDownloadUrl is longer than {MAX_URL_LENGTH} characters")
    return PushAnswer(
        accepted=status == ACCEPTED, message=message, app_download_url=url or None, code=status
    )


def mask_answer(body: bytes) -> str:
    """The answer as the audit log keeps it, before partners.calls masks what the partner wrote
    (its msg, the link): a JSON answer whole, so that escaped text is read and masked too; any
    other answer cut short."""
    try:
        return compact_json(load_json_object(body))
    except ProtocolError:
        return body[:2000].decode("utf-8", errors="replace")
