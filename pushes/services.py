"""Pushes (推送): deliver the full profile of marketable leads to a partner, never twice.

A lead is pushed only when its latest check with that partner is marketable and no live push
(pending, sending, accepted, unknown) exists for the pair; the database's partial unique
constraint decides races, not timing. The push row is written before the request leaves, and an
answer we never got leaves it *unknown*, not failed. Only a push that provably never reached the
partner (refused connection, DNS, TLS) or that it refused unprocessed (a "too fast" answer, a
rejected signature) is *failed*, and may be sent again. Every selected lead not sent is
recorded with why (``pushes.planning``: one decision for the forecast, the push and the job).
"""

import random
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _

from collision.services import request_check
from jobs.models import Job, JobChunk, finish_chunk
from jobs.outcomes import ChunkOutcome
from leads.do_not_contact import listed_for
from leads.models import Lead
from partners.calls import (
    NOT_PROCESSED,
    THROTTLED,
    CallResult,
    PartnerUnavailable,
    call_partner,
    ensure_available,
)
from partners.models import CallOutcome, Operation, Partner
from partners.protocols import push_protocol
from partners.protocols.yrxd_collision import UserStatus
from pushes.models import LIVE_STATES, Push, PushState, SkipReason, lead_masker
from pushes.planning import PushPlan, Skip, plan_pushes, record_skips


@dataclass
class PushSummary:
    """What an inline push did: ``skipped`` counts the leads not sent, by ``SkipReason``."""

    selected: int = 0
    skipped: Counter = field(default_factory=Counter)
    accepted: int = 0
    rejected: int = 0
    unknown: int = 0
    failed: int = 0
    errors: list[str] = field(default_factory=list)

    @property
    def sent(self) -> int:
        return self.accepted + self.rejected + self.unknown + self.failed

    def count(self, push: Push) -> None:
        """``errors`` gathers the partner's messages, masked: a summary line is shown to whoever
        pushed, whether or not they may see the lead's personal data."""
        setattr(self, push.state, getattr(self, push.state) + 1)
        message = push.masked_message() if push.message else ""
        if push.state != PushState.ACCEPTED and message and message not in self.errors:
            self.errors.append(message)


@dataclass
class PushForecast:
    """What confirming a push will do, shown before the operator confirms: the plan (who goes
    out, who does not and why), whether it runs as a job, and what the cap and the partner's
    working hours will do to it."""

    partner: Partner
    plan: PushPlan
    as_job: bool
    left_today: int | None  # the daily cap still open (None: no cap)
    opens_at: datetime | None  # outside working hours now: when the next window opens

    @property
    def waiting_for_cap(self) -> int:
        """A job's leads beyond today's cap: they go out when the job resumes tomorrow."""
        if not self.as_job or self.left_today is None:
            return 0
        return max(self.plan.pushing - self.left_today, 0)


def forecast_push(*, partner: Partner, leads: QuerySet[Lead]) -> PushForecast:
    """The plan ``push_leads`` (up to JOB_INLINE_LIMIT leads) or a push job (more) would follow
    now (the admin and the commands send erased leads nowhere, and count them out before they
    choose). A job is not cut at the cap: the runner pauses it until the cap opens again."""
    as_job = leads.not_erased().count() > settings.JOB_INLINE_LIMIT
    left_today = pushes_left_today(partner)
    return PushForecast(
        partner=partner,
        plan=plan_pushes(
            partner=partner, leads=leads, budget=None if as_job else left_today, keep=False
        ),
        as_job=as_job,
        left_today=left_today,
        opens_at=partner.next_working_time(timezone.now()),
    )


