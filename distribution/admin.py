"""分发方案 and 分发任务 in the admin, the lead list's 按分发方案分发 action, and the lead list's
filters by run (where each lead of a run went)."""

from urllib.parse import urlencode

from django import forms
from django.contrib import admin, messages
from django.db.models import Exists
from django.http import Http404, HttpResponseNotAllowed
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from core.admin import ChosenValueFilter, ReadOnlyAdmin
from core.errors import LeadDeskError
from distribution.models import Mode, Plan, Run, RunJob, RunLead
from distribution.services import (
    cancel_run,
    held_in,
    placement,
    sold_in,
    start_run,
    step_jobs,
)
from jobs.admin import job_outcome_text, progress_bar
from jobs.services import describe_selection


def waterfall_text(partners) -> str:
    """The order an exclusive plan offers a lead in: priority, then price; equals share by
    weight."""
    ordered = sorted(partners, key=lambda p: (p.priority, p.price_per_push), reverse=True)
    return " → ".join(
        _("%(name)s（优先级 %(priority)s · ¥%(price)s · 权重 %(weight)s）")
        % {
            "name": p.name,
            "priority": p.priority,
            "price": p.price_per_push,
            "weight": p.weight,
        }
        for p in ordered
    )


class PlanForm(forms.ModelForm):
    class Meta:
        model = Plan
        fields = ["name", "mode", "partners", "run_on_import", "is_active"]
        widgets = {"partners": forms.CheckboxSelectMultiple, "mode": forms.RadioSelect}

    def clean(self):
        cleaned = super().clean()
        partners = cleaned.get("partners") or []
        if cleaned.get("mode") == Mode.MULTI:
            exclusive = [p.name for p in partners if p.exclusive_only]
            if exclusive:
                self.add_error(
                    "partners",
                    _("%(names)s 只买独家线索，不能用于多家分发") % {"names": "、".join(exclusive)},
                )
        return cleaned


@admin.register(Plan)
class PlanAdmin(admin.ModelAdmin):
    form = PlanForm
    list_display = ["name", "mode", "partner_order", "run_on_import", "is_active", "runs"]
    list_filter = ["mode", "is_active", "run_on_import"]
    readonly_fields = ["partner_order"]

    def get_fields(self, request, obj=None):
        fields = ["name", "mode", "partners", "run_on_import", "is_active"]
        return [*fields, "partner_order"] if obj else fields

    @admin.display(description=gettext_lazy("尝试顺序（独家）"))
    def partner_order(self, plan):
        return waterfall_text(plan.partners.all())

    @admin.display(description=gettext_lazy("分发任务"))
    def runs(self, plan):
        count = plan.runs.count()
        if not count:
            return "0"
        url = reverse("admin:distribution_run_changelist")
        return format_html('<a href="{}?plan__id__exact={}">{}</a>', url, plan.pk, count)


