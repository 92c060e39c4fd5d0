"""One outbound partner call = one HTTP exchange + one audit log row, whatever happens.

Services build a request with a protocol adapter, hand it here with the adapter's parser, and get
back either the parsed answer or a classified failure, together with the audit row it wrote.
"""

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from partners import transport
from partners.models import AuditLogEntry, CallOutcome, Partner
from partners.protocols.base import OutboundRequest, PartnerRefusal, ProtocolError
from partners.transport import Exchange, Failure

logger = logging.getLogger(__name__)

_FAILURE_OUTCOMES = {
    Failure.NOT_SENT: CallOutcome.CONNECTION_ERROR,
    Failure.BROKEN: CallOutcome.CONNECTION_ERROR,
    Failure.TIMEOUT: CallOutcome.TIMEOUT,
}


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


def _interpret(exchange: Exchange, parse: Callable[[bytes], Any]) -> tuple[CallOutcome, Any, str]:
    if exchange.failure:
        return _FAILURE_OUTCOMES[exchange.failure], None, exchange.error
    try:
        answer = parse(exchange.body)
    except PartnerRefusal as refusal:
        outcome = (
            CallOutcome.SIGNATURE_REJECTED if refusal.is_signature_error else CallOutcome.REFUSED
        )
        return outcome, None, f"{refusal.code} {refusal.message}".strip()
    except ProtocolError as exc:
        if exchange.status and exchange.status >= 400:
            return CallOutcome.HTTP_ERROR, None, f"HTTP {exchange.status}"
        return CallOutcome.MALFORMED, None, str(exc)
    if exchange.status != 200:
        return CallOutcome.HTTP_ERROR, None, f"HTTP {exchange.status}"
    return CallOutcome.OK, answer, ""


def call_partner(
    partner: Partner,
    request: OutboundRequest,
    *,
    operation: str,
    parse: Callable[[bytes], Any],
    mask_answer: Callable[[bytes], str],
    actor=None,
    lead_count: int = 1,
) -> CallResult:
    exchange = transport.send(partner_id=partner.pk, request=request, timeouts=partner.timeouts)
    outcome, answer, error = _interpret(exchange, parse)
    entry = AuditLogEntry.objects.create(
        partner=partner,
        operation=operation,
        environment=partner.environment,
        method=request.method,
        url=request.url,
        request_headers=request.audit_headers,
        request_body=request.audit_body,
        response_status=exchange.status,
        response_body=mask_answer(exchange.body) if exchange.body else "",
        latency_ms=exchange.latency_ms,
        outcome=outcome,
        error=error,
        lead_count=lead_count,
        actor=actor if getattr(actor, "is_authenticated", False) else None,
    )
    if outcome != CallOutcome.OK:
        logger.warning(
            "partner call failed: partner=%s operation=%s outcome=%s error=%s audit=%s",
            partner.slug,
            operation,
            outcome,
            error,
            entry.pk,
        )
    return CallResult(
        outcome=outcome, answer=answer, error=error, exchange=exchange, audit_entry=entry
    )
