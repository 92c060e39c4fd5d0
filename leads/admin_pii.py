"""Admin building blocks for every admin that shows leads: PII columns that mask unless the user
may see them (``core.admin.reveal_pii``; every page that shows them unmasked is logged in the
personal-data access log), and search that finds leads through their blind indexes (and is masked
wherever it is kept)."""

from collections.abc import Callable
from typing import NamedTuple

from django.contrib.admin.views.main import SEARCH_VAR
from django.core.exceptions import ValidationError
from django.http import QueryDict
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from core.admin import PII_PERMISSION, reveal_pii
from core.masking import mask_id_number, mask_name, mask_phone
from leads.access_log import record_access
from leads.models import ERASED_LABEL, AccessKind, id_number_index, phone_index
from leads.validators import (
    normalize_id_number,
    normalize_phone,
    validate_id_number,
    validate_mobile,
)


def pii_column(path: str, masker: Callable[[str], str], *, reveal: bool, label: str) -> Callable:
    """A list/detail column for ``path`` (``"phone"`` or ``"lead__phone"``), masked unless
    ``reveal``; "已删除" for a lead whose personal data was erased."""
    *owners, name = path.split("__")

    def column(obj):
        owner = obj
        for attribute in owners:
            owner = getattr(owner, attribute)
        if getattr(owner, "is_erased", False):
            return ERASED_LABEL
        value = getattr(owner, name)
        return value if reveal else masker(value)

    column.short_description = label
    column.__name__ = f"pii_{path}"
    return column


def lead_id_column(obj) -> int:
    return obj.lead_id


# Named, not the bare "lead_id", which Django would head with the English "Lead id".
lead_id_column.short_description = gettext_lazy("线索 ID")
lead_id_column.admin_order_field = "lead_id"


def related_lead_columns(request) -> list:
    """The lead's id, name and phone as list columns of a model that points at a lead."""
    reveal = reveal_pii(request)
    return [
        lead_id_column,
        pii_column("lead__name", mask_name, reveal=reveal, label=_("姓名")),
        pii_column("lead__phone", mask_phone, reveal=reveal, label=_("手机号")),
    ]


class PersonalDataPagesMixin:
    """For the admins whose list and detail pages may show leads' personal data: a page rendered
    with it unmasked (``reveal_pii``) is one row of the personal-data access log naming the
    leads it showed, the permission and how the user holds it. The one place pages record."""

    lead_path = ""  # "" on the Lead admin, "lead__" where the model points at a lead

    def changelist_view(self, request, extra_context=None):
        response = super().changelist_view(request, extra_context)
        changelist = (getattr(response, "context_data", None) or {}).get("cl")
        if changelist is not None:
            self._record_page(request, AccessKind.LIST, changelist.result_list)
        return response

    def change_view(self, request, object_id, form_url="", extra_context=None):
        response = super().change_view(request, object_id, form_url, extra_context)
        shown = (getattr(response, "context_data", None) or {}).get("original")
        if shown is not None and response.status_code == 200:
            self._record_page(request, AccessKind.DETAIL, [shown])
        return response

    def _record_page(self, request, kind: str, objects) -> None:
        if not getattr(request, "_reveals_pii", False):
            return
        leads = [obj.lead if self.lead_path else obj for obj in objects]
        lead_ids = [lead.pk for lead in leads if not lead.is_erased]  # erased: nothing shown
        if not lead_ids:
            return
        query = masked_query(request.GET)
        record_access(
            actor=request.user,
            kind=kind,
            permission=PII_PERMISSION,
            lead_ids=lead_ids,
            page=request.path + (f"?{query}" if query else ""),
        )


class Identifier(NamedTuple):
    normalize: Callable[[str], str]
    validate: Callable[[str], None]
    index: Callable[[str], str]  # its blind index
    mask: Callable[[str], str]


# What a search term may be, by the lead field it names (its index column: "<field>_index").
IDENTIFIERS = {
    "phone": Identifier(normalize_phone, validate_mobile, phone_index, mask_phone),
    "id_number": Identifier(
        normalize_id_number, validate_id_number, id_number_index, mask_id_number
    ),
}


def searched_identifier(term: str) -> tuple[str, str] | None:
    """``(field, value)`` when the term is a whole phone or ID number, else ``None``."""
    for field, identifier in IDENTIFIERS.items():
        value = identifier.normalize(term.strip())
        if _is_valid(identifier.validate, value):
            return field, value
    return None


def masked_search_term(term: str) -> str:
    """A search term as it may be stored or shown: a phone or ID number masked, the rest as is."""
    if found := searched_identifier(term):
        field, value = found
        return IDENTIFIERS[field].mask(value)
    return term


def masked_query(query: QueryDict) -> str:
    """A changelist's query string with its search term masked (``SEARCH_VAR``, ``q``)."""
    query = query.copy()
    if SEARCH_VAR in query:
        query[SEARCH_VAR] = masked_search_term(query[SEARCH_VAR])
    return query.urlencode(safe="*")


class BlindIndexSearchMixin:
    """Searching a phone number or an ID number finds the lead through its keyed hash."""

    lead_path = ""  # as PersonalDataPagesMixin's

    def get_search_results(self, request, queryset, search_term):
        if found := searched_identifier(search_term):
            field, value = found
            index = IDENTIFIERS[field].index(value)
            return queryset.filter(**{f"{self.lead_path}{field}_index": index}), False
        return super().get_search_results(request, queryset, search_term)


def _is_valid(validator, value) -> bool:
    try:
        validator(value)
    except ValidationError:
        return False
    return True


class SkippedLeadsAdmin(PersonalDataPagesMixin, BlindIndexSearchMixin):
    """What the read-only lists of leads an operation left out share (未撞库及原因, 未推送及原因):
    a row per lead, partner and reason, the lead's masked columns, found by its whole phone, ID
    number or source. Mixed in before ``BigTableMixin`` and ``ReadOnlyAdmin``; each list adds its
    filters (its own job filter)."""

    lead_path = "lead__"
    search_fields = ["lead__source"]  # the whole name, in a subquery on leads (BigTableMixin)
    search_help_text = gettext_lazy("输入完整手机号或身份证号查找，或输入完整的来源名称")
    # The job column names its partner (Job.__str__): one join, not a query per row.
    list_select_related = ["lead", "partner", "actor", "job__partner"]

    def get_list_display(self, request):
        return [
            "created_at",
            *related_lead_columns(request),
            "partner",
            "reason",
            "detail",
            "job",
            "actor",
        ]

    def get_fields(self, request, obj=None):
        return ["created_at", "lead", "partner", "reason", "detail", "job", "actor"]

    def get_readonly_fields(self, request, obj=None):
        return self.get_fields(request, obj)
