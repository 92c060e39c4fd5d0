"""A real worker process is killed with SIGKILL mid-job; another one finishes the job.
Nothing is lost, nothing is doubled, and accepted pushes are never sent again."""

import os
import signal
from dataclasses import dataclass

import pytest
from django.test import override_settings

from collision.models import CheckOutcome, CollisionResult
from collision.services import check_leads
from jobs.models import ChunkState, Job, JobChunk, JobKind, JobState
from jobs.runner import threads_for
from jobs.services import create_job
from leads.models import Lead
from partners.models import AuditLogEntry, Operation, Partner
from pushes.models import Push, PushState
from sandbox.server import PUSH_PATH
from tests.workers import DB_TASKS, start_worker, wait_for

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(os.name != "posix", reason="SIGKILL"),
]


@dataclass
class AtTheKill:
    """The job as the killed worker left it."""

    done: dict[int, tuple]  # chunk pk: (finished_at, attempts) of the chunks done by then
    unfinished: list[JobChunk]  # the chunks left to redo, their leads as they were


def kill_mid_job_then_finish(job: Job, *, after_done_chunks: int) -> tuple[Job, AtTheKill]:
    first = start_worker()
    try:
        wait_for(
            lambda: job.chunks.filter(state=ChunkState.DONE).count() >= after_done_chunks,
            timeout=60,
            what="the first worker to make progress",
        )
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=10)
    finally:
        first.kill()
    job.refresh_from_db()
    assert job.state == JobState.RUNNING and not job.is_final  # killed, not finished
    at_kill = AtTheKill(
        done={
            chunk.pk: (chunk.finished_at, chunk.attempts)
            for chunk in job.chunks.filter(state=ChunkState.DONE)
        },
        unfinished=list(job.chunks.exclude(state=ChunkState.DONE)),
    )
    assert at_kill.unfinished

    second = start_worker()
    try:
        wait_for(
            lambda: Job.objects.get(pk=job.pk).is_final,
            timeout=120,
            what="the second worker to finish",
        )
    finally:
        second.send_signal(signal.SIGTERM)
        second.wait(timeout=10)
    job.refresh_from_db()
    # Only unfinished chunks are redone: the done ones keep when and how they were done.
    assert {
        chunk.pk: (chunk.finished_at, chunk.attempts)
        for chunk in job.chunks.filter(pk__in=at_kill.done)
    } == at_kill.done
    return job, at_kill


def test_check_job_survives_a_killed_worker(partner, sandbox, make_leads):
    make_leads(120)
    sandbox.config.latency_ms = 150
    Partner.objects.filter(pk=partner.pk).update(max_concurrency=2)
    with override_settings(TASKS=DB_TASKS):
        job = create_job(
            kind=JobKind.CHECK, partner=partner, lead_ids=Lead.objects.values_list("pk", flat=True)
        )

    job, at_kill = kill_mid_job_then_finish(job, after_done_chunks=3)

    assert job.state == JobState.FINISHED and job.processed == job.total == 120
    results = CollisionResult.objects.filter(job=job)
    assert results.count() == 120 and results.values("lead").distinct().count() == 120
    assert job.marketable == results.filter(is_marketable=True).count()
    assert job.errors == results.exclude(outcome=CheckOutcome.ANSWERED).count() == 0
    calls = sandbox.calls("/api/collision/v1/advert/check/access/batch")
    audits = AuditLogEntry.objects.filter(operation=Operation.COLLISION_BATCH).count()
    # A call under way when the worker died reached the partner but never got its audit row,
    # and its chunk is redone. At most one per job thread (threads_for: 4 here), not per partner
    # slot (2): a thread records its answer after leaving the slot, so while two requests are out
    # two answered ones may still be unrecorded (CI saw 3). One batch call per chunk: the done
    # ones once, the unfinished ones once more, and those under way at the kill once before.
    in_flight = threads_for(Partner.objects.get(pk=partner.pk))
    assert calls - in_flight <= audits <= calls
    assert 12 <= calls <= len(at_kill.done) + len(at_kill.unfinished) + in_flight
    assert len(at_kill.done) + len(at_kill.unfinished) == 12


def test_push_job_survives_a_killed_worker_without_sending_twice(partner, sandbox, make_leads):
    make_leads(150)
    check_leads(partner=partner, leads=Lead.objects.all())
    marketable = set(
        CollisionResult.objects.filter(is_marketable=True).values_list("lead_id", flat=True)
    )
    sandbox.config.latency_ms = 60
    Partner.objects.filter(pk=partner.pk).update(max_concurrency=2)
    with override_settings(TASKS=DB_TASKS):
        job = create_job(
            kind=JobKind.PUSH, partner=partner, lead_ids=Lead.objects.values_list("pk", flat=True)
        )

    job, at_kill = kill_mid_job_then_finish(job, after_done_chunks=4)

    assert job.state == JobState.FINISHED and job.processed == job.total == 150
    pushes = Push.objects.filter(job=job)
    assert set(pushes.values_list("lead_id", flat=True)) == marketable  # none lost
    assert pushes.count() == len(marketable)  # one push row per lead
    assert not pushes.filter(state__in=[PushState.PENDING, PushState.SENDING]).exists()
    # The partner never saw a lead twice (the message is sealed: compared once decrypted).
    assert "用户已存在" not in {push.message for push in pushes}
    accepted = pushes.filter(state=PushState.ACCEPTED).count()
    unknown = pushes.filter(state=PushState.UNKNOWN).count()
    # At most the pushes the dead worker's threads held: each claims its push in a partner
    # slot (2 here) but records the answer after leaving it, so more can be between the two.
    assert unknown <= threads_for(Partner.objects.get(pk=partner.pk))
    landed = sum(len(phones) for phones in sandbox.registered.values())
    assert accepted <= landed <= accepted + unknown
    assert sandbox.calls(PUSH_PATH) == landed
    # One call at most per marketable lead: the done chunks' leads before the kill, the
    # unfinished chunks' after it (or before, in flight: then unknown, never sent again).
    assert sandbox.calls(PUSH_PATH) <= len(marketable)
    assert len(at_kill.done) + len(at_kill.unfinished) == 30  # chunks of 5
    redone = {pk for chunk in at_kill.unfinished for pk in chunk.lead_ids}
    assert not pushes.exclude(lead_id__in=redone).exclude(attempts=1).exists()
    # A push under way at the kill (at most one per job thread, as above) has no audit row.
    audits = AuditLogEntry.objects.filter(operation=Operation.PUSH).count()
    threads = threads_for(Partner.objects.get(pk=partner.pk))
    assert sandbox.calls(PUSH_PATH) - threads <= audits <= sandbox.calls(PUSH_PATH)
    assert job.accepted == accepted and job.unknown == unknown
    assert job.accepted + job.rejected + job.unknown + job.failed + job.skipped == 150
