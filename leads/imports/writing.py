"""Writing an analysed batch in one transaction: the ``Writer`` (inserts and updates, chunk by
chunk), the ``Sealer`` (personal data sealed here or by the helper process), raw INSERTs through
``core.bulk`` and, on SQLite, a larger page cache for the import's duration."""

import logging
import os
from collections import Counter, deque
from contextlib import contextmanager

from django.db import IntegrityError, connection, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from core import crypto
from core.bulk import insert_rows
from core.crypto import blind_index_key, encrypt
from leads.imports import sealing
from leads.imports.batches import claim, fail, imported
from leads.imports.matching import classify, conflict_reason, existing_leads
from leads.imports.rejected import cells_from_values
from leads.imports.sizes import size
from leads.imports.staging import StagedRows, blind_indexes
from leads.models import (
    ID_NUMBER_INDEX,
    PHONE_INDEX,
    SEALED_FIELDS,
    ChunkKind,
    ImportBatch,
    ImportChunk,
    ImportState,
    Lead,
)

logger = logging.getLogger(__name__)

SEALED = frozenset(SEALED_FIELDS)


def commit(batch_id: int) -> ImportBatch | None:
    """Write every valid row in one transaction: all of them, or (on any error) none.

    First optimistically, trusting the preview's look-ups; if the database refuses a duplicate
    (another import got there since the preview), roll back and write again, re-checking every
    row against the database."""
    batch = claim(batch_id, ImportState.QUEUED, ImportState.IMPORTING, phase=_("写入数据库"))
    if batch is None:
        return None
    try:
        try:
            _write_batch(batch, recheck=False)
        except IntegrityError:
            logger.info(
                "import batch %s: database changed since the preview, re-checking", batch.pk
            )
            _write_batch(batch, recheck=True)
    except IntegrityError:
        logger.warning("import batch %s: unique constraint hit while re-checking", batch.pk)
        fail(batch, _("导入时有另一次导入同时写入了相同的线索，本批次未导入任何数据。请重新上传。"))
    except Exception:
        logger.exception("import batch %s: import failed, rolled back", batch.pk)
        fail(batch, _("导入时出现内部错误，本批次未导入任何数据。请联系管理员。"))
        raise
    return batch


def _write_batch(batch: ImportBatch, *, recheck: bool) -> None:
    helper = use_helper(batch.rows_new)
    # The page cache outside the transaction: restoring it must not run in a broken one.
    with _index_cache(), transaction.atomic(), Sealer(helper=helper) as sealer:
        writer = Writer(batch, recheck=recheck, sealer=sealer)
        chunks = batch.chunks.filter(kind=ChunkKind.VALID).order_by("number")
        for chunk in chunks.iterator(chunk_size=1):
            writer.write(StagedRows.from_payload(chunk.rows))
        writer.finish()


@contextmanager
def _index_cache():
    """SQLite's default 2 MB page cache cannot hold the two unique blind-index B-trees that
    100k random keys land in: 32 MB for the import halves the insert time."""
    if connection.vendor != "sqlite":
        yield
        return
    with connection.cursor() as cursor:
        cursor.execute("PRAGMA cache_size")
        previous = cursor.fetchone()[0]
        cursor.execute("PRAGMA cache_size = -32768")
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            cursor.execute(f"PRAGMA cache_size = {int(previous)}")


