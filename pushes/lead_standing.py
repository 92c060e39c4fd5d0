"""Where leads stand with the partners: the newest check outcome and the newest push per (lead,
partner), for the lead list's columns and filters.

It lives in the top app because it reads leads, check results and pushes together. Two kinds of
reads, kept apart on purpose (issue 14 measures the list at 1M leads):
- ``standings`` loads the columns for one page of leads (two queries, whatever the page size);
- ``leads_by_check`` / ``leads_by_push`` / ``leads_checked_in`` narrow a lead queryset for a
  filter. They add ``IN`` / ``EXISTS`` conditions only when a filter is chosen, so the list's
  COUNT(*) stays a plain count otherwise.

A check's "newest" is by time, then id, as ``CollisionResult.objects.latest_per_lead`` (its
``collision_latest`` index serves it); a push's is the last written, its highest id (a push's id
order is its creation order, and a GROUP BY needs no (lead, partner, time) index, which pushes do
not have: SQLite planned the correlated form through the partner index, one scan per push).
Across partners
(no partner chosen) a lead is in exactly one group: its best standing at any partner (for checks:
marketable > not marketable > failed > not checked; for pushes: accepted > sending > unknown >
rejected > failed > not pushed), so the groups of a filter add up to the list's total.
"""

from dataclasses import dataclass

from django.db.models import Exists, F, Max, OuterRef, Q, QuerySet, Window
from django.db.models.functions import RowNumber
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from collision.models import CheckOutcome, CollisionResult, UserStatusChoice
from pushes.models import Push, PushState

CHECK_VERDICTS = {
    "marketable": gettext_lazy("可营销"),
    "not_marketable": gettext_lazy("不可营销"),
    "failed": gettext_lazy("失败"),
    "unchecked": gettext_lazy("未撞库"),
}
PUSH_STANDINGS = {
    "none": gettext_lazy("未推送"),
    "accepted": gettext_lazy("已接收"),
    "rejected": gettext_lazy("被拒绝"),
    "unknown": gettext_lazy("结果未知"),
    "failed": gettext_lazy("未送达"),
    "sending": gettext_lazy("发送中"),
}
# Which push states each standing covers (pending and sending are both "on its way").
PUSH_STANDING_STATES = {
    "accepted": [PushState.ACCEPTED],
    "sending": [PushState.PENDING, PushState.SENDING],
    "unknown": [PushState.UNKNOWN],
    "rejected": [PushState.REJECTED],
    "failed": [PushState.FAILED],
}
VERDICT_ROWS = {
    "marketable": Q(is_marketable=True),
    "not_marketable": Q(outcome=CheckOutcome.ANSWERED, is_marketable=False),
    "failed": ~Q(outcome=CheckOutcome.ANSWERED),
}


@dataclass(frozen=True)
class CheckStanding:
    pk: int  # the check result's
    key: str  # a key of CHECK_VERDICTS other than "unchecked"
    user_status: int | None

    @property
    def label(self) -> str:
        if self.key == "not_marketable":
            return _("不可营销 · %s") % UserStatusChoice(self.user_status).label
        return str(CHECK_VERDICTS[self.key])


@dataclass(frozen=True)
class PushStanding:
    pk: int  # the push's
    key: str  # a key of PUSH_STANDINGS other than "none"

    @property
    def label(self) -> str:
        return str(PUSH_STANDINGS[self.key])


@dataclass(frozen=True)
class PartnerStanding:
    partner: object  # partners.models.Partner
    check: CheckStanding | None
    push: PushStanding | None


def check_verdict(outcome: str, is_marketable: bool) -> str:
    if outcome != CheckOutcome.ANSWERED:
        return "failed"
    return "marketable" if is_marketable else "not_marketable"


def push_standing(state: str) -> str:
    return next(key for key, states in PUSH_STANDING_STATES.items() if state in states)


def standings(lead_ids, partners) -> dict[int, list[PartnerStanding]]:
    """Each lead's newest check and newest push with each of ``partners``, in their order: one
    query for the checks and one for the pushes, both bounded by ``lead_ids`` (a page)."""
    lead_ids, partners = list(lead_ids), list(partners)
    if not lead_ids or not partners:
        return {pk: [] for pk in lead_ids}
    partner_ids = [p.pk for p in partners]
    checks = {
        (row["lead_id"], row["partner_id"]): CheckStanding(
            row["id"], check_verdict(row["outcome"], row["is_marketable"]), row["user_status"]
        )
        for row in _newest(CollisionResult, lead_ids, partner_ids, "checked_at").values(
            "id", "lead_id", "partner_id", "outcome", "is_marketable", "user_status"
        )
    }
    pushes = {
        (row["lead_id"], row["partner_id"]): PushStanding(row["id"], push_standing(row["state"]))
        # values(): the partner's sealed message is neither decrypted nor read
        for row in _newest(Push, lead_ids, partner_ids).values(
            "id", "lead_id", "partner_id", "state"
        )
    }
    return {
        lead_id: [
            PartnerStanding(p, checks.get((lead_id, p.pk)), pushes.get((lead_id, p.pk)))
            for p in partners
        ]
        for lead_id in lead_ids
    }


