from django.conf import settings
from django.db import IntegrityError, models, transaction
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from core.crypto import EncryptedTextField
from core.masking import mask_text


class PushState(models.TextChoices):
    PENDING = "pending", _("待发送")
    SENDING = "sending", _("发送中")
    ACCEPTED = "accepted", _("已接收")
    REJECTED = "rejected", _("被拒绝")
    UNKNOWN = "unknown", _("结果未知")
    FAILED = "failed", _("未送达")


# A live push blocks another push of the same lead to the same partner: it is on its way, has
# landed, or may have landed (unknown, until reconciled or explicitly retried).
LIVE_STATES = (PushState.PENDING, PushState.SENDING, PushState.ACCEPTED, PushState.UNKNOWN)


class Push(models.Model):
    """The delivery of one lead's profile to one partner. Written before the request leaves."""

    lead = models.ForeignKey(
        "leads.Lead", models.PROTECT, related_name="pushes", verbose_name=_("线索")
    )
    partner = models.ForeignKey(
        "partners.Partner", models.PROTECT, related_name="pushes", verbose_name=_("合作平台")
    )
    state = models.CharField(_("状态"), max_length=16, choices=PushState, default=PushState.PENDING)
    # What the partner wrote back about this person is personal data (a msg may echo the name or
    # the phone, the link may carry a hash of the phone): sealed like the lead, masked on screens
    # and exports for users without leads.view_lead_pii (masked_message, masked_app_download_url).
    # The link is not a URLField: its check never ran (services save, never full_clean) and a
    # partner's odd link must not fail a push; the protocol bounds it to 2048 characters.
    message = EncryptedTextField(_("平台返回信息"), blank=True, default="")
    app_download_url = EncryptedTextField(_("H5 地址"), blank=True, default="")
    attempts = models.PositiveSmallIntegerField(_("尝试次数"), default=0)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("操作人"),
    )
    audit_entry = models.ForeignKey(
        "partners.AuditLogEntry",
        models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("最近一次审计日志"),
    )
    job = models.ForeignKey(
        "jobs.Job",
        models.SET_NULL,
        null=True,
        blank=True,
        related_name="pushes",
        verbose_name=_("任务"),
    )
    # What the partner pays if it accepts the lead, as its terms stood when the push was opened:
    # a statement (对账单) never changes when the price does.
    price = models.DecimalField(_("单价（元）"), max_digits=10, decimal_places=2, default=0)
    # Sold exclusively (an exclusive distribution plan, or a partner that buys only exclusive
    # leads): no other partner may hold a live push of the lead meanwhile.
    exclusive = models.BooleanField(_("独家"), default=False)
    created_at = models.DateTimeField(_("创建时间"), default=timezone.now, db_index=True)
    last_attempt_at = models.DateTimeField(_("最近发送时间"), null=True, blank=True)
    finished_at = models.DateTimeField(_("完成时间"), null=True, blank=True)

    class Meta:
        verbose_name = _("推送记录")
        verbose_name_plural = _("推送记录")
        ordering = ["-created_at", "-id"]
        permissions = [("export_push", _("可导出推送记录"))]
        # The list filtered by partner, newest first (issue 14).
        indexes = [models.Index(fields=["partner", "-created_at"], name="push_partner_time")]
        constraints = [
            models.UniqueConstraint(
                fields=["lead", "partner"],
                condition=Q(state__in=LIVE_STATES),
                name="one_live_push_per_lead_and_partner",
            ),
            # Never two partners for a lead sold exclusively: whoever opens the second live
            # exclusive push of a lead is refused by the database, whatever the timing.
            models.UniqueConstraint(
                fields=["lead"],
                condition=Q(exclusive=True, state__in=LIVE_STATES),
                name="one_live_exclusive_push_per_lead",
            ),
        ]

    def __str__(self):
        return f"{self.lead} → {self.partner_id}: {self.get_state_display()}"

    def claim_for_sending(self) -> bool:
        """Compare-and-set pending → sending, so two workers never send the same push."""
        now = timezone.now()
        claimed = Push.objects.filter(pk=self.pk, state=PushState.PENDING).update(
            state=PushState.SENDING, attempts=F("attempts") + 1, last_attempt_at=now
        )
        if claimed:  # the row was pending, so it held our attempts count: no need to re-read it
            self.state, self.attempts, self.last_attempt_at = (
                PushState.SENDING,
                self.attempts + 1,
                now,
            )
        return bool(claimed)

    def reopen(self) -> bool:
        """Compare-and-set failed → pending, for a push that provably never reached the partner.
        ``False`` if it is not failed any more, or another live push of the pair exists now."""
        try:
            with transaction.atomic():
                reopened = Push.objects.filter(pk=self.pk, state=PushState.FAILED).update(
                    state=PushState.PENDING
                )
        except IntegrityError:
            return False
        if reopened:
            self.state = PushState.PENDING
        return bool(reopened)

    def masked_message(self) -> str:
        return lead_masker(self.lead)(self.message)

    def masked_app_download_url(self) -> str:
        return lead_masker(self.lead)(self.app_download_url)

    def settle(
        self, *, state: str, message: str = "", app_download_url: str = "", audit_entry=None
    ) -> None:
        self.state = state
        self.message = message[:1000]
        self.app_download_url = app_download_url or ""
        self.audit_entry = audit_entry
        self.finished_at = timezone.now()
        self.save(
            update_fields=["state", "message", "app_download_url", "audit_entry", "finished_at"]
        )


