"""Collision checks (撞库): ask a partner whether our leads are already its customers.

One lead goes through the single endpoint (phone and ID hashes); more go through the batch
endpoint in chunks of at most 1000 phone hashes. Answers are matched back to leads by hash, never
by position, and a hash the partner did not answer is recorded as such.
"""

import logging
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from django.db import transaction
from django.db.models import QuerySet

from collision.models import CheckOutcome, CheckSkip, CollisionResult, ResultRow
from collision.screening import Screen
from jobs.models import Job, JobChunk, finish_chunk
from jobs.outcomes import ChunkOutcome
from leads.models import Lead
from partners.calls import RETRYABLE, THROTTLED, CallResult, call_partner, ensure_available
from partners.models import CallOutcome, Operation, Partner
from partners.protocols import collision_protocol

logger = logging.getLogger(__name__)


@dataclass
class CheckSummary:
    checked: int = 0
    skipped: int = 0  # refused by the screen: do-not-contact or the partner's rules
    marketable: int = 0
    failed: int = 0
    requests: int = 0
    errors: list[str] = field(default_factory=list)

    def add(self, check: "Check") -> None:
        self.requests += 1
        counts = check.counts()
        self.checked += counts["processed"] - counts["errors"]
        self.marketable += counts["marketable"]
        self.failed += counts["errors"]
        if not check.call.ok and check.call.error not in self.errors:
            self.errors.append(check.call.error)


class CheckTarget(Protocol):
    """What a check needs of a lead: a ``Lead`` or the lighter ``LeadIdentity``."""

    pk: int
    phone: str
    id_number: str


@dataclass(frozen=True)
class Check:
    """One check call and the results it yields (not saved yet: the caller decides when)."""

    call: CallResult
    results: list[ResultRow]
    partner: Partner
    job: Job | None = None

    def counts(self) -> dict[str, int]:
        answered = [r for r in self.results if r.outcome == CheckOutcome.ANSWERED]
        return {
            "processed": len(self.results),
            "marketable": sum(r.is_marketable for r in answered),
            "errors": len(self.results) - len(answered),
        }

    def save(self) -> None:
        CollisionResult.objects.record(
            self.results, partner=self.partner, audit_entry=self.call.audit_entry, job=self.job
        )


def check_leads(
    *, partner: Partner, leads: QuerySet[Lead] | Iterable[Lead], actor=None
) -> CheckSummary:
    """Check leads now, in this process (small selections; big ones go through a job). Leads
    the screen refuses (do-not-contact, the partner's rules) are recorded as skips, not sent."""
    ensure_available(partner)
    if not isinstance(leads, QuerySet) or leads.query.is_sliced:
        leads = Lead.objects.filter(pk__in=[lead.pk for lead in leads])
    allowed, refused = Screen.of(partner).split(leads.not_erased())  # erased: nothing to send
    CheckSkip.record(refused, partner=partner, actor=actor)
    leads = Lead.objects.filter(pk__in=allowed).order_by("pk").identities()
    summary = CheckSummary(skipped=len(refused))
    size = collision_protocol(partner.collision_protocol).MAX_BATCH
    for start in range(0, len(leads), size):
        check = request_check(partner=partner, leads=leads[start : start + size], actor=actor)
        check.save()
        summary.add(check)
    return summary


def check_job_chunk(
    *,
    job: Job,
    chunk: JobChunk,
    worker_id: str,
    final_attempt: bool,
    before_request: Callable[[], bool],
) -> ChunkOutcome:
    """One chunk of a check job. Results and the chunk's completion commit together, so a chunk
    redone after a crash never leaves a double set of results."""
    # Leads erased since the job began count as done, like deleted ones: nothing to check.
    allowed, refused = Screen.of(job.partner).split(
        Lead.objects.filter(pk__in=chunk.lead_ids).not_erased()
    )
    leads = Lead.objects.filter(pk__in=allowed).order_by("pk").identities()
    if leads and not before_request():
        return ChunkOutcome.stopped()
    check = (
        request_check(partner=job.partner, leads=leads, actor=job.created_by, job=job)
        if leads
        else None
    )
    if check and check.call.outcome in THROTTLED:
        return ChunkOutcome.throttled(check.call.error)
    if check and check.call.outcome in RETRYABLE and not final_attempt:
        return ChunkOutcome.retry(f"{check.call.outcome.label}: {check.call.error}")
    summary = check.counts() if check else {}
    summary["processed"] = len(chunk.lead_ids)  # leads deleted since the job began count as done
    summary["skipped"] = len(refused)
    with transaction.atomic():
        if check:
            check.save()
        # With the chunk's end, so a chunk redone after a crash records them once.
        CheckSkip.record(refused, partner=job.partner, actor=job.created_by, job=job)
        finish_chunk(chunk, worker_id=worker_id, summary=summary)
    return ChunkOutcome.done()


def request_check(*, partner: Partner, leads: Sequence[CheckTarget], actor=None, job=None) -> Check:
    if len(leads) == 1:
        return _check_single(partner=partner, lead=leads[0], actor=actor, job=job)
    return _check_batch(partner=partner, leads=leads, actor=actor, job=job)


def _failure_outcome(call: CallResult) -> str:
    if call.outcome == CallOutcome.SIGNATURE_REJECTED:
        return CheckOutcome.SIGNATURE_REJECTED
    return CheckOutcome.CALL_FAILED


def _failed_results(call: CallResult, leads: Iterable[CheckTarget]) -> list[ResultRow]:
    outcome, message = _failure_outcome(call), f"{call.outcome.label}: {call.error}"
    return [ResultRow.failed(lead.pk, outcome, message) for lead in leads]


def _check_single(*, partner: Partner, lead: CheckTarget, actor, job) -> Check:
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
        job=job,
    )
    if not call.ok:
        result = _failed_results(call, [lead])[0]
    elif call.answer.user_md5 in (phone_md5, id_md5):
        result = ResultRow.answered(lead.pk, call.answer)
    else:
        result = ResultRow.failed(
            lead.pk, CheckOutcome.NO_ANSWER, "应答中的 userMd5 与发送的哈希不符"
        )
    return Check(call, [result], partner, job)


def _check_batch(*, partner: Partner, leads: Sequence[CheckTarget], actor, job) -> Check:
    protocol = collision_protocol(partner.collision_protocol)
    leads_by_hash: dict[str, list[CheckTarget]] = defaultdict(list)
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
        job=job,
        lead_count=len(leads),
    )
    if not call.ok:
        return Check(call, _failed_results(call, leads), partner, job)
    return Check(call, _map_batch_answers(call, leads_by_hash, partner), partner, job)


def _map_batch_answers(
    call: CallResult, leads_by_hash: dict[str, list[CheckTarget]], partner: Partner
) -> list[ResultRow]:
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
            if answer is None:
                results.append(
                    ResultRow.failed(lead.pk, CheckOutcome.NO_ANSWER, "批量应答中缺少该哈希")
                )
            else:
                results.append(ResultRow.answered(lead.pk, answer))
    return results
