"""The lead import use case: upload → analyse (the preview) → confirm → import, all-or-nothing.

The admin, the CLI, the background tasks and the benchmark all go through these functions.
The uploaded file waits Fernet-encrypted (1 MiB pieces) until analysed; the analysed rows wait
encrypted in chunks (one JSON list per column, see leads.preparing.StagedRows) until imported;
both are dropped once done with (rejected rows after the retention period, so the operator can
still download them to fix). A big import has a helper process (leads.sealing) seal the new
leads' personal data while it inserts.
"""

import logging
import os
import time
from collections import Counter, deque
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from operator import itemgetter
from pathlib import PurePath

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from core.bulk import insert_rows
from core.crypto import (
    blind_index_key,
    decrypt_bytes,
    encrypt,
    encrypt_bytes,
    encryption_key,
)
from leads import sealing
from leads.importing import (
    COLUMNS,
    COLUMNS_BY_FIELD,
    REASON_HEADER,
    DuplicateTracker,
    Layout,
    find_layout,
    masked,
)
from leads.models import (
    ID_NUMBER_INDEX,
    PHONE_INDEX,
    SEALED_FIELDS,
    ChunkKind,
    ExportKind,
    ExportRecord,
    ImportBatch,
    ImportChunk,
    ImportState,
    Lead,
    OnDuplicate,
)
from leads.preparing import StagedRows, blind_indexes, blocks, prepare
from leads.spreadsheets import SheetSpec, UnreadableFile, cell_text, open_sheet, write_xlsx

logger = logging.getLogger(__name__)

CHUNK_ROWS = 10_000
SEAL_PART = 2000  # rows per sealing job: the helper starts on a chunk's first rows at once
HELPER_ROWS = 20_000  # importing this many new leads, a helper process seals them (other core)
QUERY_SLICE = 1000  # blind indexes per IN (...) look-up
PREVIEW_ROWS = 200
UPLOAD_PIECE = 1 << 20
STALE_AFTER = timedelta(minutes=10)
SEALED = frozenset(SEALED_FIELDS)


# --- upload -------------------------------------------------------------------------------


def import_batch_create(
    *,
    file_name: str,
    data: bytes,
    actor=None,
    source: str = "",
    on_duplicate: str = OnDuplicate.SKIP,
) -> ImportBatch:
    """Record the upload, encrypted at rest until analysed. Nothing is read yet."""
    import_batches_purge()
    with transaction.atomic():
        batch = ImportBatch.objects.create(
            file_name=PurePath(file_name).name[:255],
            file_size=len(data),
            source=(source or PurePath(file_name).stem)[:100],
            on_duplicate=on_duplicate,
            created_by=actor,
        )
        for number, start in enumerate(range(0, len(data), UPLOAD_PIECE), 1):
            piece = encrypt_bytes(data[start : start + UPLOAD_PIECE])
            ImportChunk.objects.create(
                batch=batch, kind=ChunkKind.UPLOAD, number=number, data=piece
            )
    return batch


def _read_upload(batch: ImportBatch) -> bytes:
    pieces = batch.chunks.filter(kind=ChunkKind.UPLOAD).order_by("number")
    return b"".join(decrypt_bytes(piece) for piece in pieces.values_list("data", flat=True))


def import_batch_start_analysis(batch: ImportBatch) -> None:
    """Small files are analysed right away; large ones by the background worker."""
    from leads.tasks import analyse_import_batch

    if batch.file_size <= settings.LEAD_IMPORT_BACKGROUND_BYTES:
        import_batch_analyse(batch.pk)
    else:
        analyse_import_batch.enqueue(batch.pk)


# --- analysis (the preview) ---------------------------------------------------------------


def _claim(batch_id: int, source: str, target: str, **fields) -> ImportBatch | None:
    """Compare-and-set: only one worker moves a batch out of ``source``."""
    now = timezone.now()
    claimed = ImportBatch.objects.filter(pk=batch_id, state=source).update(
        state=target, heartbeat_at=now, **fields
    )
    return ImportBatch.objects.get(pk=batch_id) if claimed else None


