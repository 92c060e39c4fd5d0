"""Background jobs against the sandbox over real HTTP: progress, limits, pauses, cancel, no doubles."""

import threading
import time
from datetime import time as clock
from datetime import timedelta

import pytest
from django.db import connection
from django.test import override_settings
from django.utils import timezone

from collision.models import CheckOutcome, CollisionResult
from collision.services import check_leads
from jobs.models import ChunkState, Job, JobKind, JobState
from jobs.runner import run_job
from jobs.services import cancel_job, create_job
from leads.models import Lead
from partners.models import AuditLogEntry, Partner
from pushes.models import Push, PushState
from pushes.services import push_leads
from sandbox.server import PUSH_PATH, Fault
from tests.conftest import run_job_to_end

pytestmark = pytest.mark.django_db(transaction=True)
DUMMY_TASKS = {"default": {"BACKEND": "django.tasks.backends.dummy.DummyBackend"}}


def in_own_connection(work):
    """A thread's database connection is its own: close it when the thread is done."""

    def run(*args):
        try:
            work(*args)
        finally:
            connection.close()

    return run


def all_ids():
    return list(Lead.objects.values_list("pk", flat=True))


def test_check_job_processes_every_lead_once_within_the_partner_concurrency(
    partner, sandbox, make_leads
):
    make_leads(45)
    sandbox.config.latency_ms = 30
    Partner.objects.filter(pk=partner.pk).update(max_concurrency=2)

    job = run_job_to_end(create_job(kind=JobKind.CHECK, partner=partner, lead_ids=all_ids()))

    assert job.state == JobState.FINISHED and job.processed == job.total == 45
    assert (
        job.chunks.filter(state=ChunkState.DONE).count() == 5
    )  # chunks of 10 in the test settings
    results = CollisionResult.objects.filter(job=job)
    assert results.count() == 45 and results.values("lead").distinct().count() == 45
    assert job.marketable == results.filter(is_marketable=True).count() > 0
    assert job.errors == 0
    assert (
        AuditLogEntry.objects.filter(job=job).count()
        == AuditLogEntry.objects.count()
        == sandbox.calls("/api/collision/v1/advert/check/access/batch")
        == 5
    )
    assert sandbox.max_in_flight <= 2


def test_job_never_exceeds_the_partner_requests_per_second(partner, sandbox, bulk_leads):
    bulk_leads(120)  # 12 batch requests of 10
    Partner.objects.filter(pk=partner.pk).update(max_concurrency=8, max_requests_per_second=4)

    job = run_job_to_end(create_job(kind=JobKind.CHECK, partner=partner, lead_ids=all_ids()))

    assert job.state == JobState.FINISHED and job.processed == 120
    assert sandbox.calls("/api/collision/v1/advert/check/access/batch") == 12
    # Never past the limit, in any second the partner saw (the limiter counts a request until a
    # second after its answer, so late arrivals cannot bunch up); and it uses the rate it has,
    # with one request of margin for a loaded machine.
    assert 3 <= sandbox.max_rate(window_s=1.0) <= 4


def test_push_job_pushes_each_marketable_lead_once(partner, sandbox, make_leads):
    make_leads(30)
    check_leads(partner=partner, leads=Lead.objects.all())
    marketable = set(
        CollisionResult.objects.filter(is_marketable=True).values_list("lead_id", flat=True)
    )

    job = run_job_to_end(create_job(kind=JobKind.PUSH, partner=partner, lead_ids=all_ids()))

    assert job.state == JobState.FINISHED
    assert (
        set(
            Push.objects.filter(job=job, state=PushState.ACCEPTED).values_list("lead_id", flat=True)
        )
        == marketable
    )
    assert job.accepted == len(marketable) == sandbox.calls(PUSH_PATH)
    assert AuditLogEntry.objects.filter(job=job).count() == len(marketable)  # the check had none
    assert (
        job.accepted + job.rejected + job.unknown + job.failed + job.skipped == job.processed == 30
    )

    again = run_job_to_end(create_job(kind=JobKind.PUSH, partner=partner, lead_ids=all_ids()))
    assert again.accepted == 0 and again.skipped == 30
    assert sandbox.calls(PUSH_PATH) == len(marketable)


def test_rate_limit_answer_pauses_the_job_and_it_resumes(partner, sandbox, make_leads):
    make_leads(25)
    sandbox.inject(Fault.RATE_LIMIT, times=1)

    with override_settings(TASKS=DUMMY_TASKS):
        job = create_job(kind=JobKind.CHECK, partner=partner, lead_ids=all_ids())
        Partner.objects.filter(pk=partner.pk).update(max_concurrency=1)
        run_job(job.pk)
    job.refresh_from_db()
    assert job.state == JobState.PAUSED and "限流" in job.pause_reason
    assert job.paused_until > timezone.now()

    job = run_job_to_end(job)
    assert job.state == JobState.FINISHED and job.errors == 0
    assert CollisionResult.objects.filter(job=job).count() == 25


