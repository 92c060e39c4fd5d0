from dataclasses import asdict, dataclass
from urllib.parse import urlencode

from django.contrib import admin, messages
from django.db.models import Count
from django.http import Http404, HttpResponseNotAllowed, JsonResponse
from django.shortcuts import redirect
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django_tasks_db.models import DBTaskResult

from collision.models import (
    CheckOutcome,
    CheckSkip,
    CheckSkipReason,
    CollisionResult,
    UserStatusChoice,
)
from core.admin import ChosenValueFilter, ReadOnlyAdmin
from jobs.models import COUNTERS, Job, JobKind, JobState
from jobs.services import cancel_job
from leads.models import Lead
from pushes.lead_standing import leads_by_check
from pushes.models import Push, PushSkip, PushState, SkipReason

# The task queue's own rows are plumbing (English pages, args as JSON): a job's page says what
# a job is doing, and a stuck task is looked at from the shell.
admin.site.unregister(DBTaskResult)


class JobListFilter(ChosenValueFilter):
    """``?job=<id>``: the rows one job wrote (check results, pushes), as its page links to them.
    Offers the selected job and the newest few, never a choice list of every job."""

    title = gettext_lazy("任务")
    parameter_name = "job"
    kind: str = ""

    def lookups(self, request, model_admin):
        jobs = Job.objects.filter(kind=self.kind).select_related("partner")
        shown = list(jobs[:10])
        selected = self.value()
        if selected and selected.isdigit() and all(str(j.pk) != selected for j in shown):
            shown += list(jobs.filter(pk=selected))
        return [(str(job.pk), str(job)) for job in shown]

    def queryset(self, request, queryset):
        value = self.value()
        if value is None:
            return queryset
        if not value.isdigit():
            return queryset.none()
        return queryset.filter(job_id=int(value))


class CheckJobListFilter(JobListFilter):
    kind = JobKind.CHECK


class PushJobListFilter(JobListFilter):
    kind = JobKind.PUSH


def progress_bar(job: Job):
    return format_html(
        '<progress class="job-progress" max="{}" value="{}"></progress> {}%',
        job.total or 1,
        job.processed,
        job.percent,
    )


@admin.register(Job)
class JobAdmin(ReadOnlyAdmin):
    list_display = [
        "id",
        "kind",
        "partner",
        "state",
        "progress",
        "processed",
        "total",
        "outcome",
        "created_by",
        "created_at",
    ]
    list_filter = ["state", "kind", "partner", "created_at"]
    list_select_related = ["partner", "created_by"]
    actions = ["cancel_jobs"]
    change_form_template = "admin/jobs/job/change_form.html"
    # What changes while a job runs (state, progress, outcome, pause, error, start and end) lives
    # in the page's live block at the top, refreshed from progress_view: never as static fields
    # that go stale.
    fields = [
        "kind",
        "partner",
        "description",
        "created_by",
        "created_at",
    ]
    readonly_fields = fields

    @admin.display(description=gettext_lazy("进度"))
    def progress(self, job):
        return progress_bar(job)

    @admin.display(description=gettext_lazy("结果"))
    def outcome(self, job):
        return job_outcome_text(job)

    def get_urls(self):
        urls = [
            path(
                "<int:job_id>/progress/",
                self.admin_site.admin_view(self.progress_view),
                name="jobs_job_progress",
            ),
            path(
                "<int:job_id>/cancel/",
                self.admin_site.admin_view(self.cancel_view),
                name="jobs_job_cancel",
            ),
        ]
        return urls + super().get_urls()

    def progress_view(self, request, job_id):
        job = self._job(request, job_id)
        eta = eta_seconds(job)
        return JsonResponse(
            {
                "breakdown": [asdict(bucket) for bucket in job_breakdown(job)],
                "eta_seconds": eta,
                "eta_text": eta_text(eta),
                "times_text": times_text(job),
                "counted_text": _("已处理 %(processed)s / 共 %(total)s 条")
                % {"processed": job.processed, "total": job.total},
                "state": job.state,
                "state_label": job.get_state_display(),
                "total": job.total,
                "percent": job.percent,
                "final": job.is_final,
                "outcome": job_outcome_text(job),
                "pause_reason": job.pause_reason,
                "paused_until": job.paused_until.isoformat() if job.paused_until else None,
                "last_error": job.last_error,
                **{name: getattr(job, name) for name in COUNTERS},
            }
        )

    def cancel_view(self, request, job_id):
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        job = self._job(request, job_id)
        if not self.has_cancel_permission(request, job):
            raise Http404
        if cancel_job(job):
            self.message_user(request, _("已请求取消任务 #%s") % job.pk, messages.SUCCESS)
        else:
            self.message_user(request, _("任务 #%s 已结束，无法取消") % job.pk, messages.WARNING)
        return redirect(reverse("admin:jobs_job_change", args=[job.pk]))

    def _job(self, request, job_id) -> Job:
        job = Job.objects.filter(pk=job_id).select_related("partner").first()
        if job is None or not self.has_view_permission(request, job):
            raise Http404
        return job

    def has_cancel_permission(self, request, job=None):
        if job is not None and job.created_by_id == request.user.pk:
            return True
        return request.user.has_perm("jobs.cancel_job")

    def change_view(self, request, object_id, form_url="", extra_context=None):
        job = self.get_object(request, object_id)
        extra = {
            "can_cancel": job is not None
            and not job.is_final
            and self.has_cancel_permission(request, job),
            "progress_url": reverse("admin:jobs_job_progress", args=[object_id]),
            "cancel_url": reverse("admin:jobs_job_cancel", args=[object_id]),
            "breakdown": job_breakdown(job) if job is not None else [],
            "eta_text": eta_text(eta_seconds(job)) if job is not None else "",
            "times_text": times_text(job) if job is not None else "",
            "push_marketable": push_marketable_offer(request, job) if job is not None else None,
        }
        return super().change_view(request, object_id, form_url, {**(extra_context or {}), **extra})

    @admin.action(description=gettext_lazy("取消所选任务"), permissions=["cancel"])
    def cancel_jobs(self, request, queryset):
        cancelled = sum(
            cancel_job(job)
            for job in queryset.exclude(state__in=[JobState.FINISHED, JobState.CANCELLED])
        )
        self.message_user(request, _("已请求取消 %s 个任务") % cancelled, messages.SUCCESS)


