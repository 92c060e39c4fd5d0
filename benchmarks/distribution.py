"""An exclusive distribution run over many leads and three sandbox partners, timed against the
bound the partners' limits set.

Three sandbox partners, each in its own process (``manage.py run_sandbox``, so none shares our
GIL), with their own latency and limits; one exclusive plan over them; one run over every lead,
driven as in production: ``start_run``, then the runner a worker runs (``run_distribution``,
here in this process: the task ``start_run`` enqueues goes to the database queue, which no
worker reads, so the run is driven once, by us; its jobs run side by side in threads as in a
worker).

How the leads spread. The sandbox's verdict hangs on the phone's hash alone, so every partner
calls the same ~56% of leads marketable, and the highest priority would take all of them. The
partners' eligibility rules (接收条件) spread them instead, as a real plan's do: A (priority 3)
refuses 广东, 北京 and 上海 (4 of the 7 demo places: it checks and takes ~3/7 of the leads), B
(priority 2) requires social insurance (60% of the demo leads), C (priority 1) takes anything.
So round 1 gives A ~43% of the marketable leads, B ~34%, C ~23% (about their rates' shares).
To make the waterfall move, A's sandbox refuses (the spec's status 0, "处理失败") its first
``--refuse-share`` × leads pushes once the checks are over: those leads go to B or C in round 2.

What it prints: the wall time (``start_run`` to FINISHED), the steps (each job's partner, kind,
leads and times), and per partner the check and push requests the sandbox answered, its limits,
and its bound: the larger of requests ÷ allowed rate and requests × latency ÷ concurrency. The
bound of the run is the slowest partner's (the partners work side by side); the ratio wall ÷
bound is the figure to watch (goal ≤ 1.5×). Rounds run one after another, so a second bound adds
each step's slowest partner up ("step bound"): the part of the ratio the rounds cost. Then what
each sandbox saw (the most requests in any one second, the most in flight: never above its
limits), and that no lead is live or sold at two partners.

    uv run python benchmarks/distribution.py [--leads 100000] [--refuse-share 0.02]
        [--database-url postgres://postgres@127.0.0.1:5432/leaddesk_distbench] [--profile out.txt]

It uses a throwaway database: a temporary SQLite file unless --database-url is given; a
PostgreSQL database is created if missing and flushed. ``--profile`` samples every thread's
stack during the run and writes the functions seen most (inclusive, and at the top).
"""

import argparse
import json
import math
import os
import secrets
import sys
import tempfile
import threading
import time
import urllib.request
from collections import Counter
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.throughput import (  # noqa: E402
    configure,
    free_port,
    make_leads,
    sandbox_stats,
    start_sandbox,
)

PUSH_PATH = "/api/push/user"
BATCH_CHECK_PATH = "/api/collision/v1/advert/check/access/batch"


@dataclass
class Spec:
    slug: str
    latency_ms: int
    concurrency: int
    rps: float
    priority: int
    price: str
    rules: dict


SPECS = [
    Spec("a", 40, 8, 150, 3, "30", {"refused_regions": "广东\n北京\n上海"}),
    Spec("b", 20, 4, 100, 2, "20", {"requires_social_insurance": True}),
    Spec("c", 80, 8, 80, 1, "10", {}),
]


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--leads", type=int, default=100_000)
    parser.add_argument(
        "--refuse-share",
        type=float,
        default=0.02,
        help="partner A refuses this share of the leads' count of pushes (round 2's work)",
    )
    parser.add_argument(
        "--rate-scale",
        type=float,
        default=1.0,
        help="multiply every partner's allowed rate (and its sandbox's limit) by this",
    )
    parser.add_argument("--database-url", default="")
    parser.add_argument("--profile", default="", help="write the sampled stacks here")
    args = parser.parse_args()
    for spec in SPECS:
        spec.rps = round(spec.rps * args.rate_scale, 1)
    return args


def ensure_database(url: str) -> None:
    """Create the PostgreSQL database ``url`` names when it is missing."""
    import psycopg

    base, _, name = url.rpartition("/")
    with psycopg.connect(f"{base}/postgres", autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            conn.execute(f'CREATE DATABASE "{name}"')


def analyse() -> None:
    """Fresh statistics, as a database in service has (autovacuum keeps them): planned on the
    empty tables' statistics, the run's queries took a nested loop over run leads × leads with a
    join filter, quadratic (minutes per partner at 100,000 leads)."""
    from django.db import connection

    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")


def configure_sandbox(port: int, changes: dict) -> None:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/__sandbox__/config", data=json.dumps(changes).encode()
    )
    with urllib.request.urlopen(request, timeout=5) as answer:
        answer.read()


