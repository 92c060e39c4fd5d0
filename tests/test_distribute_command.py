"""manage.py distribute: the command-line twin of running a 分发方案, against real sandbox
partners on loopback. The test settings run tasks inline, so the run ends inside the command;
with the database queue (as in production) it waits for a worker, and --wait watches it."""

import io
from decimal import Decimal

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import override_settings

from distribution.management.commands import distribute
from distribution.models import Mode, Plan, Run, RunLead, RunState
from distribution.runner import run_distribution
from distribution.services import cancel_run, plan_step
from leads.models import ImportBatch, ImportState, Lead
from pushes.models import Push, PushState
from tests.test_distribution import make_partner, plan_of, sandboxes  # noqa: F401  (fixtures)
from tests.workers import DB_TASKS

pytestmark = pytest.mark.django_db(transaction=True)


def distribute_(*args: str) -> str:
    out = io.StringIO()
    call_command("distribute", *args, stdout=out, stderr=io.StringIO())
    return out.getvalue()


def the_run() -> Run:
    return Run.objects.get()


def run_lead_ids(run: Run) -> set[int]:
    return set(RunLead.objects.filter(run=run).values_list("lead_id", flat=True))


@pytest.fixture
def two_partner_plan(make_partner):  # noqa: F811
    best, _ = make_partner("a", priority=9, price_per_push=Decimal("30"))
    other, _ = make_partner("b", priority=1, price_per_push=Decimal("20"))
    return plan_of(best, other, name="主方案")


def test_all_leads_with_wait_runs_the_plan_and_says_where_they_went(two_partner_plan, make_leads):
    leads = make_leads(12)

    output = distribute_("--plan", "主方案", "--all", "--wait")

    run = the_run()
    assert run.state == RunState.FINISHED and run.description == "命令行：全部线索"
    assert run_lead_ids(run) == {lead.pk for lead in leads}
    accepted = Push.objects.filter(state=PushState.ACCEPTED)
    sold_a = accepted.filter(partner__slug="a").count()
    sold_b = accepted.filter(partner__slug="b").count()
    assert sold_a  # the sandbox marks ~56% marketable; b only gets what a did not take
    held = Push.objects.filter(state=PushState.UNKNOWN).values("lead").distinct().count()
    sold = sold_a + sold_b
    amount = Decimal("30.00") * sold_a + Decimal("20.00") * sold_b
    expected = [
        f"分发任务 #{run.pk} 已创建：方案 主方案，命令行：全部线索，共 12 条线索",
        f"分发任务 #{run.pk} 已完成",
        f"分发结果：共 12 条线索，已售出 {sold} 条，金额 ¥{amount:,.2f}",
        f"  平台a：售出 {sold_a} 条，金额 ¥{Decimal('30.00') * sold_a:,.2f}",
        *([f"  平台b：售出 {sold_b} 条，金额 ¥{Decimal('20.00') * sold_b:,.2f}"] if sold_b else []),
        f"结果待定（推送中或结果未知，待对账）：{held} 条",
        f"未分配：{12 - sold - held} 条",
    ]
    assert output.splitlines() == expected


def test_ids_select_those_leads_only(two_partner_plan, make_leads):
    leads = make_leads(6)
    chosen = [leads[1].pk, leads[3].pk, leads[4].pk]

    output = distribute_("--plan", "主方案", "--ids", ",".join(map(str, chosen)))

    run = the_run()
    assert run_lead_ids(run) == set(chosen)
    assert run.description == "命令行：指定的 3 条线索"
    assert output.splitlines()[0] == (
        f"分发任务 #{run.pk} 已创建：方案 主方案，命令行：指定的 3 条线索，共 3 条线索"
    )
    assert not Push.objects.exclude(lead_id__in=chosen).exists()


def test_batch_selects_the_leads_of_that_import_batch(two_partner_plan, make_leads):
    batch = ImportBatch.objects.create(file_name="渠道A.xlsx", state=ImportState.DONE)
    other = ImportBatch.objects.create(file_name="渠道B.xlsx", state=ImportState.DONE)
    in_batch = make_leads(4, import_batch=batch)
    make_leads(3, import_batch=other)
    make_leads(2)

    output = distribute_("--plan", "主方案", "--batch", str(batch.pk))

    run = the_run()
    assert run_lead_ids(run) == {lead.pk for lead in in_batch}
    assert run.description == f"命令行：导入批次 #{batch.pk}"
    assert run.import_batch == batch
    assert f"命令行：导入批次 #{batch.pk}，共 4 条线索" in output


def test_without_a_worker_the_run_waits_in_the_queue_and_the_command_says_so(
    two_partner_plan, make_leads
):
    make_leads(3)
    with override_settings(TASKS=DB_TASKS):  # as in production: a worker takes it up
        output = distribute_("--plan", "主方案", "--all")

    run = the_run()
    assert run.state == RunState.QUEUED
    assert output.splitlines() == [
        f"分发任务 #{run.pk} 已创建：方案 主方案，命令行：全部线索，共 3 条线索",
        "由后台工作进程运行（make run 会启动一个；或：manage.py run_worker）",
    ]


