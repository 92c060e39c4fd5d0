"""Benchmark: importing an N-row lead list, against two baselines measured in the same run.
(Over 400 lines: one script run whole by hand; its generator, measurements and report go together.)

    uv run python benchmarks/import_leads.py [--rows 100000] [--baseline-rows N]
        [--database-url postgres://postgres@127.0.0.1:5432/bench]

Generates a realistic .xlsx (fake people from leads.demo; a few % bad cells, in-file duplicates
and leads already in the database), then runs each measurement in a fresh process, on a
throwaway database (a temporary SQLite file, never db.sqlite3; or the PostgreSQL database
given, flushed before each measurement), and prints seconds, rows/s and peak memory (max RSS of
that process) for:

  (b) the floor: only reading the file with python-calamine (no cleaning, no database),
      measured just before and just after ours (the machine is shared: a load that comes and
      goes would otherwise land on one side of the ratio only), ours compared with the mean;
  (a) stock django-import-export: its XLSX format (openpyxl) and a ModelResource, one
      ``import_data`` call, as its admin does on confirm;
  ours: the admin's path: upload → analysis (the preview) → confirm → import, through
      leads.imports.services and its tasks (immediate backend); the import's sealing helper
      process (leads.imports.sealing) is reported with its own peak memory;
  and the export of all imported leads to .xlsx and .csv through leads.exports.
"""

import argparse
import json
import os
import random
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CACHE = ROOT / "var" / "benchmarks"
HEADERS = [
    "手机号", "身份证号", "姓名", "微信", "QQ", "学历", "省", "市", "区", "地址",
    "社保", "紧急联系人", "关系", "紧急联系人电话", "芝麻分",
]  # fmt: skip
FIELDS = [
    "phone", "id_number", "name", "wechat", "qq", "edu_level", "province", "city", "district",
    "address", "social_insurance_paid", "emergency_contact_name", "emergency_relation",
    "emergency_contact_phone", "zhima_score",
]  # fmt: skip


def django_setup(db: str) -> None:
    """``db``: a database URL."""
    sys.path.insert(0, str(ROOT))
    os.environ["DJANGO_SETTINGS_MODULE"] = "config.test_settings"  # fixed keys, immediate tasks
    os.environ["DATABASE_URL"] = db
    # As in production: a developer's .env may say DEBUG=true, and Django's debug cursor keeps
    # every query with its parameters (the encrypted chunks included) and re-quotes them.
    os.environ["DEBUG"] = "false"
    import django

    django.setup()
    import logging

    logging.disable(logging.INFO)  # the task backend logs each task


# --- the file -----------------------------------------------------------------------------


def generate(
    rows: int, seed: int, bad: float, duplicates: float, existing: float
) -> tuple[Path, Path]:
    """An .xlsx of ``rows`` data rows, and a JSON list of the leads to seed as already known."""
    CACHE.mkdir(parents=True, exist_ok=True)
    stem = f"leads-{rows}-{seed}-{bad}-{duplicates}-{existing}"
    xlsx, known = CACHE / f"{stem}.xlsx", CACHE / f"{stem}-existing.json"
    if xlsx.exists() and known.exists():
        return xlsx, known
    django_setup(f"sqlite:///{CACHE / 'unused.sqlite3'}")
    import openpyxl

    from leads.demo import fake_lead_fields

    rng = random.Random(seed)
    workbook = openpyxl.Workbook(write_only=True)
    sheet = workbook.create_sheet("线索")
    sheet.append(HEADERS)
    written, seeded = [], []
    for number in range(rows):
        roll = rng.random()
        if written and roll < duplicates:
            row = list(rng.choice(written))  # the same person twice in the file
        else:
            fields = fake_lead_fields(rng)
            fields["social_insurance_paid"] = int(fields["social_insurance_paid"])
            row = [fields[name] for name in FIELDS]
            if rng.random() < 0.5:
                row[0] = int(row[0])  # Excel users type phones as numbers: calamine reads floats
            if roll < duplicates + bad:
                spoil(row, rng)
            elif roll < duplicates + bad + existing:
                seeded.append(dict(zip(FIELDS, row, strict=True)) | {"phone": str(row[0])})
            if number % 10 == 0:
                written.append(row)  # candidates to repeat later
        sheet.append(row)
    workbook.save(xlsx)
    known.write_text(json.dumps(seeded, ensure_ascii=False))
    return xlsx, known


