"""The data set of issue 14, built once on a throwaway PostgreSQL database and reused: 1,000,000
leads (sealed and blind-indexed as an import writes them), 1,000,000 check results, 200,000
pushes, ~295,000 hash-chained audit rows, 40 import batches, 80 jobs, a few partners and the
three roles' users. ``benchmarks/admin_pages.py`` measures on it; ``--build-only`` builds it.

    uv run python benchmarks/admin_pages.py --build-only [--database leaddesk_bench] [--rebuild]

The database is complete when its ``bench_dataset`` table holds the row written last; anything
less is dropped and built again. ``/tmp/leaddesk_bench.lock`` is held (flock) while building, so
that two helpers never build at once (the second waits, then finds the data there).
"""

import fcntl
import json
import os
import random
import sys
import time
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LOCK = Path("/tmp/leaddesk_bench.lock")
DATASET_VERSION = "issue14-v1"  # change when the data set changes: old ones are rebuilt
PASSWORD = "bench-password-1"  # noqa: S105 - a throwaway database's users

LEADS = 1_000_000
BATCHES = 40  # import batches of 25,000 leads, one every ~1.5 days over 60 days
PUSHES_PER_JOB = 5_000  # 40 push jobs: 200,000 pushes
SINGLE_CHECKS = 94_000  # single checks and connection tests: the rest of ~295k audit rows
SKIPS_PER_JOB = 500  # 未推送及原因 rows per push job
CHECK_BATCH = 1000  # leads per batch check call (the protocol's maximum)
DAYS = 60
SOURCES = ["抖音", "快手", "百度", "头条", "微信", "线下", "短信", "小红书"]
PARTNERS = [("平台甲", "alpha"), ("平台乙", "beta"), ("平台丙", "gamma"), ("平台丁", "delta")]


def database_url(name: str) -> str:
    return f"postgres://postgres@127.0.0.1:5432/{name}"


def django_setup(database: str) -> None:
    """Django on ``database`` with the test settings' fixed keys (the sealed data stays readable
    from one run to the next), DEBUG off, the database task backend (nothing runs inline)."""
    sys.path.insert(0, str(ROOT))
    os.environ["DJANGO_SETTINGS_MODULE"] = "config.test_settings"
    os.environ["DATABASE_URL"] = database_url(database)
    # As in production: a developer's .env may say DEBUG=true (Django then keeps every query).
    os.environ["DEBUG"] = "false"
    os.environ["ALLOWED_HOSTS"] = "testserver,127.0.0.1,localhost"
    os.environ["LOG_LEVEL"] = "ERROR"
    import django
    from django.conf import settings

    # Before setup: the task backends are built while the apps load. Nothing runs inline (a
    # job started by the benchmark is measured, not run against an unreachable partner).
    settings.TASKS = {
        "default": {"BACKEND": "django_tasks_db.DatabaseBackend", "QUEUES": ["default"]}
    }
    django.setup()
    # The test settings' tiny job chunks (10 leads) would make a 1M-lead job 100,000 chunk rows:
    # a job is measured as production sizes it (config.settings).
    production = sys.modules["config.settings"]
    for name in dir(production):
        if name.startswith(("JOB_", "CHECK_", "PUSH_")):
            setattr(settings, name, getattr(production, name))
    import logging

    logging.disable(logging.WARNING)


# --- the database -------------------------------------------------------------------------


def _admin_connection():
    import psycopg

    return psycopg.connect(database_url("postgres"), autocommit=True)


def database_exists(name: str) -> bool:
    with _admin_connection() as conn:
        return conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()


def dataset_complete(name: str) -> bool:
    import psycopg

    if not database_exists(name):
        return False
    with psycopg.connect(database_url(name)) as conn:
        found = conn.execute("SELECT to_regclass('bench_dataset')").fetchone()[0]
        if not found:
            return False
        row = conn.execute("SELECT version FROM bench_dataset").fetchone()
        return bool(row) and row[0] == DATASET_VERSION


def recreate_database(name: str) -> None:
    with _admin_connection() as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')


