from django.db import models
from django.utils.translation import gettext_lazy as _


class CountKind(models.TextChoices):
    LEAD = "lead", _("导入")
    CHECK = "check", _("撞库")
    PUSH = "push", _("推送")
    REVENUE = "revenue", _("收入")  # accepted pushes by the day they were settled, and their price


# A check result's status in the counts: its verdict, or why there is none (its outcome).
MARKETABLE, NOT_MARKETABLE = "marketable", "answered"


class DailyCount(models.Model):
    """How many leads were created, checks recorded and pushes created per local day, partner,
    lead source and status (a check's verdict, a push's state now); and the revenue: pushes
    accepted per local day of their settling (``finished_at``), with the sum of their prices in
    ``amount`` (0 in every other count). Kept by database triggers
    (reporting.counts) in the same statement as the rows they count, whatever writes them
    (ORM, bulk inserts, update(), COPY), so the dashboard sums a few hundred rows instead of
    grouping a million; ``manage.py rebuild_dashboard_counts`` recomputes them from the rows."""

    day = models.DateField(_("日期"))
    kind = models.CharField(_("类别"), max_length=8, choices=CountKind)
    partner_id = models.IntegerField(_("合作平台ID"), default=0)  # 0 for leads: a key, not NULL
    source = models.CharField(_("来源"), max_length=100, default="")
    status = models.CharField(_("状态"), max_length=32, default="")
    n = models.BigIntegerField(_("数量"), default=0)
    amount = models.DecimalField(_("金额（元）"), max_digits=16, decimal_places=2, default=0)

    class Meta:
        verbose_name = _("每日计数")
        verbose_name_plural = _("每日计数")
        constraints = [
            models.UniqueConstraint(
                fields=["day", "kind", "partner_id", "source", "status"], name="daily_count_key"
            )
        ]

    def __str__(self):
        return f"{self.day} {self.kind} {self.partner_id} {self.source} {self.status}: {self.n}"


class DailyLatency(models.Model):
    """How many partner calls (audit rows) took about ``latency_ms`` per local day and partner:
    a histogram whose buckets keep two significant digits, from which the dashboard reads a
    median without sorting every call of the month. Kept by a trigger like DailyCount."""

    day = models.DateField(_("日期"))
    partner_id = models.IntegerField(_("合作平台ID"))
    latency_ms = models.PositiveIntegerField(_("耗时（毫秒，区间下限）"))
    n = models.BigIntegerField(_("次数"), default=0)

    class Meta:
        verbose_name = _("每日耗时分布")
        verbose_name_plural = _("每日耗时分布")
        constraints = [
            models.UniqueConstraint(
                fields=["day", "partner_id", "latency_ms"], name="daily_latency_key"
            )
        ]

    def __str__(self):
        return f"{self.day} {self.partner_id} {self.latency_ms}: {self.n}"


class Statement(DailyCount):
    """对账单: what one partner owes for one month (reporting.statements). No table of its own;
    it gives the statement page its place in the admin and its permission."""

    class Meta:
        proxy = True
        verbose_name = _("对账单")
        verbose_name_plural = _("对账单")
        default_permissions = ()
        permissions = [("view_statement", _("可查看和导出对账单"))]
