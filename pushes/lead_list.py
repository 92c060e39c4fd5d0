"""The lead list's view of where leads stand (pushes.lead_standing): its two columns (the newest
check outcome and push state, each a link to the row behind it), the changelist that loads them
for the page in two queries, and the filters by partner, check outcome, push state, import batch,
check job and created-date range. ``leads.admin.LeadAdmin`` wires them in.

Every filter here is a parameter filter: it offers the chosen value and a few recent ones, never
a choice list of every batch or job (useless at scale). They combine with each other and with
Django's select-across: an action on "all N matching" gets exactly the filtered queryset.

``partner`` chooses whose standing the list shows and scopes the check and push filters; it
narrows no rows itself (the list's count stays the same when only a partner is chosen).
"""

from django.contrib import admin
from django.contrib.admin.views.main import ChangeList
from django.urls import reverse
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from collision.models import CollisionResult
from core.admin import ChosenValueFilter, DateRangeFilter
from jobs.models import Job, JobKind
from leads.models import ImportBatch
from partners.models import Partner
from pushes.lead_standing import (
    CHECK_VERDICTS,
    PUSH_STANDINGS,
    leads_by_check,
    leads_by_push,
    leads_checked_in,
    standings,
)
from pushes.models import Push

PARTNER_PARAM, BATCH_PARAM, CHECK_JOB_PARAM = "partner", "batch", "check_job"
RECENT = 10  # recent batches and jobs offered by their filters


def chosen_id(request, name: str) -> int | None:
    """A filter's id parameter, or None if absent or not an id."""
    value = request.GET.get(name, "")
    return int(value) if value.isdigit() else None


def standing_partners(request) -> list:
    """The partners whose standing the list shows: the chosen one, or every active partner
    (each lead's column then shows a short line per partner). One query per request."""
    if not hasattr(request, "_standing_partners"):
        partner_id = chosen_id(request, PARTNER_PARAM)
        partners = Partner.objects.only("pk", "name", "is_active")
        if partner_id is not None:
            partners = partners.filter(pk=partner_id)
        else:
            partners = partners.filter(is_active=True).order_by("name", "pk")
        request._standing_partners = list(partners)
    return request._standing_partners


class StandingPartnerFilter(ChosenValueFilter):
    title = gettext_lazy("合作平台")
    parameter_name = PARTNER_PARAM

    def lookups(self, request, model_admin):
        partners = Partner.objects.only("pk", "name").order_by("name", "pk")
        chosen = chosen_id(request, PARTNER_PARAM)
        shown = partners.filter(is_active=True)
        if chosen is not None:
            shown = shown | partners.filter(pk=chosen)
        return [(str(p.pk), p.name) for p in shown]

    def queryset(self, request, queryset):
        chosen = chosen_id(request, PARTNER_PARAM)
        if self.value() is not None and (chosen is None or not standing_partners(request)):
            return queryset.none()  # not an id, or no such partner: nothing stands with it
        return queryset  # it chooses whose standing is shown, and scopes the filters below

    def choices(self, changelist):
        choices = super().choices(changelist)
        everyone = next(choices)  # Django's "All": here, every active partner, one line each
        yield {**everyone, "display": _("全部启用的平台（每个平台一行）")}
        yield from choices


class CheckVerdictFilter(admin.SimpleListFilter):
    """The newest check outcome with the chosen partner (or in the chosen check job); with no
    partner, each lead's best outcome across partners."""

    title = gettext_lazy("撞库结果")
    parameter_name = "check"

    def lookups(self, request, model_admin):
        return list(CHECK_VERDICTS.items())

    def queryset(self, request, queryset):
        if self.value() is None:
            return queryset
        return leads_by_check(
            queryset,
            self.value(),
            partner_id=chosen_id(request, PARTNER_PARAM),
            job_id=chosen_id(request, CHECK_JOB_PARAM),
        )


class PushStandingFilter(admin.SimpleListFilter):
    """The newest push to the chosen partner; with no partner, the best across partners."""

    title = gettext_lazy("推送状态")
    parameter_name = "push"

    def lookups(self, request, model_admin):
        return list(PUSH_STANDINGS.items())

    def queryset(self, request, queryset):
        if self.value() is None:
            return queryset
        return leads_by_push(queryset, self.value(), partner_id=chosen_id(request, PARTNER_PARAM))


class RecentObjectFilter(ChosenValueFilter):
    """``?<parameter>=<id>``: the chosen object by name and the newest few, never all of them."""

    def recent(self, request):
        raise NotImplementedError

    def lookups(self, request, model_admin):
        objects = self.recent(request)
        shown = list(objects[:RECENT])
        chosen = chosen_id(request, self.parameter_name)
        if chosen is not None and all(obj.pk != chosen for obj in shown):
            shown += list(objects.filter(pk=chosen))
        choices = [(str(obj.pk), str(obj)) for obj in shown]
        if self.value() is not None and all(value != self.value() for value, __ in choices):
            choices.append((self.value(), _("#%s（不存在）") % self.value()))
        return choices

    def queryset(self, request, queryset):
        if self.value() is None:
            return queryset
        chosen = chosen_id(request, self.parameter_name)
        return queryset.none() if chosen is None else self.narrow(queryset, chosen)

    def narrow(self, queryset, pk):
        raise NotImplementedError


