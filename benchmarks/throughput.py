"""Throughput of check and push jobs against the sandbox partner at a set latency.

Runs the same job runner a worker runs, against the sandbox in its own process (so it does not
share our GIL), and prints each job's wall time beside the latency-bound minimum for the
partner's configured concurrency (requests × latency / concurrency), requests/s, and what the
sandbox measured: the most requests it saw in any one second, and the most in flight at once.

    uv run python benchmarks/throughput.py [--checks 100000] [--pushes 10000] [--latency-ms 50]
        [--concurrency 8] [--rps 200] [--database-url postgres://postgres@127.0.0.1:5432/bench]

It uses a throwaway database (a temporary SQLite file unless --database-url is given; that
database is flushed), never the developer's db.sqlite3.
"""

import argparse
import base64
import json
import os
import secrets
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--checks", type=int, default=100_000, help="leads to check")
    parser.add_argument("--pushes", type=int, default=10_000, help="marketable leads to push")
    parser.add_argument("--latency-ms", type=int, default=50)
    parser.add_argument("--concurrency", type=int, default=8, help="the partner's max concurrency")
    parser.add_argument(
        "--rps", type=float, default=200.0, help="the partner's max requests per second"
    )
    parser.add_argument("--database-url", default="")
    return parser.parse_args()


