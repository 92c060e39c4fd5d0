"""Reads about pushes."""

from django.utils.translation import gettext as _

from leads.selectors import TimelineEvent
from pushes.models import Push, PushSkip


def lead_push_events(lead, *, reveal: bool = False) -> list[TimelineEvent]:
    """A lead's pushes for its timeline (``leads.selectors``), with what the partner answered,
    masked unless ``reveal``."""
    events = []
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
    return events


def lead_skip_events(lead, *, reveal: bool = False) -> list[TimelineEvent]:
    """The times a push of the lead was asked for and did not go out, with why (its reason and
    detail hold nothing personal, so ``reveal`` changes nothing)."""
    return [
        TimelineEvent(
            skip.created_at,
            _("未推送"),
            str(skip.partner),
            skip.get_reason_display(),
            skip.detail,
            False,
        )
        for skip in PushSkip.objects.filter(lead=lead).select_related("partner")
    ]
