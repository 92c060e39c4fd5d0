"""对账单 and revenue (reporting.statements, reporting.counts' revenue): what a partner owes for a
month is its accepted pushes settled in that month, local time, at their price; the page, its
links, the xlsx file and the dashboard's revenue say the same, also after an unknown push is
reconciled to accepted and after the counts are rebuilt; who may see them."""

import datetime
import io
import re
import zipfile
from decimal import Decimal
from html import unescape
from urllib.parse import unquote

import openpyxl
import pytest
from django.contrib.auth.models import Group, Permission, User
from django.db.models import Sum
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from collision.services import check_leads
from core.roles import ADMINISTRATOR, AUDITOR, OPERATOR
from leads.models import ExportRecord, Lead
from partners.models import Partner
from pushes.models import Push, PushState
from pushes.services import push_leads, reconcile_unknown_pushes
from reporting import counts
from reporting.selectors import Period, activity
from reporting.statements import month_statement
from sandbox.server import Fault
from tests.conftest import log_in_verified

PAGE = "/admin/reporting/statement/"
EXPORT = "/admin/reporting/statement/export/"
MONTH = datetime.date(2026, 10, 1)


def local(*args) -> datetime.datetime:
    return timezone.make_aware(datetime.datetime(*args))


def signed_in(role: str | None, name: str = "") -> Client:
    user = User.objects.create_user(
        name or f"user-{role}", password="Bill-pass-2026!", is_staff=True
    )
    if role:
        user.groups.add(Group.objects.get(name=role))
    return log_in_verified(Client(), user)


def accepted_pushes(partner, make_leads, count: int) -> list[Push]:
    """Real pushes to the sandbox partner, accepted, each with the audit row of its call."""
    check_leads(partner=partner, leads=make_leads(6 * count))
    marketable = Lead.objects.filter(collision_results__is_marketable=True).distinct()
    chosen = list(marketable.order_by("pk").values_list("pk", flat=True)[:count])
    push_leads(partner=partner, leads=Lead.objects.filter(pk__in=chosen))
    pushes = list(Push.objects.filter(state=PushState.ACCEPTED).order_by("pk"))
    assert len(pushes) == count and all(p.audit_entry_id and p.finished_at for p in pushes)
    return pushes


def settle(push: Push, *, at: datetime.datetime, price: str, state=PushState.ACCEPTED) -> None:
    """As if the push had been settled ``at`` for ``price`` (a statement of a past month)."""
    Push.objects.filter(pk=push.pk).update(finished_at=at, price=Decimal(price), state=state)


@pytest.fixture
def october(partner, make_leads):
    """The sandbox partner's pushes around October 2026 (Asia/Shanghai): the first and the last
    second of the month in, the second before and the moment after out (a day in UTC would
    count the latter in October); a rejected and an unknown push in the month; another
    partner's accepted push in the month."""
    p = accepted_pushes(partner, make_leads, 7)
    settle(p[0], at=local(2026, 10, 1, 0, 0, 0), price="12.50")
    settle(p[1], at=local(2026, 10, 1, 9, 30, 15), price="8.00")
    settle(p[2], at=local(2026, 10, 31, 23, 59, 59), price="100.25")
    settle(p[3], at=local(2026, 9, 30, 23, 59, 59), price="7.00")  # September
    settle(p[4], at=local(2026, 11, 1, 0, 0, 0), price="9.00")  # November (October in UTC)
    settle(p[5], at=local(2026, 10, 15, 12), price="5.00", state=PushState.REJECTED)
    settle(p[6], at=local(2026, 10, 16, 12), price="6.00", state=PushState.UNKNOWN)
    other = Partner.objects.create(
        name="另一平台", slug="other", test_base_url="http://127.0.0.1:9", utm_source="other",
        secret_key="other-key-0123456789", receives_pushes=False,
    )  # fmt: skip
    Push.objects.create(
        lead=p[0].lead, partner=other, state=PushState.ACCEPTED, price=Decimal("50.00"),
        finished_at=local(2026, 10, 10, 10),
    )  # fmt: skip
    return {"partner": partner, "in": [p[0], p[1], p[2]], "other": other}


def billed(partner, month: datetime.date):
    """The month's accepted pushes of the partner, chosen in Python from every push's local
    settling time: independent of the statement's queries and of the counts."""
    return [
        push
        for push in Push.objects.select_related("lead").order_by("pk")
        if push.partner_id == partner.pk
        and push.state == PushState.ACCEPTED
        and push.finished_at
        and timezone.localtime(push.finished_at).date().replace(day=1) == month
    ]


