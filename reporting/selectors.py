"""The dashboard's numbers.

Every number counts one list's rows over whole local days: leads by ``created_at``, check
results by ``checked_at``, pushes by ``created_at`` (their state now), audit rows by
``created_at``; revenue sums the price of the pushes accepted, by ``finished_at`` (the day they
were settled, as on a statement: reporting.statements). reporting.admin links each number to that list with exactly these conditions, so
the list shows the number it was opened from. The counts come from the daily counts the
database keeps exact (reporting.counts): grouping a month of a million leads, checks and pushes
on each view took 2.5 s; summing their daily counts takes a few milliseconds."""

import datetime
from collections import defaultdict
from dataclasses import dataclass, fields
from decimal import Decimal

from django.db.models import Count, Q, Sum
from django.utils import timezone

from jobs.models import Job, JobState
from partners.models import Partner
from pushes.models import Push, PushState
from reporting.models import MARKETABLE, NOT_MARKETABLE, CountKind, DailyCount, DailyLatency

PERIOD_DAYS = {"today": 1, "7d": 7, "30d": 30}
DEFAULT_PERIOD = "7d"
TREND_MIN_DAYS = 7  # "today" alone is one bar: the chart shows the week that ends today
# What pushes.services.pushes_left_today counts against a daily cap: every push that left.
SENT_STATES = (PushState.SENDING, PushState.ACCEPTED, PushState.REJECTED, PushState.UNKNOWN)
NEAR_CAP = 0.8  # a partner that has used this share of its daily cap is shown as near it
LIVE_JOB_STATES = (JobState.RUNNING, JobState.PAUSED, JobState.QUEUED)


def local_midnight(day: datetime.date) -> datetime.datetime:
    return timezone.make_aware(datetime.datetime.combine(day, datetime.time()))


@dataclass(frozen=True)
class Period:
    """The last ``days`` local days, today included."""

    key: str
    days: int
    last_day: datetime.date

    @classmethod
    def ending_today(cls, key: str) -> "Period":
        key = key if key in PERIOD_DAYS else DEFAULT_PERIOD
        return cls(key, PERIOD_DAYS[key], timezone.localdate())

    @property
    def first_day(self) -> datetime.date:
        return self.last_day - datetime.timedelta(days=self.days - 1)

    @property
    def start(self) -> datetime.datetime:
        return local_midnight(self.first_day)

    @property
    def end(self) -> datetime.datetime:
        """The first moment after the period (exclusive)."""
        return local_midnight(self.last_day + datetime.timedelta(days=1))

    def trend(self) -> "Period":
        return Period(self.key, max(self.days, TREND_MIN_DAYS), self.last_day)

    def day_list(self) -> list[datetime.date]:
        return [self.first_day + datetime.timedelta(days=n) for n in range(self.days)]


@dataclass
class Funnel:
    """imported → checked → marketable → pushed → accepted, and what went wrong on the way."""

    imported: int = 0
    checked: int = 0
    marketable: int = 0
    check_failed: int = 0
    pushed: int = 0
    accepted: int = 0
    rejected: int = 0
    unknown: int = 0
    push_failed: int = 0
    # Pushes accepted in the period by the day they were settled, and what they bring.
    billed: int = 0
    revenue: Decimal = Decimal("0.00")

    def add(self, other: "Funnel") -> None:
        for f in fields(self):
            setattr(self, f.name, getattr(self, f.name) + getattr(other, f.name))

    @property
    def marketable_rate(self) -> float | None:
        return self.marketable / self.checked if self.checked else None

    @property
    def accepted_rate(self) -> float | None:
        return self.accepted / self.pushed if self.pushed else None


PUSH_STATE_STAGES = {
    PushState.ACCEPTED: "accepted",
    PushState.REJECTED: "rejected",
    PushState.UNKNOWN: "unknown",
    PushState.FAILED: "push_failed",
}


@dataclass
class PartnerFunnel:
    partner: Partner
    funnel: Funnel
    latency_median_ms: float | None = None
    calls: int = 0


@dataclass
class SourceFunnel:
    source: str
    funnel: Funnel


@dataclass
class Activity:
    """The funnel of a period: in total, per partner, per source, and per day for the trend
    (which covers at least TREND_MIN_DAYS)."""

    period: Period
    total: Funnel
    by_partner: list[PartnerFunnel]
    by_source: list[SourceFunnel]
    by_day: list[tuple[datetime.date, Funnel]]


