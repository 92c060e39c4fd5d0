from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class PushesConfig(AppConfig):
    name = "pushes"
    verbose_name = _("推送")

    def ready(self):
        # jobs sits below this app: it runs our chunks through the handler registered here.
        from jobs.handlers import register
        from jobs.models import JobKind
        from pushes.services import push_job_chunk, pushes_left_today

        register(JobKind.PUSH, push_job_chunk, requests_left_today=pushes_left_today)