def push_marketable_offer(request, job: Job) -> dict | None:
    """A finished check offers to push its marketable leads to its partner: the lead list's push
    action over "all matching ?check_job=N&check=marketable" (the list shows exactly ``count``
    rows), with the partner posted so the action opens on that partner's forecast."""
    if job.kind != JobKind.CHECK or job.state != JobState.FINISHED or job.partner_id is None:
        return None
    if not request.user.has_perm("leads.view_lead"):
        return None
    marketable = leads_by_check(Lead.objects.all(), "marketable", job_id=job.pk)
    count = marketable.count()
    if not count:
        return None
    query = {"check_job": job.pk, "check": "marketable", "partner": job.partner_id}
    return {
        "count": count,
        "list_url": f"{reverse('admin:leads_lead_changelist')}?{urlencode(query)}",
        "first": marketable.order_by("pk").values_list("pk", flat=True).first(),
        "partner": job.partner_id,
        "may_push": request.user.has_perm("leads.push_lead"),
    }


def job_outcome_text(job: Job) -> str:
    """The job's counters in one line that adds up to its total (for the job list)."""
    remaining = job.total - job.processed
    if job.kind == JobKind.CHECK:
        return _(
            "可营销 %(marketable)s · 不可营销 %(unmarketable)s · 失败 %(errors)s"
            " · 未撞库 %(skipped)s · 未处理 %(remaining)s（共 %(total)s）"
        ) % {
            "marketable": job.marketable,
            "unmarketable": job.processed - job.marketable - job.errors - job.skipped,
            "errors": job.errors,
            "skipped": job.skipped,
            "remaining": remaining,
            "total": job.total,
        }
    return _(
        "接收 %(accepted)s · 拒绝 %(rejected)s · 未知 %(unknown)s · 未送达 %(failed)s"
        " · 跳过 %(skipped)s · 未处理 %(remaining)s（共 %(total)s）"
    ) % {
        "accepted": job.accepted,
        "rejected": job.rejected,
        "unknown": job.unknown,
        "failed": job.failed,
        "skipped": job.skipped,
        "remaining": remaining,
        "total": job.total,
    }


@dataclass(frozen=True)
class Bucket:
    """One line of a job's breakdown; ``url`` lists exactly ``count`` rows ("" if none can)."""

    key: str
    label: str
    count: int
    url: str = ""


def job_breakdown(job: Job) -> list[Bucket]:
    """Where each of the job's ``total`` leads stands: the counts always add up to ``total``
    (the last bucket, not yet processed, takes the remainder). Counts of outcomes are read from
    the job's own result rows (one GROUP BY on the indexed job FK), so each matches the list its
    link opens, even after a reconciliation changed a push's state."""
    buckets = _check_buckets(job) if job.kind == JobKind.CHECK else _push_buckets(job)
    remaining = max(job.total - sum(bucket.count for bucket in buckets), 0)
    if remaining or not job.is_final:
        buckets.append(Bucket("remaining", _("尚未处理"), remaining))
    return buckets


