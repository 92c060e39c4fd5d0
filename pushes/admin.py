from collections import Counter

from django.contrib import admin, messages
from django.template.response import TemplateResponse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from core.admin import BigTableMixin, ReadOnlyAdmin, date_range_filter, reveal_pii
from jobs.admin import PushJobListFilter
from leads.admin_pii import (
    BlindIndexSearchMixin,
    PersonalDataPagesMixin,
    SkippedLeadsAdmin,
    related_lead_columns,
)
from leads.exports.admin import PushExportMixin, PushSkipExportMixin
from leads.source_filter import LeadSourceFilter
from partners.calls import PartnerUnavailable
from partners.models import Partner
from pushes.models import Push, PushSkip, PushState
from pushes.services import reconcile_unknown_pushes, retry_unknown_pushes


@admin.register(Push)
class PushAdmin(
    PushExportMixin, PersonalDataPagesMixin, BlindIndexSearchMixin, BigTableMixin, ReadOnlyAdmin
):
    lead_path = "lead__"
    list_filter = [
        "partner",
        "state",
        PushJobListFilter,
        LeadSourceFilter,
        "created_at",
        # Instead of a date drill-down, whose links were a DISTINCT over every push per view.
        date_range_filter("created_at", gettext_lazy("创建日期范围"), "created"),
    ]
    # The whole source name, in a subquery on leads (BigTableMixin); the partner's message is
    # sealed: not searchable.
    search_fields = ["lead__source"]
    search_help_text = gettext_lazy("输入完整手机号或身份证号查找，或输入完整的来源名称")
    list_select_related = ["lead", "partner"]
    actions = ["reconcile", "retry"]

    def has_push_permission(self, request):
        return request.user.has_perm("leads.push_lead")

    @admin.action(
        description=gettext_lazy("对账：重新撞库确认结果未知的推送"), permissions=["push"]
    )
    def reconcile(self, request, queryset):
        try:
            outcome = reconcile_unknown_pushes(pushes=queryset, actor=request.user)
        except PartnerUnavailable as exc:
            self.message_user(request, str(exc), messages.ERROR)
            return
        self.message_user(
            request,
            _("对账完成：确认已接收 %(accepted)s 条，仍未知 %(unknown)s 条（可明确重试）。")
            % {"accepted": outcome["accepted"], "unknown": outcome["still_unknown"]},
            messages.SUCCESS,
        )

    @admin.action(
        description=gettext_lazy("明确重试结果未知的推送（可能重复推送）"), permissions=["push"]
    )
    def retry(self, request, queryset):
        """It may push a lead twice: the first POST shows what and where, the second sends."""
        if "apply" not in request.POST:
            unknown = queryset.filter(state=PushState.UNKNOWN)
            per_partner = Counter(unknown.values_list("partner", flat=True))
            partners = Partner.objects.filter(pk__in=per_partner).order_by("name")
            context = {
                **self.admin_site.each_context(request),
                "title": _("明确重试结果未知的推送"),
                "opts": self.model._meta,
                "count": sum(per_partner.values()),
                "partners": [{"partner": p, "count": per_partner[p.pk]} for p in partners],
                "select_across": request.POST.get("select_across") == "1",
                "selected": request.POST.getlist(admin.helpers.ACTION_CHECKBOX_NAME),
            }
            return TemplateResponse(request, "admin/pushes/push/confirm_retry.html", context)
        try:
            summary = retry_unknown_pushes(pushes=queryset, actor=request.user)
        except PartnerUnavailable as exc:
            self.message_user(request, str(exc), messages.ERROR)
            return
        self.message_user(
            request,
            _(
                "重试完成：接收 %(accepted)s，拒绝 %(rejected)s，仍未知 %(unknown)s，未送达 %(failed)s。"
            )
            % {
                "accepted": summary.accepted,
                "rejected": summary.rejected,
                "unknown": summary.unknown,
                "failed": summary.failed,
            },
            messages.SUCCESS,
        )

    def get_list_display(self, request):
        return [
            "created_at",
            *related_lead_columns(request),
            "partner",
            "state",
            *partner_answer_columns(request),
            "attempts",
            "last_attempt_at",
        ]

    def get_fields(self, request, obj=None):
        return [
            "created_at",
            "lead",
            "partner",
            "state",
            *partner_answer_columns(request),
            "attempts",
            "last_attempt_at",
            "finished_at",
            "actor",
            "job",
            "audit_entry",
        ]

    def get_readonly_fields(self, request, obj=None):
        return self.get_fields(request, obj)


def partner_answer_columns(request) -> list:
    """The partner's message and link: in full for a user who may see personal data, else with
    the lead's own values and any phone, ID number or hash-like token masked."""
    reveal = reveal_pii(request)

    def message(push):
        return push.message if reveal else push.masked_message()

    def app_download_url(push):
        return push.app_download_url if reveal else push.masked_app_download_url()

    message.short_description = Push._meta.get_field("message").verbose_name
    app_download_url.short_description = Push._meta.get_field("app_download_url").verbose_name
    return [message, app_download_url]


@admin.register(PushSkip)
class PushSkipAdmin(PushSkipExportMixin, SkippedLeadsAdmin, BigTableMixin, ReadOnlyAdmin):
    """未推送及原因: the leads a push was asked for and did not send, and why; what the push
    history, which lists attempts only, cannot show."""

    list_filter = [
        "partner",
        "reason",
        PushJobListFilter,
        "created_at",
        date_range_filter("created_at", gettext_lazy("日期范围"), "created"),
    ]
