"""Which of the selected leads a push to a partner sends, and why each other one does not.

One decision serves the operator's forecast before confirming, an inline push and each chunk of
a push job, so the forecast is what then happens, up to races: a push that another process opened
in between is refused by the database's unique constraint and recorded as already pushed.
"""

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import SimpleNamespace

from django.db.models import Exists, OuterRef, QuerySet, Subquery
from django.utils.translation import gettext as _

from collision.models import CheckOutcome, CollisionResult, UserStatusChoice
from leads.fields import FIELDS_BY_NAME, PLAIN_FIELDS
from leads.models import Lead
from partners.models import Partner
from partners.protocols import push_protocol
from pushes.models import LIVE_STATES, Push, PushSkip, PushState, SkipReason


@dataclass(frozen=True)
class Skip:
    lead_id: int
    reason: SkipReason
    detail: str = ""


@dataclass
class PushPlan:
    """``to_push``: lead ids in the order they go out; ``skips``: every other selected lead;
    ``pushing`` and ``skipped`` count them. With ``keep=False`` (a forecast) only the counts are
    kept: a forecast of a million leads holds no ids."""

    keep: bool = True
    to_push: list[int] = field(default_factory=list)
    skips: list[Skip] = field(default_factory=list)
    pushing: int = 0
    skipped: Counter = field(default_factory=Counter)

    @property
    def selected(self) -> int:
        return self.pushing + self.skipped.total()

    def skip_counts(self) -> list[tuple[SkipReason, int]]:
        """(reason, count) for every reason with at least one lead, in the order decided."""
        return [(reason, self.skipped[reason]) for reason in SkipReason if self.skipped[reason]]

    def push(self, lead_id: int) -> None:
        self.pushing += 1
        if self.keep:
            self.to_push.append(lead_id)

    def skip(self, lead_id: int, reason: SkipReason, detail: str = "") -> None:
        self.skipped[reason] += 1
        if self.keep:
            self.skips.append(Skip(lead_id, reason, detail))

    def raced(self, lead_id: int) -> None:
        """A lead planned to go out that another process pushed first."""
        self.pushing -= 1
        self.skip(lead_id, SkipReason.ALREADY_PUSHED)


def plan_pushes(
    *, partner: Partner, leads: QuerySet[Lead], budget: int | None = None, keep: bool = True
) -> PushPlan:
    """Decide, lead by lead, newest first (the lead list's order; a cap keeps the freshest):
    erased; already pushed (a live push); never checked with ``partner``; its newest check not
    marketable; rejected by the partner since that check; missing what the push protocol
    requires; over ``budget`` (what the daily cap still allows; ``None``: no limit here). One
    query: the newest check and the live push are subqueries, and only plain columns are read
    (nothing personal is decrypted)."""
    protocol = push_protocol(partner.push_protocol)
    newest_check = CollisionResult.objects.filter(lead=OuterRef("pk"), partner=partner).order_by(
        "-checked_at", "-id"
    )
    live_push = Push.objects.filter(lead=OuterRef("pk"), partner=partner, state__in=LIVE_STATES)
    rejected_since_check = Push.objects.filter(
        lead=OuterRef("pk"),
        partner=partner,
        state=PushState.REJECTED,
        created_at__gte=OuterRef("newest_checked_at"),
    )
    rows = (
        leads.order_by("-pk")
        .annotate(
            newest_checked_at=Subquery(newest_check.values("checked_at")[:1]),
            newest_outcome=Subquery(newest_check.values("outcome")[:1]),
            newest_status=Subquery(newest_check.values("user_status")[:1]),
            newest_marketable=Subquery(newest_check.values("is_marketable")[:1]),
            live_push_state=Subquery(live_push.values("state")[:1]),
            rejected_since_check=Exists(rejected_since_check),
        )
        .values(
            "pk",
            "erased_at",
            *PLAIN_FIELDS,
            "newest_outcome",
            "newest_status",
            "newest_marketable",
            "live_push_state",
            "rejected_since_check",
        )
    )
    plan = PushPlan(keep=keep)
    for row in rows.iterator(chunk_size=2000):
        lead_id = row["pk"]
        if row["erased_at"] is not None:
            plan.skip(lead_id, SkipReason.ERASED)
        elif row["live_push_state"]:
            plan.skip(lead_id, SkipReason.ALREADY_PUSHED, PushState(row["live_push_state"]).label)
        elif row["newest_outcome"] is None:
            plan.skip(lead_id, SkipReason.NOT_CHECKED)
        elif not row["newest_marketable"]:
            plan.skip(lead_id, SkipReason.NOT_MARKETABLE, _check_verdict(row))
        elif row["rejected_since_check"]:
            plan.skip(lead_id, SkipReason.REJECTED_SINCE_CHECK)
        elif missing := protocol.missing_fields(SimpleNamespace(**row)):
            plan.skip(lead_id, SkipReason.INCOMPLETE, missing_text(missing))
        elif budget is not None and plan.pushing >= budget:
            plan.skip(lead_id, SkipReason.OVER_DAILY_CAP)
        else:
            plan.push(lead_id)
    return plan


def missing_text(field_names: list[str]) -> str:
    labels = "、".join(str(FIELDS_BY_NAME[name].label) for name in field_names)
    return _("缺少：%(fields)s") % {"fields": labels}


def _check_verdict(row) -> str:
    if row["newest_outcome"] != CheckOutcome.ANSWERED:
        return _("撞库失败：%(outcome)s") % {"outcome": CheckOutcome(row["newest_outcome"]).label}
    return _("状态 %(status)s") % {"status": UserStatusChoice(row["newest_status"]).label}


def record_skips(plan_skips: list[Skip], *, partner: Partner, actor=None, job=None) -> None:
    """Keep the skips: on the lead's timeline and in the 未推送及原因 list. A job's chunk done
    again after a crash finds its skips already there (one per lead and job)."""
    actor = actor if getattr(actor, "is_authenticated", False) else None
    PushSkip.objects.bulk_create(
        [
            PushSkip(
                lead_id=skip.lead_id,
                partner=partner,
                reason=skip.reason,
                detail=skip.detail[:200],
                job=job,
                actor=actor,
            )
            for skip in plan_skips
        ],
        batch_size=1000,
        ignore_conflicts=job is not None,
    )


def skips_text(counts: Mapping[SkipReason, int]) -> str:
    """ "资料不全 3 · 最近一次撞库不可营销 12", in the order reasons are decided."""
    return " · ".join(
        f"{reason.label} {counts[reason]}" for reason in SkipReason if counts.get(reason)
    )