@contextmanager
def build_lock():
    with LOCK.open("w") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            print(f"another build holds {LOCK}: waiting for it", flush=True)
            fcntl.flock(handle, fcntl.LOCK_EX)
        handle.write(str(os.getpid()))
        handle.flush()
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def ensure_dataset(name: str, *, rebuild: bool = False, migrate: bool = True) -> None:
    """Build the data set unless ``name`` already holds it; then (in this process) Django is
    set up on it. Applies migrations added since the build (``migrate``)."""
    if rebuild or not dataset_complete(name):
        with build_lock():
            if rebuild or not dataset_complete(name):  # another build may have just finished
                recreate_database(name)
                django_setup(name)
                build(name)
                return
    django_setup(name)
    if migrate:
        from django.core.management import call_command

        call_command("migrate", verbosity=0)


# --- the build ----------------------------------------------------------------------------


class Clock:
    def __init__(self):
        self.started = time.perf_counter()

    def step(self, what: str) -> None:
        print(f"  {time.perf_counter() - self.started:7.1f} s  {what}", flush=True)


def build(name: str) -> None:
    from django.core.management import call_command
    from django.db import connection

    clock = Clock()
    print(f"building the data set on {name} (PostgreSQL)", flush=True)
    call_command("migrate", verbosity=0)
    clock.step("migrated")
    rng = random.Random(14)
    now = datetime.now(UTC).replace(microsecond=0)
    start = now - timedelta(days=DAYS)
    users = make_users()
    partners = make_partners()
    batches = make_batches(users["operator"], start)
    clock.step("users, partners, import batches")
    insert_leads(batches, rng)
    clock.step(f"{LEADS:,} leads (sealed, blind-indexed, COPY)")
    check_jobs, push_jobs = make_jobs(batches, partners, users["operator"])
    clock.step("jobs")
    marketable = write_checks_pushes_and_audit(
        batches, partners, check_jobs, push_jobs, users["operator"], rng, now
    )
    clock.step(f"check results, pushes, audit rows ({marketable:,} marketable)")
    with connection.cursor() as cursor:
        for table in (
            "leads_lead", "collision_collisionresult", "pushes_push", "pushes_pushskip",
            "partners_auditlogentry", "jobs_job", "leads_importbatch",
        ):  # fmt: skip
            cursor.execute(f"VACUUM ANALYZE {table}")
        cursor.execute("CREATE TABLE bench_dataset (version text, built_at timestamptz)")
        cursor.execute("INSERT INTO bench_dataset VALUES (%s, now())", [DATASET_VERSION])
    clock.step("vacuumed, analysed; data set complete")


def make_users() -> dict:
    from django.contrib.auth.models import Group, User

    from core.roles import ADMINISTRATOR, AUDITOR, OPERATOR

    users = {}
    for username, group in (
        ("operator", OPERATOR), ("auditor", AUDITOR), ("administrator", ADMINISTRATOR)
    ):  # fmt: skip
        user = User.objects.create_user(username, password=PASSWORD, is_staff=True)
        user.groups.add(Group.objects.get(name=group))
        users[username] = user
    User.objects.create_superuser("root", password=PASSWORD)
    return users


def make_partners() -> list:
    from partners.models import Partner

    partners = []
    for number, (name, slug) in enumerate(PARTNERS):
        partners.append(
            Partner.objects.create(
                name=name,
                slug=slug,
                test_base_url=f"http://127.0.0.1:9/{slug}",
                push_url=f"http://127.0.0.1:9/{slug}/push",
                utm_source=f"UTM_{slug.upper()}",
                client_id=f"CLIENT_{slug.upper()}",
                secret_key=f"bench-secret-{slug}",
                daily_push_cap=20_000 if number == 1 else None,
                is_paused=number == 3,
            )
        )
    return partners


def make_batches(operator, start: datetime) -> list:
    from leads.models import ImportBatch, ImportState

    per_batch = LEADS // BATCHES
    batches = []
    for number in range(BATCHES):
        created = start + timedelta(hours=36 * number)
        batch = ImportBatch.objects.create(
            file_name=f"线索-{number + 1:02d}.xlsx",
            file_size=per_batch * 120,
            source=SOURCES[number % len(SOURCES)],
            created_by=operator,
            confirmed_by=operator,
            state=ImportState.DONE,
            finished_at=created + timedelta(minutes=2),
            rows_total=per_batch,
            rows_new=per_batch,
            leads_created=per_batch,
        )
        ImportBatch.objects.filter(pk=batch.pk).update(created_at=created)
        batch.created_at = created
        batches.append(batch)
    return batches


