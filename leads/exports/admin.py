"""Export in the admin: a mixin per exported model (django-import-export's export button and
filtered changelist queryset, with our own form, files, permission and audit record), and the
export records' read-only admin (registered by ``leads.admin``)."""

from django import forms
from django.contrib.admin.options import IncorrectLookupParameters
from django.contrib.admin.views.main import ERROR_FLAG
from django.core.exceptions import PermissionDenied
from django.http import HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.http import content_disposition_header
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from import_export.admin import ExportMixin

from core.admin import ReadOnlyAdmin
from leads.admin_pii import masked_query
from leads.exports.services import can_export_pii, export_records
from leads.models import (
    ExportKind,
)


class ExportChoiceForm(forms.Form):
    file_format = forms.ChoiceField(
        label=gettext_lazy("格式"),
        choices=[("xlsx", "Excel (.xlsx)"), ("csv", "CSV (UTF-8)")],
        initial="xlsx",
        widget=forms.RadioSelect,
    )
    unmasked = forms.BooleanField(
        label=gettext_lazy("包含完整个人信息（不打码；本次导出将记入导出审计）"), required=False
    )

    def __init__(self, *args, can_unmask: bool, **kwargs):
        super().__init__(*args, **kwargs)
        if not can_unmask:
            del self.fields["unmasked"]


class GuardedExportMixin(ExportMixin):
    """django-import-export's export button and filtered queryset, with our own form, files,
    permission and audit record."""

    export_kind: str = ""
    export_permission: str = ""
    export_template_name = "admin/leads/export.html"

    def has_export_permission(self, request) -> bool:
        return request.user.has_perm(self.export_permission)

    def export_action(self, request):
        if not self.has_export_permission(request):
            raise PermissionDenied
        can_unmask = can_export_pii(request.user)
        form = ExportChoiceForm(request.POST or None, can_unmask=can_unmask)
        try:
            queryset = self.get_export_queryset(request)
        except IncorrectLookupParameters:  # a hand-made filter: as the changelist answers it
            changelist = reverse(f"admin:{self.opts.app_label}_{self.opts.model_name}_changelist")
            return HttpResponseRedirect(f"{changelist}?{ERROR_FLAG}=1")
        if form.is_bound and form.is_valid():
            exported = export_records(
                kind=self.export_kind,
                queryset=queryset,
                file_format=form.cleaned_data["file_format"],
                actor=request.user,
                unmasked=form.cleaned_data.get("unmasked", False),
                criteria=masked_query(request.GET) or _("全部"),
            )
            response = HttpResponse(exported.content, content_type=exported.content_type)
            # filename*=utf-8'' for the Chinese name (a raw header would arrive MIME-encoded).
            response["Content-Disposition"] = content_disposition_header(True, exported.file_name)
            return response
        context = {
            **self.admin_site.each_context(request),
            "title": _("导出%(what)s") % {"what": self.opts.verbose_name_plural},
            "opts": self.opts,
            "form": form,
            "count": queryset.count(),
            "can_unmask": can_unmask,
            "filters": request.GET.urlencode(),
        }
        return TemplateResponse(request, self.export_template_name, context)


class LeadExportMixin(GuardedExportMixin):
    export_kind = ExportKind.LEADS
    export_permission = "leads.export_lead"


class CollisionExportMixin(GuardedExportMixin):
    export_kind = ExportKind.COLLISION_RESULTS
    export_permission = "collision.export_collisionresult"


class PushExportMixin(GuardedExportMixin):
    export_kind = ExportKind.PUSHES
    export_permission = "pushes.export_push"


class PushSkipExportMixin(GuardedExportMixin):
    export_kind = ExportKind.PUSH_SKIPS
    export_permission = "pushes.export_push"  # whoever exports push history exports its gaps


class ExportRecordAdmin(ReadOnlyAdmin):
    list_display = [
        "created_at",
        "actor",
        "kind",
        "file_format",
        "row_count",
        "unmasked",
        "channel",
        "criteria",
    ]
    list_filter = ["unmasked", "kind", "channel", "created_at"]
    list_select_related = ["actor"]
    date_hierarchy = "created_at"
