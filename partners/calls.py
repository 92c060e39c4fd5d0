"""One outbound partner call = one HTTP exchange + one audit log row, whatever happens.

Services build a request with a protocol adapter, hand it here with the adapter's parser, and get
back either the parsed answer or a classified failure, together with the audit row it wrote.

Whatever the partner wrote (its answer, and any error that quotes it) is masked here, before it
is kept or shown anywhere: the audit row, the partner's last error, log lines, and the error every
caller stores in results, pushes and jobs. Only the parsed answer is handed back as it came.
"""

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any

from django.db import transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext as _

from core.errors import PartnerUnavailable  # raised here; importers keep partners.calls' name
from core.masking import mask_document, mask_text
from partners import transport
from partners.models import AuditLogEntry, CallOutcome, Partner
from partners.protocols.base import (
    CallRefusalRules,
    OutboundRequest,
    PartnerRefusal,
    ProtocolError,
    UnexpectedAnswer,
    Verdict,
)
from partners.transport import Exchange, Failure

logger = logging.getLogger(__name__)

_FAILURE_OUTCOMES = {
    Failure.NOT_SENT: CallOutcome.CONNECTION_ERROR,
    Failure.BROKEN: CallOutcome.CONNECTION_ERROR,
    Failure.TIMEOUT: CallOutcome.TIMEOUT,
    Failure.TOO_LARGE: CallOutcome.MALFORMED,
}


# Failures worth another try for a read-only call: the partner may well answer next time.
RETRYABLE = frozenset(
    {
        CallOutcome.TIMEOUT,
        CallOutcome.CONNECTION_ERROR,
        CallOutcome.HTTP_ERROR,
        CallOutcome.MALFORMED,
    }
)
# "Too fast" or "over quota": nothing was processed; slow down instead of retrying at once.
THROTTLED = frozenset({CallOutcome.RATE_LIMITED, CallOutcome.QUOTA_EXCEEDED})
# The partner answered that it processed nothing: a push refused so may be sent again.
NOT_PROCESSED = THROTTLED | {CallOutcome.SIGNATURE_REJECTED, CallOutcome.CALL_REFUSED}


@dataclass(frozen=True)
class CallResult:
    outcome: CallOutcome
    answer: Any = None
    error: str = ""
    exchange: Exchange | None = None
    audit_entry: AuditLogEntry | None = None

    @property
    def ok(self) -> bool:
        return self.outcome == CallOutcome.OK

    @property
    def may_have_reached_partner(self) -> bool:
        return self.exchange is None or self.exchange.may_have_reached_partner


def ensure_available(partner: Partner) -> None:
    partner.refresh_from_db(fields=["is_active", "is_paused", "last_error"])
    if not partner.is_active:
        raise PartnerUnavailable(_("合作平台 %(name)s 未启用") % {"name": partner.name})
    if partner.is_paused:
        raise PartnerUnavailable(
            _("合作平台 %(name)s 已暂停（连续失败）：%(error)s")
            % {"name": partner.name, "error": partner.last_error}
        )


# Partner id → until when (monotonic) this process takes the partner's failure streak to be
# zero: a success then writes nothing. A streak another process starts meanwhile is reset by
# our successes at most this late.
_streak_known_zero: dict[int, float] = {}
STREAK_RECHECK_SECONDS = 1.0


def _track_health(partner: Partner, outcome: CallOutcome, error: str) -> None:
    """Circuit breaker: N failed calls in a row pause the partner until an operator resumes it.
    Throttling answers do not count: the partner is healthy, only busy."""
    rows = Partner.objects.filter(pk=partner.pk)
    if outcome == CallOutcome.OK:
        if _streak_known_zero.get(partner.pk, 0.0) > time.monotonic():
            return
        rows.filter(consecutive_failures__gt=0).update(consecutive_failures=0)
        _streak_known_zero[partner.pk] = time.monotonic() + STREAK_RECHECK_SECONDS
    elif outcome not in THROTTLED:
        _streak_known_zero.pop(partner.pk, None)
        rows.update(
            consecutive_failures=F("consecutive_failures") + 1,
            last_error=f"{outcome.label}: {error}"[:1000],
            last_error_at=timezone.now(),
        )
        if rows.filter(is_paused=False, consecutive_failures__gte=F("failure_threshold")).update(
            is_paused=True
        ):
            logger.error(
                "partner %s paused after %s failed calls in a row",
                partner.slug,
                partner.failure_threshold,
            )


def _refusal_outcome(refusal: PartnerRefusal, rules: CallRefusalRules) -> CallOutcome:
    if refusal.is_signature_error:
        return CallOutcome.SIGNATURE_REJECTED
    if refusal.is_rate_limited:
        return CallOutcome.RATE_LIMITED
    if refusal.is_quota_exceeded:
        return CallOutcome.QUOTA_EXCEEDED
    if rules.refuses(refusal.code, refusal.message):
        return CallOutcome.CALL_REFUSED
    return CallOutcome.REFUSED


