"""Receiving a file and analysing it (the preview): the upload kept encrypted, every row read,
cleaned, checked against the file and the database, and staged in encrypted chunks."""

import logging
import re
import time
from collections import Counter
from operator import itemgetter
from pathlib import PurePath

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from core.crypto import decrypt_bytes, encrypt_bytes
from leads.imports.batches import claim, fail, report_progress
from leads.imports.columns import COLUMNS_BY_FIELD, Layout, find_layout
from leads.imports.matching import classify, conflict_reason, existing_leads
from leads.imports.rejected import cells_from_values
from leads.imports.sizes import size
from leads.imports.spreadsheets import UnreadableFile, cell_text, open_sheet
from leads.imports.staging import StagedRows, blocks, prepare
from leads.models import ChunkKind, ImportBatch, ImportChunk, ImportState, OnDuplicate

logger = logging.getLogger(__name__)

UPLOAD_PIECE = 1 << 20


def receive(
    *,
    file_name: str,
    data: bytes,
    actor=None,
    source: str = "",
    on_duplicate: str = OnDuplicate.SKIP,
) -> ImportBatch:
    """Record the upload, encrypted at rest until analysed. Nothing is read yet."""
    with transaction.atomic():
        batch = ImportBatch.objects.create(
            file_name=PurePath(file_name).name[:255],
            file_size=len(data),
            source=(source or default_source(file_name))[:100],
            on_duplicate=on_duplicate,
            created_by=actor,
        )
        for number, start in enumerate(range(0, len(data), UPLOAD_PIECE), 1):
            piece = encrypt_bytes(data[start : start + UPLOAD_PIECE])
            ImportChunk.objects.create(
                batch=batch, kind=ChunkKind.UPLOAD, number=number, data=piece
            )
    return batch


# Our rejected-rows file is named "<original stem>-被拒行.xlsx"; a browser may add " (1)".
REJECTED_FILE_STEM = re.compile(r"^(?P<original>.+)-被拒行(?:\s*\(\d+\))?$")


def default_source(file_name: str) -> str:
    """The source (渠道) of an upload the operator gave none: the file's name, except for our own
    rejected-rows file, which keeps the source of the batch it came from (the newest batch of
    that original name), so that fixed rows land in the channel they were collected in."""
    stem = PurePath(file_name).stem
    match = REJECTED_FILE_STEM.match(stem)
    if match is None:
        return stem
    original = match["original"]
    candidates = ImportBatch.objects.filter(file_name__startswith=f"{original}.").order_by("-pk")
    for name, source in candidates.values_list("file_name", "source")[:20]:
        if PurePath(name).stem == original:
            return source or original
    return original


def _read_upload(batch: ImportBatch) -> bytes:
    pieces = batch.chunks.filter(kind=ChunkKind.UPLOAD).order_by("number")
    return b"".join(decrypt_bytes(piece) for piece in pieces.values_list("data", flat=True))


def analyse(batch_id: int) -> ImportBatch | None:
    """Read, clean and classify every row; keep the outcome encrypted for the import."""
    batch = claim(batch_id, ImportState.UPLOADED, ImportState.ANALYSING, phase=_("读取文件"))
    if batch is None:
        return None
    batch.chunks.exclude(kind=ChunkKind.UPLOAD).delete()  # a retried analysis starts clean
    try:
        sheet = open_sheet(_read_upload(batch), batch.file_name)
        layout, rows = find_layout(sheet)
        total = max(sheet.height - layout.header_row, 0)  # below the header; an upper bound
        if total > settings.LEAD_IMPORT_MAX_ROWS:  # refused before a row is cleaned
            raise UnreadableFile(_too_many_rows(total))
        report_progress(batch, phase=_("校验数据"), done=0, total=total)
        Analysis(batch, layout).run(prepare(blocks(rows), layout))
    except UnreadableFile as exc:
        fail(batch, str(exc))
    except Exception:
        logger.exception("import batch %s: analysis failed", batch.pk)
        fail(batch, _("分析文件时出现内部错误，未导入任何数据。请联系管理员。"))
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
        self.chunk_rows = size("CHUNK_ROWS")

    def run(self, prepared) -> None:
        """``prepared``: ``(block, (rows, StagedRows, rejected))`` from ``staging.prepare``, in
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
            if len(self.pending) >= self.chunk_rows:
                self._flush()
                self._report(block[-1][0] - self.layout.header_row)
        self._flush()
        self._flush_rejected()
        self._finish()

    def _report(self, done: int) -> None:
        """Progress at most once a second: each write is a commit (an fsync)."""
        if time.monotonic() - self.reported_at >= 1:
            report_progress(self.batch, done=done)
            self.reported_at = time.monotonic()

    def _reject(self, number: int, cells: list[str], problems) -> None:
        for field_name, _reason in problems:
            self.problem_columns[str(COLUMNS_BY_FIELD[field_name].label)] += 1
        self.rejected.append([number, cells, [list(p) for p in problems]])
        if len(self.rejected) >= self.chunk_rows:
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


class DuplicateTracker:
    """Rows of one file that repeat an earlier accepted row's phone or ID number."""

    def __init__(self):
        self.phones: dict[str, int] = {}
        self.id_numbers: dict[str, int] = {}

    def repeated(self, numbers: list[int], phones: list[str], id_numbers: list[str]) -> list:
        """The rows (positions) of a block that repeat an earlier row, with their problems; the
        others are remembered."""
        found, phones_seen, ids_seen = [], self.phones, self.id_numbers
        for position, phone in enumerate(phones):
            id_number = id_numbers[position]
            if phone in phones_seen or id_number in ids_seen:
                found.append((position, self.first_seen(numbers[position], phone, id_number)))
            else:
                phones_seen[phone] = ids_seen[id_number] = numbers[position]
        return found

    def first_seen(self, number: int, phone: str, id_number: str) -> list[tuple[str, str]]:
        problems = []
        if phone in self.phones:
            problems.append(("phone", _("与第 %(row)s 行手机号重复") % {"row": self.phones[phone]}))
        if id_number in self.id_numbers:
            problems.append(
                (
                    "id_number",
                    _("与第 %(row)s 行身份证号重复") % {"row": self.id_numbers[id_number]},
                )
            )
        if not problems:
            self.phones[phone] = number
            self.id_numbers[id_number] = number
        return problems
