"""Which of the selected leads a push to a partner sends, and why each other one does not.

One decision serves the operator's forecast before confirming, an inline push and each chunk of
a push job, so the forecast is what then happens, up to races: a push that another process opened
in between is refused by the database's unique constraint and recorded as already pushed.
"""

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from types import SimpleNamespace

from django.db.models import Exists, OuterRef, QuerySet, Subquery
from django.utils import timezone
from django.utils.translation import gettext as _

from collision.models import CheckOutcome, CollisionResult, UserStatusChoice
from collision.screening import Screen
from leads.do_not_contact import reason_label
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
    *,
    partner: Partner,
    leads: QuerySet[Lead],
    budget: int | None = None,
    keep: bool = True,
    exclusive: bool = False,
) -> PushPlan:
    """Decide, lead by lead, newest first (the lead list's order; a cap keeps the freshest):
    erased; on the do-not-contact list; already pushed (a live push); live at another partner
    where either side is exclusive (``exclusive``: this push is; a partner that buys only
    exclusive leads always is); outside the partner's 接收条件; never checked with
    ``partner``; its newest check older than the partner's validity window; that check not
    marketable; rejected by the partner since that check; missing what the push protocol
    requires; over ``budget`` (what the daily cap still allows; ``None``: no limit here). One
    query: the newest check and the live pushes are subqueries, and only plain columns are read
    (the ID number is decrypted only for a partner with an age rule)."""
    protocol = push_protocol(partner.push_protocol)
    screen = Screen.of(partner)
    exclusive = exclusive or partner.exclusive_only
    newest_check = CollisionResult.objects.filter(lead=OuterRef("pk"), partner=partner).order_by(
        "-checked_at", "-id"
    )
    live_push = Push.objects.filter(lead=OuterRef("pk"), partner=partner, state__in=LIVE_STATES)
    live_elsewhere = Push.objects.filter(lead=OuterRef("pk"), state__in=LIVE_STATES).exclude(
        partner=partner
    )
    if not exclusive:
        live_elsewhere = live_elsewhere.filter(exclusive=True)
    rejected_since_check = Push.objects.filter(
        lead=OuterRef("pk"),
        partner=partner,
        state=PushState.REJECTED,
        created_at__gte=OuterRef("newest_checked_at"),
    )
    rows = (
        screen.annotate(leads.order_by("-pk"))
        .annotate(
            newest_checked_at=Subquery(newest_check.values("checked_at")[:1]),
            newest_outcome=Subquery(newest_check.values("outcome")[:1]),
            newest_status=Subquery(newest_check.values("user_status")[:1]),
            newest_marketable=Subquery(newest_check.values("is_marketable")[:1]),
            live_push_state=Subquery(live_push.values("state")[:1]),
            live_elsewhere=Subquery(live_elsewhere.values("partner__name")[:1]),
            rejected_since_check=Exists(rejected_since_check),
        )
        .values(
            "pk",
            "erased_at",
            *{*PLAIN_FIELDS, *screen.columns},
            "newest_checked_at",
            "newest_outcome",
            "newest_status",
            "newest_marketable",
            "live_push_state",
            "live_elsewhere",
            "rejected_since_check",
        )
    )
    since = fresh_since(partner)
    plan = PushPlan(keep=keep)
    for row in rows.iterator(chunk_size=2000):
        lead_id = row["pk"]
        if row["erased_at"] is not None:
            plan.skip(lead_id, SkipReason.ERASED)
        elif row["do_not_contact"]:
            plan.skip(lead_id, SkipReason.DO_NOT_CONTACT, reason_label(row["do_not_contact"]))
        elif row["live_push_state"]:
            plan.skip(lead_id, SkipReason.ALREADY_PUSHED, PushState(row["live_push_state"]).label)
        elif row["live_elsewhere"]:
            plan.skip(lead_id, SkipReason.SOLD_ELSEWHERE, row["live_elsewhere"])
        elif refusal := screen.refusal(row):
            plan.skip(lead_id, SkipReason.NOT_ELIGIBLE, refusal[1])
        elif row["newest_outcome"] is None:
            plan.skip(lead_id, SkipReason.NOT_CHECKED)
        elif since and row["newest_checked_at"] < since:
            plan.skip(lead_id, SkipReason.STALE_CHECK, _stale_text(row, partner))
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


def fresh_since(partner: Partner) -> datetime | None:
    """Results checked before this are stale for ``partner`` (``None``: none ever are)."""
    if partner.check_valid_days is None:
        return None
    return timezone.now() - timedelta(days=partner.check_valid_days)


def _stale_text(row, partner: Partner) -> str:
    return _("撞库于 %(date)s，有效期 %(days)s 天") % {
        "date": timezone.localtime(row["newest_checked_at"]).strftime("%Y-%m-%d"),
        "days": partner.check_valid_days,
    }


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
