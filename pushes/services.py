"""Pushes (推送): deliver the full profile of marketable leads to a partner, never twice.

A lead is pushed only when its latest check with that partner is marketable and no live push
(pending, sending, accepted, unknown) exists for the pair; the database's partial unique
constraint decides races, not timing. The push row is written before the request leaves, and an
answer we never got leaves it *unknown*, not failed.
"""

import time
from dataclasses import dataclass, field

from django.db import IntegrityError, transaction
from django.db.models import Exists, OuterRef, QuerySet, Subquery

from collision.models import CollisionResult
from leads.models import Lead
from partners.calls import call_partner
from partners.models import Operation, Partner
from partners.protocols import push_protocol
from pushes.models import LIVE_STATES, Push, PushState


@dataclass
class PushSummary:
    selected: int = 0
    not_marketable: int = 0
    already_pushed: int = 0
    incomplete: int = 0
    accepted: int = 0
    rejected: int = 0
    unknown: int = 0
    failed: int = 0
    errors: list[str] = field(default_factory=list)

    @property
    def sent(self) -> int:
        return self.accepted + self.rejected + self.unknown + self.failed

    def count(self, push: Push) -> None:
        setattr(self, push.state, getattr(self, push.state) + 1)


def pushable_leads(*, partner: Partner, leads: QuerySet[Lead]) -> QuerySet[Lead]:
    """Leads whose newest check with ``partner`` is marketable, with no live push to it, and not
    rejected by it since that check."""
    latest_check = CollisionResult.objects.filter(lead=OuterRef("pk"), partner=partner).order_by(
        "-checked_at", "-id"
    )
    live_push = Push.objects.filter(lead=OuterRef("pk"), partner=partner, state__in=LIVE_STATES)
    rejected_since = Push.objects.filter(
        lead=OuterRef("pk"),
        partner=partner,
        state=PushState.REJECTED,
        created_at__gte=OuterRef("latest_checked_at"),
    )
    return (
        leads.annotate(
            latest_marketable=Subquery(latest_check.values("is_marketable")[:1]),
            latest_checked_at=Subquery(latest_check.values("checked_at")[:1]),
        )
        .filter(latest_marketable=True)
        .exclude(Exists(live_push))
        .exclude(Exists(rejected_since))
    )


def push_leads(*, partner: Partner, leads: QuerySet[Lead], actor=None) -> PushSummary:
    if not partner.push_url:
        raise ValueError(f"合作平台 {partner.name} 未配置推送地址")
    summary = PushSummary(selected=leads.count())
    candidates = list(pushable_leads(partner=partner, leads=leads))
    live = Push.objects.filter(partner=partner, lead__in=leads, state__in=LIVE_STATES)
    summary.already_pushed = live.values("lead").distinct().count()
    summary.not_marketable = summary.selected - len(candidates) - summary.already_pushed
    for lead in candidates:
        if lead.missing_push_fields():
            summary.incomplete += 1
            continue
        push = open_push(partner=partner, lead=lead, actor=actor)
        if push is None:
            summary.already_pushed += 1
            continue
        send_push(push, actor=actor)
        summary.count(push)
        if push.state != PushState.ACCEPTED and push.message and push.message not in summary.errors:
            summary.errors.append(push.message)
    return summary


def open_push(*, partner: Partner, lead: Lead, actor=None) -> Push | None:
    """Write the push row before anything leaves; ``None`` if a live push already exists."""
    try:
        with transaction.atomic():
            return Push.objects.create(
                lead=lead, partner=partner, actor=actor if _is_user(actor) else None
            )
    except IntegrityError:
        return None


def send_push(push: Push, *, actor=None) -> None:
    """Send one pending push and settle it. A push another worker already claimed is left alone."""
    if not push.claim_for_sending():
        return
    partner = push.partner
    protocol = push_protocol(partner.push_protocol)
    request = protocol.build_request(
        url=partner.push_url,
        client_id=partner.client_id,
        key=partner.signing_key,
        client_time_ms=time.time_ns() // 1_000_000,
        profile=push.lead.push_profile(),
        data_as_string=partner.push_data_as_string,
        integers_as_strings=partner.push_integers_as_strings,
    )
    call = call_partner(
        partner,
        request,
        operation=Operation.PUSH,
        parse=protocol.parse_answer,
        mask_answer=protocol.mask_answer,
        actor=actor,
    )
    if call.ok:
        answer = call.answer
        state = PushState.ACCEPTED if answer.accepted else PushState.REJECTED
        push.settle(
            state=state,
            message=answer.message,
            app_download_url=answer.app_download_url or "",
            audit_entry=call.audit_entry,
        )
    elif call.may_have_reached_partner:
        push.settle(
            state=PushState.UNKNOWN,
            message=f"{call.outcome.label}: {call.error}",
            audit_entry=call.audit_entry,
        )
    else:
        push.settle(
            state=PushState.FAILED,
            message=f"{call.outcome.label}: {call.error}",
            audit_entry=call.audit_entry,
        )


def _is_user(actor) -> bool:
    return getattr(actor, "is_authenticated", False)
