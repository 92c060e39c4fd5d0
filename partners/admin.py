import json

from django.contrib import admin
from django.core.exceptions import ObjectDoesNotExist
from django.utils import timezone
from django.utils.decorators import method_decorator
from django.utils.formats import date_format
from django.utils.html import format_html
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.debug import sensitive_post_parameters

from core.admin import ReadOnlyAdmin
from partners.forms import PartnerForm
from partners.models import AuditLogEntry, Partner


@admin.register(Partner)
class PartnerAdmin(admin.ModelAdmin):
    form = PartnerForm
    list_display = [
        "name",
        "slug",
        "environment_badge",
        "base_url",
        "utm_source",
        "is_active",
        "health",
        "updated_at",
    ]
    list_filter = ["environment", "is_active", "is_paused", "collision_protocol", "push_protocol"]
    readonly_fields = ["secret_key_state", "consecutive_failures", "last_error", "last_error_at"]
    search_fields = ["name", "slug", "utm_source"]
    prepopulated_fields = {"slug": ["name"]}
    fieldsets = [
        (None, {"fields": ["name", "slug", "is_active", "environment"]}),
        (gettext_lazy("地址"), {"fields": ["test_base_url", "production_base_url", "push_url"]}),
        (
            gettext_lazy("凭证"),
            {"fields": ["utm_source", "client_id", "secret_key", "secret_key_state"]},
        ),
        (
            gettext_lazy("协议"),
            {
                "fields": [
                    "collision_protocol",
                    "push_protocol",
                    "push_data_as_string",
                    "push_integers_as_strings",
                ]
            },
        ),
        (gettext_lazy("超时"), {"fields": ["connect_timeout", "read_timeout"]}),
        (
            gettext_lazy("吞吐限制"),
            {
                "fields": [
                    "max_concurrency",
                    "max_requests_per_second",
                    "daily_push_cap",
                    ("working_hours_start", "working_hours_end"),
                ]
            },
        ),
        (
            gettext_lazy("健康与暂停"),
            {
                "fields": [
                    "is_paused",
                    "failure_threshold",
                    "consecutive_failures",
                    "last_error",
                    "last_error_at",
                ]
            },
        ),
    ]

    def get_fieldsets(self, request, obj=None):
        """The key field is the write-only form field; whoever may only view the partner gets
        its state alone (a read-only field would render the key itself)."""
        fieldsets = super().get_fieldsets(request, obj)
        if self.has_change_permission(request, obj) if obj else self.has_add_permission(request):
            return fieldsets
        return [
            (title, {**options, "fields": [f for f in options["fields"] if f != "secret_key"]})
            for title, options in fieldsets
        ]

    @admin.display(description=gettext_lazy("签名密钥"))
    def secret_key_state(self, partner):
        if not partner.has_secret_key:
            return _("未设置")
        if partner.secret_key_changed_at:
            return _("已设置（%(when)s 修改）") % {
                "when": date_format(timezone.localtime(partner.secret_key_changed_at), "Y-m-d H:i")
            }
        return _("已设置")

    @admin.display(description=gettext_lazy("状态"))
    def health(self, partner):
        if partner.is_paused:
            return format_html(
                '<strong class="partner-paused" title="{}">{}</strong>',
                partner.last_error,
                _("已暂停"),
            )
        if partner.consecutive_failures:
            return _("连续失败 %s 次") % partner.consecutive_failures
        return _("正常")

    @method_decorator(sensitive_post_parameters("secret_key"))
    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        return super().changeform_view(request, object_id, form_url, extra_context)

    @admin.display(description=gettext_lazy("当前环境"), ordering="environment")
    def environment_badge(self, partner):
        if partner.is_production:
            return format_html(
                '<strong class="environment-production">{}</strong>',
                partner.get_environment_display(),
            )
        return partner.get_environment_display()

    @admin.display(description=gettext_lazy("当前地址"))
    def base_url(self, partner):
        return partner.base_url

    def has_delete_permission(self, request, obj=None):
        return False  # partners carry the audit trail; deactivate instead


@admin.register(AuditLogEntry)
class AuditLogEntryAdmin(ReadOnlyAdmin):
    list_display = [
        "created_at",
        "partner",
        "operation",
        "environment",
        "outcome",
        "response_status",
        "latency_ms",
        "lead_count",
        "actor_name",
        "job",
    ]
    list_filter = ["partner", "operation", "outcome", "environment", "created_at"]
    search_fields = ["url", "error", "response_body"]
    date_hierarchy = "created_at"
    list_select_related = ["partner", "actor", "job"]
    fields = [
        "created_at",
        "partner",
        "operation",
        "environment",
        "actor_name",
        "job",
        "method",
        "url",
        "pretty_request_headers",
        "pretty_request_body",
        "response_status",
        "pretty_response_body",
        "latency_ms",
        "outcome",
        "error",
        "lead_count",
        "chain_hash",
    ]

    @admin.display(description=gettext_lazy("操作人"), ordering="actor_username")
    def actor_name(self, entry):
        """The name kept with the row, marked when its account has been deleted since."""
        if entry.actor_id is None:
            return entry.actor_username or _("（无：命令行或后台任务）")
        try:
            gone = entry.actor is None  # the list's join finds no account
        except ObjectDoesNotExist:  # the detail page looks it up on its own
            gone = True
        name = entry.actor_username or (entry.actor_id if gone else entry.actor.get_username())
        return _("%(name)s（账号已删除）") % {"name": name} if gone else name

    @admin.display(description=gettext_lazy("请求头（打码）"))
    def pretty_request_headers(self, entry):
        return _pre(json.dumps(entry.request_headers, ensure_ascii=False, indent=2))

    @admin.display(description=gettext_lazy("请求体（打码）"))
    def pretty_request_body(self, entry):
        return _pre(_pretty_json(entry.request_body))

    @admin.display(description=gettext_lazy("应答体（打码）"))
    def pretty_response_body(self, entry):
        return _pre(_pretty_json(entry.response_body))


def _pretty_json(text: str) -> str:
    try:
        return json.dumps(json.loads(text), ensure_ascii=False, indent=2)
    except ValueError:
        return text


def _pre(text: str):
    return format_html(
        '<pre class="wire-text">{}</pre>',
        text,
    )
