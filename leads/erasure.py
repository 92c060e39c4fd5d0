"""Erasure on request (PIPL 删除权): remove a person's personal data everywhere it lives, keep
what was done with it.

Removed: the lead's sealed personal data (phone, ID number, name, contacts, address …), its city
and district, and its blind indexes (NULL: nothing finds or matches the person again); the
import staging rows that hold the person; what partners answered to pushes of the lead (their
message and H5 link). Kept: the lead's row (id, source, import batch, times, coarse attributes),
its check results, pushes and their states, the partner audit log (masked, append-only), export
records (criteria masked), batch counts. The erasure itself is one append-only row per person in
the personal-data access log (kind "erasure"): who, when, why, the identifiers masked.

Staging: the person's rows are taken out of the encrypted chunks of batches that still hold
some (preview rows waiting to be imported, rejected rows kept for download), and a cell of
another row holding the person's phone or ID number (an emergency contact) is blanked; every
other row stays, so nobody else's import or rejected-rows file is lost, and the batch counts
stay as they were. A batch being uploaded, analysed or imported holds data in flight (the raw
file, rows being written) that cannot be edited safely, so erasure waits for it: it is refused
naming the batch, to be retried once the batch is done (or cancelled).

A cross-app use case: what apps above leads keep about a lead (pushes: the partner's answers)
they erase in a function registered with ``register_answer_eraser`` from their
``AppConfig.ready()``, so leads imports none of them. Only the admin and the ``erase_lead``
command import this module."""

from collections.abc import Callable
from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from core.errors import LeadDeskError
from core.masking import mask_id_number, mask_phone
from leads.access_log import record_access
from leads.imports.staging import StagedRows
from leads.models import (
    RUNNING_STATES,
    AccessKind,
    ChunkKind,
    ImportBatch,
    ImportChunk,
    Lead,
    PersonalDataAccess,
    id_number_index,
    phone_index,
)
from leads.validators import (
    normalize_id_number,
    normalize_phone,
    validate_id_number,
    validate_mobile,
)

ERASE_PERMISSION = "leads.erase_lead"
ERASE_LIMIT = 20  # per request: a "select all" must not erase a whole list by mistake
IDENTITY_FIELDS = ("phone", "id_number")  # the columns that say whose row it is


# eraser(lead) -> how many of its records held a partner's answer, now blanked
_answer_erasers: list[Callable[[Lead], int]] = []


def register_answer_eraser(eraser: Callable[[Lead], int]) -> None:
    if eraser not in _answer_erasers:
        _answer_erasers.append(eraser)


class ErasureRefused(LeadDeskError):
    """Erasure cannot go ahead (bad identifier, too many leads, an import in flight); nothing
    was changed. The message is for the user."""


@dataclass
class Person:
    """Whose data to erase: their identifiers (clean) and their lead, if we hold one; after
    ``erase``, what was removed and the access-log row that says so."""

    phone: str = ""
    id_number: str = ""
    lead: Lead | None = None
    staged_rows: int = 0
    staged_cells: int = 0
    pushes: int = 0
    record: PersonalDataAccess | None = None

    @property
    def masked(self) -> str:
        parts = []
        if self.phone:
            parts.append(_("手机号 %(phone)s") % {"phone": mask_phone(self.phone)})
        if self.id_number:
            parts.append(_("身份证号 %(id)s") % {"id": mask_id_number(self.id_number)})
        return "，".join(parts)

    @property
    def found(self) -> bool:
        return bool(self.lead or self.staged_rows or self.staged_cells)

    def summary(self) -> str:
        done = []
        if self.lead:
            done.append(_("线索 #%(id)s 的个人信息和检索索引") % {"id": self.lead.pk})
        if self.staged_rows or self.staged_cells:
            done.append(
                _("导入暂存数据 %(rows)s 行、%(cells)s 个单元格")
                % {"rows": self.staged_rows, "cells": self.staged_cells}
            )
        if self.pushes:
            done.append(_("%(count)s 条推送记录中的平台返回信息") % {"count": self.pushes})
        return "；".join(done)


def person_by_identifier(*, phone: str = "", id_number: str = "") -> Person:
    """The person with this phone or ID number: their lead when we hold one (then both its
    identifiers are erased wherever they are), else just the identifier (it may still sit in
    import staging)."""
    if phone:
        phone = normalize_phone(phone)
        _check(validate_mobile, phone)
        lead = Lead.objects.filter(phone_index=phone_index(phone)).first()
    else:
        id_number = normalize_id_number(id_number)
        _check(validate_id_number, id_number)
        lead = Lead.objects.filter(id_number_index=id_number_index(id_number)).first()
    if lead is not None:
        return Person(lead.phone, lead.id_number, lead)
    return Person(phone=phone, id_number=id_number)


def people_of(leads) -> list[Person]:
    """The persons of these leads (leads already erased have nobody left to erase)."""
    leads = list(leads.not_erased().order_by("pk")[: ERASE_LIMIT + 1])
    if len(leads) > ERASE_LIMIT:
        raise ErasureRefused(
            _("依申请删除一次最多 %(limit)s 条线索，请缩小选择范围。") % {"limit": ERASE_LIMIT}
        )
    return [Person(lead.phone, lead.id_number, lead) for lead in leads]


