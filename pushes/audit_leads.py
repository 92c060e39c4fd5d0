"""The lead of a push's audit row, for the audit screens (``partners.audit_leads``). A push
keeps its latest attempt's row: an earlier attempt's row names no lead here."""

from leads.audit_book import audited_lead
from pushes.models import Push, PushState


class PushLeads:
    def leads_of(self, entry_ids: list[int], *, reveal: bool):
        pushes = Push.objects.filter(audit_entry_id__in=entry_ids)
        for push in pushes.select_related("lead").order_by("audit_entry_id", "id"):
            message = push.message if reveal else push.masked_message()
            answer = push.get_state_display() + (f" · {message}" if message else "")
            yield audited_lead(
                entry_id=push.audit_entry_id,
                lead=push.lead,
                answer=answer,
                good=push.state == PushState.ACCEPTED,
                reveal=reveal,
            )

    def entry_ids_about(self, lead_ids: list[int]):
        return Push.objects.filter(lead_id__in=lead_ids, audit_entry__isnull=False).values(
            "audit_entry_id"
        )
