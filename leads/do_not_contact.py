"""The do-not-contact list (免打扰名单): phones and ID numbers never to be checked or pushed,
because the person asked, complained or already converted.

Kept as blind indexes only (``leads.models.phone_index`` / ``id_number_index``, the keys a lead's
columns hold), so an entry matches a lead through the same unique index that finds the lead, and
the list holds no personal data: not the number, not even masked. Enforcement (checks, pushes)
annotates a lead queryset with ``listed_reason()`` and skips what is listed.

Taking an entry off the list is an administrator's decision, with a written reason, recorded in
the append-only ``DoNotContactRemoval``: ``remove`` is the only way the application deletes an
entry (the admin offers no other)."""

from collections.abc import Iterable
from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.db import IntegrityError, models, transaction
from django.db.models import OuterRef, Subquery
from django.db.models.functions import Coalesce
from django.utils.translation import gettext as _

from core.errors import LeadDeskError, NotAllowed
from leads.imports.cleaning import Problem, clean_id_number, phone_cleaner
from leads.models import (
    DoNotContact,
    DoNotContactKind,
    DoNotContactReason,
    DoNotContactRemoval,
    Lead,
    id_number_index,
    phone_index,
)

REMOVE_PERMISSION = "leads.delete_donotcontact"
# The lookups per query when many numbers are checked at once (SQLite's variable limit is 32766).
LOOKUP_BATCH = 2000


class DoNotContactRefused(LeadDeskError, ValueError):
    """The list cannot take this (an erased lead, no number, no reason for a removal).
    ``str(error)`` is the message for the operator; nothing was changed."""


# -- reading: what enforcement calls ----------------------------------------------------------


def _listed(kind: str, column: str) -> Subquery:
    # One probe of the (kind, blind_index) unique index per lead; a NULL index (an erased lead)
    # equals nothing, so it never matches.
    return Subquery(
        DoNotContact.objects.filter(kind=kind, blind_index=OuterRef(column))
        .order_by()
        .values("reason")[:1]
    )


def listed_reason() -> Coalesce:
    """For ``Lead.objects.annotate(dnc=listed_reason())``: the reason code of the entry that lists
    the lead's phone, else its ID number; NULL when neither is listed."""
    return Coalesce(
        _listed(DoNotContactKind.PHONE, "phone_index"),
        _listed(DoNotContactKind.ID_NUMBER, "id_number_index"),
        output_field=models.CharField(),
    )


def reason_label(code: str) -> str:
    """The reason's Chinese label, for a skip's detail (an unknown code is shown as it is)."""
    try:
        return str(DoNotContactReason(code).label)
    except ValueError:
        return str(code)


def listed_for(lead: Lead) -> list[DoNotContact]:
    """The entries that list this lead (none for an erased lead)."""
    wanted = models.Q(pk__in=[])
    if lead.phone_index:
        wanted |= models.Q(kind=DoNotContactKind.PHONE, blind_index=lead.phone_index)
    if lead.id_number_index:
        wanted |= models.Q(kind=DoNotContactKind.ID_NUMBER, blind_index=lead.id_number_index)
    return list(DoNotContact.objects.filter(wanted))


# -- numbers typed or read from a file --------------------------------------------------------


def clean_numbers(phone="", id_number="") -> tuple[str, str]:
    """Normalise and validate as the lead import does (full-width digits, +86, Excel's number
    forms); raises ``ValidationError`` keyed by field, or for the form when neither is given."""
    errors, cleaned = {}, {}
    cleaners = {"phone": phone_cleaner(_("手机号")), "id_number": clean_id_number}
    for name, raw in (("phone", phone), ("id_number", id_number)):
        try:
            cleaned[name] = cleaners[name]("" if raw is None else raw)
        except Problem as exc:
            errors[name] = str(exc)
    if errors:
        raise ValidationError(errors)
    if not cleaned["phone"] and not cleaned["id_number"]:
        raise ValidationError(_("请至少填写手机号或身份证号中的一项"), code="nothing_given")
    return cleaned["phone"], cleaned["id_number"]


def indexes_of(phone: str, id_number: str) -> list[tuple[str, str]]:
    """(kind, blind index) of each cleaned number given."""
    pairs = []
    if phone:
        pairs.append((DoNotContactKind.PHONE.value, phone_index(phone)))
    if id_number:
        pairs.append((DoNotContactKind.ID_NUMBER.value, id_number_index(id_number)))
    return pairs


# -- adding -------------------------------------------------------------------------------------


def _check_reason(reason: str) -> str:
    if reason not in DoNotContactReason.values:
        raise DoNotContactRefused(_("请选择免打扰原因"))
    return reason


def check_note(note: str) -> str:
    entry = DoNotContact(note=note or "")
    try:
        entry.clean_fields(exclude=["kind", "blind_index", "reason", "lead", "added_by"])
    except ValidationError as exc:
        raise DoNotContactRefused("；".join(exc.messages)) from None
    return entry.note