def test_the_statement_is_the_months_accepted_pushes_at_their_price(october):
    partner = october["partner"]
    expected = billed(partner, MONTH)
    assert {p.pk for p in expected} == {p.pk for p in october["in"]}
    statement = month_statement(partner, MONTH)
    assert statement.count == 3
    assert statement.amount == sum(p.price for p in expected) == Decimal("120.75")
    assert [(d.day, d.count, d.amount) for d in statement.days] == [
        (datetime.date(2026, 10, 1), 2, Decimal("20.50")),
        (datetime.date(2026, 10, 31), 1, Decimal("100.25")),
    ]
    assert month_statement(partner, datetime.date(2026, 9, 1)).amount == Decimal("7.00")
    assert month_statement(partner, datetime.date(2026, 11, 1)).amount == Decimal("9.00")
    assert month_statement(october["other"], MONTH).amount == Decimal("50.00")


def listed(client: Client, url: str) -> set[int]:
    response = client.get(url)
    assert response.status_code == 200, url
    changelist = response.context["cl"]
    return set(changelist.queryset.values_list("pk", flat=True))


def test_the_page_links_each_day_and_the_month_to_exactly_its_pushes(october):
    auditor = signed_in(AUDITOR)
    partner = october["partner"]
    page = auditor.get(PAGE, {"partner": partner.pk, "month": "2026-10"})
    assert page.status_code == 200
    html = page.content.decode()
    assert "¥120.75" in html and "¥20.50" in html and "¥100.25" in html
    links = [
        (unescape(href), int(n))
        for href, n in re.findall(
            r'<a href="([^"]+)">(\d+)</a>', html[html.index('id="statement-days"') :]
        )
    ]
    assert [n for _url, n in links] == [2, 1, 3]  # 10-01, 10-31, the month
    by_day = {
        datetime.date(2026, 10, 1): {p.pk for p in october["in"][:2]},
        datetime.date(2026, 10, 31): {october["in"][2].pk},
    }
    assert [listed(auditor, url) for url, _n in links] == [
        *by_day.values(),
        {p.pk for p in october["in"]},
    ]
    # Without a partner: every partner's month, each linking to its statement.
    summary = auditor.get(PAGE, {"month": "2026-10"}).content.decode()
    assert "沙箱平台" in summary and "另一平台" in summary and "¥50.00" in summary


def sheet_rows(content: bytes) -> list[tuple]:
    book = openpyxl.load_workbook(io.BytesIO(content), read_only=True)
    return [tuple(row) for row in book.worksheets[0].iter_rows(values_only=True)]


def test_the_file_has_masked_phones_the_audit_rows_and_the_pages_total(october):
    partner = october["partner"]
    # A user who may see personal data in full still gets masked phones: it goes to the partner.
    client = signed_in(ADMINISTRATOR, "admin-with-pii")
    User.objects.get(username="admin-with-pii").user_permissions.add(
        *Permission.objects.filter(codename__in=["view_lead_pii", "export_lead_pii"])
    )
    response = client.get(EXPORT, {"partner": partner.pk, "month": "2026-10"})
    assert response.status_code == 200
    assert unquote(response["Content-Disposition"]).endswith("对账单-沙箱平台-2026-10.xlsx")
    rows = sheet_rows(response.content)
    header, *pushes, total = rows
    assert header == ("推送ID", "接收时间", "手机号（脱敏）", "单价（元）", "审计日志ID")
    expected = sorted(billed(partner, MONTH), key=lambda p: (p.finished_at, p.pk))
    assert [row[0] for row in pushes] == [p.pk for p in expected]  # in the order settled
    for row, push in zip(pushes, expected, strict=True):
        assert row[1] == timezone.localtime(push.finished_at).strftime("%Y-%m-%d %H:%M:%S")
        assert row[2] == push.lead.masked_phone and "****" in row[2]
        assert Decimal(str(row[3])) == push.price
        assert row[4] == push.audit_entry_id
    assert pushes[0][1] == "2026-10-01 00:00:00"
    # No clear phone anywhere in the file (its XML, unzipped).
    with zipfile.ZipFile(io.BytesIO(response.content)) as archive:
        xml = "".join(archive.read(name).decode() for name in archive.namelist())
    for push in expected:
        assert push.lead.phone and push.lead.phone not in xml
    # The total row is the page's.
    statement = client.get(PAGE, {"partner": partner.pk, "month": "2026-10"}).context["statement"]
    assert total[0] == "合计" and total[1] == f"{statement.count} 条"
    assert Decimal(str(total[3])).quantize(Decimal("0.01")) == statement.amount == Decimal("120.75")
    record = ExportRecord.objects.get()
    assert (
        record.row_count == 3
        and "对账单" in record.criteria
        and record.actor.username == "admin-with-pii"
    )


