"""Collision checks (撞库): ask a partner whether our leads are already its customers.

One lead goes through the single endpoint (phone and ID hashes); more go through the batch
endpoint in chunks of at most 1000 phone hashes. Answers are matched back to leads by hash, never
by position, and a hash the partner did not answer is recorded as such.
"""

import logging
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from django.db import transaction

from collision.models import CheckOutcome, CollisionResult
from leads.models import Lead
from partners.calls import CallResult, call_partner
from partners.models import CallOutcome, Operation, Partner
from partners.protocols import collision_protocol

logger = logging.getLogger(__name__)


@dataclass
class CheckSummary:
    checked: int = 0
    marketable: int = 0
    failed: int = 0
    requests: int = 0
    errors: list[str] = field(default_factory=list)

    def add(self, results: Sequence[CollisionResult], call: CallResult) -> None:
        self.requests += 1
        for result in results:
            if result.outcome == CheckOutcome.ANSWERED:
                self.checked += 1
                self.marketable += result.is_marketable
            else:
                self.failed += 1
        if not call.ok and call.error not in self.errors:
            self.errors.append(call.error)


def check_leads(*, partner: Partner, leads: Iterable[Lead], actor=None) -> CheckSummary:
    leads = list(leads)
    summary = CheckSummary()
    if len(leads) == 1:
        _check_single(partner=partner, lead=leads[0], actor=actor, summary=summary)
        return summary
    protocol = collision_protocol(partner.collision_protocol)
    for start in range(0, len(leads), protocol.MAX_BATCH):
        _check_batch(
            partner=partner,
            leads=leads[start : start + protocol.MAX_BATCH],
            actor=actor,
            summary=summary,
        )
    return summary


def _failure_outcome(call: CallResult) -> str:
    if call.outcome == CallOutcome.SIGNATURE_REJECTED:
        return CheckOutcome.SIGNATURE_REJECTED
    return CheckOutcome.CALL_FAILED


def _failed_results(
    call: CallResult, leads: Iterable[Lead], partner: Partner
) -> list[CollisionResult]:
    return [
        CollisionResult.failure(
            outcome=_failure_outcome(call),
            message=f"{call.outcome.label}: {call.error}",
            lead=lead,
            partner=partner,
            audit_entry=call.audit_entry,
        )
        for lead in leads
    ]


def _check_single(*, partner: Partner, lead: Lead, actor, summary: CheckSummary) -> None:
    protocol = collision_protocol(partner.collision_protocol)
    phone_md5 = protocol.phone_md5(lead.phone)
    id_md5 = protocol.id_number_md5(lead.id_number)
    request = protocol.build_single_request(
        base_url=partner.base_url,
        utm_source=partner.utm_source,
        key=partner.signing_key,
        phone_md5=phone_md5,
        id_md5=id_md5,
    )
    call = call_partner(
        partner,
        request,
        operation=Operation.COLLISION_SINGLE,
        parse=lambda body: protocol.parse_single_answer(body, phone_md5=phone_md5, id_md5=id_md5),
        mask_answer=protocol.mask_answer,
        actor=actor,
    )
    if not call.ok:
        results = _failed_results(call, [lead], partner)
    elif call.answer.user_md5 in (phone_md5, id_md5):
        results = [
            CollisionResult.from_answer(
                answer=call.answer, lead=lead, partner=partner, audit_entry=call.audit_entry
            )
        ]
    else:
        results = [
            CollisionResult.failure(
                outcome=CheckOutcome.NO_ANSWER,
                message="应答中的 userMd5 与发送的哈希不符",
                lead=lead,
                partner=partner,
                audit_entry=call.audit_entry,
            )
        ]
    CollisionResult.objects.bulk_create(results)
    summary.add(results, call)


def _check_batch(*, partner: Partner, leads: Sequence[Lead], actor, summary: CheckSummary) -> None:
    protocol = collision_protocol(partner.collision_protocol)
    leads_by_hash: dict[str, list[Lead]] = defaultdict(list)
    for lead in leads:
        leads_by_hash[protocol.phone_md5(lead.phone)].append(lead)
    request = protocol.build_batch_request(
        base_url=partner.base_url,
        utm_source=partner.utm_source,
        key=partner.signing_key,
        phone_md5s=list(leads_by_hash),
    )
    call = call_partner(
        partner,
        request,
        operation=Operation.COLLISION_BATCH,
        parse=protocol.parse_batch_answer,
        mask_answer=protocol.mask_answer,
        actor=actor,
        lead_count=len(leads),
    )
    if call.ok:
        results = _map_batch_answers(call, leads_by_hash, partner)
    else:
        results = _failed_results(call, leads, partner)
    with transaction.atomic():
        CollisionResult.objects.bulk_create(results)
    summary.add(results, call)


def _map_batch_answers(
    call: CallResult, leads_by_hash: dict[str, list[Lead]], partner: Partner
) -> list[CollisionResult]:
    answers = {}
    for answer in call.answer:
        if answer.user_md5 not in leads_by_hash:
            logger.warning(
                "partner %s answered a hash it was not sent (audit %s)",
                partner.slug,
                call.audit_entry.pk,
            )
            continue
        answers.setdefault(answer.user_md5, answer)
    results = []
    for user_md5, leads in leads_by_hash.items():
        answer = answers.get(user_md5)
        for lead in leads:
            common = {"lead": lead, "partner": partner, "audit_entry": call.audit_entry}
            if answer is None:
                results.append(
                    CollisionResult.failure(
                        outcome=CheckOutcome.NO_ANSWER, message="批量应答中缺少该哈希", **common
                    )
                )
            else:
                results.append(CollisionResult.from_answer(answer=answer, **common))
    return results
