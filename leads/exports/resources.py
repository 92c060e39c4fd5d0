"""What goes in an export file, declared with django-import-export resources (one field per
column): leads, collision results and push history, personal data masked unless revealed."""

from collections.abc import Callable, Iterator
from datetime import datetime
from operator import itemgetter

from django.utils import timezone
from django.utils.translation import gettext_lazy
from import_export import fields, resources

from core.masking import mask_text
from leads.fields import FIELDS_BY_NAME, LEAD_FIELDS, SEALED_FIELDS, LeadField
from leads.models import ExportKind, Lead


class ExportColumn(fields.Field):
    """A resource field that may hold personal data (``mask``; or ``about_lead``: free text a
    partner wrote about the lead at that path, masked knowing that lead's names and numbers), a
    long identifier (``text``), or a related row's name read once per export (``mapped``: a
    dict of the few partners, not a join per row)."""

    def __init__(
        self,
        *args,
        mask: Callable[[str], str] | None = None,
        about_lead: str = "",
        text=False,
        mapped=False,
        **kwargs,
    ):
        super().__init__(*args, **kwargs)
        self.mask, self.about_lead, self.text, self.mapped = mask, about_lead, text, mapped


class SheetResource(resources.Resource):
    """Declared columns, values kept native (numbers stay numbers); masks applied unless
    ``reveal``.

    Rows are read as values, never as model objects: each column's ``__`` path is a column of
    one ``values_list`` query read 2,000 rows at a time, a lead's sealed fields come from its
    ``pii`` decrypted once per row (however many columns show it), and choice labels and mapped
    names come from dicts made once. Nothing else is selected, so a joined partner's keys are
    never read, let alone decrypted. At 200,000 pushes model objects cost 15 s of 34."""

    def __init__(self, *, reveal: bool = False):
        super().__init__()
        self.reveal = reveal

    def columns(self) -> list[ExportColumn]:
        return self.get_export_fields()

    def headers(self) -> list[str]:
        return [str(column.column_name) for column in self.columns()]

    def rows(self, queryset) -> Iterator[list]:
        """One list per row, lazily (built here, before the first row is read: labels are
        translated while the request's language is active)."""
        paths: list[str] = []

        def slot(path: str) -> int:
            if path not in paths:
                paths.append(path)
            return paths.index(path)

        cells = [self._cell(column, queryset.model, slot) for column in self.columns()]
        values = queryset.values_list(*paths).iterator(chunk_size=self.get_chunk_size())
        tz = timezone.get_current_timezone()
        return _rows(values, cells, tz)

    def _cell(self, column: ExportColumn, model, slot) -> Callable[[tuple], object]:
        """How one column's cell is read from a row of values; ``slot`` adds a path to the
        query and says where its value will be."""
        prefix, _, name = column.attribute.rpartition("__")
        owner = _model_at(model, prefix)
        at = f"{prefix}__" if prefix else ""
        if column.about_lead and not self.reveal:
            i, pii = slot(column.attribute), slot(f"{column.about_lead}__pii")
            return lambda row: lead_text_masker(row[pii])(row[i]) if row[i] else row[i]
        if name.startswith("get_") and name.endswith("_display"):
            field = owner._meta.get_field(name.removeprefix("get_").removesuffix("_display"))
            labels = {value: str(label) for value, label in field.flatchoices}
            i = slot(f"{at}{field.name}")
            return lambda row: labels.get(row[i], row[i])
        if column.mapped:
            names = dict(owner._default_manager.values_list("pk", name))
            i = slot(prefix)  # the foreign key's value: the related row's id
            return lambda row: names.get(row[i])
        if owner is Lead and name in SEALED_FIELDS:
            i = slot(f"{at}pii")
            get = lambda row: row[i].get(name, "")  # noqa: E731
        else:
            i = slot(column.attribute)
            get = itemgetter(i)
        mask = None if self.reveal else column.mask
        if mask is None:
            return get
        return lambda row: mask(str(value)) if (value := get(row)) else value

    def get_chunk_size(self):
        return 2000


def _rows(values, cells, tz) -> Iterator[list]:
    for row in values:
        cells_of_row = [cell(row) for cell in cells]
        for i, value in enumerate(cells_of_row):
            if value.__class__ is datetime and value.tzinfo:
                cells_of_row[i] = value.astimezone(tz)
        yield cells_of_row


def _model_at(model, path: str):
    """The model a ``__`` path leads to from ``model``."""
    for name in path.split("__") if path else ():
        model = model._meta.get_field(name).related_model
    return model


def lead_text_masker(pii: dict) -> Callable[[str], str]:
    """``mask_text`` knowing a lead's names and numbers, read from its decrypted ``pii``: what
    ``pushes.models.lead_masker`` does with a lead object (a test holds them equal)."""
    known = {
        "names": (pii.get("name", ""), pii.get("emergency_contact_name", "")),
        "phones": (pii.get("phone", ""), pii.get("emergency_contact_phone", "")),
        "id_numbers": (pii.get("id_number", ""),),
    }
    return lambda text: mask_text(text, **known)


