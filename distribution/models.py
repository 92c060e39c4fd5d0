"""Distribution (分发): a plan sends each lead to the partners that will take it, and a run of
the plan over a selection of leads is one piece of background work made of ordinary jobs.

A run moves in steps: step 0 checks the leads against every partner of the plan (only those
without a fresh result), steps 1, 2, … push them. A multi plan pushes once, to every partner. An
exclusive plan pushes in rounds: each lead to its best marketable partner it has not been offered
to yet, and the next round only takes the leads the last one did not place (refused, not
delivered, or skipped there). A step's jobs are written with the step, in one transaction, so a
step is planned once however often a crashed run is taken up again.
"""

from datetime import timedelta

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class Mode(models.TextChoices):
    EXCLUSIVE = "exclusive", _("独家（瀑布式：每条线索最多给一家）")
    MULTI = "multi", _("多家（推给每家可营销的平台）")


class Plan(models.Model):
    """分发方案: which partners, and whether a lead goes to one of them or to all."""

    name = models.CharField(_("名称"), max_length=100, unique=True)
    mode = models.CharField(_("分发方式"), max_length=16, choices=Mode, default=Mode.EXCLUSIVE)
    partners = models.ManyToManyField(
        "partners.Partner",
        related_name="plans",
        verbose_name=_("合作平台"),
        help_text=_("独家方式按优先级、单价、权重依次尝试（见合作平台的商务条款）"),
    )
    run_on_import = models.BooleanField(
        _("导入完成后自动运行"),
        default=False,
        help_text=_("勾选后，每个导入批次导入完成时，自动对该批次的线索运行本方案"),
    )
    is_active = models.BooleanField(_("启用"), default=True)
    created_at = models.DateTimeField(_("创建时间"), auto_now_add=True)
    updated_at = models.DateTimeField(_("更新时间"), auto_now=True)

    class Meta:
        verbose_name = _("分发方案")
        verbose_name_plural = _("分发方案")
        ordering = ["name"]
        permissions = [("run_plan", _("可运行分发方案"))]

    def __str__(self):
        return self.name

    @property
    def is_exclusive(self) -> bool:
        return self.mode == Mode.EXCLUSIVE


class RunState(models.TextChoices):
    QUEUED = "queued", _("排队中")
    RUNNING = "running", _("运行中")
    WAITING = "waiting", _("等待合作平台任务")
    FINISHED = "finished", _("已完成")
    CANCELLED = "cancelled", _("已取消")


FINAL_RUN_STATES = (RunState.FINISHED, RunState.CANCELLED)


class Run(models.Model):
    """One run of a plan over a selection of leads (its ``RunLead`` rows)."""

    plan = models.ForeignKey(Plan, models.PROTECT, related_name="runs", verbose_name=_("分发方案"))
    mode = models.CharField(_("分发方式"), max_length=16, choices=Mode)  # the plan's, at the start
    description = models.CharField(_("选择范围"), max_length=200, blank=True, default="")
    state = models.CharField(
        _("状态"), max_length=16, choices=RunState, default=RunState.QUEUED, db_index=True
    )
    # 0: the checks; 1, 2, …: the push rounds. ``step_planned``: the current step's jobs exist.
    step = models.PositiveSmallIntegerField(_("步骤"), default=0)
    step_planned = models.BooleanField(default=False, editable=False)
    notes = models.JSONField(_("说明"), default=list, blank=True)  # why a partner sat a step out
    cancel_requested = models.BooleanField(_("已请求取消"), default=False)
    total = models.PositiveIntegerField(_("线索总数"), default=0)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("发起人"),
    )
    import_batch = models.ForeignKey(
        "leads.ImportBatch",
        models.SET_NULL,
        null=True,
        blank=True,
        related_name="distribution_runs",
        verbose_name=_("导入批次"),
    )
    lease_owner = models.CharField(max_length=64, blank=True, default="", editable=False)
    lease_expires_at = models.DateTimeField(null=True, blank=True, editable=False)
    enqueued_at = models.DateTimeField(null=True, blank=True, editable=False)
    created_at = models.DateTimeField(_("创建时间"), auto_now_add=True, db_index=True)
    started_at = models.DateTimeField(_("开始时间"), null=True, blank=True)
    finished_at = models.DateTimeField(_("结束时间"), null=True, blank=True)

    class Meta:
        verbose_name = _("分发任务")
        verbose_name_plural = _("分发任务")
        ordering = ["-created_at", "-id"]

    def __str__(self):
        return f"#{self.pk} {self.plan.name}"

    @property
    def is_exclusive(self) -> bool:
        return self.mode == Mode.EXCLUSIVE

    @property
    def is_final(self) -> bool:
        return self.state in FINAL_RUN_STATES

    @property
    def step_label(self) -> str:
        if self.state == RunState.FINISHED:
            return str(_("已完成"))
        if self.step == 0:
            return str(_("撞库"))
        if not self.is_exclusive:
            return str(_("推送"))
        return str(_("第 %(round)s 轮推送") % {"round": self.step})


def run_lease_deadline():
    return timezone.now() + timedelta(seconds=settings.JOB_LEASE_SECONDS)


class RunLead(models.Model):
    """A lead of a run's selection (the selection is kept, not re-evaluated, so a step planned
    again after a crash sees the same leads)."""

    run = models.ForeignKey(Run, models.CASCADE, related_name="leads")
    lead = models.ForeignKey("leads.Lead", models.CASCADE, related_name="+")

    class Meta:
        verbose_name = _("分发线索")
        verbose_name_plural = _("分发线索")
        constraints = [
            models.UniqueConstraint(fields=["run", "lead"], name="distribution_run_lead_unique")
        ]

    def __str__(self):
        return f"run {self.run_id}: lead {self.lead_id}"


class RunJob(models.Model):
    """A job a run's step started: one per partner and step."""

    run = models.ForeignKey(Run, models.CASCADE, related_name="run_jobs")
    job = models.OneToOneField("jobs.Job", models.CASCADE, related_name="distribution")
    step = models.PositiveSmallIntegerField()

    class Meta:
        ordering = ["step", "job__partner__name"]
        indexes = [models.Index(fields=["run", "step"])]

    def __str__(self):
        return f"run {self.run_id} step {self.step}: job {self.job_id}"
