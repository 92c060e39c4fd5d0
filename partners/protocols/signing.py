"""The two signature schemes our partners verify, as pure functions.

Collision: every sent parameter except ``sign``, sorted by name, ``name=value`` joined by ``&``,
then ``&key=<secret>``; arrays and objects are written as compact JSON the way fastjson does.
Push: ``md5Hex(clientId + clientTime + bodyString + key)`` over the exact body bytes on the wire.
"""

import hashlib
import json
from collections.abc import Mapping

KEY_PLACEHOLDER = "<key>"


class SecretKey(str):
    """A partner key that does not show itself in reprs, so tracebacks, error reports and
    debuggers print a placeholder instead of the secret (its value signs as usual)."""

    def __repr__(self) -> str:
        return f"SecretKey({KEY_PLACEHOLDER!r})"


def compact_json(value) -> str:
    """JSON as fastjson/Jackson write it by default: no spaces, non-ASCII left as is."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def md5_hex(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()  # noqa: S324 - the partners' protocol mandates MD5


def _param_text(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    if isinstance(value, int | float):
        return str(value)
    return compact_json(value)


def collision_canonical(params: Mapping[str, object], key: str) -> str:
    pairs = "&".join(
        f"{name}={_param_text(value)}"
        for name, value in sorted(params.items())
        if name != "sign" and value is not None
    )
    return f"{pairs}&key={key}"


def collision_sign(params: Mapping[str, object], key: str) -> str:
    return md5_hex(collision_canonical(params, key).encode("utf-8"))


def push_canonical(client_id: str, client_time: str, body: bytes, key: str) -> bytes:
    return client_id.encode("utf-8") + client_time.encode("utf-8") + body + key.encode("utf-8")


def push_sign(client_id: str, client_time: str, body: bytes, key: str) -> str:
    return md5_hex(push_canonical(client_id, client_time, body, key))


def hide_key(canonical: str, key: str) -> str:
    """The canonical string safe to print: the trailing secret replaced by a placeholder."""
    if key and canonical.endswith(key):
        return canonical[: -len(key)] + KEY_PLACEHOLDER
    return canonical