def spoil(row: list, rng: random.Random) -> None:
    """One of the real-world faults the import must report."""
    kind = rng.randrange(7)
    if kind == 0:
        row[1] = float(row[1][:17] + "0")  # ID number stored as a number: digits lost
    elif kind == 1:
        row[1] = "4.52159E+17"
    elif kind == 2:
        row[1] = row[1][:15] + "000"
    elif kind == 3:
        row[0] = str(row[0])[:7]
    elif kind == 4:
        row[5] = "小学"
    elif kind == 5:
        row[2] = ""
    else:
        row[14] = 1000


# --- the measurements (each in its own process) -------------------------------------------


def measure_floor(path: str) -> dict:
    import io

    from python_calamine import CalamineWorkbook

    started = time.perf_counter()
    data = Path(path).read_bytes()
    sheet = CalamineWorkbook.from_filelike(io.BytesIO(data)).get_sheet_by_index(0)
    rows = sum(1 for _ in sheet.iter_rows()) - 1
    return {"seconds": time.perf_counter() - started, "rows": rows}


def measure_stock(path: str, db: str, limit: int) -> dict:
    django_setup(db)
    from import_export import fields, resources
    from import_export.formats.base_formats import XLSX

    from leads.models import Lead

    class StockLeadResource(resources.ModelResource):
        """A stock ModelResource. Lead's personal fields are properties (sealed in one encrypted
        column), which a ModelResource cannot see, so they are declared as plain stock Fields,
        and the file's Chinese headers as their column names: nothing else is custom. Rows are
        saved one by one through Lead.save() (sealing PII, computing the blind indexes); the
        stock path validates no phone or ID number, and a duplicate surfaces as a row error."""

        phone = fields.Field(attribute="phone", column_name="手机号")
        id_number = fields.Field(attribute="id_number", column_name="身份证号")
        name = fields.Field(attribute="name", column_name="姓名")
        wechat = fields.Field(attribute="wechat", column_name="微信")
        qq = fields.Field(attribute="qq", column_name="QQ")
        address = fields.Field(attribute="address", column_name="地址")
        emergency_contact_name = fields.Field(
            attribute="emergency_contact_name", column_name="紧急联系人"
        )
        emergency_contact_phone = fields.Field(
            attribute="emergency_contact_phone", column_name="紧急联系人电话"
        )
        edu_level = fields.Field(attribute="edu_level", column_name="学历")
        province = fields.Field(attribute="province", column_name="省")
        city = fields.Field(attribute="city", column_name="市")
        district = fields.Field(attribute="district", column_name="区")
        social_insurance_paid = fields.Field(attribute="social_insurance_paid", column_name="社保")
        emergency_relation = fields.Field(attribute="emergency_relation", column_name="关系")
        zhima_score = fields.Field(attribute="zhima_score", column_name="芝麻分")

        class Meta:
            model = Lead
            fields = FIELDS
            import_id_fields = []  # no id column in an operator's file: every row is new

    data = Path(path).read_bytes()
    started = time.perf_counter()
    dataset = XLSX().create_dataset(data)
    if limit and len(dataset) > limit:
        del dataset[limit:]
    read = time.perf_counter() - started
    result = StockLeadResource().import_data(dataset, dry_run=False, raise_errors=False)
    return {
        "seconds": time.perf_counter() - started,
        "read_seconds": read,
        "rows": len(dataset),
        "row_errors": len(result.row_errors()),
        "saved": Lead.objects.count(),
    }