def configure(args, workdir: Path) -> None:
    os.environ.update(
        {
            "DJANGO_SETTINGS_MODULE": "config.settings",
            "SECRET_KEY": secrets.token_urlsafe(32),
            "DATABASE_URL": args.database_url or f"sqlite:///{workdir / 'bench.sqlite3'}",
            "FIELD_ENCRYPTION_KEYS": base64.urlsafe_b64encode(os.urandom(32)).decode(),
            "BLIND_INDEX_KEY": secrets.token_urlsafe(32),
            "LOG_LEVEL": "ERROR",
            # As in production: with DEBUG on (a developer's .env), Django logs every query.
            "DEBUG": "false",
        }
    )
    import django

    django.setup()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_sandbox(port: int, key: str, latency_ms: int) -> subprocess.Popen:
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "config.dev_settings"}  # the sandbox app's
    command = [
        sys.executable, "manage.py", "run_sandbox", "--port", str(port), "--latency-ms", str(latency_ms),
        "--credential", f"bench={key}", "--credential", f"BENCH_CLIENT={key}",
    ]  # fmt: skip
    process = subprocess.Popen(
        command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    for _ in range(100):
        try:
            sandbox_stats(port)
            return process
        except OSError:
            time.sleep(0.1)
    raise SystemExit("the sandbox did not start")


def sandbox_stats(port: int) -> dict:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/__sandbox__/stats", timeout=5) as answer:
        return json.loads(answer.read())


def make_leads(count: int) -> None:
    import random

    from leads.demo import fake_lead_fields
    from leads.models import Lead

    rng = random.Random(42)
    seen, batch = set(), []
    created = 0
    while created < count:
        lead = Lead(source="bench", **fake_lead_fields(rng))
        if lead.phone in seen or lead.id_number in seen:
            continue
        seen.update((lead.phone, lead.id_number))
        created += 1
        lead.refresh_indexes()
        batch.append(lead)
        if len(batch) == 2000:
            Lead.objects.bulk_create(batch)
            batch = []
    Lead.objects.bulk_create(batch)


def cpu_floor() -> float:
    """What any check of these leads costs this process at least: each lead's personal data is
    one Fernet token, to be decrypted before its phone can be hashed."""
    from leads.models import Lead
    from partners.protocols.yrxd_collision import phone_md5

    ids = list(Lead.objects.order_by("pk").values_list("pk", flat=True))
    started = time.perf_counter()
    for start in range(0, len(ids), 1000):
        chunk = Lead.objects.filter(pk__in=ids[start : start + 1000]).identities()
        [phone_md5(lead.phone) for lead in chunk]
    return time.perf_counter() - started


def run(kind: str, partner, lead_ids, port: int, args) -> dict:
    from jobs.models import Job
    from jobs.runner import run_job
    from jobs.services import create_job

    before = sandbox_stats(port)["requests"]
    started = time.perf_counter()
    job = create_job(kind=kind, partner=partner, lead_ids=lead_ids, description="benchmark")
    state = run_job(job.pk, worker_id="benchmark")
    elapsed = time.perf_counter() - started
    job = Job.objects.get(pk=job.pk)
    stats = sandbox_stats(port)
    requests = sum(stats["requests"].values()) - sum(before.values())
    minimum = requests * args.latency_ms / 1000 / args.concurrency
    return {
        "kind": kind,
        "state": state,
        "leads": job.total,
        "requests": requests,
        "wall_s": elapsed,
        "minimum_s": minimum,
        "ratio": elapsed / minimum if minimum else float("nan"),
        "requests_per_s": requests / elapsed,
        "leads_per_s": job.total / elapsed,
        "max_rate": stats["max_rate_per_second"],
        "max_in_flight": stats["max_in_flight"],
        "job": job,
    }


def report(result: dict, args) -> None:
    job = result["job"]
    print(
        f"{result['kind']:>5}: {result['leads']:>7} leads, {result['requests']:>6} requests in "
        f"{result['wall_s']:7.2f} s | latency-bound minimum {result['minimum_s']:6.2f} s "
        f"(= requests × {args.latency_ms} ms / {args.concurrency}) | ratio {result['ratio']:.2f}× | "
        f"{result['requests_per_s']:7.1f} req/s, {result['leads_per_s']:8.0f} leads/s | sandbox saw at most "
        f"{result['max_rate']} req in 1 s (limit {args.rps:g}) and {result['max_in_flight']} in flight "
        f"(limit {args.concurrency}) | job {job.state}: processed {job.processed}, marketable {job.marketable}, "
        f"accepted {job.accepted}, errors {job.errors + job.failed + job.unknown}"
    )


def main() -> None:
    args = parse_args()
    with tempfile.TemporaryDirectory(prefix="leaddesk-bench-") as workdir:
        configure(args, Path(workdir))
        from django.core.management import call_command

        call_command("migrate", verbosity=0)
        if args.database_url:
            call_command("flush", interactive=False, verbosity=0)
        from collision.models import CollisionResult
        from jobs.models import JobKind
        from leads.models import Lead
        from partners.models import Partner

        key = secrets.token_urlsafe(24)
        port = free_port()
        sandbox = start_sandbox(port, key, args.latency_ms)
        try:
            partner = Partner.objects.create(
                name="bench",
                slug="bench",
                test_base_url=f"http://127.0.0.1:{port}",
                push_url=f"http://127.0.0.1:{port}/api/push/user",
                utm_source="bench",
                client_id="BENCH_CLIENT",
                secret_key=key,
                max_concurrency=args.concurrency,
                max_requests_per_second=args.rps,
                failure_threshold=1000,
            )
            started = time.perf_counter()
            make_leads(max(args.checks, 1))
            print(f"setup: {Lead.objects.count()} leads created in {time.perf_counter() - started:.1f} s "
                  f"({os.environ['DATABASE_URL'].split(':')[0]})")  # fmt: skip

            check = run(
                JobKind.CHECK, partner, Lead.objects.values_list("pk", flat=True), port, args
            )
            report(check, args)
            floor = cpu_floor()
            print(
                f"check CPU floor: reading, decrypting and hashing the same leads in chunks of "
                f"1000 (no network, no writes) takes {floor:.2f} s | the check job took "
                f"{check['wall_s'] / floor:.2f}× that"
            )
            marketable = CollisionResult.objects.filter(partner=partner, is_marketable=True)
            push_ids = list(
                marketable.order_by("lead_id").values_list("lead_id", flat=True)[: args.pushes]
            )
            if len(push_ids) < args.pushes:
                print(f"note: only {len(push_ids)} marketable leads to push")
            if push_ids:
                report(run(JobKind.PUSH, partner, push_ids, port, args), args)
        finally:
            sandbox.terminate()
            sandbox.wait(timeout=10)


if __name__ == "__main__":
    main()