def push_leads(*, partner: Partner, leads: QuerySet[Lead], actor=None) -> PushSummary:
    """Push now, in this process (small selections; big ones go through a job). Every selected
    lead not sent is recorded with its reason (``PushSkip``)."""
    ensure_pushable(partner)
    if begins := partner.next_working_time(timezone.now()):
        begins_text = timezone.localtime(begins).strftime("%m-%d %H:%M")
        outside = [
            Skip(
                pk, SkipReason.OUTSIDE_WORKING_HOURS, _("%(begins)s 开始") % {"begins": begins_text}
            )
            for pk in leads.order_by("-pk").values_list("pk", flat=True)
        ]
        record_skips(outside, partner=partner, actor=actor)
        raise PartnerUnavailable(
            _("合作平台 %(name)s 现在不在工作时段，%(begins)s 开始")
            % {"name": partner.name, "begins": begins_text}
        )
    settle_orphaned_pushes(partner=partner, leads=leads)
    plan = plan_pushes(partner=partner, leads=leads, budget=pushes_left_today(partner))
    summary = PushSummary(selected=plan.selected)
    to_push = Lead.objects.in_bulk(plan.to_push)
    for lead_id in plan.to_push:
        push = open_push(partner=partner, lead=to_push[lead_id], actor=actor)
        if push is None:  # another process opened one since the plan
            plan.raced(lead_id)
            continue
        send_push(push, actor=actor)
        summary.count(push)
    record_skips(plan.skips, partner=partner, actor=actor)
    summary.skipped = plan.skipped
    return summary


def settle_orphaned_pushes(*, partner: Partner, leads: QuerySet[Lead]) -> int:
    """A push made outside a job (admin action, command) whose process died midway: no worker
    comes back for it, and as a live push it would block the lead for ever. Long after its call
    could still be under way, a pending one (it never left) becomes failed and a sending one
    (it may have landed) unknown."""
    stale = Push.objects.filter(
        partner=partner,
        lead__in=leads,
        job=None,
        created_at__lt=timezone.now() - settings.PUSH_ORPHANED_AFTER,
    )
    settled = 0
    for state, settled_as, message in (
        (PushState.PENDING, PushState.FAILED, _("发送前中断（进程停止），未发出")),
        (PushState.SENDING, PushState.UNKNOWN, _("发送中断（进程停止），请对账")),
    ):
        settled += stale.filter(state=state).update(
            state=settled_as, message=message, finished_at=timezone.now()
        )
    return settled


def pushes_left_today(partner: Partner) -> int | None:
    """What the partner's daily cap still allows today (local time); ``None`` without a cap.
    Every push that left counts, whatever its answer."""
    if partner.daily_push_cap is None:
        return None
    midnight = timezone.localtime().replace(hour=0, minute=0, second=0, microsecond=0)
    sent = Push.objects.filter(
        partner=partner,
        last_attempt_at__gte=midnight,
        state__in=[PushState.SENDING, PushState.ACCEPTED, PushState.REJECTED, PushState.UNKNOWN],
    ).count()
    return max(partner.daily_push_cap - sent, 0)


def ensure_pushable(partner: Partner) -> None:
    ensure_available(partner)
    if not partner.receives_pushes:
        raise PartnerUnavailable(_("合作平台 %(name)s 不接收推送") % {"name": partner.name})
    if not partner.push_url:
        raise PartnerUnavailable(_("合作平台 %(name)s 未配置推送地址") % {"name": partner.name})


def open_push(
    *, partner: Partner, lead: Lead, actor=None, job: Job | None = None, exclusive: bool = False
) -> Push | None:
    """Write the push row, *pending*, before anything leaves; ``None`` if a live push already
    exists, or if the lead is sold exclusively elsewhere (or this push is exclusive and the lead
    is live elsewhere). ``send_push`` turns it *sending* once the partner has a free slot for
    it, so a push still waiting for one when its worker dies is sent by the next, not left
    unknown. The price is the partner's now: a statement never moves when the price does."""
    exclusive = exclusive or partner.exclusive_only or bool(job and job.exclusive)
    conflicting = Push.objects.filter(lead=lead, state__in=LIVE_STATES).exclude(partner=partner)
    if not exclusive:
        conflicting = conflicting.filter(exclusive=True)
    try:
        with transaction.atomic():  # a savepoint inside a caller's transaction
            # The lead's row is the lock two partners' pushes of it take in turn, so each sees
            # the other's live push (SQLite: the write transaction is the lock). Two exclusive
            # pushes are kept apart by the database's constraint as well.
            list(Lead.objects.select_for_update().filter(pk=lead.pk).values_list("pk"))
            if conflicting.exists():
                return None
            return Push.objects.create(
                lead=lead,
                partner=partner,
                actor=_user(actor),
                job=job,
                price=partner.price_per_push,
                exclusive=exclusive,
            )
    except IntegrityError:
        return None


