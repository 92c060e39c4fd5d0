from django.contrib import admin
from django.utils.translation import gettext_lazy as _

from core.admin import BlindIndexSearchMixin, ReadOnlyAdmin, can_view_pii, pii_column
from core.masking import mask_name, mask_phone
from leads.admin_import_export import PushExportMixin
from pushes.models import Push


@admin.register(Push)
class PushAdmin(PushExportMixin, BlindIndexSearchMixin, ReadOnlyAdmin):
    lead_path = "lead__"
    list_filter = ["partner", "state", "created_at"]
    search_fields = ["lead__source", "message"]
    search_help_text = _("输入完整手机号或身份证号查找，或输入平台返回信息")
    date_hierarchy = "created_at"
    list_select_related = ["lead", "partner"]

    def get_list_display(self, request):
        reveal = can_view_pii(request.user)
        return [
            "created_at",
            "lead_id",
            pii_column("lead__name", mask_name, reveal=reveal, label=_("姓名")),
            pii_column("lead__phone", mask_phone, reveal=reveal, label=_("手机号")),
            "partner",
            "state",
            "message",
            "app_download_url",
            "attempts",
            "last_attempt_at",
        ]

    def get_fields(self, request, obj=None):
        return [
            "created_at",
            "lead",
            "partner",
            "state",
            "message",
            "app_download_url",
            "attempts",
            "last_attempt_at",
            "finished_at",
            "actor",
            "audit_entry",
        ]

    def get_readonly_fields(self, request, obj=None):
        return self.get_fields(request, obj)
