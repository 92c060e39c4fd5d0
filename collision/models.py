from collections.abc import Sequence
from typing import NamedTuple

from django.conf import settings
from django.db import models
from django.db.models import OuterRef, Q, Subquery
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from core.bulk import insert_rows


class CheckOutcome(models.TextChoices):
    ANSWERED = "answered", _("已应答")
    CALL_FAILED = "call_failed", _("调用失败")
    SIGNATURE_REJECTED = "signature_rejected", _("签名被拒")
    NO_ANSWER = "no_answer", _("该哈希无应答")


class UserStatusChoice(models.IntegerChoices):
    """Where a partner says the person stands. The numbers are the collision protocol's (its
    ``UserStatus``; a test holds them equal): a protocol with other numbers maps them to these."""

    NEW = 0, _("0 未注册")
    OURS = 1, _("1 本渠道已注册")
    OTHER_CHANNEL = 2, _("2 其他渠道已注册")
    ANOMALY = 3, _("3 异常")


class ResultRow(NamedTuple):
    """One lead's outcome of a check, before it is stored (a check writes up to 1000 at once)."""

    lead_id: int
    outcome: str
    user_status: int | None = None
    marketable: bool | None = None
    is_marketable: bool = False
    message: str = ""

    @classmethod
    def answered(cls, lead_id: int, answer) -> "ResultRow":
        """``answer``: a protocol's parsed answer (``status``, ``marketable``, ``is_marketable``)."""
        return cls(
            lead_id, CheckOutcome.ANSWERED, int(answer.status), answer.marketable,
            answer.is_marketable,
        )  # fmt: skip

    @classmethod
    def failed(cls, lead_id: int, outcome: str, message: str) -> "ResultRow":
        return cls(lead_id, outcome, message=message[:1000])


class CollisionResultQuerySet(models.QuerySet):
    def record(self, rows: Sequence[ResultRow], *, partner, audit_entry, job=None) -> None:
        """Store one check's results, all with the same time: one multi-row INSERT, since a
        check job writes 100k of them. The table's constraints check every row."""
        shared = {
            "partner": partner,
            "audit_entry": audit_entry,
            "job": job,
            "checked_at": timezone.now(),
        }
        insert_rows(self.model, ResultRow._fields, rows, shared=shared)

    def latest_per_lead(self, partner):
        """For each lead, only its newest result with ``partner``."""
        newest = (
            self.model.objects.filter(lead=OuterRef("lead"), partner=partner)
            .order_by("-checked_at", "-id")
            .values("id")[:1]
        )
        return self.filter(partner=partner, id=Subquery(newest))


class CollisionResult(models.Model):
    """What a partner answered about one lead at one time (or why it could not answer)."""

    lead = models.ForeignKey(
        "leads.Lead", models.CASCADE, related_name="collision_results", verbose_name=_("线索")
    )
    partner = models.ForeignKey(
        "partners.Partner",
        models.PROTECT,
        related_name="collision_results",
        verbose_name=_("合作平台"),
    )
    outcome = models.CharField(_("结果"), max_length=32, choices=CheckOutcome)
    user_status = models.PositiveSmallIntegerField(
        _("用户状态"), choices=UserStatusChoice, null=True, blank=True
    )
    marketable = models.BooleanField(_("平台可营销标记"), null=True, blank=True)
    is_marketable = models.BooleanField(_("可营销"), default=False, db_index=True)
    message = models.TextField(_("说明"), blank=True, default="")
    audit_entry = models.ForeignKey(
        "partners.AuditLogEntry",
        models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("审计日志"),
    )
    job = models.ForeignKey(
        "jobs.Job",
        models.SET_NULL,
        null=True,
        blank=True,
        related_name="collision_results",
        verbose_name=_("任务"),
    )
    checked_at = models.DateTimeField(_("撞库时间"), default=timezone.now, db_index=True)

    objects = CollisionResultQuerySet.as_manager()

    class Meta:
        verbose_name = _("撞库结果")
        verbose_name_plural = _("撞库结果")
        ordering = ["-checked_at", "-id"]
        permissions = [("export_collisionresult", _("可导出撞库结果"))]
        indexes = [
            models.Index(fields=["partner", "lead", "-checked_at"], name="collision_latest"),
            # The list filtered by partner, newest first (issue 14).
            models.Index(fields=["partner", "-checked_at"], name="collision_partner_time"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=(
                    Q(
                        outcome=CheckOutcome.ANSWERED,
                        user_status__isnull=False,
                        marketable__isnull=False,
                    )
                    | (
                        ~Q(outcome=CheckOutcome.ANSWERED)
                        & Q(user_status__isnull=True, marketable__isnull=True)
                    )
                ),
                name="collision_status_iff_answered",
            ),
            models.CheckConstraint(
                condition=(
                    Q(
                        is_marketable=True,
                        outcome=CheckOutcome.ANSWERED,
                        user_status=UserStatusChoice.NEW,
                        marketable=True,
                    )
                    | (
                        Q(is_marketable=False)
                        & ~Q(
                            outcome=CheckOutcome.ANSWERED,
                            user_status=UserStatusChoice.NEW,
                            marketable=True,
                        )
                    )
                ),
                name="collision_marketable_rule",
            ),
        ]

    def __str__(self):
        return f"{self.lead} @ {self.partner_id}: {self.get_outcome_display()}"


class CheckSkipReason(models.TextChoices):
    """Why a selected lead was not sent to a partner's check (collision.screening)."""

    DO_NOT_CONTACT = "do_not_contact", _("在免打扰名单中")
    NOT_ELIGIBLE = "not_eligible", _("不符合合作平台接收条件")


class CheckSkip(models.Model):
    """A lead selected for a check that was not sent, and why. One row per lead each time it is
    checked inline; one per lead and job for a job (a chunk redone after a crash records it
    once)."""

    lead = models.ForeignKey(
        "leads.Lead", models.CASCADE, related_name="check_skips", verbose_name=_("线索")
    )
    partner = models.ForeignKey(
        "partners.Partner", models.PROTECT, related_name="+", verbose_name=_("合作平台")
    )
    reason = models.CharField(_("原因"), max_length=32, choices=CheckSkipReason)
    detail = models.CharField(_("说明"), max_length=200, blank=True, default="")  # never PII
    job = models.ForeignKey(
        "jobs.Job",
        models.SET_NULL,
        null=True,
        blank=True,
        related_name="check_skips",
        verbose_name=_("任务"),
    )
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("操作人"),
    )
    created_at = models.DateTimeField(_("时间"), default=timezone.now, db_index=True)

    class Meta:
        verbose_name = _("未撞库及原因")
        verbose_name_plural = _("未撞库及原因")
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["job", "lead"],
                condition=Q(job__isnull=False),
                name="one_check_skip_per_lead_and_job",
            ),
        ]
        indexes = [models.Index(fields=["partner", "reason", "created_at"])]

    def __str__(self):
        return f"#{self.lead_id} → {self.partner_id}: {self.get_reason_display()}"

    @classmethod
    def record(cls, refused, *, partner, actor=None, job=None) -> None:
        """``refused``: ``(lead_id, reason, detail)`` triples (collision.screening.Screen.split)."""
        actor = actor if getattr(actor, "is_authenticated", False) else None
        cls.objects.bulk_create(
            [
                cls(lead_id=lead_id, partner=partner, reason=reason, detail=detail[:200],
                    job=job, actor=actor)
                for lead_id, reason, detail in refused
            ],
            batch_size=1000,
            ignore_conflicts=job is not None,
        )  # fmt: skip