def lead_columns(first: int, count: int, rng: random.Random) -> dict[str, list]:
    """``count`` distinct, valid fake people, numbered from ``first``: phones and ID numbers
    are unique by construction (the blind indexes are unique columns)."""
    from stdnum.cn import ric

    from leads.demo import GIVEN, MOBILE_PREFIXES, PLACES, SURNAMES
    from leads.fields import EduLevel, EmergencyRelation

    def name():
        return rng.choice(SURNAMES) + "".join(rng.choices(GIVEN, k=rng.choice((1, 2))))

    columns: dict[str, list] = {
        key: []
        for key in (
            "phone", "id_number", "name", "wechat", "qq", "edu_level", "province", "city",
            "district", "address", "social_insurance_paid", "emergency_contact_name",
            "emergency_relation", "emergency_contact_phone", "zhima_score",
        )
    }  # fmt: skip
    epoch = date(1970, 1, 1)
    edu, relations = EduLevel.values, EmergencyRelation.values
    for i in range(first, first + count):
        # 48271 is prime to 10**8: i -> i * 48271 mod 10**8 never repeats a number.
        columns["phone"].append(MOBILE_PREFIXES[i % 11] + f"{(i // 11) * 48271 % 10**8:08d}")
        province, city, district, area = PLACES[i % 7]
        rest = i // 7
        body = f"{area}{epoch + timedelta(days=rest % 12000):%Y%m%d}{rest // 12000:03d}"
        columns["id_number"].append(body + ric.calc_check_digit(body + "?"))
        columns["name"].append(name())
        columns["wechat"].append(f"wx_{rng.randrange(10**6, 10**9)}")
        columns["qq"].append(str(rng.randrange(10**5, 10**10)))
        columns["edu_level"].append(rng.choice(edu))
        columns["province"].append(province)
        columns["city"].append(city)
        columns["district"].append(district)
        columns["address"].append(f"{district}测试路{rng.randrange(1, 300)}号")
        columns["social_insurance_paid"].append(rng.random() < 0.6)
        columns["emergency_contact_name"].append(name())
        columns["emergency_relation"].append(rng.choice(relations))
        columns["emergency_contact_phone"].append(
            rng.choice(MOBILE_PREFIXES) + f"{rng.randrange(0, 10**8):08d}"
        )
        columns["zhima_score"].append(rng.randint(350, 950))
    return columns


def insert_leads(batches: list, rng: random.Random) -> None:
    """As an import writes new leads (leads.imports.writing): personal data sealed into one
    Fernet token per lead and the blind indexes computed by the import's sealing helper process
    (leads.imports.sealing) on the other core, while this process COPYs the leads sealed before
    (core.bulk.insert_rows, the columns ``insert_leads`` writes)."""
    from core import crypto
    from core.bulk import insert_rows
    from core.crypto import blind_index_key, encrypt
    from leads.imports import sealing
    from leads.imports.staging import blind_indexes
    from leads.models import ID_NUMBER_INDEX, PHONE_INDEX, SEALED_FIELDS, Lead

    per_batch = LEADS // BATCHES
    step = min(5000, per_batch)
    helper = sealing.Helper(
        fernet_key=crypto.encryption_key(),
        index_key=blind_index_key(),
        purposes=(PHONE_INDEX, ID_NUMBER_INDEX),
    )
    plain = [
        f.name
        for f in Lead._meta.concrete_fields
        if not f.primary_key
        and f.name
        not in ("pii", "phone_index", "id_number_index", "created_at", "source", "created_by",
                "import_batch")
    ]  # fmt: skip
    queued = []

    def write(part, sealed, batch, offset):
        pii, phone_keys, id_keys = sealed()
        names = ["pii", "phone_index", "id_number_index", *plain]
        values = [pii, phone_keys, id_keys]
        for field_name in plain:
            if field_name in part:
                values.append(part[field_name])
            else:
                default = Lead._meta.get_field(field_name).get_default()
                values.append([default] * len(pii))
        created = [batch.created_at + timedelta(milliseconds=offset + k) for k in range(len(pii))]
        insert_rows(
            Lead,
            [*names, "created_at"],
            zip(*values, created, strict=True),
            shared={
                "source": batch.source,
                "created_by": batch.created_by_id,
                "import_batch": batch.pk,
            },
        )

    try:
        for number, batch in enumerate(batches):
            for offset in range(0, per_batch, step):
                count = min(step, per_batch - offset)
                part = lead_columns(number * per_batch + offset, count, rng)
                columns = [(n, part[n]) for n in SEALED_FIELDS if n in part]

                def here(columns=columns, part=part, count=count):
                    pii = sealing.seal(encrypt, columns, count)
                    return (pii, *blind_indexes(part["phone"], part["id_number"]))

                queued.append((part, helper.seal(columns, count, indexes=True, here=here),
                               batch, offset))  # fmt: skip
                if len(queued) > 1:
                    write(*queued.pop(0))
        while queued:
            write(*queued.pop(0))
    except BaseException:
        helper.abort()
        raise
    helper.close()


