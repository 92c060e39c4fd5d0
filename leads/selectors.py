"""Reads about leads that span apps."""

from dataclasses import dataclass
from datetime import datetime

from django.utils.translation import gettext as _

from collision.models import CheckOutcome, CollisionResult
from pushes.models import Push


@dataclass(frozen=True)
class TimelineEvent:
    at: datetime
    kind: str
    partner: str
    outcome: str
    detail: str
    good: bool


def lead_timeline(lead, *, reveal: bool = False) -> list[TimelineEvent]:
    """Every check and push of a lead, newest first, with what the partner answered (masked
    unless ``reveal``: a partner may echo the person's name or numbers)."""
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
    for push in Push.objects.filter(lead=lead).select_related("partner"):
        push.lead = lead
        answer = (
            (push.message, push.app_download_url)
            if reveal
            else (push.masked_message(), push.masked_app_download_url())
        )
        detail = " ".join(part for part in answer if part)
        events.append(
            TimelineEvent(
                push.last_attempt_at or push.created_at,
                _("推送"),
                str(push.partner),
                push.get_state_display(),
                detail,
                push.state == "accepted",
            )
        )
    return sorted(events, key=lambda event: event.at, reverse=True)