def import_batch_analyse(batch_id: int) -> ImportBatch | None:
    """Read, clean and classify every row; keep the outcome encrypted for the import."""
    batch = _claim(batch_id, ImportState.UPLOADED, ImportState.ANALYSING, phase=_("读取文件"))
    if batch is None:
        return None
    batch.chunks.exclude(kind=ChunkKind.UPLOAD).delete()  # a retried analysis starts clean
    try:
        sheet = open_sheet(_read_upload(batch), batch.file_name)
        layout, rows = find_layout(sheet)
        total = max(sheet.height - layout.header_row, 0)  # below the header; an upper bound
        if total > settings.LEAD_IMPORT_MAX_ROWS:  # refused before a row is cleaned
            raise UnreadableFile(_too_many_rows(total))
        _progress(batch, phase=_("校验数据"), done=0, total=total)
        Analysis(batch, layout).run(prepare(blocks(rows), layout))
    except UnreadableFile as exc:
        _fail(batch, str(exc))
    except Exception:
        logger.exception("import batch %s: analysis failed", batch.pk)
        _fail(batch, _("分析文件时出现内部错误，未导入任何数据。请联系管理员。"))
        raise
    return batch


def _too_many_rows(rows: int | None = None) -> str:
    """LEAD_IMPORT_MAX_ROWS counts the rows below the header (title rows above it do not count)."""
    limit = settings.LEAD_IMPORT_MAX_ROWS
    if rows is None:
        return _("行数太多：表头以下超过 %(limit)s 行。请拆分后分批导入。") % {"limit": limit}
    return _("行数太多：表头以下有 %(rows)s 行，上限 %(limit)s 行。请拆分后分批导入。") % {
        "rows": rows,
        "limit": limit,
    }


def _progress(batch: ImportBatch, *, phase: str | None = None, done=None, total=None) -> None:
    fields = {"heartbeat_at": timezone.now()}
    if phase is not None:
        fields["phase"] = batch.phase = phase
    if done is not None:
        fields["progress_done"] = batch.progress_done = done
    if total is not None:
        fields["progress_total"] = batch.progress_total = total
    ImportBatch.objects.filter(pk=batch.pk).update(**fields)


def _fail(batch: ImportBatch, message: str) -> None:
    batch.chunks.all().delete()
    ImportBatch.objects.filter(pk=batch.pk).update(
        state=ImportState.FAILED, error=message, phase="", finished_at=timezone.now()
    )
    batch.refresh_from_db()


