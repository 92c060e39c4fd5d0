"""Runs one job: claims it, works its chunks on the partner's allowed concurrency and request
rate, and leaves it finished, paused (with a reason and a time to resume) or cancelled.

A job is claimed under a lease that a heartbeat thread keeps extending; so is every chunk. A
worker that dies (even by SIGKILL) simply stops extending them: the janitor in ``run_worker``
requeues the job once its lease is over, and the next worker redoes only unfinished chunks.
Only one job per partner runs at a time, so the limits the transport keeps in this process
(``partners.limits``) are the partner's.
"""

import logging
import os
import random
import socket
import threading
import time
import uuid
from datetime import datetime, timedelta

from django.conf import settings
from django.db import close_old_connections, connection, transaction
from django.db.models import Min, Q
from django.utils import timezone
from django.utils.translation import gettext as _

from jobs.handlers import handler_for, job_became_final
from jobs.models import ChunkState, Job, JobChunk, JobState, LeaseLost, lease_deadline
from partners.models import Partner

logger = logging.getLogger(__name__)

WORKER_ID = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
POLL_SECONDS = 0.5


def threads_for(partner: Partner) -> int:
    """Twice the partner's concurrency: while one thread's request is out, another prepares its
    next one. The transport lets at most max_concurrency through at once."""
    return 2 * max(1, partner.max_concurrency)


def run_job(job_id: int, *, worker_id: str = WORKER_ID) -> str:
    job = claim_job(job_id, worker_id=worker_id)
    if job is None:
        return "not claimed"
    return JobRun(job, worker_id).run()


def claim_job(job_id: int, *, worker_id: str) -> Job | None:
    """Take a queued job (or one whose worker died) under a lease. One running job per partner:
    the partner row is locked while we look, so two workers cannot both decide it is free."""
    now = timezone.now()
    with transaction.atomic():
        partner_id = Job.objects.filter(pk=job_id).values_list("partner_id", flat=True).first()
        if partner_id is None:
            return None
        list(Partner.objects.select_for_update().filter(pk=partner_id))
        job = (
            Job.objects.select_for_update(of=("self",))
            .select_related("partner", "created_by")
            .get(pk=job_id)
        )
        alive = job.lease_expires_at is not None and job.lease_expires_at > now
        if job.state not in (JobState.QUEUED, JobState.RUNNING) or (
            job.state == JobState.RUNNING and alive
        ):
            return None
        if job.cancel_requested:
            _finish(job, JobState.CANCELLED)
            return None
        busy = Job.objects.filter(
            partner_id=partner_id, state=JobState.RUNNING, lease_expires_at__gt=now
        ).exclude(pk=job.pk)
        if busy.exists():
            _pause(
                job, until=now + timedelta(seconds=5), reason=_("等待同一合作平台的其他任务完成")
            )
            return None
        job.state = JobState.RUNNING
        job.lease_owner = worker_id
        job.lease_expires_at = lease_deadline()
        job.started_at = job.started_at or now
        job.pause_reason, job.paused_until = "", None
        job.save(
            update_fields=[
                "state",
                "lease_owner",
                "lease_expires_at",
                "started_at",
                "pause_reason",
                "paused_until",
            ]
        )
    return job


def claim_chunk(job: Job, *, worker_id: str) -> JobChunk | None:
    """Compare-and-set the next ready chunk (pending and due, or held by a dead worker)."""
    for _attempt in range(10):
        now = timezone.now()
        ready = Q(state=ChunkState.PENDING, next_attempt_at__lte=now) | Q(
            state=ChunkState.RUNNING, lease_expires_at__lt=now
        )
        candidate = (
            JobChunk.objects.filter(ready, job=job)
            .only("pk", "state", "lease_owner", "lease_expires_at")  # not the lead ids, yet
            .order_by("number")
            .first()
        )
        if candidate is None:
            return None
        claimed = JobChunk.objects.filter(
            pk=candidate.pk,
            state=candidate.state,
            lease_owner=candidate.lease_owner,
            lease_expires_at=candidate.lease_expires_at,
        ).update(state=ChunkState.RUNNING, lease_owner=worker_id, lease_expires_at=lease_deadline())
        if claimed:
            return JobChunk.objects.get(pk=candidate.pk)
    return None


