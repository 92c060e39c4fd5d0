from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class CollisionConfig(AppConfig):
    name = "collision"
    verbose_name = _("撞库")

    def ready(self):
        # jobs and leads sit below this app: jobs runs our chunks, and a lead's timeline shows our
        # events, through what we register here.
        from collision.audit_leads import CheckLeads
        from collision.selectors import lead_check_events
        from collision.services import check_job_chunk
        from jobs.handlers import register
        from jobs.models import JobKind
        from leads.selectors import register_timeline_source
        from partners.audit_leads import register_audit_lead_source

        register_timeline_source("collision", lead_check_events)
        register(JobKind.CHECK, check_job_chunk)
        register_audit_lead_source("collision", CheckLeads())  # an audit row's leads
