"""Types shared by the protocol adapters. Adapters are pure: plain values in, plain values out."""

import json
import re
from dataclasses import dataclass, field


@dataclass(frozen=True)
class OutboundRequest:
    """Exactly what goes on the wire, plus a masked copy that is safe to keep in the audit log."""

    url: str
    body: bytes
    headers: dict[str, str]
    audit_headers: dict[str, str] = field(default_factory=dict)
    audit_body: str = ""
    method: str = "POST"


class ProtocolError(Exception):
    """The partner's answer could not be understood (not JSON, wrong shape, unknown values)."""


class PartnerRefusal(Exception):
    """The partner understood the call and answered that it failed (e.g. ``9999``)."""

    def __init__(self, code: str, message: str):
        self.code = code
        self.message = message
        super().__init__(f"partner refused the call: {code} {message}".strip())

    @property
    def is_signature_error(self) -> bool:
        return _mentions(self.message, SIGNATURE_WORDS)

    @property
    def is_rate_limited(self) -> bool:
        return _mentions(self.message, RATE_LIMIT_WORDS)

    @property
    def is_quota_exceeded(self) -> bool:
        return _mentions(self.message, QUOTA_WORDS)


class UnexpectedAnswer(ProtocolError):
    """An answer code the protocol does not know, kept with its message: a partner's rules may
    still say it refuses the call (partners.calls)."""

    def __init__(self, code: str, message: str, *, what: str = "answer status"):
        self.code = code
        self.message = message
        super().__init__(f"unknown {what} {code!r} ({message})")


# Neither spec has codes for these; partners say them in the message, in Chinese or English.
# A stale clientTime or an unknown clientId is refused like a bad signature: the credentials.
SIGNATURE_WORDS = ("签名", "sign", "clienttime", "clientid", "utmsource")
RATE_LIMIT_WORDS = ("频繁", "限流", "rate limit", "too many")
QUOTA_WORDS = ("额度", "配额", "上限", "quota")
# Missing or wrong headers, an unauthorised caller: the call, never the person. (Not 认证 or
# 授权: "用户未实名认证" and "用户未授权" are verdicts on the person.)
REQUEST_WORDS = ("请求头", "header", "鉴权", "白名单", "非法请求")
CALL_REFUSAL_WORDS = SIGNATURE_WORDS + RATE_LIMIT_WORDS + QUOTA_WORDS + REQUEST_WORDS


def _mentions(message: str, words: tuple[str, ...]) -> bool:
    text = message.lower()
    return any(word.lower() in text for word in words)


@dataclass(frozen=True)
class CallRefusalRules:
    """Which failure answers refuse the call itself (its credentials, its headers, its volume),
    as opposed to judging the lead: then nothing was processed. An answer refuses the call when
    its code is one of ``codes`` or its message mentions one of ``words``. Each protocol has
    defaults (``CALL_REFUSAL``); a partner adds its own (Partner.call_refusal_rules)."""

    codes: frozenset[str] = frozenset()
    words: tuple[str, ...] = ()

    def refuses(self, code: str, message: str) -> bool:
        return code in self.codes or _mentions(message, self.words)

    def extended(self, *, codes=(), words=()) -> "CallRefusalRules":
        return CallRefusalRules(
            codes=self.codes | frozenset(codes),
            words=self.words + tuple(word for word in words if word not in self.words),
        )


class Verdict:
    """An answer that judges a lead. A partner may answer a refused call with the very code of a
    negative verdict (the push spec's status "0"): ``refusal`` hands partners.calls the code and
    message of a negative verdict, for the partner's rules to tell the two apart."""

    def refusal(self) -> tuple[str, str] | None:
        raise NotImplementedError


def load_json_object(body: bytes) -> dict:
    try:
        payload = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise ProtocolError(f"answer is not JSON: {body[:80]!r}") from exc
    if not isinstance(payload, dict):
        raise ProtocolError(f"answer is not a JSON object: {type(payload).__name__}")
    return payload


def as_int(value, *, name: str) -> int:
    """Accept ``1`` and ``"1"`` alike: partners document strings and send numbers, or the reverse."""
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):
        return value
    if isinstance(value, str) and re.fullmatch(r"-?[0-9]+", value.strip()):
        return int(value.strip())
    raise ProtocolError(f"{name} is not an integer: {value!r}")


def as_text(value, *, name: str) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    raise ProtocolError(f"{name} is not text: {value!r}")
