from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class PushesConfig(AppConfig):
    name = "pushes"
    verbose_name = _("推送")

    def ready(self):
        # jobs and leads sit below this app: jobs runs our chunks, a lead's timeline shows our
        # events and an erasure blanks our partners' answers, through what we register here.
        from jobs.handlers import register
        from jobs.models import JobKind
        from leads.erasure import register_answer_eraser
        from leads.selectors import register_timeline_source
        from partners.audit_leads import register_audit_lead_source
        from pushes.audit_leads import PushLeads
        from pushes.selectors import lead_push_events, lead_skip_events
        from pushes.services import erase_push_answers, push_job_chunk, pushes_left_today

        register_timeline_source("pushes", lead_push_events)
        register_timeline_source("push_skips", lead_skip_events)
        register_answer_eraser(erase_push_answers)
        register(JobKind.PUSH, push_job_chunk, requests_left_today=pushes_left_today)
        register_audit_lead_source("pushes", PushLeads())  # an audit row's lead