def measure_ours(path: str, db: str, known: str) -> dict:
    django_setup(db)
    from leads.imports import sealing, services
    from leads.models import Lead

    helper_peaks, stolen = watch_helpers(sealing)

    seed_existing(json.loads(Path(known).read_text()))
    _trace("seeded")
    before = Lead.objects.count()
    data = Path(path).read_bytes()
    started = time.perf_counter()
    batch = services.import_batch_create(file_name=Path(path).name, data=data)
    _trace("uploaded")
    services.import_batch_start_analysis(batch)  # > 256 KB: the analysis task
    analysed = time.perf_counter()
    _trace("analysed")
    batch.refresh_from_db()
    assert batch.state == "preview", batch.error
    batch = services.import_batch_confirm(batch)  # > 3000 rows: the import task
    finished = time.perf_counter()
    assert batch.state == "done", batch.error
    return {
        "seconds": finished - started,
        "analysis_seconds": analysed - started,
        "import_seconds": finished - analysed,
        "rows": batch.rows_total,
        "new": batch.rows_new,
        "invalid": batch.rows_invalid,
        "in_file": batch.rows_duplicate_in_file,
        "existing": batch.rows_existing,
        "created": Lead.objects.count() - before,
        "helper_peak_mb": max(helper_peaks, default=0),
        "sealed_here": sum(stolen),
    }


def watch_helpers(sealing) -> tuple[list[float], list[int]]:
    """The peak memory (VmHWM) of each sealing helper process, read just before it ends (its
    ``ru_maxrss`` as a child would be this process's size when it was started), and how many of
    its jobs this process did itself because the helper was behind."""
    peaks, stolen = [], []
    close = sealing.Helper.close

    def closing(helper, **options):
        try:
            status = Path(f"/proc/{helper.process.pid}/status").read_text()
            kilobytes = next(line for line in status.splitlines() if line.startswith("VmHWM"))
            peaks.append(int(kilobytes.split()[1]) / 1024)
        except (OSError, StopIteration):
            pass
        stolen.append(helper.stolen)
        close(helper, **options)

    sealing.Helper.close = closing
    return peaks, stolen


def _trace(label: str) -> None:
    if os.environ.get("BENCH_TRACE"):
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(f"{label}: peak {peak:.0f} MB", file=sys.stderr)


def seed_existing(leads: list[dict]) -> None:
    from leads.models import Lead

    for fields in leads:
        fields = {**fields, "social_insurance_paid": bool(fields["social_insurance_paid"])}
        Lead(**fields, source="seed").save()


def measure_export(db: str, file_format: str) -> dict:
    django_setup(db)
    from leads.exports.services import export_records
    from leads.models import ExportKind, Lead

    started = time.perf_counter()
    exported = export_records(
        kind=ExportKind.LEADS, queryset=Lead.objects.all(), file_format=file_format
    )
    return {
        "seconds": time.perf_counter() - started,
        "rows": exported.rows,
        "bytes": len(exported.content),
    }