@admin.register(Run)
class RunAdmin(ReadOnlyAdmin):
    list_display = [
        "id",
        "plan",
        "state",
        "step_text",
        "progress",
        "total",
        "created_by",
        "created_at",
    ]
    list_filter = ["state", "plan", "created_at"]
    list_select_related = ["plan", "created_by"]
    change_form_template = "admin/distribution/run/change_form.html"
    fields = ["plan", "mode", "description", "import_batch", "created_by", "created_at"]
    readonly_fields = fields

    @admin.display(description=gettext_lazy("步骤"))
    def step_text(self, run):
        return run.step_label

    @admin.display(description=gettext_lazy("本步骤进度"))
    def progress(self, run):
        return step_progress(run)["bar"]

    def get_urls(self):
        view = self.admin_site.admin_view
        return [
            path("<int:run_id>/live/", view(self.live_view), name="distribution_run_live"),
            path("<int:run_id>/cancel/", view(self.cancel_view), name="distribution_run_cancel"),
        ] + super().get_urls()

    def _run(self, request, run_id) -> Run:
        run = Run.objects.filter(pk=run_id).select_related("plan").first()
        if run is None or not self.has_view_permission(request, run):
            raise Http404
        return run

    def has_cancel_permission(self, request, run) -> bool:
        return run.created_by_id == request.user.pk or request.user.has_perm("jobs.cancel_job")

    def live_context(self, request, run: Run) -> dict:
        return {
            "run": run,
            "progress": step_progress(run),
            "steps": run_steps(run),
            "placement": placement_rows(request, run),
            "can_cancel": not run.is_final and self.has_cancel_permission(request, run),
        }

    def live_view(self, request, run_id):
        run = self._run(request, run_id)
        return TemplateResponse(
            request, "admin/distribution/run/live.html", self.live_context(request, run)
        )

    def cancel_view(self, request, run_id):
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        run = self._run(request, run_id)
        if not self.has_cancel_permission(request, run):
            raise Http404
        cancel_run(run)
        self.message_user(request, _("已请求取消分发任务 #%s") % run.pk, messages.SUCCESS)
        return redirect(reverse("admin:distribution_run_change", args=[run.pk]))

    def change_view(self, request, object_id, form_url="", extra_context=None):
        run = self._run(request, object_id)
        extra = {
            **self.live_context(request, run),
            "live_url": reverse("admin:distribution_run_live", args=[run.pk]),
            "cancel_url": reverse("admin:distribution_run_cancel", args=[run.pk]),
        }
        return super().change_view(request, object_id, form_url, {**(extra_context or {}), **extra})


def step_progress(run: Run) -> dict:
    jobs = step_jobs(run) if run.step_planned else []
    total = sum(job.total for job in jobs)
    processed = sum(job.processed for job in jobs)
    percent = round(100 * processed / total) if total else (100 if run.is_final else 0)
    bar = format_html(
        '<progress class="job-progress" max="{}" value="{}"></progress> {}%',
        total or 1,
        processed if total else int(run.is_final),
        percent,
    )
    return {"total": total, "processed": processed, "percent": percent, "bar": bar}


def run_steps(run: Run) -> list[dict]:
    rows = []
    for run_job in RunJob.objects.filter(run=run).select_related("job__partner"):
        job = run_job.job
        rows.append(
            {
                "step": _("撞库") if run_job.step == 0 else _("第 %s 轮推送") % run_job.step,
                "job": job,
                "url": reverse("admin:jobs_job_change", args=[job.pk]),
                "bar": progress_bar(job),
                "outcome": job_outcome_text(job),
            }
        )
    return rows


def placement_rows(request, run: Run) -> dict:
    """Where the run's leads went, each count linked to the lead list showing exactly them."""
    outcome = placement(run)
    may_list = request.user.has_perm("leads.view_lead")

    def url(**params):
        if not may_list:
            return ""
        query = urlencode({"run": run.pk, **params})
        return f"{reverse('admin:leads_lead_changelist')}?{query}"

    return {
        **outcome,
        "per_partner": [
            {**row, "url": url(run_outcome=f"sold_{row['partner_id']}")}
            for row in outcome["per_partner"]
        ],
        "all_url": url(),
        "sold_url": url(run_outcome="sold"),
        "held_url": url(run_outcome="held"),
        "unplaced_url": url(run_outcome="unplaced"),
    }


# -- the lead list: runs' leads, and the action ------------------------------------------------


class RunFilter(ChosenValueFilter):
    """``?run=<id>``: the leads of one distribution run (its page links here)."""

    title = gettext_lazy("分发任务")
    parameter_name = "run"

    def lookups(self, request, model_admin):
        shown = list(Run.objects.select_related("plan")[:10])
        selected = self.value()
        if selected and selected.isdigit() and all(str(r.pk) != selected for r in shown):
            shown += list(Run.objects.filter(pk=selected).select_related("plan"))
        return [(str(run.pk), str(run)) for run in shown]

    def queryset(self, request, queryset):
        value = self.value()
        if value is None:
            return queryset
        if not value.isdigit():
            return queryset.none()
        return queryset.filter(pk__in=RunLead.objects.filter(run_id=int(value)).values("lead"))


