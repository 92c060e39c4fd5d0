"""Exports of leads, collision results and push history to .xlsx and .csv.

The writing is ours (``leads.imports.spreadsheets``): text cells for identifiers, every string
neutralised against formula injection (import-export's ESCAPE_FORMULAE_ON_EXPORT only strips
one leading "="), personal data masked unless the user holds ``leads.export_lead_pii``
explicitly, and every export recorded in ``ExportRecord`` (an unmasked one also in the
personal-data access log).
"""

from dataclasses import dataclass

from django.utils import timezone
from django.utils.translation import gettext as _

from core.accounts import has_explicit_permission
from core.errors import NotAllowed
from leads.access_log import record_access
from leads.exports.resources import RESOURCES
from leads.imports.spreadsheets import SheetSpec, write_csv, write_xlsx
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
    content: bytes
    file_name: str
    content_type: str
    rows: int


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
    resource_class, related = RESOURCES[kind]
    resource = resource_class(reveal=unmasked)
    if related:
        queryset = queryset.select_related(*related)
    if not queryset.query.is_sliced:
        queryset = queryset.order_by("pk")
    count = 0

    def counted():
        nonlocal count
        for row in resource.rows(queryset):
            count += 1
            yield row

    headers = resource.headers()
    if file_format == "xlsx":
        text_columns = frozenset(i for i, c in enumerate(resource.columns()) if c.text)
        content = write_xlsx(
            [
                SheetSpec(
                    str(ExportKind(kind).label),
                    headers,
                    counted(),
                    text_columns,
                    widths=[16] * len(headers),
                )
            ]
        )
    else:
        content = write_csv(headers, counted())
    record = ExportRecord.objects.create(
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
            export_record=record,
        )
    # Named as the operator calls what is in it: 推送记录-20261201-093000.xlsx.
    stamp = timezone.localtime().strftime("%Y%m%d-%H%M%S")
    suffix = _("-未脱敏") if unmasked else ""
    file_name = f"{ExportKind(kind).label}-{stamp}{suffix}.{file_format}"
    return ExportFile(content, file_name, FORMATS[file_format], count)
