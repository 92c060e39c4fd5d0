"""The audit log's screens: every call to a partner, as sent and as answered (masked).

An auditor reads them: times to the second (config/formats), a call's leads as a table (masked phone, the hash
prefix its request shows, what the partner answered about each), links only where the viewer may
go, a filter by operator, a search by a lead's phone, ID number or id, and an export of the
filtered list. The leads of a call are known to the apps above partners, and found, recorded and
exported through what they register in ``partners.audit_leads``."""

import json
from collections import Counter

from django.contrib import admin
from django.contrib.admin.options import IncorrectLookupParameters
from django.contrib.admin.views.main import ERROR_FLAG, SEARCH_VAR, ChangeList
from django.core.exceptions import ObjectDoesNotExist, PermissionDenied
from django.db.models import Q
from django.http import HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import NoReverseMatch, path, reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.http import content_disposition_header
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from core.admin import (
    BigTableMixin,
    ReadOnlyAdmin,
    date_range_filter,
    distinct_values,
    reveal_pii,
)
from partners import audit_export, audit_leads
from partners.models import AuditLogEntry

EXPORT_PERMISSION = "partners.export_auditlogentry"
EXPORT_FORMATS = {
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "csv": "text/csv; charset=utf-8",
}
NO_ACTOR_VALUE = "-"  # the operator filter's value for calls without one (command line, jobs)


class ActorFilter(admin.SimpleListFilter):
    """By the name kept with each row (accounts deleted since included), and the calls nobody
    signed in made (the command line, a job's worker without an actor)."""

    title = gettext_lazy("操作人")
    parameter_name = "actor"

    def lookups(self, request, model_admin):
        # Through the column's index (audit_actor_name), not a DISTINCT over every call.
        names = [name for name in distinct_values(AuditLogEntry, "actor_username") if name]
        return [(name, name) for name in names] + [(NO_ACTOR_VALUE, audit_export.NO_ACTOR)]

    def queryset(self, request, queryset):
        if self.value() == NO_ACTOR_VALUE:
            return queryset.filter(actor__isnull=True, actor_username="")
        if self.value():
            return queryset.filter(actor_username=self.value())
        return queryset


class AuditChangeList(ChangeList):
    """The list shows a call in one line: its request and response bodies (~60 KB for a batch
    check) are not read for it."""

    def get_queryset(self, request, exclude_parameters=None):
        queryset = super().get_queryset(request, exclude_parameters)
        return queryset.defer("request_headers", "request_body", "response_body")


