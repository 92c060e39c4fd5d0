"""Exports of leads, collision results and push history to .xlsx and .csv.

What goes in a file is declared with django-import-export resources (one field per column);
the writing is ours (``leads.spreadsheets``): text cells for identifiers, every string
neutralised against formula injection (import-export's ESCAPE_FORMULAE_ON_EXPORT only strips
one leading "="), personal data masked unless the user holds ``leads.export_lead_pii``
explicitly, and every export recorded in ``ExportRecord`` (an unmasked one also in the
personal-data access log).
"""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from operator import attrgetter

from django.contrib.auth.models import Permission
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from import_export import fields, resources

from core.masking import mask_name, mask_phone
from leads.access_log import record_access
from leads.importing import COLUMNS
from leads.models import AccessKind, ExportKind, ExportRecord
from leads.spreadsheets import SheetSpec, write_csv, write_xlsx

EXPORT_PII_PERMISSION = "leads.export_lead_pii"
FORMATS = {
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "csv": "text/csv; charset=utf-8",
}


def has_explicit_permission(user, permission: str) -> bool:
    """Granted to the user or one of their groups; being superuser is not enough (as
    ``core.admin.can_view_pii``)."""
    if not (user and user.is_active and user.is_authenticated):
        return False
    app_label, codename = permission.split(".")
    grants = Permission.objects.filter(content_type__app_label=app_label, codename=codename)
    return grants.filter(Q(user=user) | Q(group__user=user)).exists()


def can_export_pii(user) -> bool:
    return has_explicit_permission(user, EXPORT_PII_PERMISSION)


class Column(fields.Field):
    """A resource field that may hold personal data (``mask``, or ``masked_attribute``: read
    instead of ``attribute`` when masking needs the whole row) or a long identifier (``text``)."""

    def __init__(
        self,
        *args,
        mask: Callable[[str], str] | None = None,
        masked_attribute: str = "",
        text=False,
        **kwargs,
    ):
        super().__init__(*args, **kwargs)
        self.mask, self.masked_attribute, self.text = mask, masked_attribute, text


class SheetResource(resources.Resource):
    """Declared columns, values kept native (numbers stay numbers); masks applied unless
    ``reveal``. The rows are produced lazily, so a 100k-row export streams into the writer."""

    def __init__(self, *, reveal: bool = False):
        super().__init__()
        self.reveal = reveal

    def columns(self) -> list[Column]:
        return self.get_export_fields()

    def headers(self) -> list[str]:
        return [str(column.column_name) for column in self.columns()]

    def rows(self, queryset):
        """One list per object, lazily. Values are read with a getter built once per column
        (``Field.get_value`` re-splits the attribute path on every cell: 1.9M times on 100k
        leads)."""
        tz = timezone.get_current_timezone()
        getters = [
            (_getter(c.masked_attribute), None)
            if c.masked_attribute and not self.reveal
            else (_getter(c.attribute), c.mask if not self.reveal else None)
            for c in self.columns()
        ]
        for obj in self.iter_queryset(queryset):
            row = []
            for get, mask in getters:
                value = get(obj)
                if value.__class__ is datetime:
                    value = value.astimezone(tz) if value.tzinfo else value
                elif mask is not None and value:
                    value = mask(str(value))
                row.append(value)
            yield row

    def get_chunk_size(self):
        return 2000


def _getter(attribute: str):
    path = attrgetter(attribute.replace("__", "."))

    def get(obj):
        try:
            value = path(obj)
        except AttributeError:  # a None on the way (e.g. no partner answer)
            return None
        return value() if callable(value) else value

    return get


def _lead_columns(prefix: str = "") -> dict[str, Column]:
    return {
        column.field: Column(
            attribute=f"{prefix}{column.field}",
            column_name=column.label,
            mask=column.mask,
            text=column.identifier,
        )
        for column in COLUMNS
    }