class ImportBatchFilter(RecentObjectFilter):
    """The leads an import batch wrote (a lead belongs to the last batch that wrote it)."""

    title = gettext_lazy("导入批次")
    parameter_name = BATCH_PARAM

    def recent(self, request):
        return ImportBatch.objects.only("pk", "file_name").order_by("-created_at", "-pk")

    def narrow(self, queryset, pk):
        return queryset.filter(import_batch_id=pk)


BATCH_PARTS = {"new": gettext_lazy("本批次新增"), "updated": gettext_lazy("本批次更新")}


def batch_part(queryset, batch, part: str):
    """A batch's leads it created (after its upload) or updated (they existed before it)."""
    mine = queryset.filter(import_batch_id=batch.pk)
    if part == "new":
        return mine.filter(created_at__gte=batch.created_at)
    if part == "updated":
        return mine.filter(created_at__lt=batch.created_at)
    return queryset.none()


class BatchPartFilter(ChosenValueFilter):
    """With 导入批次: the leads it created, or those it updated (the batch page links both)."""

    title = gettext_lazy("新增或更新")
    parameter_name = "batch_part"

    def lookups(self, request, model_admin):
        return list(BATCH_PARTS.items()) if chosen_id(request, BATCH_PARAM) else []

    def queryset(self, request, queryset):
        if self.value() is None:
            return queryset
        batch = ImportBatch.objects.filter(pk=chosen_id(request, BATCH_PARAM) or 0).first()
        return batch_part(queryset, batch, self.value()) if batch else queryset.none()


class CheckJobFilter(RecentObjectFilter):
    """The leads a check job checked; with 撞库结果, their outcome in that job."""

    title = gettext_lazy("撞库任务")
    parameter_name = CHECK_JOB_PARAM

    def recent(self, request):
        return Job.objects.filter(kind=JobKind.CHECK).select_related("partner").order_by("-pk")

    def narrow(self, queryset, pk):
        return leads_checked_in(queryset, pk)


class CreatedRangeFilter(DateRangeFilter):
    """Created between two days, both included (local time), beside the presets of
    ``created_at``: two date inputs in a small GET form that keeps the other filters."""

    title = gettext_lazy("创建日期范围")
    field = "created_at"
    start_param, end_param = "created_from", "created_to"


# --- columns ----------------------------------------------------------------------------------


class StandingChangeList(ChangeList):
    """Loads the page's standings once the page is known: two queries for its rows, never a
    subquery in the list's query (its COUNT(*) over every lead would evaluate it)."""

    def get_results(self, request):
        super().get_results(request)
        leads = list(self.result_list)  # evaluated once: the page renders these same objects
        table = standings([lead.pk for lead in leads], standing_partners(request))
        for lead in leads:
            lead.standing = table[lead.pk]


def standing_columns(request, admin_site) -> list:
    """The check and push columns for this request's partners; a cell links to the result or
    push behind it only when the viewer may open it."""
    partners = standing_partners(request)
    single = chosen_id(request, PARTNER_PARAM) is not None
    links = {
        model: bool(
            (model_admin := admin_site._registry.get(model))
            and model_admin.has_view_permission(request)
        )
        for model in (CollisionResult, Push)
    }

    def cell(lead, part: str, model, empty: str):
        lines = []
        for entry in getattr(lead, "standing", []):
            found = getattr(entry, part)
            label = found.label if found else str(empty)
            if found and links[model]:
                info = model._meta.app_label, model._meta.model_name
                url = reverse("admin:{}_{}_change".format(*info), args=[found.pk])
                text = format_html('<a href="{}">{}</a>', url, label)
            else:
                text = format_html("{}", label)
            verdict = found.key if found else "none"
            partner = (
                ""
                if single
                else format_html('<span class="standing-partner">{}：</span>', entry.partner.name)
            )
            lines.append((verdict, partner, text))
        if not lines:
            return "-"
        # One block per partner (pushes/static/pushes/lead_list.css), its name first.
        return format_html_join("", '<span class="standing standing-{}">{}{}</span>', lines)

    def check_column(lead):
        return cell(lead, "check", CollisionResult, CHECK_VERDICTS["unchecked"])

    def push_column(lead):
        return cell(lead, "push", Push, PUSH_STANDINGS["none"])

    for column, label in ((check_column, _("撞库结果")), (push_column, _("推送状态"))):
        # The partner's name on a line of its own keeps the narrow columns narrow.
        named = single and partners
        column.short_description = (
            format_html("{}<br>（{}）", label, partners[0].name) if named else label
        )
    check_column.__name__, push_column.__name__ = "check_standing", "push_standing"
    return [check_column, push_column]