def refuse_after_checks(run_id: int, port: int, times: int, done: threading.Event) -> None:
    """Once the run is past its checks (step 1 on), partner A refuses its next ``times`` calls:
    the first pushes of round 1, whose leads then go to the next partner in round 2."""
    from django.db import connection

    from distribution.models import Run

    try:
        while not done.wait(0.02):
            if Run.objects.filter(pk=run_id, step__gte=1).exists():
                configure_sandbox(port, {"fault": "refuse", "times": times})
                return
    finally:
        connection.close()


class Sampler:
    """A sampling profiler of every thread (cProfile sees one thread, and Python 3.13 allows one
    at a time): every ``interval`` s it takes each thread's stack and counts, per function, the
    samples it is on the stack (inclusive) and at its top (leaf). A thread blocked in a socket
    or a lock shows its wait as the leaf; the rest is CPU (or the GIL)."""

    def __init__(self, interval: float = 0.005):
        self.interval = interval
        self.inclusive: Counter = Counter()
        self.leaf: Counter = Counter()
        self.samples = 0
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._sample, name="sampler", daemon=True)

    def start(self) -> None:
        self.thread.start()

    def _sample(self) -> None:
        me = threading.get_ident()
        while not self.stop.wait(self.interval):
            for ident, frame in sys._current_frames().items():
                if ident == me:
                    continue
                self.samples += 1
                seen = set()
                leaf = True
                while frame is not None:
                    code = frame.f_code
                    name = f"{Path(code.co_filename).name}:{code.co_firstlineno}:{code.co_name}"
                    if leaf:
                        self.leaf[name] += 1
                        leaf = False
                    if name not in seen:
                        seen.add(name)
                        self.inclusive[name] += 1
                    frame = frame.f_back

    def report(self, path: str) -> None:
        self.stop.set()
        self.thread.join()
        lines = [f"{self.samples} thread samples every {self.interval * 1000:g} ms"]
        for title, counts in (("inclusive", self.inclusive), ("leaf", self.leaf)):
            lines.append(f"-- {title}")
            lines += [f"{n:>8} {name}" for name, n in counts.most_common(150)]
        Path(path).write_text("\n".join(lines) + "\n")
        print(f"profile: {path}")


def make_partners(ports: dict[str, int], key: str) -> dict:
    from partners.models import Partner

    partners = {}
    for spec in SPECS:
        port = ports[spec.slug]
        partners[spec.slug] = Partner.objects.create(
            name=f"平台{spec.slug.upper()}",
            slug=f"bench-{spec.slug}",
            test_base_url=f"http://127.0.0.1:{port}",
            push_url=f"http://127.0.0.1:{port}{PUSH_PATH}",
            utm_source="bench",
            client_id="BENCH_CLIENT",
            secret_key=key,
            max_concurrency=spec.concurrency,
            max_requests_per_second=spec.rps,
            failure_threshold=1000,
            priority=spec.priority,
            price_per_push=Decimal(spec.price),
            **spec.rules,
        )
    return partners


def print_steps(run, started_wall) -> dict:
    """Each step's jobs, with times from the run's start; returns {(step, slug): requests}."""
    from distribution.models import RunJob
    from pushes.models import Push

    print("steps (times in s from start_run):")
    per_step: dict[tuple[int, str], int] = {}
    run_jobs = RunJob.objects.filter(run=run).select_related("job__partner").order_by("step")
    for run_job in run_jobs:
        job = run_job.job
        slug = job.partner.slug.removeprefix("bench-")
        if job.kind == "check":
            requests = job.chunks.count()  # one batch request a chunk
        else:
            requests = Push.objects.filter(job=job).count()
        per_step[run_job.step, slug] = requests
        at = {
            name: (getattr(job, name).timestamp() - started_wall)
            for name in ("created_at", "started_at", "finished_at")
        }
        print(
            f"  step {run_job.step} {slug} {job.kind:>5}: {job.total:>6} leads, {requests:>6} "
            f"requests | created {at['created_at']:7.2f}, started {at['started_at']:7.2f}, "
            f"finished {at['finished_at']:7.2f} (ran {at['finished_at'] - at['started_at']:6.2f} s) | "
            f"{job.state}: marketable {job.marketable}, accepted {job.accepted}, "
            f"rejected {job.rejected}, skipped {job.skipped}, "
            f"errors {job.errors + job.failed + job.unknown}"
        )
    return per_step


