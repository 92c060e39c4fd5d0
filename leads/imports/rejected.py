"""The rejected rows of a batch: a masked preview for the screen, and the file the operator
downloads to fix them (the rows as uploaded plus a reason column), each download recorded."""

from dataclasses import dataclass

from django.utils.translation import gettext as _

from leads.imports.columns import COLUMNS, COLUMNS_BY_FIELD, REASON_HEADER, masked
from leads.imports.spreadsheets import SheetSpec, write_xlsx
from leads.models import ChunkKind, ExportKind, ExportRecord, ImportBatch

PREVIEW_ROWS = 200


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
