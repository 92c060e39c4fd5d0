"""Before a push is confirmed, the operator sees what it will do: how many leads go out and how
many do not, by reason; and confirming then does exactly that."""

import re

import pytest
from django.test import Client
from django.urls import reverse

from collision.services import check_leads
from leads.models import Lead
from pushes.models import Push, PushSkip, PushState
from pushes.planning import plan_pushes
from sandbox.server import PUSH_PATH
from tests.browser import operator_user
from tests.conftest import log_in_verified

LEAD_LIST = reverse("admin:leads_lead_changelist")
FORECAST_ROW = re.compile(
    r'<tr class="forecast-(?:push|skip)" data-key="(?P<key>\w+)">.*?'
    r'<td class="forecast-count">(?:<strong>)?(?P<count>\d+)<',
    re.S,
)


@pytest.fixture
def operator(db):
    return log_in_verified(Client(), operator_user())


def forecast_on(page: str) -> dict[str, int]:
    return {m["key"]: int(m["count"]) for m in FORECAST_ROW.finditer(page)}


def post_push(client, leads, **extra):
    data = {"action": "push_to_partner", "_selected_action": [lead.pk for lead in leads], **extra}
    return client.post(LEAD_LIST, data, follow="apply" in extra)


def checked_leads(partner, make_leads, count=12) -> list[Lead]:
    leads = make_leads(count)
    check_leads(partner=partner, leads=Lead.objects.filter(pk__in=[lead.pk for lead in leads]))
    Lead.objects.filter(pk=leads[0].pk).update(edu_level="")  # incomplete, if marketable
    return leads


def test_choosing_a_partner_shows_the_forecast_and_sends_nothing(
    operator, partner, sandbox, make_leads
):
    leads = checked_leads(partner, make_leads)
    leads += make_leads(2)  # never checked
    expected = plan_pushes(partner=partner, leads=Lead.objects.all())

    first = post_push(operator, leads).content.decode()
    assert 'name="forecast"' in first and "下一步：查看推送预估" in first
    assert 'name="apply"' not in first

    page = post_push(operator, leads, partner=partner.pk, forecast="1").content.decode()

    shown = forecast_on(page)
    assert shown.pop("to_push") == len(expected.to_push) > 0
    assert shown == {reason.value: n for reason, n in expected.skip_counts()}
    assert shown["not_checked"] == 2 and sum(shown.values()) + len(expected.to_push) == 14
    assert f"确认推送 {len(expected.to_push)} 条" in page
    assert sandbox.calls(PUSH_PATH) == 0 and not Push.objects.exists()
    assert not PushSkip.objects.exists()  # a forecast records nothing


def test_confirming_pushes_what_the_forecast_said(operator, partner, sandbox, make_leads):
    leads = checked_leads(partner, make_leads)
    page = post_push(operator, leads, partner=partner.pk).content.decode()  # as a job page posts
    shown = forecast_on(page)

    post_push(operator, leads, partner=partner.pk, apply="1")

    assert Push.objects.filter(state=PushState.ACCEPTED).count() == shown.pop("to_push")
    assert sandbox.calls(PUSH_PATH) == Push.objects.count()
    recorded = {}
    for reason in PushSkip.objects.values_list("reason", flat=True):
        recorded[reason] = recorded.get(reason, 0) + 1
    assert recorded == shown


def test_a_forecast_without_a_partner_asks_for_one_and_choose_again_goes_back(
    operator, partner, sandbox, make_leads
):
    leads = checked_leads(partner, make_leads, count=3)

    missing = post_push(operator, leads, partner="", forecast="1").content.decode()
    assert "请先选择合作平台" in missing and "forecast-push" not in missing

    back = post_push(operator, leads, partner=partner.pk, choose_again="1").content.decode()
    assert "forecast-push" not in back and 'name="forecast"' in back


def test_a_big_selection_forecasts_a_job_and_its_wait_for_the_daily_cap(
    operator, partner, sandbox, make_leads, settings
):
    settings.JOB_INLINE_LIMIT = 5
    leads = checked_leads(partner, make_leads)
    partner.daily_push_cap = 1
    partner.save()
    expected = plan_pushes(partner=partner, leads=Lead.objects.all())  # a job has no budget
    assert len(expected.to_push) > 1

    page = post_push(operator, leads, partner=partner.pk).content.decode()

    assert forecast_on(page)["to_push"] == len(expected.to_push)
    assert "over_daily_cap" not in forecast_on(page)
    assert f"其余 {len(expected.to_push) - 1} 条在任务暂停后于次日继续推送" in page
    assert "后台任务" in page


def test_a_partner_that_takes_no_pushes_is_not_offered_a_push(operator, partner, make_leads):
    from partners.models import Partner

    checks_only = Partner.objects.create(
        name="只撞库平台",
        slug="checks-only",
        test_base_url=partner.test_base_url,
        utm_source="checks_only",
        secret_key="k" * 16,
        receives_pushes=False,
    )
    leads = make_leads(2)

    first = post_push(operator, leads).content.decode()
    assert partner.name in first and checks_only.name not in first
    refused = post_push(operator, leads, partner=checks_only.pk).content.decode()
    assert "请选择列出的合作平台" in refused and "forecast-push" not in refused
    check = operator.post(
        LEAD_LIST, {"action": "collision_check", "_selected_action": [lead.pk for lead in leads]}
    ).content.decode()
    assert checks_only.name in check  # it is still offered a check
    from partners.calls import PartnerUnavailable
    from pushes.services import push_leads

    with pytest.raises(PartnerUnavailable, match="不接收推送"):
        push_leads(partner=checks_only, leads=Lead.objects.all())


def test_a_forecast_counts_without_holding_the_selection(partner, sandbox, make_leads):
    """The forecast of a select-all over a million leads must not hold a million ids (or skips)
    in the web process: it keeps counts only, the same as the plan a push follows."""
    from pushes.services import forecast_push

    checked_leads(partner, make_leads, count=30)
    kept = plan_pushes(partner=partner, leads=Lead.objects.all())

    forecast = forecast_push(partner=partner, leads=Lead.objects.all())

    assert forecast.plan.to_push == [] and forecast.plan.skips == []
    assert forecast.plan.pushing == len(kept.to_push) > 0
    assert forecast.plan.skip_counts() == kept.skip_counts()
    assert forecast.plan.selected == kept.selected == 30