def lead_masker(lead):
    """``mask_text`` that also knows this lead's name, contacts and numbers: for what a partner
    wrote about the lead we pushed to it."""
    known = {
        "names": (lead.name, lead.emergency_contact_name),
        "phones": (lead.phone, lead.emergency_contact_phone),
        "id_numbers": (lead.id_number,),
    }
    return lambda text: mask_text(text, **known)


class SkipReason(models.TextChoices):
    """Why a selected lead was not pushed to a partner, in the order they are decided."""

    ERASED = "erased", _("个人信息已依申请删除")
    DO_NOT_CONTACT = "do_not_contact", _("在免打扰名单中")
    ALREADY_PUSHED = "already_pushed", _("已推送过（或正在推送）")
    SOLD_ELSEWHERE = "sold_elsewhere", _("已推送给其他平台（独家）")
    NOT_ELIGIBLE = "not_eligible", _("不符合合作平台接收条件")
    NOT_CHECKED = "not_checked", _("未与该平台撞库")
    STALE_CHECK = "stale_check", _("撞库结果已过有效期，需重新撞库")
    NOT_MARKETABLE = "not_marketable", _("最近一次撞库不可营销")
    REJECTED_SINCE_CHECK = "rejected_since_check", _("上次推送被拒，需重新撞库")
    INCOMPLETE = "incomplete", _("资料不全")
    OVER_DAILY_CAP = "over_daily_cap", _("超出每日推送上限")
    OUTSIDE_WORKING_HOURS = "outside_working_hours", _("不在合作平台工作时段")


class PushSkip(models.Model):
    """A lead selected for a push that did not go out, and why: what the push history (attempts
    only) cannot tell. One row per lead each time an operator pushes it inline; one per lead and
    job for a job (a chunk redone after a crash records it once)."""

    lead = models.ForeignKey(
        "leads.Lead", models.PROTECT, related_name="push_skips", verbose_name=_("线索")
    )
    partner = models.ForeignKey(
        "partners.Partner", models.PROTECT, related_name="+", verbose_name=_("合作平台")
    )
    reason = models.CharField(_("原因"), max_length=32, choices=SkipReason)
    # What makes the reason concrete (the missing fields, the check's status, the live push's
    # state); never personal data.
    detail = models.CharField(_("说明"), max_length=200, blank=True, default="")
    job = models.ForeignKey(
        "jobs.Job",
        models.SET_NULL,
        null=True,
        blank=True,
        related_name="push_skips",
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
        verbose_name = _("未推送及原因")
        verbose_name_plural = _("未推送及原因")
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["job", "lead"],
                condition=Q(job__isnull=False),
                name="one_skip_per_lead_and_job",
            ),
        ]
        indexes = [models.Index(fields=["partner", "reason", "created_at"])]

    def __str__(self):
        return f"#{self.lead_id} → {self.partner_id}: {self.get_reason_display()}"