def lead_column(declared: LeadField, prefix: str = "") -> ExportColumn:
    """A declared lead field's column (leads.fields): its file header, mask and text format."""
    return ExportColumn(
        attribute=f"{prefix}{declared.name}",
        column_name=declared.file_header,
        mask=declared.mask,
        text=declared.identifier,
    )


class LeadResourceBase(SheetResource):
    source = ExportColumn(attribute="source", column_name=gettext_lazy("来源"))
    import_batch = ExportColumn(attribute="import_batch_id", column_name=gettext_lazy("导入批次"))
    created_at = ExportColumn(attribute="created_at", column_name=gettext_lazy("创建时间"))
    lead_id = ExportColumn(attribute="pk", column_name=gettext_lazy("线索ID"))


# The import template's columns first (both read leads.fields, in its order), so that an
# unmasked export imports back as it is.
LeadResource = type(
    "LeadResource",
    (LeadResourceBase,),
    {
        "__module__": __name__,
        "__doc__": "A lead per row: the import template's columns, then source, batch, time, id.",
        **{declared.name: lead_column(declared) for declared in LEAD_FIELDS},
        "Meta": type(
            "Meta",
            (),
            {
                "export_order": [declared.name for declared in LEAD_FIELDS]
                + ["source", "import_batch", "created_at", "lead_id"]
            },
        ),
    },
)


class PerLeadAndPartnerResource(SheetResource):
    """Columns shared by the rows that are about one lead and one partner."""

    lead_id = ExportColumn(attribute="lead_id", column_name=gettext_lazy("线索ID"))
    name = lead_column(FIELDS_BY_NAME["name"], prefix="lead__")
    phone = lead_column(FIELDS_BY_NAME["phone"], prefix="lead__")
    partner = ExportColumn(
        attribute="partner__name", column_name=gettext_lazy("合作平台"), mapped=True
    )


class CollisionResultResource(PerLeadAndPartnerResource):
    checked_at = ExportColumn(attribute="checked_at", column_name=gettext_lazy("撞库时间"))
    outcome = ExportColumn(attribute="get_outcome_display", column_name=gettext_lazy("结果"))
    user_status = ExportColumn(
        attribute="get_user_status_display", column_name=gettext_lazy("用户状态")
    )
    is_marketable = ExportColumn(attribute="is_marketable", column_name=gettext_lazy("可营销"))
    message = ExportColumn(attribute="message", column_name=gettext_lazy("说明"))

    class Meta:
        export_order = [
            "checked_at", "lead_id", "name", "phone", "partner", "outcome", "user_status",
            "is_marketable", "message",
        ]  # fmt: skip


class PushResource(PerLeadAndPartnerResource):
    created_at = ExportColumn(attribute="created_at", column_name=gettext_lazy("创建时间"))
    state = ExportColumn(attribute="get_state_display", column_name=gettext_lazy("状态"))
    message = ExportColumn(
        attribute="message",
        about_lead="lead",
        column_name=gettext_lazy("平台返回信息"),
    )
    app_download_url = ExportColumn(
        attribute="app_download_url",
        about_lead="lead",
        column_name=gettext_lazy("H5 地址"),
    )
    attempts = ExportColumn(attribute="attempts", column_name=gettext_lazy("尝试次数"))
    last_attempt_at = ExportColumn(
        attribute="last_attempt_at", column_name=gettext_lazy("最近发送时间")
    )
    finished_at = ExportColumn(attribute="finished_at", column_name=gettext_lazy("完成时间"))

    class Meta:
        export_order = [
            "created_at", "lead_id", "name", "phone", "partner", "state", "message",
            "app_download_url", "attempts", "last_attempt_at", "finished_at",
        ]  # fmt: skip


class PushSkipResource(PerLeadAndPartnerResource):
    created_at = ExportColumn(attribute="created_at", column_name=gettext_lazy("时间"))
    reason = ExportColumn(attribute="get_reason_display", column_name=gettext_lazy("原因"))
    detail = ExportColumn(attribute="detail", column_name=gettext_lazy("说明"))
    job = ExportColumn(attribute="job_id", column_name=gettext_lazy("任务"))
    actor = ExportColumn(attribute="actor__username", column_name=gettext_lazy("操作人"))

    class Meta:
        export_order = [
            "created_at", "lead_id", "name", "phone", "partner", "reason", "detail", "job",
            "actor",
        ]  # fmt: skip


RESOURCES = {
    ExportKind.LEADS: LeadResource,
    ExportKind.COLLISION_RESULTS: CollisionResultResource,
    ExportKind.PUSHES: PushResource,
    ExportKind.PUSH_SKIPS: PushSkipResource,
}
