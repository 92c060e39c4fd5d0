"""The one place HTTP leaves LeadDesk: a pooled session per partner, explicit timeouts, and
failures turned into values that say whether the request could have reached the partner."""

import threading
import time
from dataclasses import dataclass
from enum import StrEnum

import requests
from django.conf import settings
from urllib3.exceptions import MaxRetryError, NewConnectionError

from partners.protocols.base import OutboundRequest

MAX_ANSWER_BYTES = 1_000_000
_sessions: dict[int, requests.Session] = {}
_sessions_lock = threading.Lock()


class Failure(StrEnum):
    NOT_SENT = "not_sent"  # connection refused, DNS, TLS, connect timeout: provably never reached
    TIMEOUT = "timeout"  # sent, no answer in time: may have been processed
    BROKEN = "broken"  # connection reset or broken mid-exchange: may have been processed


@dataclass(frozen=True)
class Exchange:
    latency_ms: int
    status: int | None = None
    body: bytes = b""
    failure: Failure | None = None
    error: str = ""

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


def send(*, partner_id: int, request: OutboundRequest, timeouts: tuple[float, float]) -> Exchange:
    """Send the prepared bytes as they are. Never raises for network faults: returns them."""
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
        )
        body = response.content[:MAX_ANSWER_BYTES]
    except requests.ReadTimeout:
        return Exchange(
            elapsed(), failure=Failure.TIMEOUT, error="no answer within the read timeout"
        )
    except requests.RequestException as exc:
        failure = Failure.NOT_SENT if _never_sent(exc) else Failure.BROKEN
        return Exchange(elapsed(), failure=failure, error=_short_error(exc))
    return Exchange(elapsed(), status=response.status_code, body=body)


def _short_error(exc: Exception) -> str:
    """A fixed, short description: the exception's class and its innermost reason."""
    reason = exc
    while reason.args and isinstance(reason.args[0], Exception):
        reason = reason.args[0]
    inner = getattr(reason, "reason", None)
    if isinstance(inner, Exception):
        reason = inner
    return f"{type(exc).__name__}: {str(reason)[:300]}"