def dashboard_revenue(client: Client, period: str = "today") -> list[tuple[str, Decimal]]:
    """Every amount the dashboard links, with its link."""
    html = client.get("/admin/", {"period": period}).content.decode()
    html = html[html.index('id="dashboard"') : html.index('id="dashboard-apps"')]
    return [
        (unescape(href), Decimal(text[1:].replace(",", "")))
        for href, text in re.findall(r'<a href="([^"]+)">(¥[\d,]+\.\d\d)</a>', html)
    ]


def assert_dashboard_revenue_is_the_accepted_prices(client: Client) -> Decimal:
    today = timezone.localdate()
    accepted = [
        p
        for p in Push.objects.all()
        if p.state == PushState.ACCEPTED and p.finished_at
        and timezone.localtime(p.finished_at).date() == today
    ]  # fmt: skip
    total = sum((p.price for p in accepted), Decimal("0.00"))
    assert activity(Period.ending_today("today")).total.revenue == total
    amounts = dashboard_revenue(client)
    assert len(amounts) >= 3  # the card, the partner's row, the source's row
    for url, amount in amounts:  # each amount opens the list of exactly its pushes
        response = client.get(url)
        assert response.status_code == 200, url
        rows = response.context["cl"].queryset
        assert (rows.aggregate(s=Sum("price"))["s"] or Decimal("0.00")) == amount, url
        assert set(rows.values_list("state", flat=True)) <= {PushState.ACCEPTED}
    assert amounts[0][1] == total  # the card: the period's total
    assert counts.stored_amounts() == counts.amounts_from_rows()
    assert counts.stored() == counts.from_rows()
    return total


def test_dashboard_revenue_follows_a_reconciled_push_and_a_rebuild(partner, sandbox, make_leads):
    operator = signed_in(OPERATOR)
    pushes = accepted_pushes(partner, make_leads, 3)
    for push, price in zip(pushes, ("10.10", "20.20", "30.30"), strict=True):
        Push.objects.filter(pk=push.pk).update(price=Decimal(price))
    assert assert_dashboard_revenue_is_the_accepted_prices(operator) == Decimal("60.60")
    # A push that landed but whose answer was lost: unknown, not billed, until reconciled.
    Partner.objects.filter(pk=partner.pk).update(read_timeout=0.5)
    partner.refresh_from_db()
    sandbox.config.timeout_delay_s = 1.0
    sandbox.inject(Fault.TIMEOUT, times=1)
    marketable = Lead.objects.filter(collision_results__is_marketable=True, pushes__isnull=True)
    push_leads(partner=partner, leads=Lead.objects.filter(pk=marketable.order_by("pk")[0].pk))
    unknown = Push.objects.get(state=PushState.UNKNOWN)
    Push.objects.filter(pk=unknown.pk).update(price=Decimal("1234.56"))
    assert assert_dashboard_revenue_is_the_accepted_prices(operator) == Decimal("60.60")
    outcome = reconcile_unknown_pushes(pushes=Push.objects.filter(pk=unknown.pk))
    assert outcome["accepted"] == 1
    assert assert_dashboard_revenue_is_the_accepted_prices(operator) == Decimal("1295.16")
    assert "¥1,295.16" in operator.get("/admin/", {"period": "today"}).content.decode()
    # The same after the counts are rebuilt from the rows.
    counts.rebuild()
    assert assert_dashboard_revenue_is_the_accepted_prices(operator) == Decimal("1295.16")
    # And the month's statement agrees with the dashboard.
    month = timezone.localdate().replace(day=1)
    assert month_statement(partner, month).amount == Decimal("1295.16")


@pytest.mark.parametrize("role", [OPERATOR, None])
def test_who_lacks_the_permission_gets_no_link_and_a_403(october, role):
    client = signed_in(role)
    partner = october["partner"]
    assert client.get(PAGE).status_code == 403
    assert client.get(EXPORT, {"partner": partner.pk, "month": "2026-10"}).status_code == 403
    assert ExportRecord.objects.count() == 0
    index = client.get("/admin/").content.decode()
    assert PAGE not in index


@pytest.mark.parametrize("role", [AUDITOR, ADMINISTRATOR])
def test_auditors_and_administrators_reach_statements_from_the_dashboard(october, role):
    client = signed_in(role)
    index = client.get("/admin/", {"period": "30d"}).content.decode()
    assert 'id="dashboard-statements"' in index and PAGE in index
    assert reverse("admin:reporting_statement_changelist") in index  # the app list too
    assert client.get(PAGE).status_code == 200
