"""A team lead's morning in Chromium, as an operator: the dashboard on the home page (funnel,
trend chart drawn on the server, jobs, partners in trouble), a period switch, and a number
clicked open on the list that shows the same count."""

import datetime
import random
import re

import pytest
from django.utils import timezone

from collision.models import CollisionResult
from collision.services import check_leads
from jobs.models import Job, JobKind, JobState
from leads.models import Lead
from partners.models import Partner
from pushes.models import Push
from pushes.services import push_leads
from reporting import counts
from tests.browser import browser_page, log_in, operator_user, requires_chromium
from tests.conftest import CLIENT_ID, PARTNER_KEY, UTM_SOURCE

pytestmark = [pytest.mark.browser, requires_chromium, pytest.mark.django_db(transaction=True)]
PASSWORD = "correct-horse-battery"


def result_count(page) -> int:
    """Django's "N 条…" under a list."""
    return int(re.search(r"(\d+)", page.inner_text("#changelist-form .paginator")).group(1))


def spread_over_days(rows, field: str, rng: random.Random) -> None:
    """Move rows back 0–9 days, as a fortnight of work would leave them."""
    for pk in rows.values_list("pk", flat=True):
        back = datetime.timedelta(days=rng.randrange(10), hours=rng.randrange(3))
        rows.model.objects.filter(pk=pk).update(**{field: timezone.now() - back})


@pytest.fixture
def fortnight(partner, sandbox, make_leads):
    counts.recompute()  # see tests/test_dashboard.py: SQLite's flush counted the last test out
    second = Partner.objects.create(
        name="合作平台乙", slug="second", test_base_url=sandbox.base_url,
        test_push_url=sandbox.push_url, utm_source=UTM_SOURCE, client_id=CLIENT_ID,
        secret_key=PARTNER_KEY, daily_push_cap=8, connect_timeout=1, read_timeout=1,
    )  # fmt: skip
    for source, count in (("抖音", 24), ("快手", 14), ("百度", 8)):
        make_leads(count, source=source)
    leads = list(Lead.objects.all())
    for each in (partner, second):
        check_leads(partner=each, leads=leads)
        marketable = CollisionResult.objects.filter(partner=each, is_marketable=True)
        ids = list(marketable.values_list("lead_id", flat=True)[:10])
        push_leads(partner=each, leads=Lead.objects.filter(pk__in=ids))
    rng = random.Random(3)
    spread_over_days(Lead.objects.all(), "created_at", rng)
    spread_over_days(CollisionResult.objects.all(), "checked_at", rng)
    spread_over_days(Push.objects.exclude(partner=second), "created_at", rng)
    Partner.objects.filter(pk=second.pk).update(
        consecutive_failures=3, last_error="HTTP 502 网关错误", last_error_at=timezone.now()
    )
    Job.objects.create(
        kind=JobKind.CHECK, partner=partner, total=5000, processed=1800, state=JobState.RUNNING,
        description="筛选：来源 抖音",
    )  # fmt: skip
    Job.objects.create(
        kind=JobKind.PUSH, partner=second, total=800, processed=300, state=JobState.PAUSED,
        pause_reason="已达每日推送上限",
    )  # fmt: skip
    assert counts.stored() == counts.from_rows()


def test_operator_reads_the_dashboard_and_opens_a_number(live_server, fortnight):
    operator_user("operator", PASSWORD)
    base = live_server.url
    with browser_page() as page:
        blocked = []
        page.on("console", lambda m: blocked.append(m.text) if "Content Security" in m.text else 0)
        log_in(page, base, "operator", PASSWORD)
        page.goto(f"{base}/admin/?period=30d")
        assert page.inner_text(".period-switch a.current") == "近 30 天"
        # The chart: one line per stage, a point per day, no script and no network.
        assert len(page.query_selector_all("#trend-chart polyline")) == 5
        assert len(page.query_selector_all("#trend-chart .series-checked circle")) == 30
        assert page.is_visible("#trend-chart")
        assert "合作平台乙" in page.inner_text("#dashboard-partners .needs-attention")
        assert page.query_selector("#dashboard-partners meter.cap-gauge")
        assert "1800 / 5000" in page.inner_text("#dashboard-jobs")
        page.screenshot(path="/tmp/dashboard.png", full_page=True)

        # A number opens the list behind it, showing the same count.
        accepted = page.query_selector_all("#dashboard-funnel .card-value a")[4]
        shown = int(accepted.inner_text())
        assert shown > 0
        accepted.click()
        page.wait_for_selector("#result_list")
        assert "/admin/pushes/push/" in page.url and result_count(page) == shown

        page.goto(f"{base}/admin/?period=7d")
        cell = page.query_selector("#dashboard-by-source tbody tr:first-child td.count a")
        shown = int(cell.inner_text())
        source = page.inner_text("#dashboard-by-source tbody tr:first-child th")
        cell.click()
        page.wait_for_selector("#result_list")
        assert result_count(page) == shown
        assert "/admin/leads/lead/" in page.url and source in page.inner_text("#changelist-filter")
        assert blocked == []
