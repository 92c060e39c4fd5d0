"""Promises the README makes that no other test held it to: rebuilding the blind indexes, the
partner calls' proxy and their deafness to the environment, command-line jobs with --wait, the
admin's 对账, purging import batches, the push's integer spelling, jobs resuming after the daily
cap or outside the working hours, and the 1000-hash chunk of a check job."""

import http.client
import io
import math
import threading
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

import pytest
from django.contrib.admin import helpers
from django.contrib.auth.models import Group, User
from django.core.management import call_command
from django.db import IntegrityError, transaction
from django.test import Client, override_settings
from django.urls import reverse
from django.utils import timezone

from collision.models import CheckOutcome, CollisionResult
from collision.services import check_leads
from core.roles import ROLES
from jobs.models import Job, JobKind, JobState
from jobs.runner import run_job
from jobs.services import create_job, requeue_due_jobs
from leads.models import ImportBatch, ImportChunk, ImportState, Lead, id_number_index, phone_index
from partners import transport
from partners.models import AuditLogEntry, CallOutcome, Partner
from partners.protocols import yrxd_collision
from pushes.models import Push, PushState
from pushes.services import push_leads
from sandbox.server import PUSH_PATH, Fault
from tests.conftest import run_job_to_end
from tests.import_files import CHINESE_HEADERS, csv_bytes, lead_rows
from tests.test_push_outcomes import checked_marketable_leads, only

DUMMY_TASKS = {"default": {"BACKEND": "django.tasks.backends.dummy.DummyBackend"}}
OPERATOR = next(iter(ROLES))


def run(*args) -> list[str]:
    out = io.StringIO()
    call_command(*args, stdout=out, stderr=io.StringIO())
    return out.getvalue().strip().splitlines()


# -- rotate_pii_keys --reindex -----------------------------------------------------------------


@pytest.mark.django_db
def test_reindex_finds_and_deduplicates_leads_again_under_a_new_blind_index_key(
    make_leads, settings
):
    leads = make_leads(3)
    settings.BLIND_INDEX_KEY = "a-new-blind-index-key-for-the-test"
    lead = leads[0]
    assert not Lead.objects.filter(phone_index=phone_index(lead.phone)).exists()  # lost

    assert "leads: blind indexes rebuilt" in run("rotate_pii_keys", "--reindex")

    for lead in leads:
        assert Lead.objects.get(phone_index=phone_index(lead.phone)).pk == lead.pk
        assert Lead.objects.get(id_number_index=id_number_index(lead.id_number)).pk == lead.pk
    with pytest.raises(IntegrityError), transaction.atomic():  # the same person, refused
        Lead(phone=lead.phone, id_number=lead.id_number, name="张三", source="again").save()


# -- the proxy, and nothing from the environment ----------------------------------------------


class RecordingProxy:
    """A plain HTTP proxy that writes down each request (target and headers) and forwards it,
    or, as a trap, answers 502 without forwarding anything."""

    def __init__(self, *, forward: bool):
        self.seen: list[tuple[str, dict]] = []
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                proxy.seen.append((self.path, dict(self.headers)))
                if not forward:
                    return self._reply(502, b"trap")
                target = urlsplit(self.path)
                upstream = http.client.HTTPConnection(target.hostname, target.port, timeout=5)
                headers = {k: v for k, v in self.headers.items() if k.lower() != "proxy-connection"}
                upstream.request("POST", target.path, body=body, headers=headers)
                answer = upstream.getresponse()
                self._reply(answer.status, answer.read())
                upstream.close()

            def _reply(self, status, body):
                self.send_response(status)
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Connection", "close")
                self.end_headers()
                self.wfile.write(body)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def hostile_environment(monkeypatch, tmp_path):
    """Everything requests would pick up from the environment: a proxy (a trap), a netrc with
    credentials for the sandbox's host, a CA bundle that does not exist. Fresh sessions, so the
    settings of this test apply."""
    trap = RecordingProxy(forward=False)
    netrc = tmp_path / "netrc"
    netrc.write_text("machine 127.0.0.1 login intruder password secret\n")
    netrc.chmod(0o600)
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy"):
        monkeypatch.setenv(name, trap.url)
    for name in ("NO_PROXY", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("NETRC", str(netrc))
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(tmp_path / "no-such-bundle.pem"))
    monkeypatch.setenv("CURL_CA_BUNDLE", str(tmp_path / "no-such-bundle.pem"))
    monkeypatch.setattr(transport, "_sessions", {})
    yield trap
    trap.stop()