def test_transport_errors_are_retried_with_backoff_then_recorded(partner, sandbox, make_leads):
    make_leads(10)  # one chunk
    # A second between the read timeout and the late answers, and for the answer that comes.
    Partner.objects.filter(pk=partner.pk).update(read_timeout=1.0)
    sandbox.config.timeout_delay_s = 2.0
    sandbox.inject(Fault.TIMEOUT, times=2)

    job = run_job_to_end(create_job(kind=JobKind.CHECK, partner=partner, lead_ids=all_ids()))

    chunk = job.chunks.get()
    assert chunk.attempts == 2 and chunk.state == ChunkState.DONE
    assert CollisionResult.objects.filter(job=job, outcome=CheckOutcome.ANSWERED).count() == 10
    assert AuditLogEntry.objects.filter(outcome="timeout").count() == 2
    assert AuditLogEntry.objects.count() == 3

    sandbox.inject(Fault.HTTP_500)  # for good: after the last attempt the failure is the result
    failed = run_job_to_end(create_job(kind=JobKind.CHECK, partner=partner, lead_ids=all_ids()))
    assert failed.errors == 10 and failed.chunks.get().attempts == 2
    assert set(CollisionResult.objects.filter(job=failed).values_list("outcome", flat=True)) == {
        CheckOutcome.CALL_FAILED
    }


def test_partner_failing_repeatedly_is_paused_and_its_job_waits(partner, sandbox, make_leads):
    make_leads(30)
    Partner.objects.filter(pk=partner.pk).update(failure_threshold=2, max_concurrency=1)
    sandbox.inject(Fault.HTTP_500)

    with override_settings(TASKS=DUMMY_TASKS):
        job = create_job(kind=JobKind.CHECK, partner=partner, lead_ids=all_ids())
        run_job(job.pk)
        job.refresh_from_db()
        partner.refresh_from_db()
        assert partner.is_paused and "HTTP 500" in partner.last_error
        assert job.state == JobState.PAUSED and "合作平台已暂停" in job.pause_reason
        assert not CollisionResult.objects.filter(
            job=job
        ).exists()  # nothing recorded as a final failure

    sandbox.inject(Fault.NONE)
    partner.is_paused = False  # the operator resumes it
    partner.save()
    job = run_job_to_end(job)
    assert job.state == JobState.FINISHED and job.errors == 0 and job.processed == 30


def test_only_failures_in_a_row_pause_a_partner(partner, sandbox, make_leads):
    lead = make_leads(1)
    Partner.objects.filter(pk=partner.pk).update(failure_threshold=2)

    def check_once(fault):
        sandbox.inject(fault, times=1)
        check_leads(partner=partner, leads=lead)
        partner.refresh_from_db()

    check_once(Fault.HTTP_500)
    check_once(Fault.NONE)  # a success ends the streak
    check_once(Fault.HTTP_500)
    assert not partner.is_paused and partner.consecutive_failures == 1
    check_once(Fault.HTTP_500)
    assert partner.is_paused and partner.consecutive_failures == 2


def test_cancel_stops_a_running_job_and_a_queued_one(partner, sandbox, make_leads):
    make_leads(60)
    sandbox.config.latency_ms = 200  # a second for the cancel to land before the last chunk
    Partner.objects.filter(pk=partner.pk).update(max_concurrency=1)
    with override_settings(TASKS=DUMMY_TASKS):
        running = create_job(kind=JobKind.CHECK, partner=partner, lead_ids=all_ids())
        queued = create_job(kind=JobKind.CHECK, partner=partner, lead_ids=all_ids())
    worker = threading.Thread(target=in_own_connection(run_job), args=(running.pk,))
    worker.start()
    deadline = time.monotonic() + 30
    while CollisionResult.objects.filter(job=running).count() < 10:
        assert time.monotonic() < deadline, "the running job recorded no chunk in 30 s"
        time.sleep(0.01)  # leave the worker thread the interpreter
    assert cancel_job(running) and cancel_job(queued)
    worker.join(timeout=30)
    assert not worker.is_alive()

    running.refresh_from_db()
    queued.refresh_from_db()
    assert running.state == JobState.CANCELLED and 10 <= running.processed < 60
    assert queued.state == JobState.CANCELLED and queued.processed == 0
    assert run_job(queued.pk) == "not claimed"


