from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.db import transaction
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from collision.services import check_leads
from core.admin import BigTableMixin, IndexedValuesFilter, ReadOnlyAdmin, reveal_pii
from distribution.admin import DistributeActionMixin, RunFilter, RunOutcomeFilter
from jobs.models import JobKind
from jobs.services import create_job, describe_selection
from leads import erasure
from leads.admin_pii import BlindIndexSearchMixin, PersonalDataPagesMixin, pii_column
from leads.do_not_contact_admin import (
    DoNotContactAdmin,
    DoNotContactRemovalAdmin,
    LeadDoNotContactMixin,
)
from leads.exports.admin import ExportRecordAdmin, LeadExportMixin
from leads.fields import LEAD_FIELDS
from leads.forms import ChoosePartnerForm, LeadForm
from leads.imports.admin import ImportBatchAdmin, LeadImportMixin
from leads.models import (
    DoNotContact,
    DoNotContactRemoval,
    ExportRecord,
    ImportBatch,
    Lead,
    PersonalDataAccess,
)
from leads.selectors import lead_timeline
from partners.calls import PartnerUnavailable
from pushes.lead_list import (
    BatchPartFilter,
    CheckJobFilter,
    CheckVerdictFilter,
    CreatedRangeFilter,
    ImportBatchFilter,
    PushStandingFilter,
    StandingChangeList,
    StandingPartnerFilter,
    standing_columns,
)
from pushes.planning import skips_text
from pushes.services import forecast_push, push_leads

ACTION_JOB_KINDS = {"collision_check": JobKind.CHECK, "push_to_partner": JobKind.PUSH}
# The lead's fields as declared in leads.fields: personal ones shown through pii_column (masked
# unless revealed), plain ones as model fields.
PII_FIELDS = [(f.name, f.mask, f.label) for f in LEAD_FIELDS if f.is_sealed]
PLAIN_FIELDS = [f.name for f in LEAD_FIELDS if not f.is_sealed] + ["source", "created_at"]


def value_filter(name: str):
    """A plain lead field's filter: Django's for a field with choices or yes/no (no query), and
    for free text (source, province) its values through the column's index, not a DISTINCT
    over every lead on each view."""
    field = Lead._meta.get_field(name)
    if field.choices or field.get_internal_type() == "BooleanField":
        return name
    return (name, IndexedValuesFilter)


class ErasureForm(forms.Form):
    reason = forms.CharField(
        label=gettext_lazy("申请说明"),
        max_length=1000,
        widget=forms.Textarea(attrs={"rows": 3, "cols": 60}),
        help_text=gettext_lazy("例如：本人来电申请删除，工单号 …（记入个人信息查看记录）"),
    )


