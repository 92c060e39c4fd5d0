"""The dashboard on the admin's home page: reporting.selectors' numbers, each with a link to the
list that shows exactly the rows it counts (same table, same conditions)."""

import datetime
from dataclasses import dataclass
from decimal import Decimal
from functools import cache
from urllib.parse import urlencode

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.http import HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import get_script_prefix, path, reverse
from django.utils import timezone
from django.utils.http import content_disposition_header
from django.utils.translation import gettext as _

from core.admin import ReadOnlyAdmin
from jobs.models import JobState
from partners.models import Partner
from reporting import selectors, statements
from reporting.chart import line_chart
from reporting.models import Statement
from reporting.selectors import Funnel, Period


def may_see_dashboard(user) -> bool:
    """Whoever may see leads (every role of core.roles); anyone else keeps Django's index."""
    return user.is_active and user.is_staff and user.has_perm("leads.view_lead")


@cache
def _path(name: str, prefix: str) -> str:
    return reverse(name)


def _url(name: str, **params) -> str:
    """The page a number opens; reversed once per name (a month's chart alone has 150 links)."""
    path = _path(name, get_script_prefix())
    query = {key: value for key, value in params.items() if value is not None}
    return f"{path}?{urlencode(query)}" if query else path


def _moment(value) -> str:
    return timezone.localtime(value).isoformat()


@dataclass(frozen=True)
class Cell:
    value: int | Decimal | None
    url: str = ""
    rate: bool = False  # a share (0..1), shown as a percentage, not linked
    money: bool = False  # an amount in yuan: ¥1,234.50


class Links:
    """The lists behind the numbers of one period (or one day of it)."""

    def __init__(self, period: Period):
        self.period = period

    def leads(self, *, source=None) -> str:
        return _url(
            "admin:leads_lead_changelist",
            created_from=self.period.first_day.isoformat(),
            created_to=self.period.last_day.isoformat(),
            source__exact=source,
        )

    def checks(self, *, partner=None, source=None, verdict=None) -> str:
        return _url(
            "admin:collision_collisionresult_changelist",
            checked_at__gte=_moment(self.period.start),
            checked_at__lt=_moment(self.period.end),
            partner__id__exact=partner,
            source=source,
            verdict=verdict,
        )

    def pushes(self, *, partner=None, source=None, state=None) -> str:
        return _url(
            "admin:pushes_push_changelist",
            created_at__gte=_moment(self.period.start),
            created_at__lt=_moment(self.period.end),
            partner__id__exact=partner,
            source=source,
            state__exact=state,
        )

    def revenue(self, *, partner=None, source=None) -> str:
        """The pushes accepted in the period, by the moment they were settled."""
        return _url(
            "admin:pushes_push_changelist",
            finished_at__gte=_moment(self.period.start),
            finished_at__lt=_moment(self.period.end),
            partner__id__exact=partner,
            source=source,
            state__exact="accepted",
        )

    def calls(self, *, partner) -> str:
        return _url(
            "admin:partners_auditlogentry_changelist",
            created_at__gte=_moment(self.period.start),
            created_at__lt=_moment(self.period.end),
            partner__id__exact=partner,
        )


# The columns of the funnel tables: (stage, heading); the rates follow their stage.
COLUMNS = [
    ("imported", "导入"),
    ("checked", "撞库"),
    ("marketable", "可营销"),
    ("marketable_rate", "可营销率"),
    ("pushed", "推送"),
    ("accepted", "已接收"),
    ("accepted_rate", "接收率"),
    ("rejected", "被拒绝"),
    ("unknown", "结果未知"),
    ("push_failed", "未送达"),
    ("check_failed", "撞库失败"),
    ("revenue", "收入"),
]


def column_headings() -> list[str]:
    return [_(heading) for _stage, heading in COLUMNS]