def test_daily_push_cap_pauses_until_tomorrow(partner, sandbox, make_leads):
    make_leads(30)
    check_leads(partner=partner, leads=Lead.objects.all())
    Partner.objects.filter(pk=partner.pk).update(daily_push_cap=3)

    with override_settings(TASKS=DUMMY_TASKS):
        job = create_job(kind=JobKind.PUSH, partner=partner, lead_ids=all_ids())
        run_job(job.pk)
    job.refresh_from_db()

    assert job.state == JobState.PAUSED and "每日推送上限" in job.pause_reason
    assert (
        Push.objects.filter(job=job, state=PushState.ACCEPTED).count()
        == 3
        == sandbox.calls(PUSH_PATH)
    )
    assert timezone.localtime(job.paused_until).time() == clock(0, 0)
    assert job.paused_until > timezone.now()


def test_outside_working_hours_the_job_waits_for_the_next_window(partner, sandbox, make_leads):
    make_leads(5)
    now = timezone.localtime()
    start = (now + timedelta(hours=2)).time().replace(second=0, microsecond=0)
    end = (now + timedelta(hours=3)).time().replace(second=0, microsecond=0)
    Partner.objects.filter(pk=partner.pk).update(working_hours_start=start, working_hours_end=end)

    with override_settings(TASKS=DUMMY_TASKS):
        job = create_job(kind=JobKind.CHECK, partner=partner, lead_ids=all_ids())
        run_job(job.pk)
    job.refresh_from_db()

    assert job.state == JobState.PAUSED and "工作时段" in job.pause_reason
    assert timezone.localtime(job.paused_until).time() == start
    assert AuditLogEntry.objects.count() == 0


def test_two_operators_pushing_the_same_leads_push_each_lead_once(partner, sandbox, make_leads):
    make_leads(40)
    check_leads(partner=partner, leads=Lead.objects.all())
    marketable = CollisionResult.objects.filter(is_marketable=True).count()
    sandbox.config.latency_ms = 10
    summaries = []

    def operator():
        summaries.append(
            push_leads(partner=Partner.objects.get(pk=partner.pk), leads=Lead.objects.all())
        )

    operators = [threading.Thread(target=in_own_connection(operator)) for _ in range(2)]
    for thread in operators:
        thread.start()
    for thread in operators:
        thread.join()

    assert sum(summary.accepted for summary in summaries) == marketable
    assert (
        Push.objects.filter(state=PushState.ACCEPTED).count()
        == marketable
        == sandbox.calls(PUSH_PATH)
    )
    assert not Push.objects.exclude(state=PushState.ACCEPTED).exists()


def test_two_jobs_on_one_partner_run_one_after_the_other(partner, sandbox, make_leads):
    make_leads(20)
    check_leads(partner=partner, leads=Lead.objects.all())
    with override_settings(TASKS=DUMMY_TASKS):
        first = create_job(kind=JobKind.PUSH, partner=partner, lead_ids=all_ids())
        second = create_job(kind=JobKind.PUSH, partner=partner, lead_ids=all_ids())
    Job.objects.filter(pk=first.pk).update(
        state=JobState.RUNNING,
        lease_owner="elsewhere",
        lease_expires_at=timezone.now() + timedelta(minutes=1),
    )

    assert run_job(second.pk) == "not claimed"
    second.refresh_from_db()
    assert second.state == JobState.PAUSED and "其他任务" in second.pause_reason


def test_a_push_that_waited_for_a_slot_signs_the_time_it_leaves(
    partner, sandbox, make_leads, settings
):
    """One slot, two threads: the second push waits a whole answer (2 s) for the slot. Its
    clientTime is taken when it leaves, so a partner allowing 3 s of clock skew takes both: a
    time taken on arrival at the slot would be 4 s old when checked (a second's margin each way).
    """
    make_leads(20)
    check_leads(partner=partner, leads=Lead.objects.all())
    two = CollisionResult.objects.filter(is_marketable=True).values_list("lead_id", flat=True)[:2]
    Partner.objects.filter(pk=partner.pk).update(max_concurrency=1, read_timeout=5)
    settings.JOB_PUSH_CHUNK_SIZE = 1  # a chunk each, so both threads push at once
    sandbox.config.latency_ms = 2000
    sandbox.config.max_clock_skew_s = 3

    job = run_job_to_end(create_job(kind=JobKind.PUSH, partner=partner, lead_ids=list(two)))

    assert (job.accepted, job.failed) == (2, 0)
    assert sandbox.max_in_flight == 1
