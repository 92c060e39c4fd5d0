from django.contrib import admin
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from collision.models import CollisionResult
from core.admin import ReadOnlyAdmin, reveal_pii
from core.masking import mask_phone
from leads.admin_pii import (
    BlindIndexSearchMixin,
    PersonalDataPagesMixin,
    pii_column,
    related_lead_columns,
)
from leads.exports.admin import CollisionExportMixin


@admin.register(CollisionResult)
class CollisionResultAdmin(
    CollisionExportMixin, PersonalDataPagesMixin, BlindIndexSearchMixin, ReadOnlyAdmin
):
    lead_path = "lead__"
    list_filter = ["partner", "outcome", "user_status", "is_marketable", "checked_at"]
    search_fields = ["lead__source"]
    search_help_text = gettext_lazy("输入完整手机号或身份证号查找")
    date_hierarchy = "checked_at"
    list_select_related = ["lead", "partner"]

    def get_list_display(self, request):
        return [
            "checked_at",
            *related_lead_columns(request),
            "partner",
            "outcome",
            "user_status",
            "is_marketable",
            "message",
        ]

    def get_fields(self, request, obj=None):
        reveal = reveal_pii(request)
        return [
            "checked_at",
            "lead",
            pii_column("lead__phone", mask_phone, reveal=reveal, label=_("手机号")),
            "partner",
            "outcome",
            "user_status",
            "marketable",
            "is_marketable",
            "message",
            "audit_entry",
        ]

    def get_readonly_fields(self, request, obj=None):
        return self.get_fields(request, obj)