def _newest(model, lead_ids, partner_ids, time_field: str = "") -> QuerySet:
    """The newest row per (lead, partner) among these leads' rows with these partners: by
    ``time_field`` then id, or by id alone."""
    newest_first = [F(time_field).desc()] if time_field else []
    return (
        model.objects.filter(lead_id__in=lead_ids, partner_id__in=partner_ids)
        .annotate(
            rank=Window(
                RowNumber(),
                partition_by=[F("lead_id"), F("partner_id")],
                order_by=[*newest_first, F("id").desc()],
            )
        )
        .filter(rank=1)
        .order_by()
    )


def _newest_checks(*, partner_id: int | None) -> QuerySet:
    """Check results with no newer result of the same (lead, partner): each pair's newest."""
    newer = CollisionResult.objects.filter(
        lead=OuterRef("lead"), partner=OuterRef("partner")
    ).filter(
        Q(checked_at__gt=OuterRef("checked_at"))
        | Q(checked_at=OuterRef("checked_at"), id__gt=OuterRef("id"))
    )
    rows = CollisionResult.objects.filter(~Exists(newer))
    return rows.filter(partner_id=partner_id) if partner_id is not None else rows


def _newest_pushes(*, partner_id: int | None) -> QuerySet:
    """Each (lead, partner)'s last push: one GROUP BY, no correlated subquery."""
    pushes = (
        Push.objects.all() if partner_id is None else Push.objects.filter(partner_id=partner_id)
    )
    last = pushes.order_by().values("lead_id", "partner_id").annotate(last=Max("id")).values("last")
    return Push.objects.filter(id__in=last)


def _in(rows: QuerySet) -> Q:
    return Q(pk__in=rows.values("lead_id"))


def leads_checked_in(queryset: QuerySet, job_id: int) -> QuerySet:
    """The leads a check job has a result for (one per lead: a redone chunk writes no second)."""
    return queryset.filter(_in(CollisionResult.objects.filter(job_id=job_id)))


def leads_by_check(
    queryset: QuerySet, verdict: str, *, partner_id: int | None = None, job_id: int | None = None
) -> QuerySet:
    """Leads whose check outcome is ``verdict``: the outcome in check job ``job_id`` if given,
    else the newest with ``partner_id``, else the best across partners (see the module)."""
    if verdict not in CHECK_VERDICTS:
        return queryset.none()
    if job_id is not None:
        if verdict == "unchecked":  # a job's lead without a result was deleted or erased
            return queryset.none()
        rows = CollisionResult.objects.filter(VERDICT_ROWS[verdict], job_id=job_id)
        return queryset.filter(_in(rows))
    any_result = CollisionResult.objects.filter(lead=OuterRef("pk"))
    if partner_id is not None:
        any_result = any_result.filter(partner_id=partner_id)
    if verdict == "unchecked":
        return queryset.filter(~Exists(any_result))
    newest = _newest_checks(partner_id=partner_id)
    if partner_id is not None:
        return queryset.filter(_in(newest.filter(VERDICT_ROWS[verdict])))
    ranked = ["marketable", "not_marketable", "failed"]
    better = ranked[: ranked.index(verdict)]
    condition = (
        Exists(any_result) if verdict == "failed" else _in(newest.filter(VERDICT_ROWS[verdict]))
    )
    for other in better:
        condition &= ~_in(newest.filter(VERDICT_ROWS[other]))
    return queryset.filter(condition)


def leads_by_push(queryset: QuerySet, standing: str, *, partner_id: int | None = None) -> QuerySet:
    """Leads whose newest push with ``partner_id`` stands at ``standing``; with no partner, the
    best standing across partners (see the module); "none": never pushed (to that partner)."""
    if standing not in PUSH_STANDINGS:
        return queryset.none()
    if standing == "none":
        pushes = Push.objects.filter(lead=OuterRef("pk"))
        if partner_id is not None:
            pushes = pushes.filter(partner_id=partner_id)
        return queryset.filter(~Exists(pushes))
    newest = _newest_pushes(partner_id=partner_id)

    def at(key):
        return _in(newest.filter(state__in=PUSH_STANDING_STATES[key]))

    condition = at(standing)
    if partner_id is None:
        ranked = list(PUSH_STANDING_STATES)
        for better in ranked[: ranked.index(standing)]:
            condition &= ~at(better)
    return queryset.filter(condition)