def test_partner_calls_go_through_the_configured_proxy_only(
    partner, sandbox, make_leads, settings, hostile_environment
):
    proxy = RecordingProxy(forward=True)
    settings.PARTNER_HTTP_PROXY = proxy.url
    try:
        summary = check_leads(partner=partner, leads=make_leads(3))
    finally:
        proxy.stop()

    assert summary.checked == 3 and summary.failed == 0
    batch_url = sandbox.base_url + yrxd_collision.BATCH_PATH
    assert [target for target, _ in proxy.seen] == [batch_url]
    assert sandbox.calls(yrxd_collision.BATCH_PATH) == 1
    headers = {name.lower() for name in proxy.seen[0][1]}
    assert not headers & {"authorization", "proxy-authorization"}  # no netrc credentials
    assert hostile_environment.seen == []


def test_partner_calls_take_no_proxy_netrc_or_ca_bundle_from_the_environment(
    partner, sandbox, make_leads, hostile_environment
):
    summary = check_leads(partner=partner, leads=make_leads(3))

    assert summary.checked == 3 and sandbox.calls(yrxd_collision.BATCH_PATH) == 1
    assert hostile_environment.seen == []  # straight to the partner, not the environment's proxy

    # TLS to a partner that speaks plain HTTP: the handshake fails (never sent), and not because
    # the environment's missing CA bundle was looked for.
    Partner.objects.filter(pk=partner.pk).update(
        test_base_url=sandbox.base_url.replace("http://", "https://")
    )
    partner.refresh_from_db()
    failed = check_leads(partner=partner, leads=Lead.objects.all()[:1])
    assert failed.failed == 1
    entry = AuditLogEntry.objects.latest("pk")
    assert entry.outcome == CallOutcome.CONNECTION_ERROR
    assert "bundle" not in entry.error and "no-such-bundle" not in entry.error
    assert hostile_environment.seen == []


# -- command-line jobs with --wait -------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
@override_settings(TASKS=DUMMY_TASKS)  # no worker: only --wait runs a job
@pytest.mark.parametrize("command", ["check_leads", "push_leads"])
def test_a_big_command_line_selection_is_queued_and_wait_runs_it_to_the_end(
    command, partner, sandbox, make_leads
):
    make_leads(25)  # more than JOB_INLINE_LIMIT (20)
    if command == "push_leads":
        check_leads(partner=partner, leads=Lead.objects.all())
    calls_before = len(sandbox.request_times)

    queued = run(command, "--partner", partner.slug, "--all")

    job = Job.objects.get()
    assert job.state == JobState.QUEUED and "a worker runs it" in queued[-1]
    assert len(sandbox.request_times) == calls_before  # nothing sent by the command itself

    waited = run(command, "--partner", partner.slug, "--all", "--wait")

    job = Job.objects.latest("pk")
    assert job.state == JobState.FINISHED and job.processed == job.total == 25
    assert f"job #{job.pk} finished: 25/25" in waited
    if command == "check_leads":
        assert CollisionResult.objects.filter(job=job).count() == 25
        assert waited[-1].startswith("checked=25 ")
    else:
        accepted = Push.objects.filter(job=job, state=PushState.ACCEPTED).count()
        assert accepted == job.accepted == sandbox.calls(PUSH_PATH) > 0


# -- the admin's 对账 --------------------------------------------------------------------------