class JobRun:
    def __init__(self, job: Job, worker_id: str):
        self.job = job
        self.partner = job.partner
        self.worker_id = worker_id
        self.handler = handler_for(job.kind)
        self.stop = threading.Event()
        self.stop_state: str | None = None  # JobState.CANCELLED or JobState.PAUSED
        self.pause_until: datetime | None = None
        self.pause_reason = ""
        self.lock = threading.Lock()
        self.push_budget = self._push_budget()

    def run(self) -> str:
        if not self._may_continue():
            return self.conclude()
        heartbeat = threading.Thread(
            target=self._heartbeat, name=f"job-{self.job.pk}-heartbeat", daemon=True
        )
        heartbeat.start()
        workers = [
            threading.Thread(target=self._work, name=f"job-{self.job.pk}-{n}")
            for n in range(threads_for(self.partner))
        ]
        for thread in workers:
            thread.start()
        for thread in workers:
            thread.join()
        self.stop.set()
        heartbeat.join()
        return self.conclude()

    # -- threads ----------------------------------------------------------------------------
    def _work(self) -> None:
        try:
            while self._may_continue():
                chunk = claim_chunk(self.job, worker_id=self.worker_id)
                if chunk is None:
                    return
                self._process(chunk)
        finally:
            connection.close()

    def _process(self, chunk: JobChunk) -> None:
        final_attempt = chunk.attempts + 1 >= settings.CHECK_MAX_ATTEMPTS
        try:
            outcome = self.handler.work(
                job=self.job,
                chunk=chunk,
                worker_id=self.worker_id,
                final_attempt=final_attempt,
                before_request=self._before_request,
            )
        except LeaseLost:
            logger.warning(
                "job %s chunk %s was taken over by another worker", self.job.pk, chunk.number
            )
            return
        except Exception as exc:
            logger.exception("job %s chunk %s failed", self.job.pk, chunk.number)
            self._retry_later(chunk, f"{type(exc).__name__}: {exc}"[:500])
            return
        if outcome.finished:
            self.job.refresh_counts()
        elif outcome.throttle_message:
            self._release(chunk)
            pause = timedelta(seconds=settings.JOB_THROTTLE_PAUSE_SECONDS)
            self._request_stop(
                JobState.PAUSED,
                timezone.now() + pause,
                _("合作平台限流：%s") % outcome.throttle_message,
            )
        elif outcome.retry_error:
            self._retry_later(chunk, outcome.retry_error)
        else:
            self._release(chunk)

    def _before_request(self) -> bool:
        """Called before every request: honours stop requests and the daily push cap (a request
        that passes here is sent; the partner's rate and concurrency are the transport's)."""
        if self.stop.is_set():
            return False
        if self.push_budget is not None:
            with self.lock:
                exhausted = self.push_budget <= 0
                self.push_budget -= not exhausted
            if exhausted:
                self._request_stop(JobState.PAUSED, _next_local_midnight(), _("已达每日推送上限"))
                return False
        return True

    def _heartbeat(self) -> None:
        """Extends our leases, and notices cancel requests, partner pauses and working hours."""
        renew_every = settings.JOB_LEASE_SECONDS / 3
        last_renewal = 0.0
        try:
            while not self.stop.wait(POLL_SECONDS):
                if time.monotonic() - last_renewal >= renew_every:
                    deadline = lease_deadline()
                    Job.objects.filter(pk=self.job.pk, lease_owner=self.worker_id).update(
                        lease_expires_at=deadline
                    )
                    JobChunk.objects.filter(
                        job=self.job, state=ChunkState.RUNNING, lease_owner=self.worker_id
                    ).update(lease_expires_at=deadline)
                    last_renewal = time.monotonic()
                self._may_continue()
        finally:
            connection.close()

    # -- decisions --------------------------------------------------------------------------
    def _may_continue(self) -> bool:
        job = Job.objects.only("cancel_requested").get(pk=self.job.pk)
        partner = Partner.objects.only("is_paused", "is_active", "last_error").get(
            pk=self.partner.pk
        )
        if job.cancel_requested:
            self._request_stop(JobState.CANCELLED)
        elif partner.is_paused or not partner.is_active:
            reason = (
                _("合作平台已暂停：%s") % partner.last_error
                if partner.is_paused
                else _("合作平台未启用")
            )
            self._request_stop(JobState.PAUSED, None, reason)
        elif resume_at := self.partner.next_working_time(timezone.now()):
            self._request_stop(JobState.PAUSED, resume_at, _("不在合作平台的工作时段内"))
        return not self.stop.is_set()

    def _request_stop(self, state: str, until: datetime | None = None, reason: str = "") -> None:
        with self.lock:
            if self.stop_state is None:  # the first reason wins; a cancel always wins
                self.stop_state, self.pause_until, self.pause_reason = state, until, reason
            elif state == JobState.CANCELLED:
                self.stop_state = state
        self.stop.set()

    def _retry_later(self, chunk: JobChunk, error: str) -> None:
        attempts = chunk.attempts + 1
        delay = min(settings.CHECK_RETRY_BASE_SECONDS * 2**attempts, 300) * random.uniform(0.5, 1.0)
        JobChunk.objects.filter(pk=chunk.pk, lease_owner=self.worker_id).update(
            state=ChunkState.PENDING,
            attempts=attempts,
            next_attempt_at=timezone.now() + timedelta(seconds=delay),
            last_error=error,
            lease_owner="",
            lease_expires_at=None,
        )
        Job.objects.filter(pk=self.job.pk).update(last_error=error)

    def _release(self, chunk: JobChunk) -> None:
        JobChunk.objects.filter(
            pk=chunk.pk, lease_owner=self.worker_id, state=ChunkState.RUNNING
        ).update(state=ChunkState.PENDING, lease_owner="", lease_expires_at=None)

    def _push_budget(self) -> int | None:
        left_today = self.handler.requests_left_today
        return left_today(self.partner) if left_today else None

    def conclude(self) -> str:
        close_old_connections()
        self._may_continue()  # a cancel or a partner pause outranks "waiting for a retry"
        job = Job.objects.get(pk=self.job.pk)
        job.refresh_counts()
        if job.lease_owner != self.worker_id:
            return "lease lost"
        if self.stop_state == JobState.CANCELLED or job.cancel_requested:
            _finish(job, JobState.CANCELLED)
        elif self.stop_state == JobState.PAUSED:
            _pause(job, until=self.pause_until, reason=self.pause_reason)
        else:
            waiting = job.chunks.exclude(state=ChunkState.DONE)
            if not waiting.exists():
                _finish(job, JobState.FINISHED)
            else:
                retry_at = waiting.aggregate(at=Min("next_attempt_at"))["at"] or timezone.now()
                error = (
                    waiting.exclude(last_error="").values_list("last_error", flat=True).first()
                    or ""
                )
                _pause(job, until=max(retry_at, timezone.now()), reason=_("等待重试：%s") % error)
        return job.state


def _finish(job: Job, state: str) -> None:
    job.state = state
    job.finished_at = timezone.now()
    job.lease_owner, job.lease_expires_at = "", None
    job.save(update_fields=["state", "finished_at", "lease_owner", "lease_expires_at"])
    transaction.on_commit(lambda: job_became_final(job))


def _pause(job: Job, *, until: datetime | None, reason: str) -> None:
    job.state = JobState.PAUSED
    job.paused_until = until
    job.pause_reason = reason[:300]
    job.lease_owner, job.lease_expires_at = "", None
    job.save(
        update_fields=["state", "paused_until", "pause_reason", "lease_owner", "lease_expires_at"]
    )


def _next_local_midnight() -> datetime:
    now = timezone.localtime()
    return now.replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(days=1)
