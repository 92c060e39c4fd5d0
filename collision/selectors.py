"""Reads about checks."""

from django.utils.translation import gettext as _

from collision.models import CheckOutcome, CollisionResult
from leads.selectors import TimelineEvent


def lead_check_events(lead, *, reveal: bool = False) -> list[TimelineEvent]:
    """A lead's checks for its timeline (``leads.selectors``); nothing here is personal data."""
    events = []
    for result in CollisionResult.objects.filter(lead=lead).select_related("partner"):
        if result.outcome == CheckOutcome.ANSWERED:
            outcome = result.get_user_status_display()
            detail = _("可营销") if result.is_marketable else _("不可营销")
        else:
            outcome, detail = result.get_outcome_display(), result.message
        events.append(
            TimelineEvent(
                result.checked_at,
                _("撞库"),
                str(result.partner),
                outcome,
                detail,
                result.is_marketable,
            )
        )
    return events
