"""Distribution plans run against real sandbox partners on loopback: the exclusive waterfall
(the best partner first, the next only when it refuses, never after an unknown push), multi
mode, stale results checked again, exclusive-only partners, and the ranking."""

from collections import Counter
from datetime import timedelta
from decimal import Decimal

import pytest
from django.test import override_settings
from django.utils import timezone

from collision.models import CheckSkip, CollisionResult
from collision.services import check_leads
from distribution import waterfall
from distribution.models import Mode, Plan, RunJob, RunState
from distribution.runner import run_distribution
from distribution.services import cancel_run, placement, plan_step, start_run
from jobs.models import JobKind
from leads.imports import services as imports
from leads.models import Lead
from partners.models import Partner
from pushes.models import LIVE_STATES, Push, PushSkip, PushState, SkipReason
from pushes.services import push_leads
from sandbox.server import Fault, SandboxConfig, SandboxPartner
from tests.conftest import CLIENT_ID, PARTNER_KEY, UTM_SOURCE
from tests.import_files import CHINESE_HEADERS, lead_rows, xlsx_bytes

pytestmark = pytest.mark.django_db(transaction=True)
DUMMY_TASKS = {"default": {"BACKEND": "django.tasks.backends.dummy.DummyBackend"}}


@pytest.fixture
def sandboxes():
    servers = []

    def start():
        server = SandboxPartner(
            SandboxConfig(credentials={UTM_SOURCE: PARTNER_KEY, CLIENT_ID: PARTNER_KEY})
        )
        server.start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


@pytest.fixture
def make_partner(sandboxes):
    def make(slug: str, **terms) -> tuple[Partner, SandboxPartner]:
        server = sandboxes()
        partner = Partner.objects.create(
            name=f"平台{slug}",
            slug=slug,
            test_base_url=server.base_url,
            push_url=server.push_url,
            utm_source=UTM_SOURCE,
            client_id=CLIENT_ID,
            secret_key=PARTNER_KEY,
            connect_timeout=1,
            read_timeout=1,
            **terms,
        )
        return partner, server

    return make


def marketable_leads(make_leads, partner, count):
    """``count`` leads the sandbox answers as marketable (its verdict hangs on the phone)."""
    leads = make_leads(count * 4)
    check_leads(partner=partner, leads=leads)
    keep = CollisionResult.objects.filter(partner=partner, is_marketable=True).values("lead")
    Lead.objects.exclude(pk__in=keep).delete()
    CollisionResult.objects.all().delete()
    chosen = list(Lead.objects.order_by("pk")[:count])
    Lead.objects.exclude(pk__in=[lead.pk for lead in chosen]).delete()
    return chosen


def plan_of(*partners, mode=Mode.EXCLUSIVE, name="方案"):
    plan = Plan.objects.create(name=name, mode=mode)
    plan.partners.set(partners)
    return plan


def where_each_went() -> dict[int, list[tuple[str, str]]]:
    went = {}
    pushes = Push.objects.order_by("pk").values_list("lead_id", "partner__slug", "state")
    for lead_id, slug, state in pushes:
        went.setdefault(lead_id, []).append((slug, state))
    return went


def test_exclusive_plan_checks_every_partner_and_sells_each_lead_once_to_the_best(
    make_partner, make_leads
):
    best, _ = make_partner("a", priority=5, price_per_push=Decimal("30"))
    cheaper, _ = make_partner("b", priority=5, price_per_push=Decimal("20"))
    leads = marketable_leads(make_leads, best, 6)

    run = start_run(plan=plan_of(best, cheaper), leads=Lead.objects.all())

    run.refresh_from_db()
    assert run.state == RunState.FINISHED
    # Both partners were asked about every lead; each lead went to the better price only.
    assert CollisionResult.objects.filter(partner=best).count() == len(leads)
    assert CollisionResult.objects.filter(partner=cheaper).count() == len(leads)
    assert where_each_went() == {lead.pk: [("a", PushState.ACCEPTED)] for lead in leads}
    assert set(Push.objects.values_list("price", flat=True)) == {Decimal("30.00")}
    assert Push.objects.filter(exclusive=True).count() == len(leads)
    outcome = placement(run)
    assert outcome["sold_leads"] == len(leads) and outcome["unplaced_leads"] == 0
    assert outcome["amount"] == Decimal("180.00")
    kinds = Counter(RunJob.objects.filter(run=run).values_list("step", "job__kind"))
    assert kinds == {(0, JobKind.CHECK): 2, (1, JobKind.PUSH): 1}