def erase(
    people: list[Person],
    *,
    actor=None,
    reason: str = "",
    permission: str = ERASE_PERMISSION,
    granted_via: str = "",
    actor_name: str = "",
    page: str = "",
) -> list[Person]:
    """Erase these people, all or nothing, and record each one found. Returns them, with what
    was removed. Raises ``ErasureRefused`` (nothing changed) while an import is in flight."""
    with transaction.atomic():
        batches = _lock_staging()
        _scrub_staging(batches, people)
        now = timezone.now()
        for person in people:
            if person.lead is not None:
                person.pushes = _erase_lead(person.lead, now)
        for person in people:
            if person.found:
                person.record = record_access(
                    actor=actor,
                    kind=AccessKind.ERASURE,
                    permission=permission,
                    granted_via=granted_via,
                    lead_ids=[person.lead.pk] if person.lead else [],
                    criteria=person.masked,
                    note=_("申请说明：%(reason)s\n已删除：%(done)s")
                    % {"reason": reason or _("（未填写）"), "done": person.summary()},
                    actor_name=actor_name,
                    page=page,
                )
    return people


def _check(validator, value: str) -> None:
    try:
        validator(value)
    except ValidationError as exc:
        raise ErasureRefused("；".join(exc.messages)) from None


def _erase_lead(lead: Lead, now) -> int:
    """Empty the lead's personal data and indexes; blank what partners answered to its pushes.
    Returns how many pushes held an answer."""
    lead.pii = {}
    lead.city = lead.district = ""
    lead.erased_at = now
    lead.refresh_indexes()
    lead.save(
        update_fields=["pii", "city", "district", "erased_at", "phone_index", "id_number_index"]
    )
    return sum(eraser(lead) for eraser in _answer_erasers)


def _lock_staging() -> list[ImportBatch]:
    """The batches that hold staged rows, locked against a confirm until we commit (on
    PostgreSQL; SQLite serialises writers). Refused while any of them is in flight."""
    holding = ImportChunk.objects.values("batch_id")
    batches = list(ImportBatch.objects.select_for_update().filter(pk__in=holding).order_by("pk"))
    busy = [batch for batch in batches if batch.state in RUNNING_STATES]
    if busy:
        raise ErasureRefused(
            _(
                "导入批次 %(batches)s 正在上传、分析或导入，其中的数据此刻无法逐行删除。"
                "请等它完成（或取消它）后再删除，未做任何修改。"
            )
            % {
                "batches": "、".join(
                    f"#{batch.pk}（{batch.get_state_display()}）" for batch in busy
                )
            }
        )
    return batches


class _Matcher:
    """Finds the people in staged cells, as the import would read them."""

    def __init__(self, people: list[Person]):
        self.by_phone = {person.phone: person for person in people if person.phone}
        self.by_id = {person.id_number: person for person in people if person.id_number}

    def whose(self, cell) -> Person | None:
        if cell is None or cell == "":
            return None
        return self.by_phone.get(normalize_phone(cell)) or self.by_id.get(normalize_id_number(cell))


def _scrub_staging(batches: list[ImportBatch], people: list[Person]) -> None:
    matcher = _Matcher(people)
    if not (matcher.by_phone or matcher.by_id):
        return
    for batch in batches:
        identity = {
            i for i, column in enumerate(batch.columns) if column["field"] in IDENTITY_FIELDS
        }
        for chunk in batch.chunks.filter(kind=ChunkKind.REJECTED).order_by("number"):
            if _scrub_rejected(chunk, identity, matcher):
                chunk.save(update_fields=["rows"])
        for chunk in batch.chunks.filter(kind=ChunkKind.VALID).order_by("number"):
            if _scrub_valid(chunk, matcher):
                chunk.save(update_fields=["rows"])


def _scrub_rejected(chunk: ImportChunk, identity: set[int], matcher: _Matcher) -> bool:
    """Rejected rows are ``[row number, cells as in the file, problems]``. A row whose phone or
    ID column is the person's goes; the person's number elsewhere in a row is blanked. An
    emptied chunk stays (its number keeps later chunks' numbering)."""
    kept, changed = [], False
    for row in chunk.rows["rows"]:
        cells = row[1]
        owner = next(
            (p for i in identity if i < len(cells) and (p := matcher.whose(cells[i]))), None
        )
        if owner is not None:
            owner.staged_rows += 1
            changed = True
            continue
        for position, cell in enumerate(cells):
            if owner := matcher.whose(cell):
                cells[position] = ""
                owner.staged_cells += 1
                changed = True
        kept.append(row)
    if changed:
        chunk.rows = {**chunk.rows, "rows": kept}
    return changed


def _scrub_valid(chunk: ImportChunk, matcher: _Matcher) -> bool:
    """Rows waiting to be imported, column by column (clean values): the person's rows go, so
    confirming the batch later does not bring them back; the person's phone as another row's
    emergency contact is blanked."""
    rows = StagedRows.from_payload(chunk.rows)
    phones, ids = rows.values["phone"], rows.values["id_number"]
    drop: list[int] = []
    for position in range(len(rows)):
        owner = matcher.by_phone.get(phones[position]) or matcher.by_id.get(ids[position])
        if owner is not None:
            owner.staged_rows += 1
            drop.append(position)
    contacts = rows.values.get("emergency_contact_phone")
    blanked, dropped = False, set(drop)
    if contacts is not None:
        for position, value in enumerate(contacts):
            if position not in dropped and (owner := matcher.by_phone.get(value)):
                contacts[position] = ""
                owner.staged_cells += 1
                blanked = True
    if not drop and not blanked:
        return False
    rows.drop(drop)
    chunk.rows = rows.to_payload()
    return True