def _text(body: bytes) -> str:
    return body[:200].decode("utf-8", errors="replace")


def _interpret(
    exchange: Exchange,
    parse: Callable[[bytes], Any],
    mask: Callable[[str], str],
    rules: CallRefusalRules,
) -> tuple[CallOutcome, Any, str]:
    """The outcome, the parsed answer, and the error (the partner's words in it masked).
    ``rules`` (the partner's) decide which failure answers refuse the call rather than judge a
    lead: the protocol's parser knows its defaults only, so a verdict it let through, or a code
    it does not know, is asked again here."""
    if exchange.failure:
        return _FAILURE_OUTCOMES[exchange.failure], None, exchange.error  # ours, not the partner's
    if exchange.status == HTTPStatus.TOO_MANY_REQUESTS:
        return CallOutcome.RATE_LIMITED, None, f"HTTP 429 {mask(_text(exchange.body))}".strip()
    try:
        answer = parse(exchange.body)
    except PartnerRefusal as refusal:
        outcome = _refusal_outcome(refusal, rules)
        return outcome, None, mask(f"{refusal.code} {refusal.message}".strip())
    except UnexpectedAnswer as exc:
        if exchange.status == 200 and rules.refuses(exc.code, exc.message):
            return CallOutcome.CALL_REFUSED, None, mask(f"{exc.code} {exc.message}".strip())
        return _unreadable(exchange, exc, mask)
    except ProtocolError as exc:
        return _unreadable(exchange, exc, mask)
    if exchange.status != 200:
        return CallOutcome.HTTP_ERROR, None, f"HTTP {exchange.status}"
    if isinstance(answer, Verdict) and (refusal := answer.refusal()) and rules.refuses(*refusal):
        return CallOutcome.CALL_REFUSED, None, mask(" ".join(refusal).strip())
    return CallOutcome.OK, answer, ""


def _unreadable(exchange: Exchange, exc: ProtocolError, mask) -> tuple[CallOutcome, Any, str]:
    if exchange.status and exchange.status >= 400:
        return CallOutcome.HTTP_ERROR, None, f"HTTP {exchange.status}"
    return CallOutcome.MALFORMED, None, mask(str(exc))  # it may quote the answer


def call_partner(
    partner: Partner,
    request: OutboundRequest | Callable[[], OutboundRequest],
    *,
    operation: str,
    parse: Callable[[bytes], Any],
    mask_answer: Callable[[bytes], str],
    mask: Callable[[str], str] = mask_text,
    actor=None,
    job=None,
    lead_count: int = 1,
    claim: Callable[[], bool] | None = None,
    record: Callable[[CallResult], None] | None = None,
) -> CallResult | None:
    """``request`` may be a function that builds it, called in the partner's slot (see
    ``transport.send``). ``claim`` runs once the partner has a free slot for this call, just
    before the request leaves; if it says no, nothing is sent or recorded and the result is
    ``None``. ``record`` stores what the caller makes of the result in the transaction that
    writes the audit row, so the two commit together (one write per call; a push's final state
    never lags its audit row).

    ``mask_answer`` is the protocol's own masking of its answer (echoed hashes cut short);
    ``mask`` then masks every text the partner wrote, in the answer and in the error: by default
    phones, ID numbers and hash-like tokens; a caller that knows whom the call is about passes
    a masker that knows that person's name and numbers too."""
    exchange = transport.send(
        partner_id=partner.pk,
        request=request,
        timeouts=partner.timeouts,
        max_in_flight=partner.max_concurrency,
        per_second=partner.max_requests_per_second,
        claim=claim,
    )
    if exchange is None:
        return None
    rules = partner.call_refusal_rules(operation)
    outcome, answer, error = _interpret(exchange, parse, mask, rules)
    sent = exchange.request
    with transaction.atomic():
        # Before the audit row: appending it takes the audit chain's lock (held until commit),
        # and every writer takes the partner row's lock first, then the chain's.
        _track_health(partner, outcome, error)
        entry = AuditLogEntry.objects.create(
            partner=partner,
            operation=operation,
            environment=partner.environment,
            method=sent.method,
            url=sent.url,
            request_headers=sent.audit_headers,
            request_body=sent.audit_body,
            response_status=exchange.status,
            response_body=mask_document(mask_answer(exchange.body), mask) if exchange.body else "",
            latency_ms=exchange.latency_ms,
            outcome=outcome,
            error=error,
            lead_count=lead_count,
            actor=actor if getattr(actor, "is_authenticated", False) else None,
            job=job,
        )
        result = CallResult(
            outcome=outcome, answer=answer, error=error, exchange=exchange, audit_entry=entry
        )
        if record:
            record(result)
    if outcome != CallOutcome.OK:
        logger.warning(
            "partner call failed: partner=%s operation=%s outcome=%s error=%s audit=%s",
            partner.slug,
            operation,
            outcome,
            error,
            entry.pk,
        )
    return result
