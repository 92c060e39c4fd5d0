"""DESIGN §5: the audit log is append-only (the model refuses, and on PostgreSQL the database
too), keeps the actor's name once the account is gone, and is hash-chained, so that
``manage.py verify_audit_log`` finds a changed or removed row."""

import io
import json
import threading

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command
from django.db import DatabaseError, connection, transaction
from django.db.migrations.executor import MigrationExecutor
from django.urls import reverse

from collision.models import CollisionResult
from collision.services import check_leads, request_check
from core.crypto import decrypt
from jobs.models import Job, JobChunk, JobKind
from jobs.services import create_job
from leads.models import Lead
from partners.models import (
    CHAINED_FIELDS,
    GENESIS_HASH,
    AuditLogEntry,
    CallOutcome,
    Operation,
    Partner,
    chain_values,
    link_hash,
    verify_audit_chain,
)
from partners.protocols.yrxd_collision import phone_md5
from pushes.models import Push
from sandbox.server import Fault
from tests.conftest import run_job_to_end

TABLE = connection.ops.quote_name(AuditLogEntry._meta.db_table)
on_postgresql = pytest.mark.skipif(
    connection.vendor != "postgresql",
    reason="the append-only trigger is PostgreSQL's; on SQLite the model refuses and the chain "
    "shows any change",
)


def verify() -> str:
    """``manage.py verify_audit_log``'s output, or its error."""
    out = io.StringIO()
    try:
        call_command("verify_audit_log", stdout=out)
    except CommandError as exc:
        return f"CommandError: {exc}"
    return out.getvalue()


