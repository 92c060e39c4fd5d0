"""Benchmark: the admin's pages at a million leads (issue 14).

    uv run python benchmarks/admin_pages.py [--build-only] [--rebuild] [--database leaddesk_bench]
        [--repeat 5] [--only leads,pushes,...] [--skip-export] [--skip-job]
        [--save after.json] [--baseline before.json] [--report-only]

Builds the data set once on a throwaway PostgreSQL database (benchmarks/bench_data.py: 1M
leads, 1M check results, 200k pushes, ~295k audit rows; reused while complete), then prints, for
the dashboard (GET /admin/) and every list (leads, check results, pushes, 未推送及原因, audit
log, jobs, import batches): the default view, each filter the list offers (one value each), a
phone search and a text search: the median of ``--repeat`` runs and the number of queries, as
an operator (an auditor for the audit log), through Django's test client, DEBUG off; a page
whose query runs past 60 s is cancelled and shown as timed out. Then, each in a fresh process:
the export of all pushes to xlsx as an operator (seconds; the process's RSS before, its peak
during the export, VmHWM reset just before, and after) and three "select all" check-job starts
over every lead with a partner (seconds each; RSS before and after each; the jobs are deleted
after, and tasks go to the database backend, so nothing runs them).

Before and after: run it on the older commit from a worktree (its code, this script and the same
database), ``--no-migrate --save var/benchmarks/admin_pages-before.json``, then here with
``--save var/benchmarks/admin_pages-after.json --baseline var/benchmarks/admin_pages-before.json``:
the table shows both, "-" where a page is not offered on one side.
"""

import argparse
import sys
from contextlib import contextmanager
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_data  # noqa: E402


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database", default="leaddesk_bench")
    parser.add_argument("--build-only", action="store_true", help="build the data set and exit")
    parser.add_argument("--rebuild", action="store_true", help="build it even if it is there")
    parser.add_argument("--leads", type=int, default=bench_data.LEADS, help="(smaller: a test)")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--only", default="", help="comma-separated page groups")
    parser.add_argument("--skip-export", action="store_true")
    parser.add_argument("--skip-job", action="store_true")
    parser.add_argument("--save", default="", help="write the figures to this JSON file")
    parser.add_argument("--baseline", default="", help="a --save file to print beside")
    parser.add_argument("--report-only", action="store_true", help="print a --save file again")
    parser.add_argument("--no-migrate", action="store_true", help="(a baseline's older code)")
    return parser.parse_args(argv)


def scale(leads: int) -> None:
    """A smaller data set in the same proportions (for trying the builder out)."""
    if leads == bench_data.LEADS:
        return
    factor = leads / bench_data.LEADS
    bench_data.LEADS = leads
    bench_data.PUSHES_PER_JOB = max(1, int(bench_data.PUSHES_PER_JOB * factor))
    bench_data.SINGLE_CHECKS = int(bench_data.SINGLE_CHECKS * factor)
    bench_data.SKIPS_PER_JOB = max(1, int(bench_data.SKIPS_PER_JOB * factor))
    bench_data.DATASET_VERSION += f"-{leads}"


# --- the pages ------------------------------------------------------------------------------

LISTS = [
    # (group, URL name, who looks: the role that reads it)
    ("dashboard", "admin:index", "operator"),
    ("leads", "admin:leads_lead_changelist", "operator"),
    ("results", "admin:collision_collisionresult_changelist", "operator"),
    ("pushes", "admin:pushes_push_changelist", "operator"),
    ("skips", "admin:pushes_pushskip_changelist", "operator"),
    ("audit", "admin:partners_auditlogentry_changelist", "auditor"),
    ("jobs", "admin:jobs_job_changelist", "operator"),
    ("batches", "admin:leads_importbatch_changelist", "operator"),
]
# Choices of Django's date filters: [any, today, past 7 days, this month, this year, ...].
DATE_CHOICE = 2
SLOW_SECONDS = 5  # a page slower than this on its first view is timed once more, not five times
TIMEOUT_SECONDS = 60  # a query running longer is cancelled: the page is reported as timed out


@contextmanager
def statement_timeout(seconds: int):
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(f"SET statement_timeout = {int(seconds * 1000)}")
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            cursor.execute("SET statement_timeout = 0")