def make_jobs(batches: list, partners: list, operator) -> tuple[list, list]:
    """One check job per batch (its 25k leads with one partner) and one push job after it."""
    from jobs.models import Job, JobKind, JobState

    check_jobs, push_jobs = [], []
    per_batch = LEADS // BATCHES
    for number, batch in enumerate(batches):
        partner = partners[number % 3]
        for kind, jobs, total in (
            (JobKind.CHECK, check_jobs, per_batch), (JobKind.PUSH, push_jobs, PUSHES_PER_JOB)
        ):  # fmt: skip
            created = batch.created_at + timedelta(hours=1 if kind == JobKind.CHECK else 3)
            last = number == len(batches) - 1
            job = Job.objects.create(
                kind=kind,
                partner=partner,
                created_by=operator,
                description=f"导入批次 #{batch.pk}",
                state=JobState.RUNNING if last and kind == JobKind.PUSH else JobState.FINISHED,
                total=total,
                processed=total // 2 if last and kind == JobKind.PUSH else total,
                started_at=created,
                finished_at=None if last and kind == JobKind.PUSH else created + timedelta(hours=1),
            )
            Job.objects.filter(pk=job.pk).update(created_at=created)
            job.created_at = created
            jobs.append(job)
    return check_jobs, push_jobs