def raw(sql: str, params=()) -> None:
    """Run SQL the way a shell or a bug would, past the model. On PostgreSQL the trigger is
    switched off for this transaction first, as a superuser could (the test's transaction ends
    in a rollback)."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SET LOCAL session_replication_role = replica")
        cursor.execute(sql, params)


def some_calls(partner, make_leads, actor=None) -> list[AuditLogEntry]:
    """Three audit rows: two batch checks and a single check."""
    leads = make_leads(6)
    everyone = Lead.objects.filter(pk__in=[lead.pk for lead in leads])
    check_leads(partner=partner, leads=everyone[:3], actor=actor)
    check_leads(partner=partner, leads=everyone[3:], actor=actor)
    check_leads(partner=partner, leads=everyone[:1], actor=actor)
    rows = list(AuditLogEntry.objects.order_by("id"))
    assert len(rows) == 3
    return rows


# -- who acted -----------------------------------------------------------------------------


def test_deleting_a_user_or_a_job_keeps_what_its_audit_rows_say(
    admin_client, partner, sandbox, make_leads
):
    """The rows keep the actor's id and name (shown as deleted) and the job's id: deleting the
    account or the job rewrites nothing in the audit table (on PostgreSQL it could not)."""
    operator = get_user_model().objects.create_user("wang.operator", password="x")
    job = Job.objects.create(kind=JobKind.CHECK, partner=partner, created_by=operator)
    lead = make_leads(1)[0]
    check = request_check(partner=partner, leads=[lead], actor=operator, job=job)
    check.save()
    check_leads(partner=partner, leads=make_leads(2), actor=operator)
    user_id, job_id = operator.pk, job.pk

    operator.delete()
    job.delete()

    rows = AuditLogEntry.objects.order_by("id")
    assert [(row.actor_id, row.actor_username) for row in rows] == [(user_id, "wang.operator")] * 2
    assert rows[0].job_id == job_id
    assert CollisionResult.objects.get(lead=lead).job_id is None  # not an audit row: let go
    shown = [
        admin_client.get(reverse("admin:partners_auditlogentry_changelist")),
        admin_client.get(reverse("admin:partners_auditlogentry_change", args=[rows[0].pk])),
    ]
    for response in shown:
        assert response.status_code == 200
        assert "wang.operator（账号已删除）" in response.content.decode()
    assert verify().startswith("intact, 2 rows")


def test_a_living_actor_is_shown_by_name(admin_client, admin_user, partner, sandbox, make_leads):
    some_calls(partner, make_leads, actor=admin_user)
    page = admin_client.get(reverse("admin:partners_auditlogentry_changelist")).content.decode()
    assert admin_user.username in page and "账号已删除" not in page
    assert set(AuditLogEntry.objects.values_list("actor_username", flat=True)) == {"admin"}


# -- append-only -----------------------------------------------------------------------------


@on_postgresql
def test_the_database_refuses_update_and_delete_of_audit_rows(partner, sandbox, make_leads):
    """Past the model (raw SQL, Django's base manager), PostgreSQL refuses: its trigger."""
    row = some_calls(partner, make_leads)[0]
    attempts = [
        lambda: connection.cursor().execute(
            f"UPDATE {TABLE} SET error = 'x' WHERE id = %s", [row.pk]
        ),  # noqa: S608
        lambda: connection.cursor().execute(f"DELETE FROM {TABLE} WHERE id = %s", [row.pk]),  # noqa: S608
        lambda: AuditLogEntry._base_manager.filter(pk=row.pk).update(error="x"),
        lambda: AuditLogEntry._base_manager.filter(pk=row.pk)._raw_delete(connection.alias),
    ]
    for attempt in attempts:
        with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
            attempt()
    assert AuditLogEntry.objects.get(pk=row.pk).error == row.error
    assert verify().startswith("intact, 3 rows")


def test_the_model_refuses_bulk_inserts_that_would_skip_the_chain(partner):
    with pytest.raises(TypeError):
        AuditLogEntry.objects.bulk_create([AuditLogEntry(partner=partner)])


# -- the chain -------------------------------------------------------------------------------


def test_the_chain_covers_every_stored_field():
    stored = {field.name for field in AuditLogEntry._meta.concrete_fields}
    assert set(CHAINED_FIELDS) == stored - {"chain_hash"}


def test_each_row_chains_onto_the_one_before(partner, sandbox, make_leads):
    rows = some_calls(partner, make_leads)
    previous = GENESIS_HASH
    for row in rows:
        assert row.chain_hash == link_hash(previous, chain_values(row))
        previous = row.chain_hash
    assert [row.id for row in rows] == list(range(rows[0].id, rows[0].id + 3))


@pytest.mark.parametrize(
    "tamper",
    ["change a field", "rewrite the hash", "change a row and re-hash it", "remove a row"],
)
def test_verify_reports_the_first_broken_link(partner, sandbox, make_leads, tamper):
    first, second, third = some_calls(partner, make_leads)
    assert verify().startswith("intact, 3 rows")

    if tamper == "change a field":
        raw(f"UPDATE {TABLE} SET lead_count = 7 WHERE id = %s", [second.pk])  # noqa: S608
        broken, after = second, first
    elif tamper == "rewrite the hash":
        raw(f"UPDATE {TABLE} SET chain_hash = %s WHERE id = %s", ["f" * 64, second.pk])  # noqa: S608
        broken, after = second, first
    elif tamper == "change a row and re-hash it":  # the next row still holds the old hash
        second.lead_count = 7
        forged = link_hash(first.chain_hash, chain_values(second))
        raw(
            f"UPDATE {TABLE} SET lead_count = 7, chain_hash = %s WHERE id = %s",  # noqa: S608
            [forged, second.pk],
        )
        broken, after = third, second
    else:  # with what points at it, or the database's own foreign keys would notice
        CollisionResult.objects.filter(audit_entry=second).update(audit_entry=None)
        raw(f"DELETE FROM {TABLE} WHERE id = %s", [second.pk])  # noqa: S608
        broken, after = third, first

    report = verify()
    assert report.startswith(
        f"CommandError: broken link at row #{broken.pk} (after row #{after.pk})"
    )
    intact_before = 2 if tamper == "change a row and re-hash it" else 1
    assert report.endswith(f"({intact_before} row(s) before it verify)")
    stored = AuditLogEntry.objects.get(pk=broken.pk).chain_hash
    assert f"stored chain_hash {stored[:16]}…" in report
    if tamper == "change a field":
        assert "the next row still chains onto the stored hash" in report
    if tamper == "rewrite the hash":
        assert "fields or its chain_hash were changed" in report


@pytest.mark.django_db(transaction=True)
def test_concurrent_writers_extend_one_unbroken_chain(partner):
    """Eight threads, each its own connection, append at once: the chain's lock lines them up
    (without it two would chain onto the same row and claim the same id)."""
    failures = []

    def append(count: int) -> None:
        try:
            for _ in range(count):
                AuditLogEntry.objects.create(
                    partner=partner,
                    operation=Operation.COLLISION_SINGLE,
                    environment=partner.environment,
                    url=partner.test_base_url,
                    request_body="{}",
                    latency_ms=1,
                    outcome=CallOutcome.OK,
                )
        except Exception as exc:  # noqa: BLE001 - reported below
            failures.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=append, args=(25,)) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert failures == []
    ids = list(AuditLogEntry.objects.order_by("id").values_list("id", flat=True))
    assert len(ids) == 200 and ids == list(range(ids[0], ids[0] + 200))
    assert verify().startswith("intact, 200 rows")
    assert verify_audit_chain(chunk_size=7).rows == 200  # across the iterator's chunks


