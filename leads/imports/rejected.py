"""The rejected rows of a batch: a masked preview for the screen, and the file the operator
downloads to fix them (the rows as uploaded plus a reason column), each download recorded."""

from dataclasses import dataclass

from django.utils.translation import gettext as _

from leads.imports.columns import (
    COLUMNS,
    COLUMNS_BY_FIELD,
    REASON_HEADER,
    ROW_NUMBER_HEADER,
    masked,
)
from leads.imports.spreadsheets import MarkedRow, SheetSpec, cell_text, write_xlsx
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
            value = (
                cell_text(cells[position]) if position is not None and position < len(cells) else ""
            )
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
    """The rejected rows as the operator uploaded them, plus their original row number and a
    reason column: fix and re-upload. They hold personal data in full (they must, to be fixed),
    so each download is recorded.

    The file round-trips: uploaded again unchanged, every row is rejected again for the same
    reason. So a value is written as it was read: text as text (a formula trigger kept as typed
    under the quote-prefix style, never with a literal apostrophe), and an identifier Excel had
    stored as a number (its tail already zeroed) as that number again, never as a digit string
    that could pass for a real one. The columns 原行号 and 错误原因 are ours and ignored on
    re-upload."""
    # An earlier 原行号 column is dropped: the row numbers written are this file's.
    kept = [i for i, c in enumerate(batch.columns) if c["field"] != "row_number"]
    columns = [batch.columns[i] for i in kept]
    headers = [str(ROW_NUMBER_HEADER)] + [c["header"] for c in columns]
    reason_at = next((i + 1 for i, c in enumerate(columns) if c["field"] == "reason"), None)
    if reason_at is None:
        headers.append(str(REASON_HEADER))
        reason_at = len(headers) - 1
    positions = {c["field"]: i + 1 for i, c in enumerate(columns) if c["field"]}
    text_columns = frozenset(
        i + 1 for i, c in enumerate(columns) if c["field"] in IDENTIFIER_FIELDS
    )
    widths = [8] + [16] * (len(headers) - 1)
    widths[reason_at] = 60
    count = 0

    def rows():
        nonlocal count
        for number, cells, problems in rejected_rows(batch):
            count += 1
            row = [number] + [cells[i] if i < len(cells) else "" for i in kept]
            row += [""] * (len(headers) - len(row))
            row[reason_at] = "；".join(
                f"{_label(batch, name)}：{reason}" for name, reason in problems
            )
            yield MarkedRow(
                row, {positions[name] for name, _reason in problems if name in positions}
            )

    sheet = SheetSpec(
        _("被拒行"),
        headers,
        rows(),
        text_columns,
        widths=widths,
        quote_prefix=True,
        wrap_columns=frozenset({reason_at}),
    )
    data = write_xlsx([sheet])
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