@pytest.mark.django_db
def test_the_admin_reconcile_action_settles_what_landed_and_leaves_the_rest_unknown(
    partner, sandbox, make_leads
):
    landed, lost = checked_marketable_leads(partner, make_leads, 2)
    Partner.objects.filter(pk=partner.pk).update(read_timeout=1.0)
    partner.refresh_from_db()
    sandbox.config.timeout_delay_s = 2.0
    sandbox.inject(Fault.TIMEOUT, times=1)  # processed, answered too late
    push_leads(partner=partner, leads=only(landed))
    sandbox.inject(Fault.RESET, times=1)  # dropped before it was read
    push_leads(partner=partner, leads=only(lost))
    assert set(Push.objects.values_list("state", flat=True)) == {PushState.UNKNOWN}
    assert sandbox.accepted_pushes and sandbox.calls(PUSH_PATH) == 2
    operator = User.objects.create_user("operator", is_staff=True)
    operator.groups.add(Group.objects.get(name=OPERATOR))
    client = Client()
    client.force_login(operator)
    changelist = reverse("admin:pushes_push_changelist")
    assert "reconcile" in client.get(changelist).content.decode()

    response = client.post(
        changelist,
        {
            "action": "reconcile",
            helpers.ACTION_CHECKBOX_NAME: list(Push.objects.values_list("pk", flat=True)),
        },
        follow=True,
    )

    assert "对账完成：确认已接收 1 条，仍未知 1 条" in response.content.decode()
    assert Push.objects.get(lead=landed).state == PushState.ACCEPTED
    assert Push.objects.get(lead=lost).state == PushState.UNKNOWN
    assert sandbox.calls(PUSH_PATH) == 2  # settled by checking, nothing sent again


# -- purge_import_batches ----------------------------------------------------------------------


@pytest.mark.django_db
def test_purge_drops_old_rejected_rows_and_abandoned_previews_only(settings):
    from leads.imports import services

    def analysed_batch(seed: int) -> ImportBatch:
        rows = lead_rows(3, seed=seed)
        rows[0][1] = "452159198001010000"  # Excel's rounding: rejected
        batch = services.import_batch_create(
            file_name=f"{seed}.csv", data=csv_bytes(CHINESE_HEADERS, rows)
        )
        services.import_batch_analyse(batch.pk)
        batch.refresh_from_db()
        return batch

    old_done, recent_done, old_preview, recent_preview = (analysed_batch(s) for s in range(4))
    for batch in (old_done, recent_done):
        services.import_batch_confirm(batch)
    long_ago = timezone.now() - timedelta(days=settings.LEAD_IMPORT_RETENTION_DAYS, hours=1)
    ImportBatch.objects.filter(pk=old_done.pk).update(finished_at=long_ago)
    ImportBatch.objects.filter(pk=old_preview.pk).update(created_at=long_ago)
    assert all(ImportChunk.objects.filter(batch=b).exists() for b in (old_done, old_preview))

    assert run("purge_import_batches") == ["purged 2 batch(es)"]

    for batch in (old_done, recent_done, old_preview, recent_preview):
        batch.refresh_from_db()
    assert old_done.rejected_rows_purged_at is not None
    assert not ImportChunk.objects.filter(batch__in=[old_done, old_preview]).exists()
    assert old_preview.state == ImportState.CANCELLED
    assert (
        recent_done.rejected_rows_purged_at is None and recent_preview.state == ImportState.PREVIEW
    )
    assert ImportChunk.objects.filter(batch=recent_done).exists()
    assert ImportChunk.objects.filter(batch=recent_preview).exists()
    assert Lead.objects.count() == 4  # the imported leads stay
    assert run("purge_import_batches") == ["purged 0 batch(es)"]


# -- how a push spells its integers ------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("as_strings", "data_as_string", "spelled"),
    [
        (True, True, {"data": "str", "socialInsurancePayed": "str", "zhimaScore": "str"}),
        (False, True, {"data": "str", "socialInsurancePayed": "int", "zhimaScore": "int"}),
        (False, False, {"data": "dict", "socialInsurancePayed": "int", "zhimaScore": "int"}),
    ],
)
def test_push_integers_as_strings_and_data_as_string_reach_the_partner_as_set(
    as_strings, data_as_string, spelled, partner, sandbox, make_leads
):
    [lead] = checked_marketable_leads(partner, make_leads, 1)
    Partner.objects.filter(pk=partner.pk).update(
        push_integers_as_strings=as_strings, push_data_as_string=data_as_string
    )
    partner.refresh_from_db()

    assert push_leads(partner=partner, leads=only(lead)).accepted == 1
    assert sandbox.push_shapes == [spelled]


# -- jobs resume after a pause -----------------------------------------------------------------