def main() -> None:
    args = parse_args()
    with tempfile.TemporaryDirectory(prefix="leaddesk-distbench-") as workdir:
        if args.database_url:
            ensure_database(args.database_url)
        configure(args, Path(workdir))
        from django.core.management import call_command

        call_command("migrate", verbosity=0)
        if args.database_url:
            call_command("flush", interactive=False, verbosity=0)
        from django.db.models import Count

        from distribution.models import Plan, Run, RunState
        from distribution.runner import run_distribution
        from distribution.services import placement, start_run
        from leads.models import Lead
        from pushes.models import LIVE_STATES, Push

        key = secrets.token_urlsafe(24)
        ports = {spec.slug: free_port() for spec in SPECS}
        sandboxes = [start_sandbox(ports[s.slug], key, s.latency_ms) for s in SPECS]
        try:
            partners = make_partners(ports, key)
            plan = Plan.objects.create(name="基准测试方案")
            plan.partners.set(partners.values())
            started = time.perf_counter()
            make_leads(args.leads)
            analyse()
            print(
                f"setup: {Lead.objects.count()} leads created in "
                f"{time.perf_counter() - started:.1f} s ({os.environ['DATABASE_URL'].split(':')[0]}); "
                f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs"
            )
            sampler = Sampler() if args.profile else None
            if sampler:
                sampler.start()

            started_wall, started = time.time(), time.perf_counter()
            run = start_run(plan=plan, leads=Lead.objects.all())
            recorded = time.perf_counter() - started
            done = threading.Event()
            refuser = threading.Thread(
                target=refuse_after_checks,
                args=(run.pk, ports["a"], int(args.leads * args.refuse_share), done),
            )
            refuser.start()
            outcome = run_distribution(run.pk, worker_id="benchmark")
            wall = time.perf_counter() - started
            done.set()
            refuser.join()
            run = Run.objects.get(pk=run.pk)
            print(
                f"run #{run.pk}: {run.state} ({outcome}) in {wall:.2f} s wall "
                f"(start_run recorded {run.total} leads in {recorded:.2f} s); "
                f"load average {os.getloadavg()[0]:.2f}"
            )
            per_step = print_steps(run, started_wall)

            print("partners:")
            bounds, limits_kept = {}, True
            for spec in SPECS:
                stats = sandbox_stats(ports[spec.slug])
                checks = stats["requests"].get(BATCH_CHECK_PATH, 0)
                pushes = stats["requests"].get(PUSH_PATH, 0)
                requests = sum(stats["requests"].values())
                by_rate = requests / spec.rps
                by_latency = requests * spec.latency_ms / 1000 / spec.concurrency
                bounds[spec.slug] = max(by_rate, by_latency)
                kept = (
                    stats["max_rate_per_second"] <= spec.rps
                    and stats["max_in_flight"] <= spec.concurrency
                )
                limits_kept &= kept
                print(
                    f"  {spec.slug}: {checks:>5} check + {pushes:>6} push requests | "
                    f"{spec.rps:g} req/s, concurrency {spec.concurrency}, latency "
                    f"{spec.latency_ms} ms, priority {spec.priority} | bound "
                    f"{bounds[spec.slug]:7.2f} s (÷ rate {by_rate:.2f} s, × latency ÷ "
                    f"concurrency {by_latency:.2f} s) | sandbox saw at most "
                    f"{stats['max_rate_per_second']} req in 1 s and {stats['max_in_flight']} "
                    f"in flight: {'within the limits' if kept else 'LIMITS EXCEEDED'}"
                )
            bound = max(bounds.values())
            by_spec = {spec.slug: spec for spec in SPECS}
            step_bound = 0.0
            for step in sorted({step for step, _ in per_step}):
                step_bound += max(
                    max(n / by_spec[slug].rps, n * by_spec[slug].latency_ms / 1000 / by_spec[slug].concurrency)
                    for (s, slug), n in per_step.items()
                    if s == step
                )  # fmt: skip
            twice = (
                Push.objects.filter(state__in=LIVE_STATES)
                .values("lead")
                .annotate(partners=Count("partner", distinct=True))
                .filter(partners__gt=1)
                .count()
            )
            placed = placement(run)
            sold = ", ".join(
                f"{row['partner__name']} {row['count']}" for row in placed["per_partner"]
            )
            print(
                f"bound {bound:.2f} s (the slowest partner's) | wall {wall:.2f} s | ratio "
                f"{wall / bound:.2f}× (goal ≤ 1.5×) | step bound {step_bound:.2f} s "
                f"(each step's slowest partner, added up): ratio {wall / step_bound:.2f}×"
            )
            print(
                f"placement: sold {placed['sold_leads']} ({sold}), held {placed['held_leads']}, "
                f"not placed {placed['unplaced_leads']} | leads live at two partners: {twice} | "
                f"limits kept: {limits_kept}"
            )
            if sampler:
                sampler.report(args.profile)
            problems = [
                *([f"run {run.state}"] if run.state != RunState.FINISHED else []),
                *([f"{twice} leads live at two partners"] if twice else []),
                *(["a sandbox saw more than its partner's limits"] if not limits_kept else []),
            ]
            if problems:
                raise SystemExit("FAILED: " + "; ".join(problems))
            if not math.isfinite(bound):
                raise SystemExit("FAILED: no requests")
        finally:
            for sandbox in sandboxes:
                sandbox.terminate()
                sandbox.wait(timeout=10)


if __name__ == "__main__":
    main()