def _list_url(name: str, job: Job, **params) -> str:
    return f"{reverse(name)}?{urlencode({'job': job.pk, **params})}"


def _check_buckets(job: Job) -> list[Bucket]:
    counts: dict[str, int] = {}
    rows = (
        CollisionResult.objects.filter(job=job)
        .values_list("outcome", "user_status", "is_marketable")
        .annotate(n=Count("id"))
        .order_by()
    )
    for outcome, user_status, is_marketable, n in rows:
        if outcome != CheckOutcome.ANSWERED:
            verdict = "failed"
        elif is_marketable:
            verdict = "marketable"
        else:
            verdict = f"status_{user_status}"
        counts[verdict] = counts.get(verdict, 0) + n
    url = "admin:collision_collisionresult_changelist"
    buckets = [Bucket("marketable", _("可营销"), counts.get("marketable", 0))]
    for status in UserStatusChoice:
        label = _("不可营销 · %s") % status.label
        if status == UserStatusChoice.NEW:
            label = _("不可营销 · %s（平台标记不可营销）") % status.label
        key = f"status_{status.value}"
        buckets.append(Bucket(key, label, counts.get(key, 0)))
    buckets.append(Bucket("failed", _("撞库失败"), counts.get("failed", 0)))
    buckets = [Bucket(b.key, b.label, b.count, _list_url(url, job, verdict=b.key)) for b in buckets]
    skips = dict(
        CheckSkip.objects.filter(job=job).values_list("reason").annotate(n=Count("id")).order_by()
    )
    skip_url = "admin:collision_checkskip_changelist"
    buckets += [
        Bucket(
            f"skipped_{reason}",
            _("未撞库 · %s") % reason.label,
            skips[reason],
            _list_url(skip_url, job, reason__exact=reason),
        )
        for reason in CheckSkipReason
        if skips.get(reason)
    ]
    # Leads deleted or erased after the job began count as processed, with nothing to check.
    gone = max(job.processed - sum(b.count for b in buckets), 0)
    if gone:
        buckets.append(Bucket("gone", _("未撞库（线索已删除或已擦除）"), gone))
    return buckets


def _push_buckets(job: Job) -> list[Bucket]:
    states = dict(
        Push.objects.filter(job=job).values_list("state").annotate(n=Count("id")).order_by()
    )
    url = "admin:pushes_push_changelist"
    buckets = [
        Bucket(state.value, state.label, states.get(state, 0), _list_url(url, job, state=state))
        for state in (PushState.ACCEPTED, PushState.REJECTED, PushState.UNKNOWN, PushState.FAILED)
    ]
    sending = states.get(PushState.PENDING, 0) + states.get(PushState.SENDING, 0)
    if sending:
        buckets.append(Bucket("sending", _("发送中"), sending))
    skips = dict(
        PushSkip.objects.filter(job=job).values_list("reason").annotate(n=Count("id")).order_by()
    )
    skip_url = "admin:pushes_pushskip_changelist"
    buckets += [
        Bucket(
            f"skipped_{reason}",
            _("未推送 · %s") % reason.label,
            skips[reason],
            _list_url(skip_url, job, reason__exact=reason),
        )
        for reason in SkipReason
        if skips.get(reason)
    ]
    # Leads deleted after the job began count as processed, with nothing pushed or skipped.
    gone = max(job.processed - sum(b.count for b in buckets), 0)
    if gone:
        buckets.append(Bucket("gone", _("未推送（线索已删除）"), gone))
    return buckets


def eta_seconds(job: Job) -> int | None:
    """Time left at the rate so far, while the job runs (None when it does not, or too early)."""
    if job.state != JobState.RUNNING or not job.started_at or not job.processed:
        return None
    elapsed = (timezone.now() - job.started_at).total_seconds()
    if elapsed <= 0:
        return None
    return round((job.total - job.processed) * elapsed / job.processed)


def eta_text(seconds: int | None) -> str:
    if seconds is None:
        return ""
    if seconds < 60:
        return _("预计不到 1 分钟完成")
    return _("预计还需约 %s 分钟") % round(seconds / 60)


def times_text(job: Job) -> str:
    def at(moment):
        return timezone.localtime(moment).strftime("%Y-%m-%d %H:%M:%S")

    parts = []
    if job.started_at:
        parts.append(_("开始于 %s") % at(job.started_at))
    if job.finished_at:
        parts.append(_("结束于 %s") % at(job.finished_at))
    return " · ".join(parts)