def send_push(push: Push, *, actor=None) -> CallResult | None:
    """Send one pending push and settle it by the answer (or its absence); ``None`` if another
    worker claimed it first. The claim (pending → sending) is made in the partner's slot, just
    before the request leaves."""
    partner = push.partner
    protocol = push_protocol(partner.push_protocol)
    profile = protocol.profile_of(push.lead)

    def request():  # built in the partner's slot: clientTime is when the request leaves
        return protocol.build_request(
            url=partner.push_url,
            client_id=partner.client_id,
            key=partner.signing_key,
            client_time_ms=time.time_ns() // 1_000_000,
            profile=profile,
            data_as_string=partner.push_data_as_string,
            integers_as_strings=partner.push_integers_as_strings,
        )

    return call_partner(
        partner,
        request,
        operation=Operation.PUSH,
        parse=protocol.parse_answer,
        mask_answer=protocol.mask_answer,
        mask=lead_masker(push.lead),  # the partner may echo what we sent it
        actor=actor,
        job=push.job,
        claim=push.claim_for_sending,
        record=lambda call: _settle(push, call),
    )


def _settle(push: Push, call: CallResult) -> None:
    if call.ok:
        state = PushState.ACCEPTED if call.answer.accepted else PushState.REJECTED
        push.settle(
            state=state,
            message=call.answer.message,
            app_download_url=call.answer.app_download_url or "",
            audit_entry=call.audit_entry,
        )
        return
    failure = f"{call.outcome.label}: {call.error}"
    if call.outcome in NOT_PROCESSED or not call.may_have_reached_partner:
        push.settle(state=PushState.FAILED, message=failure, audit_entry=call.audit_entry)
    else:
        push.settle(state=PushState.UNKNOWN, message=failure, audit_entry=call.audit_entry)


def push_job_chunk(
    *,
    job: Job,
    chunk: JobChunk,
    worker_id: str,
    final_attempt: bool,
    before_request: Callable[[], bool],
) -> ChunkOutcome:
    """One chunk of a push job, safe to redo: a lead this job already pushed is picked up where
    it stands (a pending push is sent, an orphaned *sending* one becomes unknown, a failed one is
    retried a bounded number of times) and a lead pushed anywhere else is skipped.
    ``final_attempt`` is part of the chunk-handler interface; pushes bound their retries per push
    (``PUSH_MAX_ATTEMPTS``), never per chunk, because only a push that never left is retried."""
    partner = job.partner
    leads = Lead.objects.filter(pk__in=chunk.lead_ids)
    settle_orphaned_pushes(partner=partner, leads=leads)
    ours = list(Push.objects.filter(job=job, lead__in=leads).select_related("lead"))
    # The daily cap is the runner's (it pauses the job until tomorrow), so no budget here.
    plan = plan_pushes(
        partner=partner,
        leads=leads.exclude(pk__in=[p.lead_id for p in ours]),
        exclusive=job.exclusive,
    )
    for push in ours:
        if push.state == PushState.SENDING:
            # The worker that claimed it stopped mid-request: it may have landed. Reconcile it.
            push.settle(state=PushState.UNKNOWN, message=_("发送中断（工作进程停止），请对账"))
        elif push.state in (PushState.PENDING, PushState.FAILED) and (
            stop := _deliver(push, actor=job.created_by, before_request=before_request)
        ):
            return stop
    to_push = Lead.objects.in_bulk(plan.to_push)
    for lead_id in plan.to_push:
        push = open_push(partner=partner, lead=to_push[lead_id], actor=job.created_by, job=job)
        if push is None:  # pushed elsewhere since the plan
            plan.raced(lead_id)
        elif stop := _deliver(push, actor=job.created_by, before_request=before_request):
            return stop
    states = Counter(Push.objects.filter(job=job, lead__in=leads).values_list("state", flat=True))
    summary = {
        state: states.get(state, 0) for state in ("accepted", "rejected", "unknown", "failed")
    }
    summary["processed"] = len(chunk.lead_ids)
    summary["skipped"] = len(chunk.lead_ids) - sum(states.values())
    with transaction.atomic():
        # Recorded with the chunk's end, so a chunk redone after a crash records them once.
        record_skips(plan.skips, partner=partner, actor=job.created_by, job=job)
        finish_chunk(chunk, worker_id=worker_id, summary=summary)
    return ChunkOutcome.done()


