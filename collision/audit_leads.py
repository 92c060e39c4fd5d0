"""The leads of a check's audit rows, for the audit screens (``partners.audit_leads``)."""

from django.utils.translation import gettext as _

from collision.models import CheckOutcome, CollisionResult
from leads.audit_book import audited_lead


class CheckLeads:
    def leads_of(self, entry_ids: list[int], *, reveal: bool):
        results = CollisionResult.objects.filter(audit_entry_id__in=entry_ids)
        for result in results.select_related("lead").order_by("audit_entry_id", "id"):
            if result.outcome == CheckOutcome.ANSWERED:
                verdict = _("可营销") if result.is_marketable else _("不可营销")
                answer = f"{result.get_user_status_display()} · {verdict}"
            else:
                answer = result.get_outcome_display()
            yield audited_lead(
                entry_id=result.audit_entry_id,
                lead=result.lead,
                answer=answer,
                good=result.is_marketable,
                reveal=reveal,
            )

    def entry_ids_about(self, lead_ids: list[int]):
        return CollisionResult.objects.filter(
            lead_id__in=lead_ids, audit_entry__isnull=False
        ).values("audit_entry_id")