def paused_then_resumed(job: Job, *, before_resuming) -> int:
    """Run the job as a worker would, calling ``before_resuming`` whenever it pauses (the clock
    moving on) and letting the janitor requeue it; the number of pauses."""
    pauses = 0
    while True:
        run_job(job.pk)
        job.refresh_from_db()
        if job.is_final:
            return pauses
        assert job.state == JobState.PAUSED and pauses < 50
        pauses += 1
        before_resuming(job)
        Job.objects.filter(pk=job.pk).update(paused_until=timezone.now() - timedelta(seconds=1))
        assert job.pk in requeue_due_jobs()


@pytest.mark.django_db(transaction=True)
@override_settings(TASKS=DUMMY_TASKS)
def test_a_job_paused_by_the_daily_cap_resumes_the_next_day_and_finishes(
    partner, sandbox, make_leads
):
    make_leads(30)
    check_leads(partner=partner, leads=Lead.objects.all())
    marketable = CollisionResult.objects.filter(is_marketable=True).count()
    Partner.objects.filter(pk=partner.pk).update(daily_push_cap=3)
    job = create_job(
        kind=JobKind.PUSH, partner=partner, lead_ids=Lead.objects.values_list("pk", flat=True)
    )
    per_day = []

    def next_day(job):
        assert "每日推送上限" in job.pause_reason
        midnight = timezone.localtime().replace(hour=0, minute=0, second=0, microsecond=0)
        today = Push.objects.filter(last_attempt_at__gte=midnight)
        per_day.append(today.count())
        today.update(last_attempt_at=midnight - timedelta(minutes=len(per_day)))  # "yesterday"

    pauses = paused_then_resumed(job, before_resuming=next_day)

    job.refresh_from_db()
    assert job.state == JobState.FINISHED and job.accepted == marketable == sandbox.calls(PUSH_PATH)
    assert per_day == [3] * pauses and pauses == math.ceil(marketable / 3) - 1
    assert job.accepted + job.rejected + job.unknown + job.failed + job.skipped == 30


@pytest.mark.django_db(transaction=True)
@override_settings(TASKS=DUMMY_TASKS)
def test_a_job_outside_the_working_hours_resumes_when_they_begin(partner, sandbox, make_leads):
    make_leads(15)
    now = timezone.localtime()
    Partner.objects.filter(pk=partner.pk).update(
        working_hours_start=(now + timedelta(hours=2)).time(),
        working_hours_end=(now + timedelta(hours=3)).time(),
    )
    job = create_job(
        kind=JobKind.CHECK, partner=partner, lead_ids=Lead.objects.values_list("pk", flat=True)
    )

    def hours_begin(job):
        assert "工作时段" in job.pause_reason and AuditLogEntry.objects.count() == 0
        now = timezone.localtime()  # the clock reaching the window: it now holds the present
        Partner.objects.filter(pk=partner.pk).update(
            working_hours_start=(now - timedelta(hours=1)).time(),
            working_hours_end=(now + timedelta(hours=1)).time(),
        )

    assert paused_then_resumed(job, before_resuming=hours_begin) == 1
    job.refresh_from_db()
    assert job.state == JobState.FINISHED and job.processed == 15 and job.errors == 0
    assert CollisionResult.objects.filter(job=job, outcome=CheckOutcome.ANSWERED).count() == 15


# -- the 1000-hash chunk -----------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_a_check_job_sends_at_most_1000_hashes_a_request_whatever_the_setting(
    partner, sandbox, bulk_leads, settings
):
    settings.JOB_CHECK_CHUNK_SIZE = 5000  # above what the partner takes
    bulk_leads(1001)

    job = run_job_to_end(
        create_job(
            kind=JobKind.CHECK, partner=partner, lead_ids=Lead.objects.values_list("pk", flat=True)
        ),
        timeout=120,
    )

    assert job.state == JobState.FINISHED and job.processed == 1001 and job.errors == 0
    assert job.chunks.count() == 2
    # 1000 hashes in one batch request; the one left over goes alone, to the single endpoint.
    assert sandbox.batch_sizes == [yrxd_collision.MAX_BATCH] == [1000]
    assert sandbox.calls(yrxd_collision.SINGLE_PATH) == 1
    assert CollisionResult.objects.filter(job=job, outcome=CheckOutcome.ANSWERED).count() == 1001