def _add(pairs, *, reason, note, actor, lead=None) -> list[DoNotContact]:
    """List each (kind, index) not listed yet; return the entries created. A concurrent add of
    the same number loses to the unique constraint and counts as already listed."""
    reason, note = _check_reason(reason), check_note(note)
    added = []
    for kind, index in pairs:
        if DoNotContact.objects.filter(kind=kind, blind_index=index).exists():
            continue
        try:
            with transaction.atomic():
                added.append(
                    DoNotContact.objects.create(
                        kind=kind,
                        blind_index=index,
                        reason=reason,
                        note=note,
                        lead=lead,
                        added_by=actor,
                    )
                )
        except IntegrityError:
            continue
    return added


def add_lead(lead: Lead, *, reason: str, note: str = "", actor=None) -> list[DoNotContact]:
    """List the lead's phone and ID number (what is listed already is left as it is); return
    the entries created. An erased lead has no numbers left to list."""
    if lead.is_erased or not (lead.phone_index or lead.id_number_index):
        raise DoNotContactRefused(
            _("线索 #%(pk)s 的个人信息已删除，没有可加入免打扰名单的手机号或身份证号")
            % {"pk": lead.pk}
        )
    pairs = [
        (kind, index)
        for kind, index in (
            (DoNotContactKind.PHONE.value, lead.phone_index),
            (DoNotContactKind.ID_NUMBER.value, lead.id_number_index),
        )
        if index
    ]
    return _add(pairs, reason=reason, note=note, actor=actor, lead=lead)


def add_numbers(
    *, phone="", id_number="", reason: str, note: str = "", actor=None
) -> list[DoNotContact]:
    """List a phone and/or an ID number typed by an operator; return the entries created (a
    number already listed is not among them). Bad or missing numbers raise ``ValidationError``
    (see ``clean_numbers``)."""
    phone, id_number = clean_numbers(phone, id_number)
    return _add(indexes_of(phone, id_number), reason=reason, note=note, actor=actor)


@dataclass
class Listing:
    """One row of an imported file, cleaned: its numbers' indexes, reason and note."""

    row: int
    pairs: list[tuple[str, str]]
    reason: str
    note: str = ""


@dataclass
class ListingResult:
    added: int = 0
    already: int = 0  # listed before, or earlier in the same file


def add_many(listings: Iterable[Listing], *, actor=None) -> ListingResult:
    """List the numbers of many rows at once (a file of a few thousand): one lookup per
    ``LOOKUP_BATCH`` numbers, one insert per batch. Rows must be valid (see the admin's import)."""
    result = ListingResult()
    listings = list(listings)
    wanted = {}  # (kind, index) -> the first row giving it
    for listing in listings:
        _check_reason(listing.reason)
        for pair in listing.pairs:
            if pair in wanted:
                result.already += 1
            else:
                wanted[pair] = listing
    pairs = list(wanted)
    with transaction.atomic():
        for start in range(0, len(pairs), LOOKUP_BATCH):
            batch = pairs[start : start + LOOKUP_BATCH]
            found = set()
            for kind in DoNotContactKind.values:  # (kind, blind_index): the unique index's order
                indexes = [index for of_kind, index in batch if of_kind == kind]
                found.update(
                    DoNotContact.objects.filter(kind=kind, blind_index__in=indexes).values_list(
                        "kind", "blind_index"
                    )
                )
            new = [
                DoNotContact(
                    kind=kind,
                    blind_index=index,
                    reason=wanted[kind, index].reason,
                    note=wanted[kind, index].note,
                    added_by=actor,
                )
                for kind, index in batch
                if (kind, index) not in found
            ]
            DoNotContact.objects.bulk_create(new, ignore_conflicts=True)
            result.already += len(batch) - len(new)
            result.added += len(new)
    return result


# -- removing -------------------------------------------------------------------------------------


def may_remove(user) -> bool:
    return user.is_active and user.has_perm(REMOVE_PERMISSION)


def remove(entry: DoNotContact, *, actor, why: str) -> DoNotContactRemoval:
    """Take the entry off the list, recording who, when and why (append-only). Administrators
    only (``leads.delete_donotcontact``); a written reason is required."""
    if not may_remove(actor):
        raise NotAllowed(_("只有管理员可以移除免打扰名单中的号码"))
    why = (why or "").strip()
    if not why:
        raise DoNotContactRefused(_("请填写移除理由"))
    with transaction.atomic():
        locked = DoNotContact.objects.select_for_update().filter(pk=entry.pk).first()
        if locked is None:
            raise DoNotContactRefused(_("这条记录已被移除"))
        record = DoNotContactRemoval.objects.create(
            actor=actor,
            kind=locked.kind,
            blind_index=locked.blind_index,
            reason=locked.reason,
            added_at=locked.created_at,
            why=why,
        )
        locked.delete()
    return record
