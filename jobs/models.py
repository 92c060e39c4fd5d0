"""Jobs: checks and pushes of many leads, run in the background in chunks.

Progress, leases and retries live here, not in the task queue: django-tasks-db has no progress
API and a worker killed with SIGKILL leaves its task RUNNING forever. A chunk is claimed with a
compare-and-set update and a lease that the running worker keeps extending; a chunk whose lease
ran out is taken over by the next worker, and its work is idempotent.
"""

from datetime import timedelta

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class JobKind(models.TextChoices):
    CHECK = "check", _("撞库")
    PUSH = "push", _("推送")


class JobState(models.TextChoices):
    QUEUED = "queued", _("排队中")
    RUNNING = "running", _("运行中")
    PAUSED = "paused", _("已暂停")
    FINISHED = "finished", _("已完成")
    CANCELLED = "cancelled", _("已取消")


FINAL_STATES = (JobState.FINISHED, JobState.CANCELLED)
COUNTERS = (
    "processed",
    "marketable",
    "errors",
    "accepted",
    "rejected",
    "unknown",
    "failed",
    "skipped",
)


def lease_deadline():
    return timezone.now() + timedelta(seconds=settings.JOB_LEASE_SECONDS)


class Job(models.Model):
    kind = models.CharField(_("类型"), max_length=16, choices=JobKind)
    partner = models.ForeignKey(
        "partners.Partner", models.PROTECT, related_name="jobs", verbose_name=_("合作平台")
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("发起人"),
    )
    # A push job of an exclusive distribution: each lead is sold to one partner at most.
    exclusive = models.BooleanField(_("独家"), default=False)
    description = models.CharField(_("选择范围"), max_length=200, blank=True, default="")
    state = models.CharField(
        _("状态"), max_length=16, choices=JobState, default=JobState.QUEUED, db_index=True
    )
    cancel_requested = models.BooleanField(_("已请求取消"), default=False)
    pause_reason = models.CharField(_("暂停原因"), max_length=300, blank=True, default="")
    paused_until = models.DateTimeField(_("暂停至"), null=True, blank=True)
    last_error = models.TextField(_("最近错误"), blank=True, default="")

    total = models.PositiveIntegerField(_("线索总数"), default=0)
    processed = models.PositiveIntegerField(_("已处理"), default=0)
    marketable = models.PositiveIntegerField(_("可营销"), default=0)
    errors = models.PositiveIntegerField(_("撞库失败"), default=0)
    accepted = models.PositiveIntegerField(_("推送接收"), default=0)
    rejected = models.PositiveIntegerField(_("推送拒绝"), default=0)
    unknown = models.PositiveIntegerField(_("结果未知"), default=0)
    failed = models.PositiveIntegerField(_("未送达"), default=0)
    skipped = models.PositiveIntegerField(_("跳过"), default=0)

    lease_owner = models.CharField(max_length=64, blank=True, default="", editable=False)
    lease_expires_at = models.DateTimeField(null=True, blank=True, editable=False)
    enqueued_at = models.DateTimeField(null=True, blank=True, editable=False)
    created_at = models.DateTimeField(_("创建时间"), auto_now_add=True, db_index=True)
    started_at = models.DateTimeField(_("开始时间"), null=True, blank=True)
    finished_at = models.DateTimeField(_("结束时间"), null=True, blank=True)

    class Meta:
        verbose_name = _("任务")
        verbose_name_plural = _("任务")
        ordering = ["-created_at", "-id"]
        permissions = [("cancel_job", _("可取消他人发起的任务"))]
        constraints = [
            models.CheckConstraint(
                condition=Q(processed__lte=F("total")), name="job_processed_within_total"
            ),
        ]

    def __str__(self):
        # No state here: the page's title would freeze it while the live block moves on.
        return f"#{self.pk} {self.get_kind_display()} → {self.partner.name}"

    @property
    def percent(self) -> int:
        return round(100 * self.processed / self.total) if self.total else 100

    @property
    def is_final(self) -> bool:
        return self.state in FINAL_STATES

    def refresh_counts(self) -> None:
        """Job counts are the sum of its finished chunks' counts: they add up by construction."""
        totals = dict.fromkeys(COUNTERS, 0)
        for summary in self.chunks.filter(state=ChunkState.DONE).values_list("summary", flat=True):
            for name in COUNTERS:
                totals[name] += summary.get(name, 0)
        Job.objects.filter(pk=self.pk).update(**totals)
        for name, value in totals.items():
            setattr(self, name, value)