class Analysis:
    """Cleans rows, reports in-file and database duplicates, writes encrypted chunks."""

    def __init__(self, batch: ImportBatch, layout: Layout):
        self.batch, self.layout = batch, layout
        self.duplicates = DuplicateTracker()
        self.counts = Counter()
        self.problem_columns = Counter()
        self.pending = StagedRows.empty(c.field for c in layout.columns.values())
        self.rejected: list[list] = []
        self.chunk_numbers = Counter()
        self.targets: dict[int, int] = {}  # existing lead → the row that updates it
        self.reported_at = time.monotonic()

    def run(self, prepared) -> None:
        """``prepared``: ``(block, (rows, StagedRows, rejected))`` from leads.preparing, in
        file order."""
        limit = settings.LEAD_IMPORT_MAX_ROWS
        tracker, counts = self.duplicates, self.counts
        for block, (total, staged, rejected) in prepared:
            counts["total"] += total
            if counts["total"] > limit:  # the exact count: non-blank rows
                raise UnreadableFile(_too_many_rows())
            for row in rejected:
                counts["invalid"] += 1
                self._reject(*row)
            values = staged.values
            repeated = tracker.repeated(staged.number, values["phone"], values["id_number"])
            if repeated:
                cells = dict(block)
                for position, problems in repeated:
                    number = staged.number[position]
                    self._reject(number, [cell_text(c) for c in cells[number]], problems)
                counts["duplicate_in_file"] += len(repeated)
                staged.drop([position for position, _problems in repeated])
            staged.index()
            self.pending.extend(staged)
            if len(self.pending) >= CHUNK_ROWS:
                self._flush()
                self._report(block[-1][0] - self.layout.header_row)
        self._flush()
        self._flush_rejected()
        self._finish()

    def _report(self, done: int) -> None:
        """Progress at most once a second: each write is a commit (an fsync)."""
        if time.monotonic() - self.reported_at >= 1:
            _progress(self.batch, done=done)
            self.reported_at = time.monotonic()

    def _reject(self, number: int, cells: list[str], problems) -> None:
        for field_name, _reason in problems:
            self.problem_columns[str(COLUMNS_BY_FIELD[field_name].label)] += 1
        self.rejected.append([number, cells, [list(p) for p in problems]])
        if len(self.rejected) >= CHUNK_ROWS:
            self._flush_rejected()

    def _flush(self) -> None:
        pending = self.pending
        if not pending:
            return
        self.pending = StagedRows.empty(pending.values)
        by_phone, by_id = existing_leads(pending.phone_index, pending.id_index)
        if not by_phone and not by_id:  # the common case: every row is a new lead
            self.counts["new"] += len(pending)
            pending.outcome = ["new"] * len(pending)
            self._write(ChunkKind.VALID, pending.to_payload())
            return
        keep, on_duplicate = [], self.batch.on_duplicate
        for position, number in enumerate(pending.number):
            phone_key, id_key = pending.phone_index[position], pending.id_index[position]
            outcome, target = classify(phone_key, id_key, by_phone, by_id, on_duplicate)
            if outcome == "update":
                earlier = self.targets.setdefault(target, number)
                if earlier != number:
                    outcome = "conflict"
            if outcome == "conflict":
                self.counts["invalid"] += 1
                reason = conflict_reason(phone_key, id_key, by_phone, by_id, self.targets)
                self.problem_columns[str(COLUMNS_BY_FIELD["phone"].label)] += 1
                cells = cells_from_values(self.layout.describe(), pending.row_values(position))
                self.rejected.append([number, cells, [["phone", reason]]])
                continue
            self.counts[outcome] += 1
            pending.outcome[position], pending.target[position] = outcome, target
            keep.append(position)
        if keep:
            self._write(ChunkKind.VALID, pending.take(keep).to_payload())

    def _flush_rejected(self) -> None:
        if self.rejected:
            self.rejected.sort(key=itemgetter(0))  # file order, duplicates and conflicts included
            self._write(ChunkKind.REJECTED, {"rows": self.rejected})
            self.rejected = []

    def _write(self, kind: str, payload: dict) -> None:
        self.chunk_numbers[kind] += 1
        ImportChunk.objects.create(
            batch=self.batch, kind=kind, number=self.chunk_numbers[kind], rows=payload
        )

    def _finish(self) -> None:
        counts, batch = self.counts, self.batch
        batch.header_row = self.layout.header_row
        batch.columns = self.layout.describe()
        batch.unknown_columns = self.layout.unknown
        batch.problem_summary = [
            {"column": column, "rows": rows} for column, rows in self.problem_columns.most_common()
        ]
        batch.rows_total = counts["total"]
        batch.rows_new = counts["new"]
        batch.rows_update = counts["update"]
        batch.rows_existing = counts["existing"]
        batch.rows_duplicate_in_file = counts["duplicate_in_file"]
        batch.rows_invalid = counts["invalid"]
        batch.rows_rejected = counts["invalid"] + counts["duplicate_in_file"]
        batch.state = ImportState.PREVIEW
        batch.phase = ""
        batch.progress_done = batch.progress_total
        batch.heartbeat_at = timezone.now()
        with transaction.atomic():
            batch.chunks.filter(kind=ChunkKind.UPLOAD).delete()  # the file itself: no longer needed
            batch.save()


def existing_leads(
    phone_keys: list[str], id_keys: list[str]
) -> tuple[dict[str, int], dict[str, int]]:
    """Which of these phones and ID numbers (blind indexes) are already leads: batched
    IN (...) look-ups on the unique blind indexes (plain SQL: the ORM spends longer preparing
    1000 parameters than the database spends answering)."""
    table = connection.ops.quote_name(Lead._meta.db_table)
    size = min(QUERY_SLICE, connection.features.max_query_params or QUERY_SLICE)
    found = []
    with connection.cursor() as cursor:
        for keys, column in ((phone_keys, "phone_index"), (id_keys, "id_number_index")):
            owners = {}
            for start in range(0, len(keys), size):
                part = keys[start : start + size]
                marks = ", ".join(["%s"] * len(part))
                cursor.execute(
                    f"SELECT {column}, id FROM {table} WHERE {column} IN ({marks})", part
                )  # noqa: S608
                owners.update(cursor.fetchall())
            found.append(owners)
    return found[0], found[1]


