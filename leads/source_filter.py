"""A lead's source (渠道) as a filter of lists whose rows belong to a lead (check results, pushes):
the dashboard's per-source numbers link there with ``?source=<name>``."""

from django.contrib import admin
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy


class LeadSourceFilter(admin.SimpleListFilter):
    """Shown only when chosen (a link sets it): offering every source would be a DISTINCT over
    all leads on each view."""

    title = gettext_lazy("线索来源")
    parameter_name = "source"
    lead_path = "lead__"

    def lookups(self, request, model_admin):
        value = self.value()
        return [] if value is None else [(value, value or _("（无来源）"))]

    def has_output(self):
        return self.value() is not None

    def queryset(self, request, queryset):
        value = self.value()
        if value is None:
            return queryset
        return queryset.filter(**{f"{self.lead_path}source": value})