def test_waterfall_offers_a_refused_lead_to_the_next_partner(make_partner, make_leads):
    first, first_server = make_partner("a", priority=9)
    second, _ = make_partner("b", priority=1)
    leads = marketable_leads(make_leads, first, 3)
    check_leads(partner=first, leads=leads)
    check_leads(partner=second, leads=leads)  # fresh results: the run checks nothing again
    first_server.inject(Fault.REFUSE)  # partner a refuses every lead it is pushed

    run = start_run(plan=plan_of(first, second), leads=Lead.objects.all())

    run.refresh_from_db()
    assert run.state == RunState.FINISHED
    assert where_each_went() == {
        lead.pk: [("a", PushState.REJECTED), ("b", PushState.ACCEPTED)] for lead in leads
    }
    steps = Counter(RunJob.objects.filter(run=run).values_list("step", "job__partner__slug"))
    assert steps == {(1, "a"): 1, (2, "b"): 1}  # no check step jobs: the results were fresh
    assert {row["partner__name"] for row in placement(run)["per_partner"]} == {"平台b"}


def test_an_unknown_push_stops_the_waterfall_for_that_lead(make_partner, make_leads):
    first, first_server = make_partner("a", priority=9)
    second, _ = make_partner("b", priority=1)
    leads = marketable_leads(make_leads, first, 2)
    check_leads(partner=first, leads=leads)
    check_leads(partner=second, leads=leads)
    first_server.config.timeout_delay_s = 1.5  # past our 1 s read timeout: it may have landed
    first_server.inject(Fault.TIMEOUT)

    run = start_run(plan=plan_of(first, second), leads=Lead.objects.all())

    run.refresh_from_db()
    assert run.state == RunState.FINISHED
    assert where_each_went() == {lead.pk: [("a", PushState.UNKNOWN)] for lead in leads}
    assert not Push.objects.filter(partner=second).exists()
    outcome = placement(run)
    assert outcome["held_leads"] == 2 and outcome["sold_leads"] == 0


def test_multi_plan_pushes_to_every_partner_where_marketable(make_partner, make_leads):
    one, _ = make_partner("a")
    other, _ = make_partner("b")
    leads = make_leads(12)

    run = start_run(plan=plan_of(one, other, mode=Mode.MULTI), leads=Lead.objects.all())

    run.refresh_from_db()
    assert run.state == RunState.FINISHED
    for partner in (one, other):
        marketable = set(
            CollisionResult.objects.filter(partner=partner, is_marketable=True).values_list(
                "lead_id", flat=True
            )
        )
        assert marketable  # the sandbox marks ~56% marketable
        pushed = set(Push.objects.filter(partner=partner).values_list("lead_id", flat=True))
        assert pushed == marketable
        skipped = PushSkip.objects.filter(partner=partner).values_list("lead_id", flat=True)
        assert set(skipped) == {lead.pk for lead in leads} - marketable
    assert not Push.objects.filter(exclusive=True).exists()


def test_a_stale_result_is_checked_again_before_the_push(make_partner, make_leads):
    partner, _ = make_partner("a", check_valid_days=7)
    leads = marketable_leads(make_leads, partner, 2)
    check_leads(partner=partner, leads=leads)
    CollisionResult.objects.update(checked_at=timezone.now() - timedelta(days=8))

    # A plain push of a stale result is refused, with the reason.
    summary = push_leads(partner=partner, leads=Lead.objects.all())
    assert summary.skipped == {SkipReason.STALE_CHECK: 2}
    assert "有效期 7 天" in PushSkip.objects.first().detail
    assert not Push.objects.exists()

    run = start_run(plan=plan_of(partner), leads=Lead.objects.all())

    run.refresh_from_db()
    assert run.state == RunState.FINISHED
    assert CollisionResult.objects.filter(partner=partner).count() == 4  # checked again
    assert Push.objects.filter(state=PushState.ACCEPTED).count() == 2


def test_an_exclusive_only_partner_gets_no_lead_live_elsewhere_and_blocks_others(
    make_partner, make_leads
):
    exclusive_buyer, _ = make_partner("x", exclusive_only=True)
    other, _ = make_partner("o")
    leads = marketable_leads(make_leads, other, 2)
    check_leads(partner=other, leads=leads)
    check_leads(partner=exclusive_buyer, leads=leads)
    push_leads(partner=other, leads=Lead.objects.filter(pk=leads[0].pk))
    push_leads(partner=exclusive_buyer, leads=Lead.objects.filter(pk=leads[1].pk))

    to_buyer = push_leads(partner=exclusive_buyer, leads=Lead.objects.filter(pk=leads[0].pk))
    to_other = push_leads(partner=other, leads=Lead.objects.filter(pk=leads[1].pk))

    assert to_buyer.skipped == {SkipReason.SOLD_ELSEWHERE: 1}
    assert to_other.skipped == {SkipReason.SOLD_ELSEWHERE: 1}
    for lead in leads:
        assert Push.objects.filter(lead=lead, state__in=LIVE_STATES).count() == 1
    assert Push.objects.get(partner=exclusive_buyer).exclusive


