"""Runs a distribution run: claims it under a lease, then step after step runs the step's jobs
(one per partner) side by side in threads, each job through the ordinary job runner, so each
partner is worked within its own concurrency, rate, daily cap and working hours, and a job
survives a killed worker as every job does.

When a step's jobs cannot all finish now (a partner paused, outside its hours, at its cap, or
another worker holds the job), the run waits (WAITING, lease released); the job's end wakes it
(``wake_run``), and the janitor pass takes up runs whose worker died or whose wake-up was lost.
"""

import logging
import threading
from datetime import timedelta

from django.conf import settings
from django.db import close_old_connections, connection, transaction
from django.db.models import Q
from django.utils import timezone

from distribution.models import Run, RunJob, RunState, run_lease_deadline
from distribution.services import advance, plan_step, schedule, step_jobs
from jobs.models import FINAL_STATES, Job
from jobs.runner import WORKER_ID, run_job

logger = logging.getLogger(__name__)


def run_distribution(run_id: int, *, worker_id: str = WORKER_ID) -> str:
    run = claim_run(run_id, worker_id=worker_id)
    if run is None:
        return "not claimed"
    stop = threading.Event()
    heartbeat = threading.Thread(
        target=_keep_lease, args=(run.pk, worker_id, stop), name=f"run-{run.pk}-lease", daemon=True
    )
    heartbeat.start()
    try:
        return _drive(run, worker_id)
    finally:
        stop.set()
        heartbeat.join()


def claim_run(run_id: int, *, worker_id: str) -> Run | None:
    """Compare-and-set: a queued or waiting run, or one whose worker's lease ran out."""
    now = timezone.now()
    takeable = Q(state__in=[RunState.QUEUED, RunState.WAITING]) | Q(
        state=RunState.RUNNING, lease_expires_at__lt=now
    )
    claimed = Run.objects.filter(takeable, pk=run_id).update(
        state=RunState.RUNNING, lease_owner=worker_id, lease_expires_at=run_lease_deadline()
    )
    if not claimed:
        return None
    Run.objects.filter(pk=run_id, started_at__isnull=True).update(started_at=now)
    return Run.objects.select_related("plan").get(pk=run_id)


def _drive(run: Run, worker_id: str) -> str:
    while True:
        run.refresh_from_db()
        if run.lease_owner != worker_id or run.state != RunState.RUNNING:
            return "lease lost"
        if run.cancel_requested:
            _conclude(run, worker_id, RunState.CANCELLED)
            return RunState.CANCELLED
        jobs = plan_step(run)
        if Run.objects.filter(pk=run.pk, cancel_requested=True).exists():
            continue  # cancelled while the step was planned: conclude as cancelled, above
        open_jobs = [job for job in jobs if job.state not in FINAL_STATES]
        if open_jobs:
            _run_side_by_side(open_jobs, worker_id)
            if Job.objects.filter(pk__in=[j.pk for j in open_jobs]).exclude(state__in=FINAL_STATES):
                _conclude(run, worker_id, RunState.WAITING)
                return RunState.WAITING
            continue  # the step is over: look again, then move on
        if run.step > 0 and (not jobs or not run.is_exclusive):
            _conclude(run, worker_id, RunState.FINISHED)  # nothing left to offer anyone
            return RunState.FINISHED
        advance(run)


def _run_side_by_side(jobs: list[Job], worker_id: str) -> None:
    def work(job_id: int) -> None:
        try:
            run_job(job_id, worker_id=worker_id)
        except Exception:
            logger.exception("job %s of a distribution run failed", job_id)
        finally:
            connection.close()

    threads = [threading.Thread(target=work, args=(job.pk,)) for job in jobs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


def _keep_lease(run_id: int, worker_id: str, stop: threading.Event) -> None:
    try:
        while not stop.wait(settings.JOB_LEASE_SECONDS / 3):
            Run.objects.filter(pk=run_id, lease_owner=worker_id).update(
                lease_expires_at=run_lease_deadline()
            )
    finally:
        connection.close()


def _conclude(run: Run, worker_id: str, state: str) -> None:
    final = state in (RunState.FINISHED, RunState.CANCELLED)
    Run.objects.filter(pk=run.pk, lease_owner=worker_id).update(
        state=state,
        lease_owner="",
        lease_expires_at=None,
        finished_at=timezone.now() if final else None,
    )
    run.state = state


# -- waking runs up ---------------------------------------------------------------------------


def wake_run(job: Job) -> None:
    """A job reached its end: if its run waits for it, queue the run again."""
    run_job = RunJob.objects.filter(job=job).select_related("run").first()
    if run_job is not None:
        _requeue(Run.objects.filter(pk=run_job.run_id, state=RunState.WAITING))


def requeue_due_runs() -> list[int]:
    """The janitor's pass: runs whose worker died (lease over), runs queued long ago (the task
    was lost), and waiting runs whose step's jobs are all over (the wake-up was lost)."""
    close_old_connections()
    now = timezone.now()
    stale_queue = now - timedelta(seconds=settings.JOB_REQUEUE_AFTER_SECONDS)
    due = Q(state=RunState.RUNNING, lease_expires_at__lt=now) | Q(
        state=RunState.QUEUED, enqueued_at__lt=stale_queue
    )
    requeued = _requeue(Run.objects.filter(due))
    for run in Run.objects.filter(state=RunState.WAITING):
        if all(job.state in FINAL_STATES for job in step_jobs(run)):
            requeued += _requeue(Run.objects.filter(pk=run.pk, state=RunState.WAITING))
    return requeued


def _requeue(runs) -> list[int]:
    requeued = []
    for run in runs.only("pk", "state", "lease_expires_at", "enqueued_at"):
        with transaction.atomic():
            same = Run.objects.filter(
                pk=run.pk,
                state=run.state,
                lease_expires_at=run.lease_expires_at,
                enqueued_at=run.enqueued_at,
            )
            if same.update(
                state=RunState.QUEUED,
                lease_owner="",
                lease_expires_at=None,
                enqueued_at=timezone.now(),
            ):
                schedule(run)
                requeued.append(run.pk)
    return requeued
