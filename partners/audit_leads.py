"""Which leads an audit row was about, asked of the apps that know.

An audit row is one call to a partner; the leads it was about are known only above partners (a
check's results, a push: collision and pushes point at the row), and finding a lead by its phone
or ID number is leads' business. The audit screens (partners.audit_admin) sit below all three, so
those apps register here from their ``AppConfig.ready()``, as they do for a lead's timeline
(leads.selectors) and for job chunks (jobs.handlers):

- a *source* (collision, pushes) says which leads some audit rows were about, and which audit
  rows were about some leads;
- the *lead book* (leads) finds leads by a search term through their blind indexes, records a
  sight of leads' personal data in full, and writes and records an export of the audit log (the
  house's spreadsheet writers and export records are leads').
"""

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class AuditedLead:
    """One lead of an audit row, as the audit screens show it (masked unless revealed)."""

    entry_id: int
    lead_id: int
    phone: str  # masked unless revealed; the erased label once erased
    hash_prefix: str  # of the phone's MD5, as the row's masked request shows it ("0a1…")
    answer: str  # what the partner said about the lead, in the source's words
    good: bool  # the answer lets the lead go on (marketable, accepted)


class AuditLeadSource(Protocol):
    def leads_of(self, entry_ids: list[int], *, reveal: bool) -> Iterable[AuditedLead]:
        """The leads these audit rows were about: one query, however many rows and leads."""

    def entry_ids_about(self, lead_ids: list[int]):
        """The ids of the audit rows about these leads: a values queryset, to be a subquery."""


class LeadBook(Protocol):
    def lead_ids_matching(self, term: str) -> list[int] | None:
        """The leads a search term names (a whole phone or ID number through its blind index, a
        lead's id), ``None`` when the term names no lead at all (a plain text search)."""

    def record_sight(self, *, actor, lead_ids: list[int], page: str) -> None:
        """A page showed these leads' personal data in full (the personal-data access log)."""

    def write_export(
        self, *, actor, title: str, headers: list[str], rows, file_format: str, query
    ) -> bytes:
        """An export of the audit log as a file (``"xlsx"`` or ``"csv"``), recorded with the
        list's query string (``query``) as its criteria."""


_sources: dict[str, AuditLeadSource] = {}
_lead_book: list[LeadBook] = []


def register_audit_lead_source(name: str, source: AuditLeadSource) -> None:
    _sources[name] = source


def register_lead_book(book: LeadBook) -> None:
    _lead_book[:] = [book]


def lead_book() -> LeadBook:
    if not _lead_book:
        raise LookupError("no lead book registered (leads.apps registers it)")
    return _lead_book[0]


def leads_of(entry_ids: list[int], *, reveal: bool) -> list[AuditedLead]:
    """Every source's leads of these audit rows, in the order of the sources' registration."""
    return [
        lead for source in _sources.values() for lead in source.leads_of(entry_ids, reveal=reveal)
    ]


def entry_ids_about(lead_ids: list[int]) -> list:
    """One subquery per source: the audit rows about these leads."""
    return [source.entry_ids_about(lead_ids) for source in _sources.values()]
