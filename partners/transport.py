"""The one place HTTP leaves LeadDesk: a pooled session per partner, explicit timeouts, and
failures turned into values that say whether the request could have reached the partner."""

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from enum import StrEnum

import requests
from django.conf import settings
from urllib3.exceptions import MaxRetryError, NewConnectionError, ReadTimeoutError

from partners.limits import gate_for
from partners.protocols.base import OutboundRequest

MAX_ANSWER_BYTES = 1_000_000
_sessions: dict[int, requests.Session] = {}
_sessions_lock = threading.Lock()


class Failure(StrEnum):
    NOT_SENT = "not_sent"  # connection refused, DNS, TLS, connect timeout: provably never reached
    TIMEOUT = "timeout"  # sent, no answer in time: may have been processed
    BROKEN = "broken"  # connection reset or broken mid-exchange: may have been processed
    TOO_LARGE = "too_large"  # answered with more than MAX_ANSWER_BYTES: read no further


@dataclass(frozen=True)
class Exchange:
    latency_ms: int
    status: int | None = None
    body: bytes = b""
    failure: Failure | None = None
    error: str = ""
    request: OutboundRequest | None = None  # as it was sent

    @property
    def may_have_reached_partner(self) -> bool:
        return self.failure != Failure.NOT_SENT


def session_for(partner_id: int) -> requests.Session:
    with _sessions_lock:
        session = _sessions.get(partner_id)
        if session is None:
            session = requests.Session()
            session.trust_env = False  # see PARTNER_HTTP_PROXY
            if settings.PARTNER_HTTP_PROXY:
                session.proxies = dict.fromkeys(("http", "https"), settings.PARTNER_HTTP_PROXY)
            adapter = requests.adapters.HTTPAdapter(
                pool_connections=4, pool_maxsize=16, max_retries=0
            )
            session.mount("http://", adapter)
            session.mount("https://", adapter)
            _sessions[partner_id] = session
        return session


def _never_sent(exc: requests.RequestException) -> bool:
    if isinstance(exc, requests.ConnectTimeout | requests.exceptions.SSLError):
        return True
    reason = exc.args[0] if exc.args else None
    return isinstance(reason, MaxRetryError) and isinstance(reason.reason, NewConnectionError)


def send(
    *,
    partner_id: int,
    request: OutboundRequest | Callable[[], OutboundRequest],
    timeouts: tuple[float, float],
    max_in_flight: int,
    per_second: float,
    claim: Callable[[], bool] | None = None,
) -> Exchange | None:
    """Send the prepared bytes as they are, within the partner's limits (waiting for a slot if
    need be). ``claim``, if given, runs in the slot just before sending; if it says no, nothing
    is sent and the answer is ``None``. A request given as a function is built in the slot too,
    so a timestamp it signs is not aged by the wait. Never raises for network faults: returns
    them."""
    with gate_for(partner_id, max_in_flight=max_in_flight, per_second=per_second).passage():
        if claim is not None and not claim():
            return None
        prepared = request() if callable(request) else request
        return replace(_exchange(partner_id, prepared, timeouts), request=prepared)


def _exchange(partner_id: int, request: OutboundRequest, timeouts: tuple[float, float]) -> Exchange:
    started = time.monotonic()

    def elapsed() -> int:
        return round((time.monotonic() - started) * 1000)

    try:
        response = session_for(partner_id).request(
            request.method,
            request.url,
            data=request.body,
            headers=request.headers,
            timeout=timeouts,
            allow_redirects=False,
            stream=True,  # the body is read below, never more than MAX_ANSWER_BYTES of it
        )
        with response:
            body = _read_capped(response)
    except AnswerTooLarge:
        error = f"answer larger than {MAX_ANSWER_BYTES} bytes"
        return Exchange(
            elapsed(), status=response.status_code, failure=Failure.TOO_LARGE, error=error
        )
    except requests.RequestException as exc:
        if _read_timed_out(exc):
            return Exchange(
                elapsed(), failure=Failure.TIMEOUT, error="no answer within the read timeout"
            )
        failure = Failure.NOT_SENT if _never_sent(exc) else Failure.BROKEN
        return Exchange(elapsed(), failure=failure, error=_short_error(exc))
    return Exchange(elapsed(), status=response.status_code, body=body)


class AnswerTooLarge(Exception):
    pass


def _read_capped(response: requests.Response) -> bytes:
    body = bytearray()
    for chunk in response.iter_content(64 * 1024):
        body += chunk
        if len(body) > MAX_ANSWER_BYTES:
            raise AnswerTooLarge
    return bytes(body)


def _read_timed_out(exc: requests.RequestException) -> bool:
    """A read timeout, before the headers (``ReadTimeout``) or within the body (requests reports
    that one as a ``ConnectionError`` around urllib3's ``ReadTimeoutError``)."""
    if isinstance(exc, requests.ReadTimeout):
        return True
    return bool(exc.args) and isinstance(exc.args[0], ReadTimeoutError)


def _short_error(exc: Exception) -> str:
    """A fixed, short description: the exception's class and its innermost reason."""
    reason = exc
    while reason.args and isinstance(reason.args[0], Exception):
        reason = reason.args[0]
    inner = getattr(reason, "reason", None)
    if isinstance(inner, Exception):
        reason = inner
    return f"{type(exc).__name__}: {str(reason)[:300]}"