def run_child(*args: str) -> dict:
    output = subprocess.run(
        [sys.executable, __file__, "--child", *args],
        check=True,
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    return json.loads(output.stdout.strip().splitlines()[-1])


def child(args) -> None:
    phase, *rest = args.child
    if phase == "floor":
        result = measure_floor(rest[0])
    elif phase == "stock":
        result = measure_stock(rest[0], rest[1], int(rest[2]))
    elif phase == "ours":
        result = measure_ours(rest[0], rest[1], rest[2])
    else:
        result = measure_export(rest[0], rest[1])
    result["peak_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps(result))


def manage(database_url: str, *command: str) -> None:
    subprocess.run(
        [sys.executable, "manage.py", *command, "--no-input", "-v", "0"],
        check=True,
        cwd=ROOT,
        env={
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "config.test_settings",
            "DATABASE_URL": database_url,
        },
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument(
        "--baseline-rows",
        type=int,
        default=0,
        help="stock baseline on the first N rows only (default: all)",
    )
    parser.add_argument("--bad", type=float, default=0.03, help="share of rows with a bad cell")
    parser.add_argument(
        "--duplicates", type=float, default=0.02, help="share of rows repeated in the file"
    )
    parser.add_argument(
        "--existing", type=float, default=0.01, help="share of rows already in the database"
    )
    parser.add_argument("--seed", type=int, default=20261123)
    parser.add_argument("--skip-stock", action="store_true", help="skip baseline (a)")
    parser.add_argument(
        "--database-url", default="", help="a throwaway PostgreSQL database (flushed)"
    )
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args)
        return

    started = time.perf_counter()
    xlsx, known = generate(args.rows, args.seed, args.bad, args.duplicates, args.existing)
    print(
        f"file: {xlsx.relative_to(ROOT)} ({xlsx.stat().st_size / 1024 / 1024:.1f} MB, {args.rows} rows), "
        f"ready in {time.perf_counter() - started:.0f} s"
    )
    with tempfile.TemporaryDirectory(prefix="leaddesk-bench-") as folder:
        folder = Path(folder)
        template = args.database_url or f"sqlite:///{folder / 'template.sqlite3'}"
        manage(template, "migrate")

        def fresh(name: str) -> str:
            """An empty migrated database's URL."""
            if args.database_url:
                manage(args.database_url, "flush")
                return args.database_url
            path = folder / f"{name}.sqlite3"
            shutil.copy(folder / "template.sqlite3", path)
            return f"sqlite:///{path}"

        floor_before = run_child("floor", str(xlsx))
        ours_db = fresh("ours")
        ours = run_child("ours", str(xlsx), ours_db, str(known))
        floor = bracket(floor_before, run_child("floor", str(xlsx)))
        exports = {fmt: run_child("export", ours_db, fmt) for fmt in ("xlsx", "csv")}
        stock = None
        if not args.skip_stock:
            stock = run_child("stock", str(xlsx), fresh("stock"), str(args.baseline_rows))
    report(args, floor, stock, ours, exports)


def bracket(before: dict, after: dict) -> dict:
    """The floor as the mean of the two measured around ours."""
    return {
        "seconds": (before["seconds"] + after["seconds"]) / 2,
        "rows": before["rows"],
        "peak_mb": max(before["peak_mb"], after["peak_mb"]),
        "before": before["seconds"],
        "after": after["seconds"],
    }


def report(args, floor, stock, ours, exports) -> None:
    def line(label, result, rows=None):
        rows = rows or result["rows"]
        print(
            f"{label:<44}{result['seconds']:>9.2f}{rows / result['seconds']:>10.0f}{result['peak_mb']:>10.0f}"
        )

    print()
    print(
        f"{ours['rows']} data rows: {ours['new']} new, {ours['invalid']} invalid, "
        f"{ours['in_file']} repeated in the file, {ours['existing']} already leads; {ours['created']} created"
    )
    print(f"{'':<44}{'seconds':>9}{'rows/s':>10}{'peak MB':>10}")
    line("(b) floor: read only (python-calamine)", floor)
    print(f"      {floor['before']:.2f} s before ours, {floor['after']:.2f} s after: their mean")
    if stock:
        label = "(a) stock django-import-export ModelResource"
        line(label, stock)
        print(
            f"      openpyxl read {stock['read_seconds']:.1f} s; {stock['rows']} rows, "
            f"{stock['row_errors']} row errors, {stock['saved']} saved (errors roll the whole import back)"
        )
    line("ours: upload → preview → confirm → import", ours)
    print(
        f"      analysis (preview) {ours['analysis_seconds']:.2f} s + import {ours['import_seconds']:.2f} s"
        + (
            f"; sealing helper process peak {ours['helper_peak_mb']:.0f} MB, "
            f"{ours['sealed_here']} of its {ours['new'] // 2000 + 1} jobs done here"
            if ours["helper_peak_mb"]
            else "; no sealing helper (a small import)"
        )
    )
    for fmt, result in exports.items():
        line(
            f"export {result['rows']} leads → .{fmt} ({result['bytes'] / 1024 / 1024:.1f} MB)",
            result,
        )
    print()
    ours_rate = ours["rows"] / ours["seconds"]
    floor_ratio = ours["seconds"] / floor["seconds"]
    verdicts = []
    if stock:
        speedup = ours_rate / (stock["rows"] / stock["seconds"])
        verdicts.append(
            f"vs (a): {speedup:.1f}x faster (target ≥ 10x: {'met' if speedup >= 10 else 'NOT met'})"
        )
    verdicts.append(
        f"vs (b): {floor_ratio:.1f}x the floor (target ≤ 5x: {'met' if floor_ratio <= 5 else 'NOT met'})"
    )
    verdicts.append(
        f"peak {ours['peak_mb']:.0f} MB (target < 400: {'met' if ours['peak_mb'] < 400 else 'NOT met'})"
    )
    slowest = max(r["seconds"] for r in exports.values())
    verdicts.append(
        f"export {slowest:.1f} s (target < 30 s: {'met' if slowest < 30 else 'NOT met'})"
    )
    print("\n".join(verdicts))


if __name__ == "__main__":
    main()
