"""An import batch's moves between states: compare-and-set claims, progress, failure, and
telling a stale batch (its worker killed) from a running one."""

from collections.abc import Callable
from datetime import timedelta

from django.utils import timezone

from leads.models import ImportBatch, ImportState

STALE_AFTER = timedelta(minutes=10)

# Called with a batch once its leads are written (state DONE) and committed: how a use case
# above leads (a distribution plan that runs on every import) hears of it.
_on_imported: list[Callable[[ImportBatch], None]] = []


def on_imported(callback: Callable[[ImportBatch], None]) -> None:
    _on_imported.append(callback)


def imported(batch: ImportBatch) -> None:
    for callback in _on_imported:
        callback(batch)


def claim(batch_id: int, source: str, target: str, **fields) -> ImportBatch | None:
    """Compare-and-set: only one worker moves a batch out of ``source``."""
    now = timezone.now()
    claimed = ImportBatch.objects.filter(pk=batch_id, state=source).update(
        state=target, heartbeat_at=now, **fields
    )
    return ImportBatch.objects.get(pk=batch_id) if claimed else None


def report_progress(batch: ImportBatch, *, phase: str | None = None, done=None, total=None) -> None:
    fields = {"heartbeat_at": timezone.now()}
    if phase is not None:
        fields["phase"] = batch.phase = phase
    if done is not None:
        fields["progress_done"] = batch.progress_done = done
    if total is not None:
        fields["progress_total"] = batch.progress_total = total
    ImportBatch.objects.filter(pk=batch.pk).update(**fields)


def fail(batch: ImportBatch, message: str) -> None:
    batch.chunks.all().delete()
    ImportBatch.objects.filter(pk=batch.pk).update(
        state=ImportState.FAILED, error=message, phase="", finished_at=timezone.now()
    )
    batch.refresh_from_db()


def is_stale(batch: ImportBatch) -> bool:
    """A running batch whose worker has said nothing for a while (killed, most likely)."""
    if batch.state not in (ImportState.ANALYSING, ImportState.IMPORTING):
        return False
    return batch.heartbeat_at is None or timezone.now() - batch.heartbeat_at > STALE_AFTER
