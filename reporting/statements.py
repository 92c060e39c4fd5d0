"""对账单: what one partner owes for one month. A partner pays each push it accepted the price
of the push (``Push.price``, its price when the push was opened), on the local day the push was
settled (``finished_at``; a push reconciled from unknown to accepted counts on the day it was).

The page reads the daily counts the database keeps (``DailyCount`` of kind revenue, the ones the
dashboard's revenue reads): a month is at most 31 days × the partner's sources, whatever the
number of pushes. The file lists the pushes themselves, read in chunks and streamed, with the
lead's masked phone only (a statement goes to the partner) and a total row that is the page's."""

import datetime
import re
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from decimal import Decimal

from django.db.models import Sum
from django.utils import timezone
from django.utils.translation import gettext as _

from core.masking import mask_phone
from leads.exports.services import FORMATS, ExportFile
from leads.imports.spreadsheets import SheetSpec, stream_xlsx
from leads.models import ExportChannel, ExportKind, ExportRecord
from partners.models import Partner
from pushes.models import Push, PushState
from reporting.models import CountKind, DailyCount
from reporting.selectors import local_midnight

MONTH = re.compile(r"^(\d{4})-(\d{2})$")


def parse_month(text: str) -> datetime.date | None:
    """'2026-11' → 2026-11-01; anything else → None."""
    if not (match := MONTH.match(text or "")):
        return None
    year, month = int(match[1]), int(match[2])
    if not (1 <= month <= 12 and 2000 <= year <= 9999):
        return None
    return datetime.date(year, month, 1)


def next_month(month: datetime.date) -> datetime.date:
    return (month.replace(day=28) + datetime.timedelta(days=4)).replace(day=1)


def previous_month(month: datetime.date) -> datetime.date:
    return (month - datetime.timedelta(days=1)).replace(day=1)


@dataclass
class StatementDay:
    day: datetime.date
    count: int = 0
    amount: Decimal = Decimal("0.00")


@dataclass
class Statement:
    """One partner's month: each day's accepted pushes and their amount, and the month's."""

    partner: Partner
    month: datetime.date  # its first day
    days: list[StatementDay] = field(default_factory=list)

    @property
    def last_day(self) -> datetime.date:
        return next_month(self.month) - datetime.timedelta(days=1)

    @property
    def start(self) -> datetime.datetime:
        return local_midnight(self.month)

    @property
    def end(self) -> datetime.datetime:
        """The first moment after the month (exclusive), local time."""
        return local_midnight(next_month(self.month))

    @property
    def count(self) -> int:
        return sum(day.count for day in self.days)

    @property
    def amount(self) -> Decimal:
        return sum((day.amount for day in self.days), Decimal("0.00"))


def month_statement(partner: Partner, month: datetime.date) -> Statement:
    """The statement from the daily counts: one query over the month's revenue rows."""
    statement = Statement(partner, month)
    rows = (
        DailyCount.objects.filter(
            kind=CountKind.REVENUE,
            partner_id=partner.pk,
            day__gte=month,
            day__lte=statement.last_day,
        )
        .values_list("day")
        .annotate(count=Sum("n"), amount=Sum("amount"))
        .order_by("day")
    )
    for day, count, amount in rows:
        if count:
            statement.days.append(StatementDay(day, count, amount))
    return statement


def month_totals(month: datetime.date) -> dict[int, tuple[int, Decimal]]:
    """Per partner with revenue in the month: its accepted pushes and their amount."""
    last_day = next_month(month) - datetime.timedelta(days=1)
    rows = (
        DailyCount.objects.filter(kind=CountKind.REVENUE, day__gte=month, day__lte=last_day)
        .values_list("partner_id")
        .annotate(count=Sum("n"), amount=Sum("amount"))
        .order_by()
    )
    return {partner_id: (count, amount) for partner_id, count, amount in rows if count}


def accepted_pushes(statement: Statement):
    """The pushes a statement bills: the partner's, accepted, settled in the month (local)."""
    return Push.objects.filter(
        partner=statement.partner,
        state=PushState.ACCEPTED,
        finished_at__gte=statement.start,
        finished_at__lt=statement.end,
    )


def file_name(statement: Statement) -> str:
    # The partner's name as typed, without what a file name cannot hold.
    name = re.sub(r'[\\/:*?"<>|\s]+', "_", statement.partner.name).strip("_")
    return f"{_('对账单')}-{name}-{statement.month:%Y-%m}.xlsx"


def headers() -> list[str]:
    return [_("推送ID"), _("接收时间"), _("手机号（脱敏）"), _("单价（元）"), _("审计日志ID")]


def export_statement(statement: Statement, *, actor=None) -> ExportFile:
    """The statement as an xlsx file, one row per accepted push and a total row, recorded in
    the export records (as an export of push records, the statement named in its criteria)
    when the file is written to the end or abandoned."""
    pushes = (
        accepted_pushes(statement)
        .order_by("finished_at", "pk")
        .values_list("pk", "finished_at", "lead__pii", "price", "audit_entry_id")
    )
    sheet = SheetSpec(
        _("对账单"), headers(), None, text_columns=frozenset({2}), widths=[12, 20, 16, 12, 14]
    )
    exported = ExportFile(iter(()), file_name(statement), FORMATS["xlsx"])
    criteria = _("对账单：合作平台 %(partner)s（ID %(id)s），%(month)s") % {
        "partner": statement.partner.name,
        "id": statement.partner.pk,
        "month": f"{statement.month:%Y-%m}",
    }

    def rows() -> Iterator[list]:
        count, total = 0, Decimal("0.00")
        tz = timezone.get_current_timezone()
        try:
            for pk, finished_at, pii, price, audit_entry_id in pushes.iterator(chunk_size=2000):
                count += 1
                total += price
                phone = mask_phone((pii or {}).get("phone", ""))
                yield [pk, finished_at.astimezone(tz), phone, float(price), audit_entry_id]
            yield [_("合计"), _("%(count)s 条") % {"count": count}, "", float(total), ""]
        finally:
            exported.record = ExportRecord.objects.create(
                actor=actor if getattr(actor, "is_authenticated", False) else None,
                kind=ExportKind.PUSHES,
                file_format="xlsx",
                row_count=count,
                criteria=criteria[:2000],
                channel=ExportChannel.ADMIN,
            )

    exported.pieces = stream_xlsx([replace(sheet, rows=rows())])
    return exported
