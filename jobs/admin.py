from django.contrib import admin, messages
from django.http import Http404, HttpResponseNotAllowed, JsonResponse
from django.shortcuts import redirect
from django.urls import path, reverse
from django.utils.html import format_html
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django_tasks_db.models import DBTaskResult

from core.admin import ReadOnlyAdmin
from jobs.models import COUNTERS, Job, JobState
from jobs.services import cancel_job

# The task queue's own rows are plumbing (English pages, args as JSON): a job's page says what
# a job is doing, and a stuck task is looked at from the shell.
admin.site.unregister(DBTaskResult)


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
    fields = [
        "kind",
        "partner",
        "description",
        "state",
        "progress",
        "outcome",
        "pause_reason",
        "paused_until",
        "last_error",
        "created_by",
        "created_at",
        "started_at",
        "finished_at",
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
        return JsonResponse(
            {
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
        }
        return super().change_view(request, object_id, form_url, {**(extra_context or {}), **extra})

    @admin.action(description=gettext_lazy("取消所选任务"), permissions=["cancel"])
    def cancel_jobs(self, request, queryset):
        cancelled = sum(
            cancel_job(job)
            for job in queryset.exclude(state__in=[JobState.FINISHED, JobState.CANCELLED])
        )
        self.message_user(request, _("已请求取消 %s 个任务") % cancelled, messages.SUCCESS)


def job_outcome_text(job: Job) -> str:
    if job.kind == "check":
        return _("可营销 %(marketable)s · 失败 %(errors)s") % {
            "marketable": job.marketable,
            "errors": job.errors,
        }
    return _(
        "接收 %(accepted)s · 拒绝 %(rejected)s · 未知 %(unknown)s · 未送达 %(failed)s · 跳过 %(skipped)s"
    ) % {
        "accepted": job.accepted,
        "rejected": job.rejected,
        "unknown": job.unknown,
        "failed": job.failed,
        "skipped": job.skipped,
    }