def test_ineligible_leads_are_neither_checked_nor_pushed_and_say_why(make_partner, make_leads):
    partner, _ = make_partner("a", refused_regions="火星")
    elsewhere = make_leads(2, province="北京市")
    on_mars = make_leads(2, province="火星")

    run = start_run(plan=plan_of(partner), leads=Lead.objects.all())

    run.refresh_from_db()
    assert run.state == RunState.FINISHED
    checked = set(CollisionResult.objects.values_list("lead_id", flat=True))
    assert checked == {lead.pk for lead in elsewhere}
    skips = CheckSkip.objects.values_list("lead_id", "reason")
    assert set(skips) == {(lead.pk, "not_eligible") for lead in on_mars}
    assert not Push.objects.filter(lead__in=on_mars).exists()


def test_the_ranking_is_priority_then_price_then_a_weighted_draw():
    high = waterfall.Terms(1, priority=2, price=Decimal("1"), weight=1)
    rich = waterfall.Terms(2, priority=1, price=Decimal("50"), weight=1)
    also = waterfall.Terms(3, priority=1, price=Decimal("50"), weight=3)
    assert waterfall.ranked(7, [rich, high])[0] == high
    assert waterfall.ranked(7, [waterfall.Terms(4, 1, Decimal("9"), 9), rich])[0] == rich
    wins = Counter(waterfall.best(lead, [rich, also]).partner_id for lead in range(20_000))
    assert 2.7 < wins[3] / wins[2] < 3.3  # shared in proportion to weight (3 : 1)
    assert waterfall.best(11, [rich, also]) == waterfall.best(11, [also, rich])  # stable


def test_a_plan_marked_to_run_on_import_runs_on_each_imported_batch(make_partner):
    partner, _ = make_partner("a")
    plan = plan_of(partner, name="导入即分发")
    Plan.objects.filter(pk=plan.pk).update(run_on_import=True)
    plan_of(partner, name="手动方案")  # not marked: never runs by itself
    data = xlsx_bytes(CHINESE_HEADERS, lead_rows(6))
    batch = imports.import_batch_create(file_name="渠道E.xlsx", data=data)
    imports.import_batch_start_analysis(batch)
    batch.refresh_from_db()

    imports.import_batch_confirm(batch)

    batch.refresh_from_db()
    run = batch.distribution_runs.get()
    assert run.plan.name == "导入即分发" and run.state == RunState.FINISHED
    assert run.total == Lead.objects.filter(import_batch=batch).count() == 6
    assert CollisionResult.objects.filter(partner=partner).count() == 6
    assert Push.objects.filter(partner=partner).exists()


def test_a_plain_push_skips_a_lead_outside_the_rules_set_after_its_check(make_partner, make_leads):
    partner, _ = make_partner("a")
    leads = marketable_leads(make_leads, partner, 2)
    check_leads(partner=partner, leads=leads)
    Partner.objects.filter(pk=partner.pk).update(min_zhima_score=900)
    Lead.objects.filter(pk=leads[0].pk).update(zhima_score=950)
    Lead.objects.filter(pk=leads[1].pk).update(zhima_score=600)
    partner.refresh_from_db()

    summary = push_leads(partner=partner, leads=Lead.objects.all())

    assert summary.accepted == 1 and summary.skipped == {SkipReason.NOT_ELIGIBLE: 1}
    skip = PushSkip.objects.get()
    assert skip.lead_id == leads[1].pk and "600" in skip.detail and "900" in skip.detail


def test_a_paused_partner_sits_the_round_out_and_the_waterfall_goes_on(make_partner, make_leads):
    best, _ = make_partner("a", priority=9)
    next_best, _ = make_partner("b", priority=1)
    leads = marketable_leads(make_leads, best, 3)
    check_leads(partner=best, leads=leads)
    check_leads(partner=next_best, leads=leads)
    Partner.objects.filter(pk=best.pk).update(is_paused=True)

    run = start_run(plan=plan_of(best, next_best), leads=Lead.objects.all())

    run.refresh_from_db()
    assert run.state == RunState.FINISHED
    assert where_each_went() == {lead.pk: [("b", PushState.ACCEPTED)] for lead in leads}
    assert any("平台a 已暂停" in note for note in run.notes)


def test_a_run_cancelled_before_its_step_is_planned_plans_nothing(make_partner, make_leads):
    partner, _ = make_partner("a")
    make_leads(3)
    plan = plan_of(partner)
    with override_settings(TASKS=DUMMY_TASKS):  # queued, not run
        run = start_run(plan=plan, leads=Lead.objects.all())
    cancel_run(run)

    assert plan_step(run) == []
    run_distribution(run.pk)

    run.refresh_from_db()
    assert run.state == RunState.CANCELLED
    assert not RunJob.objects.exists() and not CollisionResult.objects.exists()