def _cells(trend: Period) -> dict[tuple, Funnel]:
    """Funnels keyed by (day, partner id or None, source), from the daily counts (one query)."""
    cells: dict[tuple, Funnel] = defaultdict(Funnel)
    counts = DailyCount.objects.filter(day__gte=trend.first_day, day__lte=trend.last_day)
    rows = counts.values_list("day", "kind", "partner_id", "source", "status", "n", "amount")
    for day, kind, partner_id, source, status, n, amount in rows.order_by():
        cell = cells[day, partner_id or None, source]
        if kind == CountKind.REVENUE:
            cell.billed += n
            cell.revenue += amount
        elif kind == CountKind.LEAD:
            cell.imported += n
        elif kind == CountKind.CHECK:
            cell.checked += n
            cell.marketable += n if status == MARKETABLE else 0
            cell.check_failed += 0 if status in (MARKETABLE, NOT_MARKETABLE) else n
        else:
            cell.pushed += n
            if stage := PUSH_STATE_STAGES.get(status):
                setattr(cell, stage, getattr(cell, stage) + n)
    return cells


def partner_latencies(period: Period) -> dict[int, tuple[int, int]]:
    """Per partner: the median latency (ms; the lower median's bucket of DailyLatency, two
    significant digits) and the number of calls (audit rows) in the period."""
    buckets = defaultdict(list)
    rows = (
        DailyLatency.objects.filter(day__gte=period.first_day, day__lte=period.last_day)
        .values_list("partner_id", "latency_ms")
        .annotate(n=Sum("n"))
        .order_by("partner_id", "latency_ms")
    )
    for partner_id, latency, n in rows:
        if n:
            buckets[partner_id].append((latency, n))
    found = {}
    for partner_id, histogram in buckets.items():
        calls = sum(n for _latency, n in histogram)
        seen, wanted = 0, (calls - 1) // 2  # the lower median's place
        for latency, n in histogram:
            seen += n
            if seen > wanted:
                found[partner_id] = (latency, calls)
                break
    return found


def activity(period: Period) -> Activity:
    cells = _cells(period.trend())
    days = set(period.day_list())
    total = Funnel()
    per_partner: dict[int, Funnel] = defaultdict(Funnel)
    per_source: dict[str, Funnel] = defaultdict(Funnel)
    per_day: dict[datetime.date, Funnel] = defaultdict(Funnel)
    for (day, partner_id, source), cell in cells.items():
        per_day[day].add(cell)
        if day not in days:
            continue
        total.add(cell)
        per_source[source].add(cell)
        if partner_id is not None:
            per_partner[partner_id].add(cell)
    latencies = partner_latencies(period)
    shown = per_partner.keys() | latencies.keys()
    by_partner = [
        PartnerFunnel(partner, per_partner[partner.pk], *latencies.get(partner.pk, (None, 0)))
        for partner in Partner.objects.filter(pk__in=shown).order_by("name", "pk")
    ]
    by_source = [
        SourceFunnel(source, funnel)
        for source, funnel in sorted(
            per_source.items(), key=lambda item: (-item[1].imported, -item[1].checked, item[0])
        )
    ]
    by_day = [(day, per_day[day]) for day in period.trend().day_list()]
    return Activity(period, total, by_partner, by_source, by_day)


@dataclass
class PartnerHealth:
    partner: Partner
    sent_today: int = 0

    @property
    def cap_share(self) -> float | None:
        cap = self.partner.daily_push_cap
        return self.sent_today / cap if cap else None

    @property
    def near_cap(self) -> bool:
        share = self.cap_share
        return share is not None and share >= NEAR_CAP

    @property
    def failing(self) -> bool:
        return self.partner.consecutive_failures > 0

    @property
    def needs_attention(self) -> bool:
        return self.partner.is_paused or self.near_cap or self.failing


def sent_today_filter() -> Q:
    """The pushes that count against today's cap (pushes.services.pushes_left_today's)."""
    midnight = local_midnight(timezone.localdate())
    return Q(last_attempt_at__gte=midnight, state__in=SENT_STATES)


def partner_health() -> list[PartnerHealth]:
    """Every active partner with what it sent today; the paused, failing and near-cap first."""
    partners = list(Partner.objects.filter(is_active=True).order_by("name", "pk"))
    capped = [p.pk for p in partners if p.daily_push_cap]
    sent = dict(
        Push.objects.filter(sent_today_filter(), partner_id__in=capped)
        .values("partner_id")
        .annotate(n=Count("pk"))
        .order_by()
        .values_list("partner_id", "n")
    ) if capped else {}  # fmt: skip
    health = [PartnerHealth(p, sent.get(p.pk, 0)) for p in partners]
    return sorted(health, key=lambda h: not h.needs_attention)


@dataclass
class JobsNow:
    live: list[Job]
    counts: dict[str, int]


def live_jobs(limit: int = 10) -> JobsNow:
    """Running, paused and queued jobs (the newest ``limit``), and how many of each there are."""
    live = Job.objects.filter(state__in=LIVE_JOB_STATES)
    counts = dict(live.values("state").annotate(n=Count("pk")).order_by().values_list("state", "n"))
    shown = list(live.select_related("partner").order_by("-created_at", "-pk")[:limit])
    return JobsNow(shown, {state: counts.get(state, 0) for state in LIVE_JOB_STATES})