def classify(
    phone_key: str, id_key: str, by_phone: dict, by_id: dict, on_duplicate: str
) -> tuple[str, int | None]:
    """new, existing (skipped), update, or conflict (phone and ID belong to two different leads)."""
    phone_owner = by_phone.get(phone_key)
    id_owner = by_id.get(id_key)
    if phone_owner is None and id_owner is None:
        return "new", None
    if on_duplicate == OnDuplicate.SKIP:
        return "existing", phone_owner or id_owner
    if phone_owner and id_owner and phone_owner != id_owner:
        return "conflict", None
    return "update", phone_owner or id_owner


def conflict_reason(phone_key: str, id_key: str, by_phone: dict, by_id: dict, targets: dict) -> str:
    phone_owner = by_phone.get(phone_key)
    id_owner = by_id.get(id_key)
    if phone_owner and id_owner and phone_owner != id_owner:
        return _("手机号属于已有线索 #%(phone)s，身份证号属于另一条已有线索 #%(id)s，无法更新") % {
            "phone": phone_owner,
            "id": id_owner,
        }
    target = phone_owner or id_owner
    return _("与第 %(row)s 行更新的是同一条已有线索 #%(lead)s") % {
        "row": targets.get(target, "?"),
        "lead": target,
    }


# --- confirm and import -------------------------------------------------------------------


def import_batch_confirm(batch: ImportBatch, *, actor=None) -> ImportBatch:
    """The operator's go-ahead: import now if small, else hand it to the background worker."""
    from leads.tasks import commit_import_batch

    claimed = _claim(batch.pk, ImportState.PREVIEW, ImportState.QUEUED, confirmed_by=actor)
    if claimed is None:
        raise ValueError(
            _("这个批次当前不能确认导入（状态：%(state)s）。")
            % {"state": batch.get_state_display()}
        )
    if claimed.rows_total <= settings.LEAD_IMPORT_BACKGROUND_ROWS:
        import_batch_commit(claimed.pk)
    else:
        commit_import_batch.enqueue(claimed.pk)
    claimed.refresh_from_db()
    return claimed


def import_batch_commit(batch_id: int) -> ImportBatch | None:
    """Write every valid row in one transaction: all of them, or (on any error) none.

    First optimistically, trusting the preview's look-ups; if the database refuses a duplicate
    (another import got there since the preview), roll back and write again, re-checking every
    row against the database."""
    batch = _claim(batch_id, ImportState.QUEUED, ImportState.IMPORTING, phase=_("写入数据库"))
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
        _fail(
            batch, _("导入时有另一次导入同时写入了相同的线索，本批次未导入任何数据。请重新上传。")
        )
    except Exception:
        logger.exception("import batch %s: import failed, rolled back", batch.pk)
        _fail(batch, _("导入时出现内部错误，本批次未导入任何数据。请联系管理员。"))
        raise
    return batch


def _write_batch(batch: ImportBatch, *, recheck: bool) -> None:
    helper = _use_helper(batch.rows_new)
    with transaction.atomic(), _index_cache(), Sealer(helper=helper) as sealer:
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


def _use_helper(rows: int) -> bool:
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return rows >= HELPER_ROWS and (cores or 1) > 1