@pytest.mark.django_db(transaction=True)
def test_verify_finds_a_real_run_of_jobs_and_calls_intact(partner, sandbox, make_leads):
    """Check and push jobs (eight threads each) and direct calls, some failing, against the
    sandbox: one chain, intact."""
    leads = make_leads(40)
    partner.max_concurrency = 4
    partner.failure_threshold = 1000
    partner.save()
    sandbox.config.latency_ms = 10
    ids = [lead.pk for lead in leads]
    run_job_to_end(create_job(kind=JobKind.CHECK, partner=partner, lead_ids=ids))
    marketable = list(
        CollisionResult.objects.filter(is_marketable=True).values_list("lead_id", flat=True)
    )
    sandbox.inject(Fault.HTTP_500, times=3)
    run_job_to_end(create_job(kind=JobKind.PUSH, partner=partner, lead_ids=marketable))
    check_leads(partner=partner, leads=Lead.objects.filter(pk__in=ids[:1]))

    count = AuditLogEntry.objects.count()
    assert count > len(marketable) + 4
    assert set(AuditLogEntry.objects.values_list("outcome", flat=True)) >= {
        CallOutcome.OK,
        CallOutcome.HTTP_ERROR,
    }
    assert AuditLogEntry.objects.exclude(job=None).count() == count - 1
    report = verify()
    last = AuditLogEntry.objects.order_by("-id").first()
    assert report == f"intact, {count} rows; last row #{last.pk}, chain_hash {last.chain_hash}\n"


def test_verify_an_empty_log(db):
    assert verify() == "intact, 0 rows\n"


# -- rows written before the chain ----------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_migrations_settle_the_rows_written_before_them(partner, make_leads):
    """Rows from before: the migrations mask what the partner wrote in the audit rows (the
    pushed lead's name too) and wherever else it was kept, copy the actor's name, chain the
    audit rows, and seal the pushes' answers; then, on PostgreSQL, the rows can no longer be
    changed."""
    lead = make_leads(1)[0]
    user = get_user_model().objects.create_user("li.auditor")
    md5 = phone_md5(lead.phone)
    quoted = f"9999 用户 {lead.phone} {md5} 已存在"  # a partner's refusal, as it was kept
    Partner.objects.filter(pk=partner.pk).update(last_error=f"平台返回失败: {quoted}")
    job = Job.objects.create(
        kind=JobKind.CHECK, partner=partner, last_error=quoted, pause_reason=quoted
    )
    JobChunk.objects.create(job=job, number=1, lead_ids=[lead.pk], last_error=quoted)
    CollisionResult.objects.create(
        lead=lead, partner=partner, outcome="call_failed", message=quoted
    )
    message = f"推送成功：{lead.name}（{lead.phone}）"
    link = f"http://partner.example/h5/{md5}"
    answer = json.dumps({"status": "1", "msg": message, "data": {"appDownloadUrl": link}})
    before = [("partners", "0004_secret_key_changed_at"), ("pushes", "0002_app_download_url_2048")]
    executor = MigrationExecutor(connection)
    latest = executor.loader.graph.leaf_nodes()
    try:
        executor.migrate(before)
        old = executor.loader.project_state(before).apps
        OldEntry = old.get_model("partners", "AuditLogEntry")
        common = {
            "partner_id": partner.pk,
            "environment": "test",
            "url": "http://partner.example/push",
            "request_body": "{}",
            "latency_ms": 5,
        }
        pushed = OldEntry.objects.create(
            **common,
            operation="push",
            response_status=200,
            response_body=answer,  # its name escaped (\\u…), as some partners write JSON
            outcome="ok",
            actor_id=user.pk,
        )
        failed = OldEntry.objects.create(
            **common,
            operation="push",
            outcome="malformed",
            error=f"unknown push status '2' (处理中：{lead.id_number} {md5[:12]})",
        )
        old.get_model("pushes", "Push").objects.create(
            lead_id=lead.pk,
            partner_id=partner.pk,
            state="accepted",
            message=message,
            app_download_url=link,
            audit_entry_id=pushed.pk,
        )
    finally:
        MigrationExecutor(connection).migrate(latest)

    rows = {row.pk: row for row in AuditLogEntry.objects.all()}
    assert rows[pushed.pk].actor_username == "li.auditor"
    assert rows[failed.pk].actor_username == ""
    kept = rows[pushed.pk].response_body + rows[failed.pk].error
    for value in (lead.name, lead.phone, lead.id_number, md5[:12]):
        assert value not in kept
    assert "推送成功：" in kept and "/h5/" in kept
    assert verify_audit_chain().rows == 2 and verify_audit_chain().broken is None
    job.refresh_from_db()
    elsewhere = [
        Partner.objects.get().last_error,
        job.last_error,
        job.pause_reason,
        JobChunk.objects.get().last_error,
        CollisionResult.objects.get().message,
    ]
    for text in elsewhere:
        assert text.endswith("已存在") and lead.phone not in text and md5[:12] not in text

    push = Push.objects.get()
    assert (push.message, push.app_download_url) == (message, link)
    with connection.cursor() as cursor:
        cursor.execute("SELECT message, app_download_url FROM pushes_push")
        sealed = cursor.fetchone()
    assert all(value.startswith("gAAAAA") for value in sealed)
    assert decrypt(sealed[0]) == message

    if connection.vendor == "postgresql":
        with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
            AuditLogEntry._base_manager.filter(pk=pushed.pk).update(error="x")