def write_checks_pushes_and_audit(batches, partners, check_jobs, push_jobs, operator, rng, now):
    """Check results, pushes, skips and the audit rows of the calls behind them.

    The audit log is append-only and hash-chained: ``AuditLogEntry.save`` appends one row at a
    time under the chain's lock (and its queryset refuses ``bulk_create``), ~300k saves being
    ~10 minutes. So the rows are written with COPY (core.bulk.insert_rows; the PostgreSQL
    trigger refuses only UPDATE and DELETE), in id order, each ``chain_hash`` computed exactly as
    ``save`` computes it (partners.models.chain_values / link_hash on an unsaved instance), so
    the chain verifies (``manage.py verify_audit_log``). First every call is decided (which
    leads are marketable decides which are pushed), then the calls are sorted by time and
    written: ids follow time, as the chain's order requires."""
    from django.db import connection

    from collision.models import CheckOutcome, CollisionResult
    from core.bulk import insert_rows
    from core.crypto import encrypt
    from jobs.models import Job
    from leads.models import Lead
    from partners.models import (
        GENESIS_HASH,
        AuditLogEntry,
        CallOutcome,
        Environment,
        Operation,
        chain_values,
        link_hash,
    )
    from pushes.models import Push, PushSkip, PushState, SkipReason

    lead_ids = list(Lead.objects.order_by("pk").values_list("pk", flat=True))
    per_batch = LEADS // BATCHES
    calls = []  # (time, order, kind, payload)
    marketable_count = 0
    skip_rows = []
    for number in range(len(batches)):
        job = check_jobs[number]
        ids = lead_ids[number * per_batch : (number + 1) * per_batch]
        marketable = []
        for k in range(0, per_batch, CHECK_BATCH):
            at = job.created_at + timedelta(seconds=2 * k // CHECK_BATCH)
            answers = []
            for lead_id in ids[k : k + CHECK_BATCH]:
                roll = rng.random()
                status = 0 if roll < 0.55 else (1 if roll < 0.8 else (2 if roll < 0.97 else 3))
                flag = rng.random() < 0.55
                answers.append((lead_id, status, flag))
                if status == 0 and flag:
                    marketable.append(lead_id)
            calls.append((at, len(calls), "check", (job, answers)))
        marketable_count += len(marketable)
        Job.objects.filter(pk=job.pk).update(marketable=len(marketable))
        push_job = push_jobs[number]
        pushed = marketable[:PUSHES_PER_JOB]
        for k, lead_id in enumerate(pushed):
            roll = rng.random()
            state = (
                PushState.ACCEPTED if roll < 0.7 else PushState.REJECTED if roll < 0.9
                else PushState.UNKNOWN if roll < 0.95 else PushState.FAILED
            )  # fmt: skip
            at = push_job.created_at + timedelta(milliseconds=200 * k)
            calls.append((at, len(calls), "push", (push_job, lead_id, state)))
        for k, lead_id in enumerate(marketable[PUSHES_PER_JOB : PUSHES_PER_JOB + SKIPS_PER_JOB]):
            reason = (SkipReason.OVER_DAILY_CAP, SkipReason.INCOMPLETE)[k % 2]
            skip_rows.append((lead_id, push_job.partner_id, reason, "", push_job.pk,
                              operator.pk, push_job.created_at + timedelta(seconds=k)))  # fmt: skip
        Job.objects.filter(pk=push_job.pk).update(
            accepted=round(push_job.processed * 0.7), rejected=round(push_job.processed * 0.2)
        )
    span = int((now - batches[0].created_at).total_seconds())
    for k in range(SINGLE_CHECKS):
        at = batches[0].created_at + timedelta(seconds=rng.randrange(span))
        calls.append((at, len(calls), "single", partners[k % len(partners)]))
    calls.sort(key=lambda call: call[:2])

    audit_columns = [
        "id", "actor", "actor_username", "partner", "operation", "environment", "method", "url",
        "request_headers", "request_body", "response_status", "response_body", "latency_ms",
        "outcome", "error", "lead_count", "job", "created_at", "chain_hash",
    ]  # fmt: skip
    attnames = [
        f"{column}_id" if column in ("actor", "partner", "job") else column
        for column in audit_columns
    ]
    state = {"id": 0, "previous": GENESIS_HASH}

    def audit_row(**values) -> int:
        state["id"] += 1
        entry = AuditLogEntry(
            id=state["id"], method="POST", error="", actor_id=operator.pk,
            actor_username=operator.username, environment=Environment.TEST, **values,
        )  # fmt: skip
        chained = chain_values(entry)
        state["previous"] = link_hash(state["previous"], chained)
        chained["chain_hash"] = state["previous"]
        chained["request_headers"] = json_text(chained["request_headers"])
        audit_rows.append([chained[name] for name in attnames])
        return state["id"]

    def json_text(values) -> str:
        return json.dumps(values, ensure_ascii=False, separators=(",", ":"))

    result_columns = [
        "lead", "partner", "outcome", "user_status", "marketable", "is_marketable", "message",
        "audit_entry", "job", "checked_at",
    ]  # fmt: skip
    push_columns = [
        "lead", "partner", "state", "message", "app_download_url", "attempts", "actor",
        "audit_entry", "job", "created_at", "last_attempt_at", "finished_at",
    ]  # fmt: skip
    audit_rows, result_rows, push_rows = [], [], []

    def flush():
        insert_rows(AuditLogEntry, audit_columns, audit_rows)
        insert_rows(CollisionResult, result_columns, result_rows)
        insert_rows(Push, push_columns, push_rows)
        audit_rows.clear()
        result_rows.clear()
        push_rows.clear()

    messages = {PushState.ACCEPTED: "成功", PushState.REJECTED: "重复用户"}
    sealed_messages = {state: encrypt(text) for state, text in messages.items()}
    outcomes = {
        PushState.ACCEPTED: CallOutcome.OK, PushState.REJECTED: CallOutcome.REFUSED,
        PushState.UNKNOWN: CallOutcome.TIMEOUT, PushState.FAILED: CallOutcome.CONNECTION_ERROR,
    }  # fmt: skip
    for at, _order, kind, payload in calls:
        if kind == "single":
            partner = payload
            failed = rng.random() < 0.03
            audit_row(
                partner_id=partner.pk,
                operation=Operation.CONNECTION_TEST if rng.random() < 0.05
                else Operation.COLLISION_SINGLE,
                url=f"{partner.test_base_url}/api/collision/v1/advert/check/access",
                request_headers={"Content-Type": "application/json"},
                request_body=json_text({"phoneMd5": f"{rng.getrandbits(32):08x}…",
                                        "utmSource": partner.utm_source, "sign": "…"}),
                response_status=None if failed else 200,
                response_body="" if failed else json_text(
                    {"status": "0000", "data": {"status": "0", "marketable": 1}}),
                latency_ms=rng.randrange(20, 400),
                outcome=CallOutcome.TIMEOUT if failed else CallOutcome.OK,
                lead_count=1, job_id=None, created_at=at,
            )  # fmt: skip
        elif kind == "check":
            job, answers = payload
            hashes = [f"{rng.getrandbits(32):08x}…" for _ in answers]
            entry_id = audit_row(
                partner_id=job.partner_id, operation=Operation.COLLISION_BATCH,
                url="http://127.0.0.1:9/api/collision/v1/advert/check/access/batch",
                request_headers={"Content-Type": "application/json"},
                request_body=json_text({"userMd5List": hashes, "userMd5Type": 0,
                                        "utmSource": "UTM", "sign": "…"}),
                response_status=200,
                response_body=json_text({"status": "0000", "data": [
                    {"userMd5": h, "status": str(s), "marketable": int(f)}
                    for h, (_, s, f) in zip(hashes, answers, strict=True)]}),
                latency_ms=rng.randrange(80, 900), outcome=CallOutcome.OK,
                lead_count=len(answers), job_id=job.pk, created_at=at,
            )  # fmt: skip
            for lead_id, status, flag in answers:
                result_rows.append((
                    lead_id, job.partner_id, CheckOutcome.ANSWERED, status, flag,
                    status == 0 and flag, "", entry_id, job.pk, at,
                ))  # fmt: skip
        else:
            job, lead_id, push_state = payload
            failed = push_state == PushState.FAILED
            entry_id = audit_row(
                partner_id=job.partner_id, operation=Operation.PUSH,
                url="http://127.0.0.1:9/push",
                request_headers={"clientId": "CLIENT", "s": "…",
                                 "clientTime": str(int(at.timestamp() * 1000))},
                request_body=json_text({"data": json_text({
                    "phone": "186****4854", "idNum": "452159**********2X", "name": "王*",
                    "eduLevel": "本科", "province": "广东省", "city": "佛山市",
                    "zhimaScore": "700", "socialInsurancePayed": "1"})}),
                response_status=None if failed else 200,
                response_body="" if failed else json_text(
                    {"status": "1" if push_state == PushState.ACCEPTED else "0",
                     "msg": messages.get(push_state, ""), "data": {"appDownloadUrl": None}}),
                latency_ms=rng.randrange(50, 2000), outcome=outcomes[push_state],
                lead_count=1, job_id=job.pk, created_at=at,
            )  # fmt: skip
            push_rows.append((
                lead_id, job.partner_id, push_state, sealed_messages.get(push_state, ""), "",
                1, operator.pk, entry_id, job.pk, at, at,
                None if push_state == PushState.UNKNOWN else at + timedelta(milliseconds=150),
            ))  # fmt: skip
        if len(result_rows) >= 50_000 or len(audit_rows) >= 5_000:
            flush()
    flush()
    insert_rows(
        PushSkip, ["lead", "partner", "reason", "detail", "job", "actor", "created_at"], skip_rows
    )
    with connection.cursor() as cursor:
        for model in (AuditLogEntry, CollisionResult, Push, PushSkip):
            table = model._meta.db_table
            cursor.execute(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "  # noqa: S608
                f"(SELECT max(id) FROM {table}))"
            )
    return marketable_count
