"""The lead import's use cases: upload → analyse (the preview) → confirm → import, all or
nothing; cancel, retry and purge. The admin, the CLI and the benchmark call these functions;
the background tasks (``tasks``) run the analysis and import steps, which live in ``upload`` and
``writing`` (so the tasks never import this module: the enqueueing goes one way).

The uploaded file waits Fernet-encrypted (1 MiB pieces) until analysed; the analysed rows wait
encrypted in chunks (one JSON list per column, see ``staging.StagedRows``) until imported; both
are dropped once done with (rejected rows after the retention period, so the operator can still
download them to fix). A big import has a helper process (``sealing``) seal the new leads'
personal data while it inserts.
"""

from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from core.errors import StateConflict
from leads.imports import upload, writing
from leads.imports.batches import claim, is_stale
from leads.imports.tasks import analyse_import_batch, commit_import_batch
from leads.models import ImportBatch, ImportState, OnDuplicate

import_batch_is_stale = is_stale  # the admin asks it of a batch it shows


def import_batch_create(
    *,
    file_name: str,
    data: bytes,
    actor=None,
    source: str = "",
    on_duplicate: str = OnDuplicate.SKIP,
) -> ImportBatch:
    """Record the upload, encrypted at rest until analysed. Nothing is read yet. Batches past
    the retention period are purged first."""
    import_batches_purge()
    return upload.receive(
        file_name=file_name, data=data, actor=actor, source=source, on_duplicate=on_duplicate
    )


def import_batch_start_analysis(batch: ImportBatch) -> None:
    """Small files are analysed right away; large ones by the background worker."""
    if batch.file_size <= settings.LEAD_IMPORT_BACKGROUND_BYTES:
        import_batch_analyse(batch.pk)
    else:
        analyse_import_batch.enqueue(batch.pk)


def import_batch_analyse(batch_id: int) -> ImportBatch | None:
    """Read, clean and classify every row here and now; keep the outcome encrypted for the
    import. ``None`` if the batch was not waiting for analysis (another worker has it)."""
    return upload.analyse(batch_id)


def import_batch_confirm(batch: ImportBatch, *, actor=None) -> ImportBatch:
    """The operator's go-ahead: import now if small, else hand it to the background worker."""
    claimed = claim(batch.pk, ImportState.PREVIEW, ImportState.QUEUED, confirmed_by=actor)
    if claimed is None:
        raise StateConflict(
            _("这个批次当前不能确认导入（状态：%(state)s）。")
            % {"state": batch.get_state_display()}
        )
    if claimed.rows_total <= settings.LEAD_IMPORT_BACKGROUND_ROWS:
        writing.commit(claimed.pk)
    else:
        commit_import_batch.enqueue(claimed.pk)
    claimed.refresh_from_db()
    return claimed


def import_batch_cancel(batch: ImportBatch) -> bool:
    """Drop a batch that has not been imported, and everything it held."""
    with transaction.atomic():
        cancelled = ImportBatch.objects.filter(
            pk=batch.pk, state__in=[ImportState.UPLOADED, ImportState.PREVIEW]
        ).update(state=ImportState.CANCELLED, phase="", finished_at=timezone.now())
        if cancelled:
            batch.chunks.all().delete()
    batch.refresh_from_db()
    return bool(cancelled)


def import_batch_retry(batch: ImportBatch) -> bool:
    """Put a stale batch back in the queue. Safe: the import is one transaction, so a killed
    worker left nothing half-written; a re-run analysis starts from a clean slate."""
    if not is_stale(batch):
        return False
    if batch.state == ImportState.ANALYSING:
        moved = ImportBatch.objects.filter(pk=batch.pk, state=ImportState.ANALYSING).update(
            state=ImportState.UPLOADED
        )
        if moved:
            analyse_import_batch.enqueue(batch.pk)
    else:
        moved = ImportBatch.objects.filter(pk=batch.pk, state=ImportState.IMPORTING).update(
            state=ImportState.QUEUED
        )
        if moved:
            commit_import_batch.enqueue(batch.pk)
    batch.refresh_from_db()
    return bool(moved)


def import_batches_purge(*, now=None) -> int:
    """Drop personal data batches no longer need: rejected rows of batches finished longer ago
    than the retention period, and previews nobody confirmed within it."""
    now = now or timezone.now()
    cutoff = now - timedelta(days=settings.LEAD_IMPORT_RETENTION_DAYS)
    abandoned = ImportBatch.objects.filter(
        state__in=[ImportState.PREVIEW, ImportState.UPLOADED], created_at__lt=cutoff
    )
    purged = 0
    for batch in abandoned:
        purged += import_batch_cancel(batch)
    finished = ImportBatch.objects.filter(
        state__in=[ImportState.DONE, ImportState.FAILED, ImportState.CANCELLED],
        finished_at__lt=cutoff,
        rejected_rows_purged_at__isnull=True,
    )
    for batch in finished:
        with transaction.atomic():
            batch.chunks.all().delete()
            ImportBatch.objects.filter(pk=batch.pk).update(rejected_rows_purged_at=now)
        purged += 1
    return purged