def use_helper(rows: int) -> bool:
    """A helper process seals for a big import, when there is another core to run it on."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return rows >= size("HELPER_ROWS") and (cores or 1) > 1


class Sealer:
    """Seals new leads' personal data and computes their blind indexes (``sealing``): for
    a big import in a helper process on another core, while this process inserts the leads
    sealed before; otherwise right here. The results are the same either way (the key
    ``encrypt`` uses, the same JSON, the same indexes).

    Not used by the analysis: there the blind indexes are the only such work (~0.25 s per 100k
    rows), and feeding a helper cost the analysing process more than that (measured)."""

    def __init__(self, *, helper: bool):
        self.helper = None
        if helper:
            try:
                self.helper = sealing.Helper(
                    fernet_key=crypto.encryption_key(),
                    index_key=blind_index_key(),
                    purposes=(PHONE_INDEX, ID_NUMBER_INDEX),
                )
            except OSError:
                logger.warning("import helper process could not start: working in this one")
            else:
                logger.info("import sealing helper process %s started", self.helper.process.pid)

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, traceback):
        if self.helper is not None:
            if exc_type is None:
                self.helper.close()
            else:
                self.helper.abort()

    def seal(self, rows: StagedRows, *, indexes: bool):
        """Start sealing ``rows``: returns a function that gives their ``pii`` column, or with
        ``indexes`` ``(pii, phone indexes, ID number indexes)``."""
        columns = [(name, rows.values[name]) for name in SEALED_FIELDS if name in rows.values]

        def here():
            pii = sealing.seal(encrypt, columns, len(rows))
            if not indexes:
                return pii
            return (pii, *blind_indexes(rows.values["phone"], rows.values["id_number"]))

        if self.helper is not None:
            return self.helper.seal(columns, len(rows), indexes=indexes, here=here)
        return here


class Writer:
    """Inside the import transaction: creates new leads, updates existing ones, chunk by chunk.
    Rows meant to update are always re-checked (their target may have changed since the
    preview); with ``recheck`` every row is. New leads are inserted a chunk behind: a chunk's
    personal data is sealed (by the helper, if any) while the chunk before is inserted."""

    def __init__(self, batch: ImportBatch, *, recheck: bool, sealer: Sealer):
        self.batch, self.recheck, self.sealer = batch, recheck, sealer
        self.counts = Counter()
        self.targets: set[int] = set()
        self.rejected: list[list] = []
        self.queued = deque()  # (rows, their pii to come) waiting for their INSERT, file order

    def write(self, rows: StagedRows) -> None:
        outcomes = rows.outcome
        if not self.recheck and "update" not in outcomes:  # the common case: as the preview saw
            new = [i for i, outcome in enumerate(outcomes) if outcome == "new"]
            self.counts["skipped"] += len(rows) - len(new)
            self._create(rows.take(new))
            return
        rows.index()
        lookup = (
            range(len(rows))
            if self.recheck
            else [i for i, outcome in enumerate(outcomes) if outcome == "update"]
        )
        by_phone, by_id = existing_leads(
            [rows.phone_index[i] for i in lookup], [rows.id_index[i] for i in lookup]
        )
        new, updates = [], {}
        for position, outcome in enumerate(outcomes):
            phone_key, id_key = rows.phone_index[position], rows.id_index[position]
            if self.recheck or outcome == "update":
                outcome, target = classify(
                    phone_key, id_key, by_phone, by_id, self.batch.on_duplicate
                )
            else:
                target = rows.target[position]
            if outcome == "update" and target in self.targets:
                outcome = "conflict"
            if outcome == "new":
                new.append(position)
            elif outcome == "update":
                self.targets.add(target)
                updates[target] = rows.row_values(position)
            elif outcome == "existing":
                self.counts["skipped"] += 1
            else:
                reason = conflict_reason(phone_key, id_key, by_phone, by_id, {})
                cells = cells_from_values(self.batch.columns, rows.row_values(position))
                self.rejected.append([rows.number[position], cells, [["phone", reason]]])
        self._create(rows.take(new))
        if updates:
            self._update(updates)

    def _create(self, rows: StagedRows) -> None:
        """Queue new leads for sealing, then insert the ones queued before them."""
        earlier = len(self.queued)
        step = size("SEAL_ROWS")
        for start in range(0, len(rows), step):
            part = rows.part(start, start + step)
            sealed = self.sealer.seal(part, indexes=part.phone_index is None)
            self.queued.append((part, sealed))
        for _earlier in range(earlier):
            self._insert(*self.queued.popleft())

    def _insert(self, rows: StagedRows, sealed) -> None:
        pii = sealed()
        if rows.phone_index is None:
            pii, rows.phone_index, rows.id_index = pii
        insert_leads(rows, batch=self.batch, pii=pii)
        self.counts["created"] += len(rows)

    def _update(self, updates: dict[int, dict]) -> None:
        """Cells the file fills overwrite the lead; empty cells keep what the lead had."""
        leads = Lead.objects.in_bulk(list(updates))
        fields = {"pii", "phone_index", "id_number_index", "import_batch"}
        for pk, values in updates.items():
            lead = leads[pk]
            for name, value in values.items():
                if value != "":
                    setattr(lead, name, value)
                    if name not in SEALED:
                        fields.add(name)
            lead.refresh_indexes()
            lead.import_batch = self.batch
        Lead.objects.bulk_update(leads.values(), sorted(fields), batch_size=500)
        self.counts["updated"] += len(leads)

    def finish(self) -> None:
        while self.queued:
            self._insert(*self.queued.popleft())
        batch = self.batch
        if self.rejected:
            number = batch.chunks.filter(kind=ChunkKind.REJECTED).count() + 1
            ImportChunk.objects.create(
                batch=batch, kind=ChunkKind.REJECTED, number=number, rows={"rows": self.rejected}
            )
        batch.chunks.filter(kind=ChunkKind.VALID).delete()
        batch.leads_created = self.counts["created"]
        batch.leads_updated = self.counts["updated"]
        batch.leads_skipped = self.counts["skipped"]
        batch.rows_rejected = batch.rows_invalid + batch.rows_duplicate_in_file + len(self.rejected)
        batch.state = ImportState.DONE
        batch.phase = ""
        batch.finished_at = timezone.now()
        batch.heartbeat_at = batch.finished_at
        batch.save()
        transaction.on_commit(lambda: imported(batch))


def insert_leads(rows: StagedRows, *, batch: ImportBatch, pii: list[str]) -> None:
    """INSERT new leads (their blind indexes computed) through ``core.bulk.insert_rows`` (COPY
    on PostgreSQL): the columns and values ``Lead.objects.bulk_create`` would write, without
    building a model instance and compiling SQL per field per row (which cost ~4x the insert
    itself on 100k rows). ``pii``: the leads' personal data as their ``pii`` field seals it (one
    Fernet token of a compact JSON object, see ``Sealer``). Uniqueness stays the database's job
    (the blind-index columns are unique)."""
    if not rows:
        return
    shared = {
        "created_at": timezone.now(),
        "source": batch.source,
        "created_by": batch.created_by_id,
        "import_batch": batch.pk,
    }
    names, columns = [], []
    for f in Lead._meta.concrete_fields:
        if f.primary_key or f.name in shared:
            continue
        names.append(f.name)
        if f.name == "pii":
            columns.append(pii)
        elif f.name == "phone_index":
            columns.append(rows.phone_index)
        elif f.name == "id_number_index":
            columns.append(rows.id_index)
        elif f.name in rows.values:
            default = f.get_default()
            column = rows.values[f.name]
            if default is not None and None in column:
                column = [default if value is None else value for value in column]
            columns.append(column)
        else:
            columns.append([f.get_default()] * len(rows))
    insert_rows(Lead, names, zip(*columns, strict=True), shared=shared)