def funnel_cells(funnel: Funnel, links: Links, *, partner=None, source=None, imported=True):
    """One table row: each count with its list, each rate as a share."""
    scope = {"partner": partner, "source": source}
    urls = {
        "imported": links.leads(source=source) if imported else None,
        "checked": links.checks(**scope),
        "marketable": links.checks(**scope, verdict="marketable"),
        "check_failed": links.checks(**scope, verdict="failed"),
        "pushed": links.pushes(**scope),
        "accepted": links.pushes(**scope, state="accepted"),
        "rejected": links.pushes(**scope, state="rejected"),
        "unknown": links.pushes(**scope, state="unknown"),
        "push_failed": links.pushes(**scope, state="failed"),
        "revenue": links.revenue(**scope),
    }
    cells = []
    for stage, _heading in COLUMNS:
        if stage.endswith("_rate"):
            cells.append(Cell(getattr(funnel, stage), rate=True))
        elif urls[stage] is None:
            cells.append(Cell(None))
        elif stage == "revenue":
            cells.append(Cell(funnel.revenue, urls[stage], money=True))
        else:
            cells.append(Cell(getattr(funnel, stage), urls[stage]))
    return cells


def source_label(source: str) -> str:
    return source or _("（无来源）")


TREND_SERIES = [
    ("imported", "导入"),
    ("checked", "撞库"),
    ("marketable", "可营销"),
    ("pushed", "推送"),
    ("accepted", "已接收"),
]


def trend_chart(activity: selectors.Activity):
    days = [day for day, _funnel in activity.by_day]
    chart = line_chart(
        [
            (stage, _(label), [getattr(funnel, stage) for _day, funnel in activity.by_day])
            for stage, label in TREND_SERIES
        ],
        [f"{day.month}/{day.day}" for day in days],
    )
    # Each point links to its day's list, like the tables' numbers.
    day_links = [Links(Period(activity.period.key, 1, day)) for day in days]
    list_of = {
        "imported": lambda links: links.leads(),
        "checked": lambda links: links.checks(),
        "marketable": lambda links: links.checks(verdict="marketable"),
        "pushed": lambda links: links.pushes(),
        "accepted": lambda links: links.pushes(state="accepted"),
    }
    lines = [
        {
            "line": line,
            "points": [
                {
                    "point": point,
                    "day": days[point.index],
                    "url": list_of[line.name](day_links[point.index]),
                }
                for point in line.points
            ],
        }
        for line in chart.lines
    ]
    return {"chart": chart, "lines": lines}


def cap_percent(health: selectors.PartnerHealth) -> int | None:
    share = health.cap_share
    return None if share is None else min(round(100 * share), 100)


def dashboard_context(request) -> dict:
    period = Period.ending_today(request.GET.get("period", ""))
    activity = selectors.activity(period)
    links = Links(period)
    may_see_calls = request.user.has_perm("partners.view_auditlogentry")
    may_see_bills = may_see_statements(request.user)
    partner_rows = [
        {
            "partner": row.partner,
            "cells": funnel_cells(row.funnel, links, partner=row.partner.pk, imported=False),
            "latency": row.latency_median_ms,
            "calls": row.calls,
            "calls_url": links.calls(partner=row.partner.pk) if may_see_calls else "",
            "statement_url": statement_url(partner=row.partner.pk) if may_see_bills else "",
        }
        for row in activity.by_partner
    ]
    source_rows = [
        {
            "label": source_label(row.source),
            "cells": funnel_cells(row.funnel, links, source=row.source),
        }
        for row in activity.by_source
    ]
    midnight = _moment(selectors.local_midnight(timezone.localdate()))
    health = [
        {
            "health": h,
            "percent": cap_percent(h),
            "high": (h.partner.daily_push_cap or 0) * selectors.NEAR_CAP,
            "sent_url": _url(
                "admin:pushes_push_changelist",
                partner__id__exact=h.partner.pk,
                last_attempt_at__gte=midnight,
                state__in=",".join(selectors.SENT_STATES),
            ),
        }
        for h in selectors.partner_health()
    ]
    jobs = selectors.live_jobs()
    return {
        "period": period,
        "periods": [
            {"key": key, "label": label, "url": _url("admin:index", period=key)}
            for key, label in [("today", _("今天")), ("7d", _("近 7 天")), ("30d", _("近 30 天"))]
        ],
        "total": funnel_cells(activity.total, links),
        "statements_url": statement_url() if may_see_bills else "",
        "headings": column_headings(),
        "partner_rows": partner_rows,
        "source_rows": source_rows,
        "trend": trend_chart(activity),
        "health": health,
        "attention": sum(1 for h in health if h["health"].needs_attention),
        "jobs": jobs.live,
        "job_counts": [
            {
                "label": label,
                "count": jobs.counts[state],
                "url": _url("admin:jobs_job_changelist", state__exact=state),
            }
            for state, label in [
                (JobState.RUNNING, _("运行中")),
                (JobState.PAUSED, _("已暂停")),
                (JobState.QUEUED, _("排队中")),
            ]
        ],
    }