class AuditLogEntryAdmin(BigTableMixin, ReadOnlyAdmin):
    list_display = [
        "created_at",  # to the second: config/formats
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
    list_filter = [
        "partner",
        "operation",
        "outcome",
        "environment",
        ActorFilter,
        "created_at",
        # Instead of a date drill-down, whose links were a DISTINCT over every call per view.
        date_range_filter("created_at", gettext_lazy("日期范围"), "created"),
    ]
    search_fields = ["url", "error", "response_body"]
    exact_search = False  # text within what was sent and answered (BigTableMixin)
    search_help_text = gettext_lazy(
        "输入完整手机号、身份证号或线索ID（如 #123），列出与该线索有关的调用；"
        "其他文字在 URL、错误与应答中查找。"
    )
    # The job column names its partner (Job.__str__): one join, not a query per row.
    list_select_related = ["partner", "actor", "job__partner"]
    # The call in a few lines, then its leads (the template puts them before the last fieldset),
    # then how it went over the wire, folded: a batch of 1000 leads stays readable.
    fieldsets = [
        (
            None,
            {
                "fields": [
                    "created_at",
                    "partner",
                    "operation",
                    "environment",
                    "actor_name",
                    "job",
                    "outcome",
                    "response_status",
                    "latency_ms",
                    "lead_count",
                    "error",
                ]
            },
        ),
        (
            gettext_lazy("请求与应答原文（打码）"),
            {
                "classes": ["collapse"],
                "fields": [
                    "method",
                    "url",
                    "pretty_request_headers",
                    "pretty_request_body",
                    "pretty_response_body",
                    "chain_hash",
                ],
            },
        ),
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

    def get_changelist(self, request, **kwargs):
        return AuditChangeList

    def get_search_fields(self, request):
        """A term without letters that have a case (Chinese, digits) is looked for as it is:
        the same rows as Django's case-insensitive search, without upper-casing every stored
        body on each search (3.5x faster over 295k calls' bodies)."""
        fields = super().get_search_fields(request)
        term = request.GET.get(SEARCH_VAR, "")
        if term and term.lower() == term.upper():
            return [f"{name}__contains" for name in fields]
        return fields

    # -- search: a lead's phone, ID number (blind index) or id --------------------------------

    def get_search_results(self, request, queryset, search_term):
        """A term that names a lead finds the calls about that lead, and only those (a lead id
        is a number that the bodies' text would match everywhere); any other term is text."""
        lead_ids = audit_leads.lead_book().lead_ids_matching(search_term) if search_term else None
        if lead_ids is None:
            return super().get_search_results(request, queryset, search_term)
        about = Q(pk__in=[])
        for entry_ids in audit_leads.entry_ids_about(lead_ids):
            about |= Q(pk__in=entry_ids)
        return queryset.filter(about), False

    # -- the detail page: the call's leads ----------------------------------------------------

    def change_view(self, request, object_id, form_url="", extra_context=None):
        entry = self.get_object(request, object_id)
        context = dict(extra_context or {})
        if entry is not None and self.has_view_or_change_permission(request, entry):
            context.update(self._leads_context(request, entry))
        return super().change_view(request, object_id, form_url, context)

    def _leads_context(self, request, entry) -> dict:
        reveal = reveal_pii(request)
        leads = audit_leads.leads_of([entry.pk], reveal=reveal)
        lead_url = self._lead_url_maker(request)
        rows = [(lead, lead_url(lead.lead_id) if lead_url else "") for lead in leads]
        if reveal and leads:
            audit_leads.lead_book().record_sight(
                actor=request.user,
                lead_ids=[lead.lead_id for lead in leads],
                page=request.path,
            )
        answers = Counter(lead.answer for lead in leads)
        return {
            "audited_leads": rows,
            "audited_lead_count": len(leads),
            "audited_answers": answers.most_common(),
            "leads_revealed": reveal,
        }

    def _lead_url_maker(self, request):
        """The lead page's URL for a lead id, or ``None`` when the viewer may not open lead pages
        (then the table shows ids without links: no link leads to a 403)."""
        lead_admin = next(
            (
                model_admin
                for model, model_admin in self.admin_site._registry.items()
                if model._meta.label_lower == "leads.lead"
            ),
            None,
        )
        if lead_admin is None or not lead_admin.has_view_or_change_permission(request):
            return None
        try:
            pattern = reverse(f"{self.admin_site.name}:leads_lead_change", args=[0])
        except NoReverseMatch:
            return None
        head, _zero, tail = pattern.rpartition("/0/")
        return lambda lead_id: f"{head}/{lead_id}/{tail}"

    # -- the export of the filtered list ------------------------------------------------------

    def has_export_permission(self, request) -> bool:
        return request.user.has_perm(EXPORT_PERMISSION)

    def get_urls(self):
        export = path(
            "export/",
            self.admin_site.admin_view(self.export_view),
            name=f"{self.opts.app_label}_{self.opts.model_name}_export",
        )
        return [export, *super().get_urls()]

    def changelist_view(self, request, extra_context=None):
        context = dict(extra_context or {})
        if self.has_export_permission(request):
            query = request.GET.urlencode()
            url = reverse(f"{self.admin_site.name}:partners_auditlogentry_export")
            context["export_url"] = f"{url}?{query}" if query else url
        return super().changelist_view(request, context)

    def export_view(self, request):
        if not (self.has_view_permission(request) and self.has_export_permission(request)):
            raise PermissionDenied
        try:
            queryset = self.get_changelist_instance(request).get_queryset(request)
        except IncorrectLookupParameters:  # a hand-made filter: as the changelist answers it
            changelist = reverse(f"{self.admin_site.name}:partners_auditlogentry_changelist")
            return HttpResponseRedirect(f"{changelist}?{ERROR_FLAG}=1")
        file_format = request.POST.get("file_format", "")
        if request.method == "POST" and file_format in EXPORT_FORMATS:
            content = audit_leads.lead_book().write_export(
                actor=request.user,
                title=str(self.opts.verbose_name_plural),
                headers=audit_export.headers(),
                rows=audit_export.rows(queryset),
                file_format=file_format,
                query=request.GET,
            )
            stamp = timezone.localtime().strftime("%Y%m%d-%H%M%S")
            response = HttpResponse(content, content_type=EXPORT_FORMATS[file_format])
            response["Content-Disposition"] = content_disposition_header(
                True, f"{_('审计日志')}-{stamp}.{file_format}"
            )
            return response
        changelist = reverse(f"{self.admin_site.name}:partners_auditlogentry_changelist")
        query = request.GET.urlencode()
        context = {
            **self.admin_site.each_context(request),
            "title": _("导出审计日志"),
            "opts": self.opts,
            "count": queryset.count(),
            "changelist_url": f"{changelist}?{query}" if query else changelist,
        }
        return TemplateResponse(request, "admin/partners/auditlogentry/export.html", context)


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