class Sealer:
    """Seals new leads' personal data and computes their blind indexes (``leads.sealing``): for
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
                    fernet_key=encryption_key(),
                    index_key=blind_index_key(),
                    purposes=(PHONE_INDEX, ID_NUMBER_INDEX),
                )
            except OSError:
                logger.warning("import helper process could not start: working in this one")

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
        for start in range(0, len(rows), SEAL_PART):
            part = rows.part(start, start + SEAL_PART)
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


# --- cancel, retry, purge -----------------------------------------------------------------


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


def import_batch_is_stale(batch: ImportBatch) -> bool:
    """A running batch whose worker has said nothing for a while (killed, most likely)."""
    if batch.state not in (ImportState.ANALYSING, ImportState.IMPORTING):
        return False
    return batch.heartbeat_at is None or timezone.now() - batch.heartbeat_at > STALE_AFTER


def import_batch_retry(batch: ImportBatch) -> bool:
    """Put a stale batch back in the queue. Safe: the import is one transaction, so a killed
    worker left nothing half-written; a re-run analysis starts from a clean slate."""
    from leads.tasks import analyse_import_batch, commit_import_batch

    if not import_batch_is_stale(batch):
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


# --- reading a batch back -----------------------------------------------------------------


@dataclass(frozen=True)
class RejectedCell:
    row: int
    column: str
    value: str
    reason: str


def rejected_rows(batch: ImportBatch):
    """Every rejected row: ``[row number, cells, [[field, reason], ...]]``, in file order."""
    chunks = batch.chunks.filter(kind=ChunkKind.REJECTED).order_by("number")
    for chunk in chunks.iterator(chunk_size=1):
        yield from chunk.rows["rows"]


def rejected_preview(
    batch: ImportBatch, *, reveal: bool, limit: int = PREVIEW_ROWS
) -> list[RejectedCell]:
    """The first rejected rows, one line per bad cell, personal data masked unless ``reveal``."""
    positions = {c["field"]: i for i, c in enumerate(batch.columns) if c["field"]}
    lines = []
    for number, cells, problems in rejected_rows(batch):
        for field_name, reason in problems:
            position = positions.get(field_name)
            header = batch.columns[position]["header"] if position is not None else ""
            value = cells[position] if position is not None and position < len(cells) else ""
            lines.append(
                RejectedCell(
                    number,
                    header or str(COLUMNS_BY_FIELD[field_name].label),
                    masked(field_name, value, reveal=reveal),
                    reason,
                )
            )
        if len(lines) >= limit:
            break
    return lines


def rejected_rows_file(batch: ImportBatch, *, actor=None, channel: str = "admin") -> bytes:
    """The rejected rows as the operator uploaded them, plus a reason column: fix and re-upload.
    They hold personal data in full (they must, to be fixed), so each download is recorded."""
    headers = [c["header"] for c in batch.columns]
    reason_at = next((i for i, c in enumerate(batch.columns) if c["field"] == "reason"), None)
    if reason_at is None:
        headers.append(str(REASON_HEADER))
        reason_at = len(headers) - 1
    text_columns = frozenset(
        i for i, c in enumerate(batch.columns) if c["field"] in IDENTIFIER_FIELDS
    )
    count = 0

    def rows():
        nonlocal count
        for _number, cells, problems in rejected_rows(batch):
            count += 1
            row = list(cells) + [""] * (len(headers) - len(cells))
            row[reason_at] = "；".join(
                f"{_label(batch, name)}：{reason}" for name, reason in problems
            )
            yield row

    data = write_xlsx(
        [SheetSpec(_("被拒行"), headers, rows(), text_columns, widths=[16] * len(headers))]
    )
    ExportRecord.objects.create(
        actor=actor,
        kind=ExportKind.REJECTED_ROWS,
        file_format="xlsx",
        row_count=count,
        unmasked=True,
        criteria=_("导入批次 #%(id)s %(name)s") % {"id": batch.pk, "name": batch.file_name},
        channel=channel,
    )
    return data


IDENTIFIER_FIELDS = frozenset(c.field for c in COLUMNS if c.identifier)


def _label(batch: ImportBatch, field_name: str) -> str:
    for column in batch.columns:
        if column["field"] == field_name:
            return column["header"]
    return str(COLUMNS_BY_FIELD[field_name].label)


def cells_from_values(columns: list[dict], values: dict) -> list[str]:
    """A staged row back into the file's column order (for a row rejected at import time)."""
    cells = []
    for column in columns:
        value = values.get(column["field"]) if column["field"] else None
        if isinstance(value, bool):
            value = int(value)
        cells.append("" if value is None else str(value))
    return cells