class ChunkState(models.TextChoices):
    PENDING = "pending", _("待处理")
    RUNNING = "running", _("处理中")
    DONE = "done", _("已完成")


class JobChunk(models.Model):
    """A slice of a job's leads, small enough to redo whole after a crash."""

    job = models.ForeignKey(Job, models.CASCADE, related_name="chunks")
    number = models.PositiveIntegerField()
    lead_ids = models.JSONField()
    state = models.CharField(max_length=16, choices=ChunkState, default=ChunkState.PENDING)
    attempts = models.PositiveSmallIntegerField(_("重试次数"), default=0)
    next_attempt_at = models.DateTimeField(_("下次尝试"), default=timezone.now)
    last_error = models.TextField(blank=True, default="")
    summary = models.JSONField(default=dict)
    lease_owner = models.CharField(max_length=64, blank=True, default="")
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("任务分块")
        verbose_name_plural = _("任务分块")
        ordering = ["job", "number"]
        constraints = [
            models.UniqueConstraint(fields=["job", "number"], name="job_chunk_number_unique")
        ]
        indexes = [models.Index(fields=["job", "state", "next_attempt_at"], name="job_chunk_ready")]

    def __str__(self):
        return f"job {self.job_id} chunk {self.number} ({self.state})"


class LeaseLost(Exception):
    """Another worker took this chunk over (our lease ran out): drop our work on it."""


def finish_chunk(chunk: JobChunk, *, worker_id: str, summary: dict) -> None:
    """Mark a chunk done, only if we still hold its lease. Call inside the transaction that writes
    the chunk's results, so that results and completion commit together or not at all."""
    updated = JobChunk.objects.filter(
        pk=chunk.pk, state=ChunkState.RUNNING, lease_owner=worker_id
    ).update(state=ChunkState.DONE, summary=summary, finished_at=timezone.now(), last_error="")
    if not updated:
        raise LeaseLost(f"chunk {chunk.pk} is no longer ours")


class WorkerHeartbeat(models.Model):
    """A worker process says it is alive: its janitor writes ``seen_at`` on every pass (every
    JANITOR_INTERVAL_SECONDS). /healthz reports the newest one; the row goes when the worker
    stops cleanly, and rows of workers gone for a day are pruned by the others."""

    worker = models.CharField(_("工作进程"), max_length=64, unique=True)  # host:pid:random
    started_at = models.DateTimeField(_("启动时间"), default=timezone.now)
    seen_at = models.DateTimeField(_("最近心跳"), default=timezone.now, db_index=True)

    PRUNE_AFTER = timedelta(days=1)

    class Meta:
        verbose_name = _("工作进程心跳")
        verbose_name_plural = _("工作进程心跳")

    def __str__(self):
        return f"{self.worker} @ {self.seen_at:%Y-%m-%d %H:%M:%S}"

    @classmethod
    def beat(cls, worker: str) -> None:
        now = timezone.now()
        if not cls.objects.filter(worker=worker).update(seen_at=now):
            cls.objects.create(worker=worker, started_at=now, seen_at=now)
        cls.objects.filter(seen_at__lt=now - cls.PRUNE_AFTER).delete()

    @classmethod
    def stop(cls, worker: str) -> None:
        cls.objects.filter(worker=worker).delete()