class RunOutcomeFilter(admin.SimpleListFilter):
    """``?run=<id>&run_outcome=sold|sold_<partner>|held|unplaced``: where the run's leads went."""

    title = gettext_lazy("分发去向")
    parameter_name = "run_outcome"

    def _run(self, request) -> Run | None:
        value = request.GET.get(RunFilter.parameter_name, "")
        return Run.objects.filter(pk=value).first() if value.isdigit() else None

    def has_output(self):
        return True

    def lookups(self, request, model_admin):
        run = self._run(request)
        if run is None:
            return []
        choices = [("sold", _("已售出")), ("held", _("结果未知或在途")), ("unplaced", _("未分发"))]
        for row in placement(run)["per_partner"]:
            choices.append((f"sold_{row['partner_id']}", _("售给 %s") % row["partner__name"]))
        return choices

    def queryset(self, request, queryset):
        value = self.value()
        if value is None:
            return queryset
        run = self._run(request)
        if run is None:
            return queryset.none()
        if value == "sold":
            return queryset.filter(Exists(sold_in(run)))
        if value == "held":
            return queryset.filter(Exists(held_in(run))).exclude(Exists(sold_in(run)))
        if value == "unplaced":
            return queryset.exclude(Exists(sold_in(run))).exclude(Exists(held_in(run)))
        partner_id = value.removeprefix("sold_")
        if partner_id.isdigit():
            return queryset.filter(Exists(sold_in(run, int(partner_id))))
        return queryset.none()


class ChoosePlanForm(forms.Form):
    plan = forms.ModelChoiceField(
        label=gettext_lazy("分发方案"),
        queryset=Plan.objects.filter(is_active=True).prefetch_related("partners"),
        widget=forms.RadioSelect,
        empty_label=None,
        error_messages={"required": gettext_lazy("请选择分发方案")},
    )


class DistributeActionMixin:
    """The lead list's 按分发方案分发: choose a plan, then one run over the selection."""

    def has_distribute_permission(self, request):
        return request.user.has_perm("distribution.run_plan")

    @admin.action(description=gettext_lazy("按分发方案分发"), permissions=["distribute"])
    def distribute_by_plan(self, request, queryset):
        form = ChoosePlanForm(request.POST if "apply" in request.POST else None)
        select_across = request.POST.get("select_across") == "1"
        if form.is_bound and form.is_valid():
            plan = form.cleaned_data["plan"]
            count = queryset.not_erased().count()
            try:
                run = start_run(
                    plan=plan,
                    leads=queryset,
                    actor=request.user,
                    description=describe_selection(count, select_across=select_across),
                )
            except LeadDeskError as exc:
                self.message_user(request, str(exc), messages.ERROR)
                return None
            url = reverse("admin:distribution_run_change", args=[run.pk])
            self.message_user(
                request,
                format_html(
                    _('已开始分发任务 <a href="{}">#{}</a>（{}，{} 条线索），进度见任务页。'),
                    url,
                    run.pk,
                    plan.name,
                    run.total,
                ),
                messages.SUCCESS,
            )
            return redirect(url)
        plans = [
            {
                "plan": plan,
                "order": waterfall_text(plan.partners.all()),
                "partners": "、".join(p.name for p in plan.partners.all()),
            }
            for plan in form.fields["plan"].queryset
        ]
        context = {
            **self.admin_site.each_context(request),
            "title": _("按分发方案分发：选择方案"),
            "opts": self.model._meta,
            "form": form,
            "plans": plans,
            "count": queryset.count(),
            "erased": queryset.filter(erased_at__isnull=False).count(),
            "select_across": select_across,
            "selected": request.POST.getlist(admin.helpers.ACTION_CHECKBOX_NAME),
            "plans_url": reverse("admin:distribution_plan_changelist"),
            "may_add_plan": request.user.has_perm("distribution.add_plan"),
        }
        return TemplateResponse(request, "admin/distribution/choose_plan.html", context)