# --- 对账单 (reporting.statements): one partner's month, and its file -------------------------


def may_see_statements(user) -> bool:
    return user.has_perm(STATEMENT_PERMISSION)


STATEMENT_PERMISSION = "reporting.view_statement"


def statement_url(*, partner=None, month=None, name="admin:reporting_statement_changelist") -> str:
    return _url(name, partner=partner, month=f"{month:%Y-%m}" if month else None)


def accepted_pushes_url(partner_id: int, start, end) -> str:
    """The pushes list showing exactly the accepted pushes of a partner settled in [start, end)."""
    return _url(
        "admin:pushes_push_changelist",
        finished_at__gte=_moment(start),
        finished_at__lt=_moment(end),
        partner__id__exact=partner_id,
        state__exact="accepted",
    )


@admin.register(Statement)
class StatementAdmin(ReadOnlyAdmin):
    """对账单: a page and an export, no list of rows: the model gives them a place in the admin
    and their permission (reporting.view_statement), checked by Django as the view permission."""

    def get_urls(self):
        wrap = self.admin_site.admin_view
        return [
            path("", wrap(self.statement_view), name="reporting_statement_changelist"),
            path("export/", wrap(self.export_view), name="reporting_statement_export"),
        ]

    def _chosen(self, request):
        """The partner and month asked for (this month by default); no partner → None."""
        month = statements.parse_month(request.GET.get("month", ""))
        month = month or timezone.localdate().replace(day=1)
        partner_id = request.GET.get("partner", "")
        partner = Partner.objects.filter(pk=partner_id).first() if partner_id.isdigit() else None
        return partner, month

    def statement_view(self, request):
        if not self.has_view_permission(request):
            raise PermissionDenied
        partner, month = self._chosen(request)
        statement = statements.month_statement(partner, month) if partner else None
        days = []
        if statement:
            for row in statement.days:
                start = selectors.local_midnight(row.day)
                end = selectors.local_midnight(row.day + datetime.timedelta(days=1))
                days.append({"row": row, "url": accepted_pushes_url(partner.pk, start, end)})
        context = {
            **self.admin_site.each_context(request),
            "title": _("对账单"),
            "opts": self.opts,
            "partners": Partner.objects.order_by("name", "pk"),
            "partner": partner,
            "month": month,
            "statement": statement,
            "days": days,
            "month_url": (
                accepted_pushes_url(partner.pk, statement.start, statement.end) if statement else ""
            ),
            "export_url": (
                statement_url(
                    partner=partner.pk, month=month, name="admin:reporting_statement_export"
                )
                if statement
                else ""
            ),
            "previous_url": statement_url(
                partner=partner and partner.pk, month=statements.previous_month(month)
            ),
            "next_url": statement_url(
                partner=partner and partner.pk, month=statements.next_month(month)
            ),
            "summary": [] if partner else statement_summary(month),
        }
        return TemplateResponse(request, "admin/reporting/statement/statement.html", context)

    def export_view(self, request):
        if not self.has_view_permission(request):
            raise PermissionDenied
        partner, month = self._chosen(request)
        if partner is None:
            return HttpResponseRedirect(statement_url(month=month))
        statement = statements.month_statement(partner, month)
        exported = statements.export_statement(statement, actor=request.user)
        response = HttpResponse(exported.content, content_type=exported.content_type)
        response["Content-Disposition"] = content_disposition_header(True, exported.file_name)
        return response


def statement_summary(month) -> list[dict]:
    """Every partner with revenue in the month, each with its statement."""
    found = statements.month_totals(month)
    return [
        {
            "partner": partner,
            "count": found[partner.pk][0],
            "amount": found[partner.pk][1],
            "url": statement_url(partner=partner.pk, month=month),
        }
        for partner in Partner.objects.filter(pk__in=found).order_by("name", "pk")
    ]