def _deliver(push: Push, *, actor, before_request: Callable[[], bool]) -> ChunkOutcome | None:
    """Send a pending push, and retry it with backoff while it provably never left (bounded).
    Returns an outcome only when the chunk must stop here."""
    while True:
        if push.state == PushState.FAILED:
            if push.attempts >= settings.PUSH_MAX_ATTEMPTS:
                return None
            time.sleep(_backoff(push.attempts))
            if not push.reopen():
                return None
        if not before_request():
            return ChunkOutcome.stopped()
        call = send_push(push, actor=actor)
        if call is None:
            return None  # another worker holds it
        if call.outcome in THROTTLED:
            return ChunkOutcome.throttled(call.error)
        if push.state != PushState.FAILED or call.outcome == CallOutcome.SIGNATURE_REJECTED:
            return None  # settled, or failed for a reason another try would not change


def reconcile_unknown_pushes(*, pushes: QuerySet[Push], actor=None) -> Counter:
    """Settle *unknown* pushes by checking the lead again: status 1 ("registered through our
    channel") means the push landed. Anything else stays unknown for the operator to retry."""
    outcome = Counter()
    unknown = pushes.filter(state=PushState.UNKNOWN)
    outcome["erased"] = unknown.filter(lead__erased_at__isnull=False).count()  # nothing to check
    for push in unknown.filter(lead__erased_at__isnull=True).select_related("lead", "partner"):
        if listed_for(push.lead):  # not even a check for a person on the do-not-contact list
            outcome["do_not_contact"] += 1
            continue
        ensure_available(push.partner)
        check = request_check(partner=push.partner, leads=[push.lead], actor=actor)
        check.save()
        result = check.results[0]
        if result.user_status == UserStatus.OURS:
            push.settle(
                state=PushState.ACCEPTED,
                message=_("对账：合作平台确认已注册（状态 1）"),
                audit_entry=push.audit_entry,
            )
            outcome["accepted"] += 1
        else:
            outcome["still_unknown"] += 1
    return outcome


def retry_unknown_pushes(*, pushes: QuerySet[Push], actor=None) -> PushSummary:
    """An operator's explicit retry of *unknown* pushes: they are sent again as they stand."""
    summary = PushSummary()
    unknown = pushes.filter(state=PushState.UNKNOWN, lead__erased_at__isnull=True)  # not erased
    for push in unknown.select_related("lead", "partner"):
        ensure_pushable(push.partner)
        if Push.objects.filter(pk=push.pk, state=PushState.UNKNOWN).update(state=PushState.PENDING):
            push.state = PushState.PENDING
            send_push(push, actor=actor)
            summary.count(push)
    return summary


def _backoff(attempt: int) -> float:
    """Exponential backoff with full jitter, capped."""
    base = settings.PUSH_RETRY_BASE_SECONDS
    return random.uniform(0, min(base * 2**attempt, 30.0))


def _user(actor):
    return actor if getattr(actor, "is_authenticated", False) else None


def erase_push_answers(lead: Lead) -> int:
    """Erasure (``leads.erasure``): blank what partners answered to the lead's pushes (their
    message and H5 link may hold the person); the pushes and their states stay. Returns how many
    held an answer."""
    answered = Push.objects.filter(lead=lead).exclude(message="", app_download_url="")
    return answered.update(message="", app_download_url="")
