"""Exports of leads, collision results and push history to .xlsx and .csv.

The writing is ours (``leads.imports.spreadsheets``): text cells for identifiers, every string
neutralised against formula injection (import-export's ESCAPE_FORMULAE_ON_EXPORT only strips
one leading "="), personal data masked unless the user holds ``leads.export_lead_pii``
explicitly, and every export recorded in ``ExportRecord`` (an unmasked one also in the
personal-data access log).
"""

import io
from collections.abc import Iterator
from dataclasses import dataclass, replace
from functools import cached_property

from django.utils import timezone
from django.utils.translation import gettext as _

from core.accounts import has_explicit_permission
from core.errors import NotAllowed
from leads.access_log import record_access
from leads.exports.resources import RESOURCES
from leads.imports.spreadsheets import SheetSpec, stream_csv, stream_xlsx
from leads.models import AccessKind, ExportKind, ExportRecord

EXPORT_PII_PERMISSION = "leads.export_lead_pii"
FORMATS = {
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "csv": "text/csv; charset=utf-8",
}


def can_export_pii(user) -> bool:
    return has_explicit_permission(user, EXPORT_PII_PERMISSION)


@dataclass
class ExportFile:
    """A file being written: ``pieces`` yields it as its rows are read (memory flat in the
    rows); ``content`` is the whole of it. The export is recorded when the last piece is
    written, or when the file is abandoned half-way (with the rows read so far): ``record``."""

    pieces: Iterator[bytes]
    file_name: str
    content_type: str
    record: ExportRecord | None = None

    @cached_property
    def content(self) -> bytes:
        # Gathered in one growing buffer that getvalue() hands over without a copy: the file
        # is held once (b"".join would hold every piece and the whole at the same time).
        buffer = io.BytesIO()
        for piece in self.pieces:
            buffer.write(piece)
        return buffer.getvalue()

    @property
    def rows(self) -> int:
        return self.record.row_count if self.record else 0


def export_records(
    *,
    kind: str,
    queryset,
    file_format: str,
    actor=None,
    unmasked: bool = False,
    criteria: str = "",
    channel: str = "admin",
) -> ExportFile:
    """Write ``queryset`` to a file and record who exported what. ``unmasked`` is honoured only
    for a user holding ``leads.export_lead_pii`` explicitly (or the CLI's named user)."""
    if file_format not in FORMATS:
        raise ValueError(_("不支持的导出格式：%(format)s") % {"format": file_format})
    if unmasked and not can_export_pii(actor):
        raise NotAllowed(_("没有导出完整个人信息的权限"))
    resource = RESOURCES[kind](reveal=unmasked)
    if not queryset.query.is_sliced:
        queryset = queryset.order_by("pk")
    headers = resource.headers()
    rows = resource.rows(queryset)  # labels and names read now, in the request's language
    if file_format == "xlsx":
        text_columns = frozenset(i for i, c in enumerate(resource.columns()) if c.text)
        sheet = SheetSpec(
            str(ExportKind(kind).label), headers, None, text_columns, widths=[16] * len(headers)
        )
        write = lambda counted: stream_xlsx([replace(sheet, rows=counted)])  # noqa: E731
    else:
        write = lambda counted: stream_csv(headers, counted)  # noqa: E731
    # Named as the operator calls what is in it: 推送记录-20261201-093000.xlsx.
    stamp = timezone.localtime().strftime("%Y%m%d-%H%M%S")
    suffix = _("-未脱敏") if unmasked else ""
    file_name = f"{ExportKind(kind).label}-{stamp}{suffix}.{file_format}"
    exported = ExportFile(iter(()), file_name, FORMATS[file_format])

    def record(count: int) -> None:
        exported.record = ExportRecord.objects.create(
            actor=actor,
            kind=kind,
            file_format=file_format,
            row_count=count,
            unmasked=unmasked,
            criteria=criteria[:2000],
            channel=channel,
        )
        if unmasked:
            record_access(
                actor=actor,
                kind=AccessKind.EXPORT,
                permission=EXPORT_PII_PERMISSION,
                export_record=exported.record,
            )

    exported.pieces = _recorded(rows, write, record)
    return exported


def _recorded(rows: Iterator[list], write, record) -> Iterator[bytes]:
    """``write``'s pieces of ``rows``; then ``record`` with the number of rows read, also when
    the file is abandoned half-way (both records are append-only: written once, counted)."""
    count = 0

    def counting():
        nonlocal count
        for row in rows:
            count += 1
            yield row

    try:
        yield from write(counting())
    finally:
        record(count)
