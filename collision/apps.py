from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class CollisionConfig(AppConfig):
    name = "collision"
    verbose_name = _("撞库")
