"""manage.py distribute --plan NAME (--all | --ids 1,2,3 | --batch N) [--wait]: the command-line
twin of running a 分发方案 from the admin. It starts a run (distribution.services.start_run);
a worker (manage.py run_worker) runs it. With --wait the command only watches: it prints the
current step's progress until the run ends, then where the leads went. The exit status is
non-zero when the run was cancelled."""

import time
from decimal import Decimal

from django.core.management.base import BaseCommand, CommandError

from core.templatetags.money import yuan
from distribution.models import Plan, Run, RunState
from distribution.services import DistributionRefused, placement, start_run, step_jobs
from leads.models import ImportBatch, Lead

POLL_SECONDS = 3.0
HINT_AFTER_SECONDS = 30.0  # no progress for this long: perhaps no worker is running


class Command(BaseCommand):
    help = "运行分发方案：对选中的线索撞库并推送（由后台工作进程运行，--wait 等待结果）"

    def add_arguments(self, parser):
        parser.add_argument("--plan", required=True, metavar="名称", help="分发方案的名称")
        which = parser.add_mutually_exclusive_group(required=True)
        which.add_argument("--all", action="store_true", help="全部线索")
        which.add_argument("--ids", metavar="1,2,3", help="这些编号的线索（逗号分隔）", type=str)
        which.add_argument("--batch", type=int, metavar="N", help="导入批次 #N 的线索")
        parser.add_argument("--wait", action="store_true", help="等待分发完成，显示进度和分发结果")

    def handle(self, *args, plan, all, ids, batch, wait, **options):
        chosen = self._plan(plan)
        leads, description, import_batch = self._leads(all=all, ids=ids, batch=batch)
        if not leads.not_erased().exists():
            raise CommandError("没有符合条件的线索（个人信息已删除的线索不参与分发）")
        try:
            run = start_run(
                plan=chosen, leads=leads, description=description, import_batch=import_batch
            )
        except DistributionRefused as exc:
            raise CommandError(str(exc)) from None
        run.refresh_from_db()
        self.stdout.write(
            f"分发任务 #{run.pk} 已创建：方案 {chosen.name}，{description}，共 {run.total} 条线索"
        )
        if not wait:
            if not run.is_final:
                self.stdout.write(self._worker_hint())
            return
        run = self._watch(run)
        self._summarise(run)
        if run.state != RunState.FINISHED:
            raise CommandError(f"分发任务 #{run.pk} 已取消")

    # -- the selection ------------------------------------------------------------------------

    @staticmethod
    def _plan(name: str) -> Plan:
        chosen = Plan.objects.filter(name=name).first()
        if chosen is None:
            known = "、".join(sorted(Plan.objects.values_list("name", flat=True))) or "无"
            raise CommandError(f"没有名为 {name!r} 的分发方案（已有：{known}）")
        if not chosen.is_active:
            raise CommandError(f"分发方案 {chosen.name} 未启用")
        return chosen

    @staticmethod
    def _leads(*, all: bool, ids: str | None, batch: int | None):
        if all:
            return Lead.objects.all(), "命令行：全部线索", None
        if batch is not None:
            found = ImportBatch.objects.filter(pk=batch).first()
            if found is None:
                raise CommandError(f"没有编号为 {batch} 的导入批次")
            return Lead.objects.filter(import_batch=found), f"命令行：导入批次 #{batch}", found
        wanted = []
        for piece in ids.replace("，", ",").split(","):
            piece = piece.strip()
            if not piece:
                continue
            if not piece.isdigit() or not piece.isascii():
                raise CommandError(f"线索编号无效：{piece!r}（应为逗号分隔的数字，如 1,2,3）")
            wanted.append(int(piece))
        if not wanted:
            raise CommandError("--ids 没有给出线索编号（应为逗号分隔的数字，如 1,2,3）")
        wanted = sorted(set(wanted))
        leads = Lead.objects.filter(pk__in=wanted)
        missing = sorted(set(wanted) - set(leads.values_list("pk", flat=True)))
        if missing:
            raise CommandError(f"没有编号为 {'、'.join(map(str, missing))} 的线索")
        return leads, f"命令行：指定的 {len(wanted)} 条线索", None

    # -- watching -------------------------------------------------------------------------------

    @staticmethod
    def _worker_hint() -> str:
        return "由后台工作进程运行（make run 会启动一个；或：manage.py run_worker）"

    def _watch(self, run: Run) -> Run:
        """Poll until the run is final, a line whenever its progress changes."""
        last_line, last_change, hinted = None, time.monotonic(), False
        while True:
            run.refresh_from_db()
            line = self._progress(run)
            if line != last_line:
                self.stdout.write(line)
                last_line, last_change = line, time.monotonic()
            if run.is_final:
                return run
            if not hinted and time.monotonic() - last_change >= HINT_AFTER_SECONDS:
                self.stdout.write(
                    f"{int(HINT_AFTER_SECONDS)} 秒没有进展：请确认后台工作进程在运行"
                    "（make run 会启动一个；或：manage.py run_worker）。按 Ctrl-C 停止等待，"
                    "分发任务不受影响"
                )
                hinted = True
            time.sleep(POLL_SECONDS)

    @staticmethod
    def _progress(run: Run) -> str:
        if run.is_final:
            return f"分发任务 #{run.pk} {run.get_state_display()}"
        line = f"分发任务 #{run.pk} {run.get_state_display()}：{run.step_label}"
        jobs = step_jobs(run) if run.step_planned else []
        if jobs:
            processed = sum(job.processed for job in jobs)
            total = sum(job.total for job in jobs)
            line += f"，已处理 {processed}/{total}"
        paused = [f"{job.partner.name}：{job.pause_reason}" for job in jobs if job.pause_reason]
        if paused:
            line += f"（暂停 {'；'.join(paused)}）"
        return line

    def _summarise(self, run: Run) -> None:
        outcome = placement(run)
        self.stdout.write(
            f"分发结果：共 {run.total} 条线索，已售出 {outcome['sold_leads']} 条，"
            f"金额 {yuan(Decimal(outcome['amount'] or 0))}"
        )
        for row in outcome["per_partner"]:
            amount = yuan(Decimal(row["amount"] or 0))
            self.stdout.write(f"  {row['partner__name']}：售出 {row['count']} 条，金额 {amount}")
        self.stdout.write(f"结果待定（推送中或结果未知，待对账）：{outcome['held_leads']} 条")
        self.stdout.write(f"未分配：{outcome['unplaced_leads']} 条")
        for note in run.notes:
            self.stdout.write(f"说明：{note}")