def client_for(username: str):
    from django.contrib.auth.models import User
    from django.test import Client

    from tests.conftest import log_in_verified

    return log_in_verified(Client(), User.objects.get(username=username))


def sample_values() -> dict:
    """Values a page is asked about: a lead's phone, a source, a batch, a file name."""
    from leads.models import ImportBatch, Lead

    lead = Lead.objects.order_by("pk")[500_000 % max(1, Lead.objects.count()) :][:1].get()
    batch = ImportBatch.objects.order_by("pk")[len(bench_data.SOURCES) // 2 :][:1].get()
    return {
        "phone": lead.phone,
        "source": bench_data.SOURCES[0],
        "batch": batch.pk,
        "file_name": batch.file_name.removesuffix(".xlsx"),
    }


def page_variants(client, group: str, url: str, samples: dict) -> list[tuple[str, str]]:
    """(label, query string) for the default view, one value of each filter the page shows,
    and its searches. Filters are read off the page itself (its changelist's filter specs), so
    the list is what the code under test offers."""
    variants = [("default", "")]
    if group == "dashboard":
        return variants
    response = client.get(url)
    changelist = response.context_data["cl"]
    for spec in changelist.filter_specs:
        title = str(spec.title)
        choices = [c for c in spec.choices(changelist) if "query_string" in c]
        if not choices:
            continue
        is_date = type(spec).__name__ == "DateFieldListFilter"
        pick = choices[min(DATE_CHOICE if is_date else 1, len(choices) - 1)]
        if pick["query_string"] in ("", "?"):
            continue
        variants.append((f"filter {title}: {pick['display']}", pick["query_string"].lstrip("?")))
    if group in ("results", "pushes"):  # shown only when a link sets it
        variants.append((f"filter 线索来源: {samples['source']}", f"source={samples['source']}"))
    if group == "leads":
        variants.append(("filter batch + 本批次新增", f"batch={samples['batch']}&batch_part=new"))
    if getattr(changelist, "is_facets_optional", False):
        variants.append(("显示计数 (facets)", "_facets=True"))
    if changelist.date_hierarchy:
        from django.utils import timezone

        field = changelist.date_hierarchy
        today = timezone.localdate()
        variants.append(
            (
                f"drill-down {today:%Y-%m}",
                f"{field}__year={today.year}&{field}__month={today.month}",
            )
        )
    if changelist.search_fields or group in ("leads", "results", "pushes", "skips", "audit"):
        from urllib.parse import quote

        variants.append(("search phone", f"q={samples['phone']}"))
        text = {"audit": "重复用户", "batches": samples["file_name"]}.get(group, samples["source"])
        variants.append((f"search text {text}", f"q={quote(text)}"))
    return variants


def time_page(client, url: str, repeat: int) -> dict:
    import statistics
    import time

    from django.db import OperationalError, connection
    from django.test.utils import CaptureQueriesContext

    started = time.perf_counter()
    try:
        with statement_timeout(TIMEOUT_SECONDS):
            response = client.get(url)  # warm: the first view compiles its templates
    except OperationalError:  # a query ran past TIMEOUT_SECONDS and was cancelled
        seconds = time.perf_counter() - started
        return {"ms": round(seconds * 1000, 1), "queries": 0, "runs": 0, "status": "timeout"}
    first = time.perf_counter() - started
    status = response.status_code
    timings = []
    if first > SLOW_SECONDS:  # one more run, not five: a page this slow is measured enough
        repeat = 1
    for _ in range(repeat):
        with CaptureQueriesContext(connection) as queries:
            started = time.perf_counter()
            response = client.get(url)
            timings.append((time.perf_counter() - started) * 1000)
    slowest = max(queries.captured_queries, key=lambda q: float(q["time"]), default=None)
    return {
        "ms": round(statistics.median(timings), 1),
        "queries": len(queries),
        "runs": len(timings),
        "status": response.status_code if status == response.status_code else status,
        "slowest_query_ms": round(float(slowest["time"]) * 1000, 1) if slowest else 0,
        "slowest_query": slowest["sql"][:300] if slowest else "",
    }


def measure_pages(args) -> list[dict]:
    from django.urls import reverse

    samples = sample_values()
    only = {name for name in args.only.split(",") if name}
    rows = []
    for group, name, username in LISTS:
        if only and group not in only:
            continue
        client = client_for(username)
        url = reverse(name)
        for label, query in page_variants(client, group, url, samples):
            result = time_page(client, f"{url}?{query}" if query else url, args.repeat)
            rows.append({"group": group, "page": label, "query": query, **result})
            print(
                f"  {group:9} {label[:52]:52} {result['ms']:8.1f} ms {result['queries']:4} q"
                f"  {result['status']}",
                flush=True,
            )
    return rows


# --- the export and the job start, each in a fresh process ----------------------------------


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def max_rss_mb() -> float:
    """The process's peak RSS since it started or since ``reset_peak_rss`` (VmHWM)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def reset_peak_rss() -> None:
    """Linux: writing 5 to clear_refs resets VmHWM to the current RSS, so the peak read next is
    the measured step's own, not Django's start-up or a page before it."""
    Path("/proc/self/clear_refs").write_text("5")


def measure_export(database: str) -> dict:
    """POST the push list's export (xlsx, every push) as an operator, the whole file read; this
    process's RSS before, its peak during the export (VmHWM, reset just before) and after."""
    import gc
    import time

    bench_data.django_setup(database)
    from django.urls import reverse

    from pushes.models import Push

    client = client_for("operator")
    url = reverse("admin:pushes_push_export")
    client.get(reverse("admin:pushes_push_changelist"))  # the process as a page left it
    gc.collect()
    before = rss_mb()
    reset_peak_rss()
    started = time.perf_counter()
    response = client.post(url, {"file_format": "xlsx"})
    size = (
        sum(len(part) for part in response.streaming_content)
        if response.streaming
        else len(response.content)
    )
    seconds = time.perf_counter() - started
    return {
        "seconds": round(seconds, 2),
        "status": response.status_code,
        "bytes": size,
        "rows": Push.objects.count(),
        "rss_before_mb": round(before, 1),
        "peak_rss_mb": round(max_rss_mb(), 1),
        "rss_after_mb": round(rss_mb(), 1),
    }


def measure_job_start(database: str, starts: int = 3) -> dict:
    """\"Select all\" leads → check job with a partner, ``starts`` times in one process (a web
    worker serves many requests): seconds each, and the process's RSS before, after each (after
    a garbage collection), and at its peak. The jobs made are deleted afterwards (the data set
    stays as built); no worker runs them (database task backend)."""
    import gc
    import time

    bench_data.django_setup(database)
    from django.urls import reverse
    from django_tasks_db.models import DBTaskResult

    from jobs.models import Job
    from leads.models import Lead
    from partners.models import Partner

    client = client_for("operator")
    url = reverse("admin:leads_lead_changelist")
    client.get(url)  # the process as a page left it
    partner = Partner.objects.filter(is_paused=False).order_by("pk").first()
    some_lead = Lead.objects.order_by("pk").values_list("pk", flat=True).first()
    known_jobs = set(Job.objects.values_list("pk", flat=True))
    known_tasks = set(DBTaskResult.objects.values_list("pk", flat=True))
    gc.collect()
    result = {"rss_before_mb": round(rss_mb(), 1), "seconds": [], "rss_after_mb": []}
    reset_peak_rss()
    try:
        for _ in range(starts):
            started = time.perf_counter()
            response = client.post(
                url,
                {
                    "action": "collision_check",
                    "select_across": "1",
                    "index": "0",
                    "_selected_action": [str(some_lead)],
                    "partner": str(partner.pk),
                    "apply": "1",
                },
            )
            result["seconds"].append(round(time.perf_counter() - started, 2))
            result["status"] = response.status_code
            gc.collect()
            result["rss_after_mb"].append(round(rss_mb(), 1))
            made = Job.objects.exclude(pk__in=known_jobs)
            result["job_totals"] = [
                *result.get("job_totals", []),
                *made.values_list("total", flat=True),
            ]
            made.delete()  # the next start is not refused as a repeat of this one
    finally:
        Job.objects.exclude(pk__in=known_jobs).delete()
        DBTaskResult.objects.exclude(pk__in=known_tasks).delete()
    result["peak_rss_mb"] = round(max_rss_mb(), 1)
    return result


def in_subprocess(function: str, database: str) -> dict:
    import json
    import subprocess

    code = (
        "import json, sys; sys.path.insert(0, 'benchmarks'); import admin_pages; "
        f"print('RESULT' + json.dumps(admin_pages.{function}({database!r})))"
    )
    done = subprocess.run(  # noqa: S603 - this interpreter, this script
        [sys.executable, "-c", code],
        cwd=bench_data.ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    for line in done.stdout.splitlines():
        if line.startswith("RESULT"):
            return json.loads(line.removeprefix("RESULT"))
    return {"error": (done.stderr or done.stdout)[-2000:]}


# --- the report -----------------------------------------------------------------------------


def report(rows, export, job, baseline: dict | None) -> None:
    before = {(r["group"], r["page"]): r for r in (baseline or {}).get("pages", [])}
    print()
    head = f"{'list':9} {'page':52} {'ms':>8} {'q':>4}"
    if baseline is not None:
        head += f"   {'before ms':>9} {'q':>4}"
    print(head)
    seen = set()
    for row in rows:
        key = (row["group"], row["page"])
        seen.add(key)
        line = f"{row['group']:9} {row['page'][:52]:52} {row['ms']:8.1f} {row['queries']:4}"
        if baseline is not None:
            old = before.get(key)
            if old and old["status"] not in (200, "timeout"):
                old = None  # not offered before (a redirect)
            line += f"   {old['ms']:9.1f} {old['queries']:4}" if old else f"   {'-':>9} {'-':>4}"
        flag = "  > 300 ms" if row["ms"] > 300 else ""
        if row["status"] not in (200, "timeout"):
            flag += f"  (HTTP {row['status']}: not offered)"
        if row["status"] == "timeout":
            flag = f"  timed out (a query ran > {TIMEOUT_SECONDS} s)"
        print(line + flag)
    for key, old in before.items():  # pages the code under test no longer offers
        if key not in seen and (not rows or key[0] in {r["group"] for r in rows}):
            print(f"{key[0]:9} {key[1][:52]:52} {'-':>8} {'-':>4}   {old['ms']:9.1f} "
                  f"{old['queries']:4}")  # fmt: skip
    over = [r for r in rows if r["ms"] > 300]
    print(f"\npages: {len(rows)}, over 300 ms: {len(over)}")
    for name, figures in (("export of all pushes (xlsx)", export), ("select-all check job", job)):
        if figures is None:
            continue
        print(f"{name}: {figures}")
        if baseline and baseline.get(name):
            print(f"  before: {baseline[name]}")


def main(argv=None) -> None:
    import json

    args = parse_args(argv)
    if args.report_only:  # the table again, from a --save file and its --baseline
        saved = json.loads(Path(args.save).read_text())
        baseline = json.loads(Path(args.baseline).read_text()) if args.baseline else None
        report(
            saved["pages"],
            saved["export of all pushes (xlsx)"],
            saved["select-all check job"],
            baseline,
        )
        return
    scale(args.leads)
    bench_data.ensure_dataset(args.database, rebuild=args.rebuild, migrate=not args.no_migrate)
    if args.build_only:
        print(f"data set ready on {args.database}")
        return
    print(f"pages on {args.database}: median of {args.repeat}, queries of one view", flush=True)
    rows = measure_pages(args)
    export = None if args.skip_export else in_subprocess("measure_export", args.database)
    if export is not None:
        print(f"  export: {export}", flush=True)
    job = None if args.skip_job else in_subprocess("measure_job_start", args.database)
    if job is not None:
        print(f"  job start: {job}", flush=True)
    baseline = json.loads(Path(args.baseline).read_text()) if args.baseline else None
    report(rows, export, job, baseline)
    if args.save:
        Path(args.save).parent.mkdir(parents=True, exist_ok=True)
        Path(args.save).write_text(
            json.dumps(
                {
                    "pages": rows,
                    "export of all pushes (xlsx)": export,
                    "select-all check job": job,
                },
                ensure_ascii=False,
                indent=1,
            )
        )
        print(f"saved to {args.save}")


if __name__ == "__main__":
    main()
