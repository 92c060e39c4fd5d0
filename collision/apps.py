from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class CollisionConfig(AppConfig):
    name = "collision"
    verbose_name = _("撞库")

    def ready(self):
        # jobs sits below this app: it runs our chunks through the handler registered here.
        from collision.services import check_job_chunk
        from jobs.handlers import register
        from jobs.models import JobKind

        register(JobKind.CHECK, check_job_chunk)
