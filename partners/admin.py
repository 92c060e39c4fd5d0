from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpResponseNotAllowed
from django.shortcuts import redirect
from django.urls import path, reverse
from django.utils import timezone
from django.utils.decorators import method_decorator
from django.utils.formats import date_format
from django.utils.html import format_html
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.debug import sensitive_post_parameters

from leads.fields import EduLevel
from partners.audit_admin import AuditLogEntryAdmin
from partners.connection import run_connection_test
from partners.forms import KEY_FIELDS, PartnerForm
from partners.models import AuditLogEntry, Environment, Partner


class PartnerAdminForm(PartnerForm):
    edu_level_choices = EduLevel.choices  # the admin may import leads; partners.forms may not


@admin.register(Partner)
class PartnerAdmin(admin.ModelAdmin):
    form = PartnerAdminForm
    list_display = [
        "name",
        "slug",
        "environment_badge",
        "base_url",
        "utm_source",
        "price_per_push",
        "priority",
        "is_active",
        "health",
        "updated_at",
    ]

    def get_list_display(self, request):
        # What the partner owes us this month, for who may read statements (reporting).
        if request.user.has_perm("reporting.view_statement"):
            return [*self.list_display, "statement"]
        return self.list_display

    @admin.display(description=gettext_lazy("对账单"))
    def statement(self, partner):
        url = reverse("admin:reporting_statement_changelist")
        return format_html('<a href="{}?partner={}">{}</a>', url, partner.pk, _("本月对账单"))

    list_filter = [
        "environment",
        "is_active",
        "is_paused",
        "exclusive_only",
        "collision_protocol",
        "push_protocol",
    ]
    readonly_fields = [
        "test_secret_key_state",
        "production_secret_key_state",
        "consecutive_failures",
        "last_error",
        "last_error_at",
    ]
    search_fields = ["name", "slug", "utm_source"]
    prepopulated_fields = {"slug": ["name"]}
    fieldsets = [
        (None, {"fields": ["name", "slug", "is_active", "environment", "receives_pushes"]}),
        (gettext_lazy("撞库"), {"fields": ["utm_source"]}),
        (
            gettext_lazy("测试环境"),
            {
                "fields": [
                    "test_base_url",
                    "test_push_url",
                    "test_client_id",
                    "test_secret_key",
                    "test_secret_key_state",
                ]
            },
        ),
        (
            gettext_lazy("生产环境"),
            {
                "fields": [
                    "production_base_url",
                    "production_push_url",
                    "production_client_id",
                    "production_secret_key",
                    "production_secret_key_state",
                ]
            },
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
        (
            gettext_lazy("拒绝请求的应答"),
            {
                "description": gettext_lazy(
                    "合作平台拒绝整个请求（签名、请求头、限流、额度……）时，线索没有被处理，"
                    "不能记成拒绝线索。协议默认能认出常见的说法；这里补充该合作平台自己的应答码和用词。"
                ),
                "fields": ["call_refusal_codes", "call_refusal_words"],
            },
        ),
        (
            gettext_lazy("接收条件"),
            {
                "description": gettext_lazy(
                    "合作平台接收哪些线索。每项留空表示不限；线索须满足所有已填写的条件，"
                    "不满足的不会分发给该合作平台。"
                ),
                "fields": [
                    ("allowed_regions", "refused_regions"),
                    ("min_age", "max_age"),
                    "min_zhima_score",
                    "accepted_edu_levels",
                    "requires_social_insurance",
                    ("allowed_sources", "refused_sources"),
                ],
            },
        ),
        (
            gettext_lazy("商务条款"),
            {
                "description": gettext_lazy(
                    "分发时，线索先给优先级高的合作平台；优先级和价格都相同的合作平台之间，"
                    "按权重比例分配。"
                ),
                "fields": [
                    "price_per_push",
                    "priority",
                    "weight",
                    "exclusive_only",
                    "check_valid_days",
                ],
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
        """The key fields are the write-only form fields; whoever may only view the partner gets
        their state alone (a read-only field would render the key itself)."""
        fieldsets = super().get_fieldsets(request, obj)
        if self.has_change_permission(request, obj) if obj else self.has_add_permission(request):
            return fieldsets
        return [
            (title, {**options, "fields": [f for f in options["fields"] if f not in KEY_FIELDS]})
            for title, options in fieldsets
        ]

    @staticmethod
    def _key_state(partner, environment: str) -> str:
        if not partner.has_secret_key_for(environment):
            return _("未设置")
        if changed_at := getattr(partner, f"{environment}_secret_key_changed_at"):
            return _("已设置（%(when)s 修改）") % {
                "when": date_format(timezone.localtime(changed_at), "Y-m-d H:i")
            }
        return _("已设置")

    @admin.display(description=gettext_lazy("测试环境密钥状态"))
    def test_secret_key_state(self, partner):
        return self._key_state(partner, Environment.TEST)

    @admin.display(description=gettext_lazy("生产环境密钥状态"))
    def production_secret_key_state(self, partner):
        return self._key_state(partner, Environment.PRODUCTION)

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

    def get_urls(self):
        test_connection = path(
            "<int:partner_id>/test-connection/",
            self.admin_site.admin_view(self.test_connection_view),
            name="partners_partner_test_connection",
        )
        return [test_connection, *super().get_urls()]

    def test_connection_view(self, request, partner_id):
        """测试连接: one signed check of a dummy hash to the active environment (never a push),
        audited with the operator as actor; the outcome shows on the change page. Whoever may
        change the partner may test it (csrf_protect comes with admin_view)."""
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        partner = Partner.objects.filter(pk=partner_id).first()
        if partner is None or not self.has_change_permission(request, partner):
            raise PermissionDenied
        report = run_connection_test(partner=partner, actor=request.user)
        self.message_user(request, report.text, messages.SUCCESS if report.ok else messages.ERROR)
        return redirect(reverse("admin:partners_partner_change", args=[partner.pk]))

    def change_view(self, request, object_id, form_url="", extra_context=None):
        extra = {"can_test_connection": self.has_change_permission(request)}
        return super().change_view(request, object_id, form_url, {**extra, **(extra_context or {})})

    @method_decorator(sensitive_post_parameters(*KEY_FIELDS))
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


# The audit log's own admin (partners/audit_admin.py).
admin.site.register(AuditLogEntry, AuditLogEntryAdmin)