@admin.register(Lead)
class LeadAdmin(
    DistributeActionMixin,
    LeadDoNotContactMixin,
    LeadImportMixin,
    LeadExportMixin,
    PersonalDataPagesMixin,
    BlindIndexSearchMixin,
    BigTableMixin,
    admin.ModelAdmin,
):
    form = LeadForm
    # Where leads stand (pushes.lead_list): the partner chosen scopes the columns and the check
    # and push filters; batch and job are id parameters (the batch and job pages link to them).
    list_filter = [
        StandingPartnerFilter,
        CheckVerdictFilter,
        PushStandingFilter,
        ImportBatchFilter,
        BatchPartFilter,
        CheckJobFilter,
        value_filter("source"),
        *(value_filter(f.name) for f in LEAD_FIELDS if f.filtered),
        "created_at",
        CreatedRangeFilter,
        RunFilter,
        RunOutcomeFilter,
    ]
    search_fields = ["source"]  # the whole name (BigTableMixin)
    search_help_text = gettext_lazy("输入完整手机号或身份证号查找线索，或输入完整的来源名称")
    list_per_page = 50
    actions = ["collision_check", "push_to_partner", "distribute_by_plan", "erase_personal_data"]
    change_form_template = "admin/leads/lead/change_form.html"

    def get_list_display(self, request):
        reveal = reveal_pii(request)
        columns = [
            pii_column(f.name, f.mask, reveal=reveal, label=f.label) if f.is_sealed else f.name
            for f in LEAD_FIELDS
            if f.listed
        ]
        standing = standing_columns(request, self.admin_site)
        return ["id", *columns, *standing, "source", "created_at"]

    def get_changelist(self, request, **kwargs):
        return StandingChangeList  # loads the standing columns for the page's rows at once

    def get_list_display_links(self, request, list_display):
        return ["id"]

    def get_fields(self, request, obj=None):
        if obj is None:
            return super().get_fields(request, obj)
        return self.get_readonly_fields(request, obj)

    def get_readonly_fields(self, request, obj=None):
        if obj is None:
            return []
        reveal = reveal_pii(request)
        return [
            pii_column(name, masker, reveal=reveal, label=label)
            for name, masker, label in PII_FIELDS
        ] + PLAIN_FIELDS

    def has_change_permission(self, request, obj=None):
        return False  # leads are corrected by re-importing them, not edited by hand

    def has_delete_permission(self, request, obj=None):
        return False  # its checks and pushes are the business's record; erasure removes the person

    def has_check_permission(self, request):
        return request.user.has_perm("leads.check_lead")

    def has_push_permission(self, request):
        return request.user.has_perm("leads.push_lead")

    def has_erase_permission(self, request):
        return request.user.has_perm(erasure.ERASE_PERMISSION)

    def save_model(self, request, obj, form, change):
        if not change:
            obj.created_by = request.user
        super().save_model(request, obj, form, change)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        lead = self.get_object(request, object_id)
        timeline = lead_timeline(lead, reveal=reveal_pii(request)) if lead else []
        extra_context = {**(extra_context or {}), "timeline": timeline}
        return super().change_view(request, object_id, form_url, extra_context)

    @admin.action(description=gettext_lazy("撞库（选择合作平台）"), permissions=["check"])
    def collision_check(self, request, queryset):
        return self._with_partner(request, queryset, "collision_check", _("撞库"), self._run_check)

    @admin.action(description=gettext_lazy("推送到合作平台"), permissions=["push"])
    def push_to_partner(self, request, queryset):
        return self._with_partner(request, queryset, "push_to_partner", _("推送"), self._run_push)

    @admin.action(description=gettext_lazy("删除个人信息（依申请）"), permissions=["erase"])
    def erase_personal_data(self, request, queryset):
        """Django's intermediate-page pattern: the first POST shows whose personal data goes
        (masked) and asks why; the second erases (leads.erasure)."""
        try:
            people = erasure.people_of(queryset)
        except erasure.ErasureRefused as exc:
            self.message_user(request, str(exc), messages.ERROR)
            return None
        if not people:
            self.message_user(request, _("所选线索的个人信息都已删除。"), messages.INFO)
            return None
        form = ErasureForm(request.POST if "apply" in request.POST else None)
        if form.is_bound and form.is_valid():
            try:
                erasure.erase(
                    people,
                    actor=request.user,
                    reason=form.cleaned_data["reason"],
                    page=request.path,
                )
            except erasure.ErasureRefused as exc:
                self.message_user(request, str(exc), messages.ERROR)
                return None
            self.message_user(
                request,
                _(
                    "已删除 %(count)s 条线索的个人信息（%(leads)s）。撞库结果、推送记录和审计日志保留，"
                    "标识已打码；本次删除已记入个人信息查看记录。"
                )
                % {
                    "count": len(people),
                    "leads": "、".join(f"#{person.lead.pk}" for person in people),
                },
                messages.SUCCESS,
            )
            return None
        context = {
            **self.admin_site.each_context(request),
            "title": _("删除个人信息（依申请）"),
            "opts": self.model._meta,
            "form": form,
            "people": people,
            "count": len(people),
            "skipped": queryset.count() - len(people),
            "select_across": request.POST.get("select_across") == "1",
            "selected": request.POST.getlist(admin.helpers.ACTION_CHECKBOX_NAME),
        }
        return TemplateResponse(request, "admin/leads/lead/confirm_erase.html", context)

    def _with_partner(self, request, queryset, action, verb, run):
        """Django's intermediate-page pattern: the first POST shows the page, the last acts. A
        push has a page in between, its forecast: for the partner chosen (or named by the page
        that sent the operator here), how many will go out and how many will not, and why."""
        pushing = action == "push_to_partner"
        chose = "apply" in request.POST or (
            pushing and "partner" in request.POST and "choose_again" not in request.POST
        )
        form = ChoosePartnerForm(request.POST if chose else None, pushing=pushing)
        if form.is_bound and form.is_valid() and pushing and "apply" not in request.POST:
            partner = form.cleaned_data["partner"]
            forecast = forecast_push(partner=partner, leads=queryset)
            return self._choose_partner_page(request, queryset, action, verb, form, forecast)
        if form.is_bound and form.is_valid():
            partner = form.cleaned_data["partner"]
            if erased := queryset.filter(erased_at__isnull=False).count():
                self.message_user(
                    request,
                    _("已跳过 %(count)s 条线索：其个人信息已依申请删除，不再撞库或推送。")
                    % {"count": erased},
                    messages.WARNING,
                )
                queryset = queryset.not_erased()
                if not queryset.exists():
                    return None
            try:
                if queryset.count() > settings.JOB_INLINE_LIMIT:
                    return self._start_job(
                        request, partner, queryset, kind=ACTION_JOB_KINDS[action]
                    )
                run(request, partner, queryset)
            except PartnerUnavailable as exc:
                self.message_user(request, str(exc), messages.ERROR)
            return None
        return self._choose_partner_page(request, queryset, action, verb, form)

    def _choose_partner_page(self, request, queryset, action, verb, form, forecast=None):
        title = _("%(verb)s：选择合作平台") if forecast is None else _("%(verb)s：确认推送预估")
        context = {
            **self.admin_site.each_context(request),
            "title": title % {"verb": verb},
            "opts": self.model._meta,
            "form": form,
            "action": action,
            "verb": verb,
            "count": queryset.count(),
            "select_across": request.POST.get("select_across") == "1",
            "selected": request.POST.getlist(admin.helpers.ACTION_CHECKBOX_NAME),
            "partners": form.fields["partner"].queryset,
            "forecast": forecast,
            "next_step": "apply" if action != "push_to_partner" else "forecast",
        }
        return TemplateResponse(request, "admin/leads/lead/choose_partner.html", context)

    def _start_job(self, request, partner, queryset, *, kind):
        """Big selections (possibly a whole filtered table) become a background job. The
        queryset goes to the job as it is: its ids are read a batch at a time from a cursor,
        never held here whole (a million of them took 130-150 MB that stayed)."""
        select_across = request.POST.get("select_across") == "1"
        with transaction.atomic():  # the description counts what the job holds, written with it
            job = create_job(kind=kind, partner=partner, lead_ids=queryset, actor=request.user)
            job.description = describe_selection(job.total, select_across=select_across)
            job.save(update_fields=["description"])
        url = reverse("admin:jobs_job_change", args=[job.pk])
        self.message_user(
            request,
            format_html(
                _('已创建后台任务 <a href="{}">#{}</a>（{} 条线索），进度见任务页。'),
                url,
                job.pk,
                job.total,
            ),
            messages.SUCCESS,
        )
        return redirect(url)

    def _run_check(self, request, partner, queryset):
        summary = check_leads(partner=partner, leads=queryset.order_by("pk"), actor=request.user)
        level = messages.SUCCESS if not summary.errors else messages.WARNING
        text = _(
            "撞库完成（%(partner)s）：已检查 %(checked)s 条，可营销 %(marketable)s 条，失败 %(failed)s 条，共 %(requests)s 次请求。"
        ) % {
            "partner": partner,
            "checked": summary.checked,
            "marketable": summary.marketable,
            "failed": summary.failed,
            "requests": summary.requests,
        }
        if summary.errors:
            text += " " + _("合作平台错误：%s") % "；".join(summary.errors)
        self.message_user(request, text, level)

    def _run_push(self, request, partner, queryset):
        summary = push_leads(partner=partner, leads=queryset, actor=request.user)
        text = _(
            "推送完成（%(partner)s）：共 %(selected)s 条，发出 %(sent)s 条（接收 %(accepted)s，"
            "拒绝 %(rejected)s，结果未知 %(unknown)s，未送达 %(failed)s），未推送 %(skipped)s 条。"
        ) % {
            "partner": partner,
            "selected": summary.selected,
            "sent": summary.sent,
            "accepted": summary.accepted,
            "rejected": summary.rejected,
            "unknown": summary.unknown,
            "failed": summary.failed,
            "skipped": summary.skipped.total(),
        }
        if summary.skipped:
            text += " " + _("未推送原因：%(reasons)s（见“未推送及原因”）") % {
                "reasons": skips_text(summary.skipped)
            }
        if summary.errors:
            text += " " + _("合作平台信息：%s") % "；".join(summary.errors[:5])
        problems = summary.rejected or summary.unknown or summary.failed
        self.message_user(request, text, messages.WARNING if problems else messages.SUCCESS)


