from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ReportingConfig(AppConfig):
    """The morning view: what was imported, checked and pushed, and who is in trouble. It reads
    every app below it and nothing imports it."""

    name = "reporting"
    verbose_name = _("报表")
