from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class PushesConfig(AppConfig):
    name = "pushes"
    verbose_name = _("推送")
