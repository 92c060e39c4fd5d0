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


# Neither spec has codes for these; partners say them in the message, in Chinese or English.
# A stale clientTime or an unknown clientId is refused like a bad signature: the credentials.
SIGNATURE_WORDS = ("签名", "sign", "clienttime", "clientid", "utmsource")
RATE_LIMIT_WORDS = ("频繁", "限流", "rate limit", "too many")
QUOTA_WORDS = ("额度", "配额", "上限", "quota")


def _mentions(message: str, words: tuple[str, ...]) -> bool:
    text = message.lower()
    return any(word in text for word in words)


def refuses_the_call(message: str) -> bool:
    """A refusal of our call (its credentials or its volume), not of the lead: nothing was
    processed."""
    return _mentions(message, SIGNATURE_WORDS + RATE_LIMIT_WORDS + QUOTA_WORDS)


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
