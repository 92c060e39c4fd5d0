from django.contrib import admin
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from collision.models import CheckOutcome, CheckSkip, CollisionResult, UserStatusChoice
from core.admin import BigTableMixin, ReadOnlyAdmin, date_range_filter, reveal_pii
from core.masking import mask_phone
from jobs.admin import CheckJobListFilter
from leads.admin_pii import (
    BlindIndexSearchMixin,
    PersonalDataPagesMixin,
    SkippedLeadsAdmin,
    pii_column,
    related_lead_columns,
)
from leads.exports.admin import CollisionExportMixin
from leads.source_filter import LeadSourceFilter


class VerdictFilter(admin.SimpleListFilter):
    """The job page's breakdown: marketable, not marketable by status (0–3), failed."""

    title = gettext_lazy("结论")
    parameter_name = "verdict"

    def lookups(self, request, model_admin):
        return [
            ("marketable", _("可营销")),
            *[(f"status_{s.value}", _("不可营销 · %s") % s.label) for s in UserStatusChoice],
            ("failed", _("撞库失败")),
        ]

    def queryset(self, request, queryset):
        value = self.value()
        if value is None:
            return queryset
        if value == "marketable":
            return queryset.filter(is_marketable=True)
        if value == "failed":
            return queryset.exclude(outcome=CheckOutcome.ANSWERED)
        status = value.removeprefix("status_")
        if status.isdigit():
            return queryset.filter(
                outcome=CheckOutcome.ANSWERED, is_marketable=False, user_status=int(status)
            )
        return queryset.none()


@admin.register(CollisionResult)
class CollisionResultAdmin(
    CollisionExportMixin,
    PersonalDataPagesMixin,
    BlindIndexSearchMixin,
    BigTableMixin,
    ReadOnlyAdmin,
):
    lead_path = "lead__"
    list_filter = [
        "partner",
        VerdictFilter,
        "outcome",
        "user_status",
        "is_marketable",
        CheckJobListFilter,
        LeadSourceFilter,
        "checked_at",
        # Instead of a date drill-down, whose links were a DISTINCT over every result per view.
        date_range_filter("checked_at", gettext_lazy("撞库日期范围"), "checked"),
    ]
    search_fields = ["lead__source"]  # the whole name, in a subquery on leads (BigTableMixin)
    search_help_text = gettext_lazy("输入完整手机号或身份证号查找")
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


@admin.register(CheckSkip)
class CheckSkipAdmin(SkippedLeadsAdmin, BigTableMixin, ReadOnlyAdmin):
    """未撞库及原因: leads a check was asked for and did not send (the do-not-contact list, the
    partner's 接收条件), and why."""

    list_filter = [
        "partner",
        "reason",
        CheckJobListFilter,
        "created_at",
        date_range_filter("created_at", gettext_lazy("日期范围"), "created"),
    ]