def test_wait_prints_the_steps_progress_while_a_worker_runs_it(
    two_partner_plan, make_leads, monkeypatch
):
    make_leads(12)
    polls = []

    def worker_meanwhile(seconds):
        """Between the command's looks: first the worker plans the checks, then runs it all."""
        run = the_run()
        polls.append(seconds)
        if len(polls) == 1:
            plan_step(run)
        else:
            run_distribution(run.pk, worker_id="test-worker")

    monkeypatch.setattr(distribute.time, "sleep", worker_meanwhile)
    with override_settings(TASKS=DB_TASKS):
        output = distribute_("--plan", "主方案", "--all", "--wait")

    run = the_run()
    assert run.state == RunState.FINISHED
    lines = output.splitlines()
    assert lines[1:4] == [
        f"分发任务 #{run.pk} 排队中：撞库",
        f"分发任务 #{run.pk} 排队中：撞库，已处理 0/24",  # 12 leads, 2 partners
        f"分发任务 #{run.pk} 已完成",
    ]
    assert lines[4].startswith("分发结果：共 12 条线索，已售出 ")
    assert polls == [distribute.POLL_SECONDS] * 2


def test_wait_hints_at_a_missing_worker_and_fails_when_the_run_is_cancelled(
    two_partner_plan, make_leads, monkeypatch
):
    make_leads(2)
    monkeypatch.setattr(distribute, "HINT_AFTER_SECONDS", 0)
    monkeypatch.setattr(distribute.time, "sleep", lambda seconds: cancel_run(the_run()))

    with override_settings(TASKS=DB_TASKS), pytest.raises(CommandError) as raised:
        out = io.StringIO()
        call_command("distribute", "--plan", "主方案", "--all", "--wait", stdout=out)

    run = the_run()
    assert run.state == RunState.CANCELLED
    assert str(raised.value) == f"分发任务 #{run.pk} 已取消"
    lines = out.getvalue().splitlines()
    assert lines[1:4] == [
        f"分发任务 #{run.pk} 排队中：撞库",
        "0 秒没有进展：请确认后台工作进程在运行（make run 会启动一个；或：manage.py run_worker）。"
        "按 Ctrl-C 停止等待，分发任务不受影响",
        f"分发任务 #{run.pk} 已取消",
    ]
    assert lines[4:] == [
        "分发结果：共 2 条线索，已售出 0 条，金额 ¥0.00",
        "结果待定（推送中或结果未知，待对账）：0 条",
        "未分配：2 条",
    ]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--plan", "没有的方案", "--all"],
            "没有名为 '没有的方案' 的分发方案（已有：主方案、停用方案）",
        ),
        (["--plan", "停用方案", "--all"], "分发方案 停用方案 未启用"),
        (["--plan", "主方案", "--ids", "1,x"], "线索编号无效：'x'（应为逗号分隔的数字，如 1,2,3）"),
        (["--plan", "主方案", "--ids", "-3"], "线索编号无效：'-3'（应为逗号分隔的数字，如 1,2,3）"),
        (
            ["--plan", "主方案", "--ids", ","],
            "--ids 没有给出线索编号（应为逗号分隔的数字，如 1,2,3）",
        ),
        (["--plan", "主方案", "--ids", "999998,999999"], "没有编号为 999998、999999 的线索"),
        (["--plan", "主方案", "--batch", "424242"], "没有编号为 424242 的导入批次"),
    ],
)
def test_errors_are_said_in_chinese_and_start_nothing(two_partner_plan, make_leads, args, message):
    make_leads(2)
    Plan.objects.create(name="停用方案", mode=Mode.MULTI, is_active=False).partners.set(
        two_partner_plan.partners.all()
    )

    with pytest.raises(CommandError) as raised:
        distribute_(*args)

    assert str(raised.value) == message
    assert not Run.objects.exists()


def test_no_leads_matched_is_an_error(two_partner_plan, make_leads):
    empty = ImportBatch.objects.create(file_name="空.xlsx", state=ImportState.DONE)
    with pytest.raises(CommandError) as all_of_none:
        distribute_("--plan", "主方案", "--all")
    make_leads(1)
    with pytest.raises(CommandError) as empty_batch:
        distribute_("--plan", "主方案", "--batch", str(empty.pk))
    Lead.objects.update(erased_at="2026-01-01T00:00:00Z")
    with pytest.raises(CommandError) as only_erased:
        distribute_("--plan", "主方案", "--all")

    expected = "没有符合条件的线索（个人信息已删除的线索不参与分发）"
    assert str(all_of_none.value) == str(empty_batch.value) == str(only_erased.value) == expected
    assert not Run.objects.exists()


def test_exactly_one_selection_is_required(two_partner_plan, make_leads):
    make_leads(1)
    with pytest.raises(CommandError, match="--all|--ids|--batch"):
        distribute_("--plan", "主方案")
    with pytest.raises(CommandError, match="not allowed with"):
        distribute_("--plan", "主方案", "--all", "--batch", "1")
    assert not Run.objects.exists()