# The import pipeline's and the exports' own admins (leads/imports/admin.py, leads/exports/admin.py).
admin.site.register(ImportBatch, ImportBatchAdmin)
admin.site.register(ExportRecord, ExportRecordAdmin)
# The do-not-contact list and its removal record (leads/do_not_contact_admin.py).
admin.site.register(DoNotContact, DoNotContactAdmin)
admin.site.register(DoNotContactRemoval, DoNotContactRemovalAdmin)


@admin.register(PersonalDataAccess)
class PersonalDataAccessAdmin(ReadOnlyAdmin):
    """The personal-data access log, for auditors and administrators: read, never changed."""

    list_display = [
        "created_at",
        "actor_username",
        "kind",
        "leads",
        "row_count",
        "permission",
        "granted_via",
        "export",
    ]
    list_filter = ["kind", "permission", "created_at"]
    search_fields = ["actor_username"]
    search_help_text = gettext_lazy("输入用户名，或一个线索ID（查看谁看过这条线索）")
    date_hierarchy = "created_at"
    list_select_related = ["export_record"]
    # Not the actor's key: its account may be gone (the key is kept as it was, not followed).
    fields = [
        "created_at",
        "actor_username",
        "actor_account",
        "kind",
        "page",
        "leads",
        "row_count",
        "export",
        "criteria",
        "permission",
        "granted_via",
        "note",
    ]
    readonly_fields = fields

    def get_search_results(self, request, queryset, search_term):
        term = search_term.strip()
        if term.isdigit():
            by_lead = queryset.filter(lead_ids__contains=f",{int(term)},")
            return by_lead | queryset.filter(actor_username=term), False
        return super().get_search_results(request, queryset, search_term)

    @admin.display(description=gettext_lazy("操作人账号ID"))
    def actor_account(self, entry):
        return entry.actor_id or "-"

    @admin.display(description=gettext_lazy("线索"))
    def leads(self, entry):
        ids = entry.lead_id_list
        links = format_html_join(
            " ",
            '<a href="{}">#{}</a>',
            ((reverse("admin:leads_lead_change", args=[pk]), pk) for pk in ids[:LINKED_IDS]),
        )
        if len(ids) > LINKED_IDS:
            return format_html("{} …", links)
        return links or "-"

    @admin.display(description=gettext_lazy("导出记录"))
    def export(self, entry):
        if entry.export_record_id is None:
            return "-"
        url = reverse("admin:leads_exportrecord_change", args=[entry.export_record_id])
        return format_html('<a href="{}">{}</a>', url, entry.export_record)


LINKED_IDS = 10  # lead ids linked in a row of the access log; the row keeps every id
