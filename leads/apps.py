from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class LeadsConfig(AppConfig):
    name = "leads"
    verbose_name = _("线索")

    def ready(self):
        # The audit screens (partners, below leads) find leads and record sights through this.
        from leads.audit_book import LeadBook
        from partners.audit_leads import register_lead_book

        register_lead_book(LeadBook())
