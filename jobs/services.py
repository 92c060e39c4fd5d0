"""Creating, cancelling and requeueing jobs. Running them is ``jobs.runner``'s business."""

from collections.abc import Iterable, Iterator
from datetime import timedelta
from itertools import batched

from django.conf import settings
from django.db import transaction
from django.db.models import Q, QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _

from jobs.handlers import job_became_final
from jobs.models import Job, JobChunk, JobKind, JobState
from partners.calls import ensure_available
from partners.models import Partner
from partners.protocols import collision_protocol


def chunk_size(kind: str, partner: Partner) -> int:
    """A check chunk is one batch request; a push chunk is small, so a redo re-reads little."""
    if kind == JobKind.CHECK:
        return min(
            settings.JOB_CHECK_CHUNK_SIZE, collision_protocol(partner.collision_protocol).MAX_BATCH
        )
    return settings.JOB_PUSH_CHUNK_SIZE


# A job's creation holds at most this many of its ids at once: read from the database and
# written as chunk rows (one INSERT) this many at a time. A million selected ids held as a
# Python list took 130-150 MB, and the server kept it.
IDS_AT_ONCE = 10_000


@transaction.atomic
def create_job(
    *,
    kind: str,
    partner: Partner,
    lead_ids: Iterable[int],
    actor=None,
    description: str = "",
    exclusive: bool = False,
) -> Job:
    """Record the job and its chunks, then enqueue it once the transaction commits.

    ``lead_ids`` may be a queryset (of leads, or of their ids): its ids are then read in
    ascending order from a database cursor, a batch at a time, and written as chunk rows as the
    chunks fill, so that a selection of a million leads is never held in this process."""
    ensure_available(partner)
    job = Job.objects.create(
        kind=kind,
        partner=partner,
        created_by=actor if getattr(actor, "is_authenticated", False) else None,
        description=description[:200],
        exclusive=exclusive,
        enqueued_at=timezone.now(),
    )
    size = chunk_size(kind, partner)
    chunks = enumerate(batched(_ascending_unique(lead_ids), size, strict=False))
    total = 0
    for rows in batched(chunks, max(IDS_AT_ONCE // size, 1), strict=False):
        JobChunk.objects.bulk_create(
            JobChunk(job=job, number=number, lead_ids=list(ids)) for number, ids in rows
        )
        total += sum(len(ids) for _, ids in rows)
    job.total = total
    Job.objects.filter(pk=job.pk).update(total=total)
    schedule_run(job)
    return job


def _ascending_unique(lead_ids: Iterable[int]) -> Iterator[int]:
    """Each id once, in ascending order; a queryset's read from a cursor (a server-side one
    on PostgreSQL) ``IDS_AT_ONCE`` at a time."""
    if isinstance(lead_ids, QuerySet):  # of leads, or of their ids
        ids = lead_ids.values_list("pk", flat=True).order_by("pk").iterator(chunk_size=IDS_AT_ONCE)
    else:
        ids = iter(sorted(set(lead_ids)))
    previous = None
    for lead_id in ids:
        if lead_id != previous:  # a selection joined to a many-valued relation repeats ids
            yield lead_id
            previous = lead_id


def schedule_run(job: Job) -> None:
    """Hand the job to the task queue once the transaction that queued it commits. Callers set
    ``enqueued_at`` in the same write that queues the job."""
    from jobs.tasks import run_job_task

    transaction.on_commit(lambda: run_job_task.enqueue(job.pk))


def cancel_job(job: Job) -> bool:
    """A queued or paused job is cancelled at once; a running one at its next request."""
    now = timezone.now()
    waiting = Job.objects.filter(pk=job.pk, state__in=[JobState.QUEUED, JobState.PAUSED])
    if waiting.update(state=JobState.CANCELLED, cancel_requested=True, finished_at=now):
        transaction.on_commit(lambda: job_became_final(Job.objects.get(pk=job.pk)))
        return True
    return bool(Job.objects.filter(pk=job.pk, state=JobState.RUNNING).update(cancel_requested=True))


def requeue_due_jobs() -> list[int]:
    """The janitor: requeue jobs whose worker died (lease over), whose pause is over, whose
    partner was resumed, or that have sat queued too long. Compare-and-set, so of several
    janitors only one requeues a given job."""
    now = timezone.now()
    stale_queue = now - timedelta(seconds=settings.JOB_REQUEUE_AFTER_SECONDS)
    due = (
        Q(state=JobState.RUNNING, lease_expires_at__lt=now)
        | Q(state=JobState.PAUSED, paused_until__lte=now)
        | Q(
            state=JobState.PAUSED,
            paused_until__isnull=True,
            partner__is_paused=False,
            partner__is_active=True,
        )
        | Q(state=JobState.QUEUED, enqueued_at__lt=stale_queue)
    )
    requeued = []
    for job in Job.objects.filter(due).only(
        "pk", "state", "lease_expires_at", "paused_until", "enqueued_at"
    ):
        with transaction.atomic():
            same = Job.objects.filter(
                pk=job.pk,
                state=job.state,
                lease_expires_at=job.lease_expires_at,
                paused_until=job.paused_until,
                enqueued_at=job.enqueued_at,
            )
            if same.update(
                state=JobState.QUEUED,
                lease_owner="",
                lease_expires_at=None,
                paused_until=None,
                enqueued_at=now,
            ):
                schedule_run(job)
                requeued.append(job.pk)
    return requeued


def describe_selection(count: int, *, select_across: bool) -> str:
    return (
        _("筛选结果中的全部 %(count)s 条线索") % {"count": count}
        if select_across
        else _("选中的 %(count)s 条线索") % {"count": count}
    )