class LeadResourceBase(SheetResource):
    source = Column(attribute="source", column_name=gettext_lazy("来源"))
    import_batch = Column(attribute="import_batch_id", column_name=gettext_lazy("导入批次"))
    created_at = Column(attribute="created_at", column_name=gettext_lazy("创建时间"))
    lead_id = Column(attribute="pk", column_name=gettext_lazy("线索ID"))


# The import template's columns first (declared from the same COLUMNS), so that an unmasked
# export imports back as it is.
LeadResource = type(
    "LeadResource",
    (LeadResourceBase,),
    {
        "__module__": __name__,
        "__doc__": "A lead per row: the import template's columns, then source, batch, time, id.",
        **_lead_columns(),
        "Meta": type(
            "Meta",
            (),
            {
                "export_order": [c.field for c in COLUMNS]
                + ["source", "import_batch", "created_at", "lead_id"]
            },
        ),
    },
)


class PerLeadAndPartnerResource(SheetResource):
    """Columns shared by the rows that are about one lead and one partner."""

    lead_id = Column(attribute="lead_id", column_name=gettext_lazy("线索ID"))
    name = Column(attribute="lead__name", column_name=gettext_lazy("姓名"), mask=mask_name)
    phone = Column(
        attribute="lead__phone", column_name=gettext_lazy("手机号"), mask=mask_phone, text=True
    )
    partner = Column(attribute="partner__name", column_name=gettext_lazy("合作平台"))


class CollisionResultResource(PerLeadAndPartnerResource):
    checked_at = Column(attribute="checked_at", column_name=gettext_lazy("撞库时间"))
    outcome = Column(attribute="get_outcome_display", column_name=gettext_lazy("结果"))
    user_status = Column(attribute="get_user_status_display", column_name=gettext_lazy("用户状态"))
    is_marketable = Column(attribute="is_marketable", column_name=gettext_lazy("可营销"))
    message = Column(attribute="message", column_name=gettext_lazy("说明"))

    class Meta:
        export_order = [
            "checked_at", "lead_id", "name", "phone", "partner", "outcome", "user_status",
            "is_marketable", "message",
        ]  # fmt: skip


class PushResource(PerLeadAndPartnerResource):
    created_at = Column(attribute="created_at", column_name=gettext_lazy("创建时间"))
    state = Column(attribute="get_state_display", column_name=gettext_lazy("状态"))
    message = Column(
        attribute="message",
        masked_attribute="masked_message",
        column_name=gettext_lazy("平台返回信息"),
    )
    app_download_url = Column(
        attribute="app_download_url",
        masked_attribute="masked_app_download_url",
        column_name=gettext_lazy("H5 地址"),
    )
    attempts = Column(attribute="attempts", column_name=gettext_lazy("尝试次数"))
    last_attempt_at = Column(attribute="last_attempt_at", column_name=gettext_lazy("最近发送时间"))
    finished_at = Column(attribute="finished_at", column_name=gettext_lazy("完成时间"))

    class Meta:
        export_order = [
            "created_at", "lead_id", "name", "phone", "partner", "state", "message",
            "app_download_url", "attempts", "last_attempt_at", "finished_at",
        ]  # fmt: skip


RESOURCES = {
    ExportKind.LEADS: (LeadResource, ()),
    ExportKind.COLLISION_RESULTS: (CollisionResultResource, ("lead", "partner")),
    ExportKind.PUSHES: (PushResource, ("lead", "partner")),
}
FILE_STEMS = {
    ExportKind.LEADS: "leads",
    ExportKind.COLLISION_RESULTS: "collision-results",
    ExportKind.PUSHES: "pushes",
}


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
        raise PermissionError(_("没有导出完整个人信息的权限"))
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
    stamp = timezone.localtime().strftime("%Y%m%d-%H%M%S")
    suffix = "-unmasked" if unmasked else ""
    return ExportFile(
        content, f"{FILE_STEMS[kind]}-{stamp}{suffix}.{file_format}", FORMATS[file_format], count
    )
