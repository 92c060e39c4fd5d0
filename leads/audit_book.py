"""What the audit screens (partners.audit_admin, below leads) ask of leads, registered with
``partners.audit_leads`` from ``leads.apps``: find leads by a search term through their blind
indexes, describe a lead of an audit row (masked phone, hash prefix), and record a sight of
personal data in full or an export of the audit log."""

import hashlib
import re

from django.utils.translation import gettext as _

from core.admin import PII_PERMISSION
from core.masking import mask_phone, short_hash
from leads.access_log import record_access
from leads.admin_pii import IDENTIFIERS, masked_query, searched_identifier
from leads.imports.spreadsheets import SheetSpec, write_csv, write_xlsx
from leads.models import ERASED_LABEL, AccessKind, ExportRecord, Lead
from partners.audit_leads import AuditedLead

# Not an ExportKind yet (its choices are leads' model state): shown as is until one is added.
AUDIT_LOG_EXPORT = "audit_log"
_LEAD_ID = re.compile(r"#?\s*(\d{1,10})")


def audited_lead(
    *, entry_id: int, lead: Lead, answer: str, good: bool, reveal: bool
) -> AuditedLead:
    """A lead of an audit row: its phone masked unless ``reveal``, and the prefix of the phone's
    MD5 the row's masked request shows (the protocol sends the 11-digit phone's MD5)."""
    if lead.is_erased:
        phone, prefix = str(ERASED_LABEL), ""
    else:
        phone = lead.phone if reveal else mask_phone(lead.phone)
        prefix = short_hash(hashlib.md5(lead.phone.encode()).hexdigest())  # noqa: S324
    return AuditedLead(entry_id, lead.pk, phone, prefix, answer, good)


class LeadBook:
    def lead_ids_matching(self, term: str) -> list[int] | None:
        if found := searched_identifier(term):
            field, value = found
            index = IDENTIFIERS[field].index(value)
            return list(
                Lead.objects.filter(**{f"{field}_index": index}).values_list("pk", flat=True)
            )
        if match := _LEAD_ID.fullmatch(term.strip()):
            return list(Lead.objects.filter(pk=int(match[1])).values_list("pk", flat=True))
        return None

    def record_sight(self, *, actor, lead_ids: list[int], page: str) -> None:
        record_access(
            actor=actor,
            kind=AccessKind.DETAIL,
            permission=PII_PERMISSION,
            lead_ids=lead_ids,
            page=page,
        )

    def write_export(
        self, *, actor, title: str, headers: list[str], rows, file_format: str, query
    ) -> bytes:
        """The house's writers (text cells, formulas neutralised), and one export record whose
        criteria are the list's query string with a searched phone or ID number masked."""
        count = 0

        def counted():
            nonlocal count
            for row in rows:
                count += 1
                yield row

        if file_format == "xlsx":
            content = write_xlsx([SheetSpec(title, headers, counted(), widths=[18] * len(headers))])
        else:
            content = write_csv(headers, counted())
        ExportRecord.objects.create(
            actor=actor,
            kind=AUDIT_LOG_EXPORT,
            file_format=file_format,
            row_count=count,
            unmasked=False,  # the audit log keeps nothing unmasked
            criteria=(masked_query(query) or _("全部"))[:2000],
        )
        return content
