"""Exports read rows as values and write them as they are read: the files hold what the model
objects gave before (cell by cell, masked and unmasked), memory stays flat in the number of rows,
each lead's personal data is decrypted once for its row and a partner's key never."""

import csv
import io
import json
import tracemalloc
from datetime import datetime, timedelta
from operator import attrgetter

import openpyxl
import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from django.utils import timezone

import core.crypto
from collision.models import CheckOutcome, CollisionResult
from leads.exports.resources import RESOURCES, SheetResource, lead_text_masker
from leads.exports.services import export_records
from leads.imports.spreadsheets import SheetSpec, write_csv, write_xlsx
from leads.models import ExportKind, ExportRecord, Lead
from partners.models import Partner
from pushes.models import Push, PushSkip, PushState, SkipReason, lead_masker
from tests.conftest import PARTNER_KEY

QUERYSETS = {
    ExportKind.LEADS: lambda: Lead.objects.all(),
    ExportKind.COLLISION_RESULTS: lambda: CollisionResult.objects.all(),
    ExportKind.PUSHES: lambda: Push.objects.all(),
    ExportKind.PUSH_SKIPS: lambda: PushSkip.objects.all(),
}
MASKED_BY_LEAD = {"message": "masked_message", "app_download_url": "masked_app_download_url"}


def rows_as_before(resource: SheetResource, queryset) -> list[list]:
    """What the export wrote before it read values: model objects with their relations joined,
    each column read through its attribute path (``get_…_display``, the push's
    ``masked_message`` for text a partner wrote about the lead)."""
    tz = timezone.get_current_timezone()
    related = [name for name in ("lead", "partner", "actor") if _has_field(queryset.model, name)]
    rows = []
    for obj in (queryset.select_related(*related) if related else queryset).order_by("pk"):
        row = []
        for column in resource.columns():
            attribute = column.attribute
            if column.about_lead and not resource.reveal:
                attribute = MASKED_BY_LEAD[attribute]
            try:
                value = attrgetter(attribute.replace("__", "."))(obj)
            except AttributeError:
                value = None
            value = value() if callable(value) else value
            if value.__class__ is datetime:
                value = value.astimezone(tz)
            elif column.mask and not resource.reveal and value:
                value = column.mask(str(value))
            row.append(value)
        rows.append(row)
    return rows


def _has_field(model, name: str) -> bool:
    return any(field.name == name for field in model._meta.get_fields())


@pytest.fixture
def book(partner, make_leads):
    """Leads (one erased), check results of every outcome, pushes whose partner wrote back the
    lead's name, phone and ID number, and skips with and without an actor."""
    actor = get_user_model().objects.create_user("exporter")
    other = Partner.objects.create(
        name="第二平台", slug="second", test_base_url="http://127.0.0.1:9", utm_source="x",
        secret_key="another-secret-key-01", receives_pushes=False,
    )  # fmt: skip
    leads = make_leads(12)
    Lead.objects.filter(pk=leads[-1].pk).update(erased_at=timezone.now(), pii={})
    now = timezone.now()
    for i, lead in enumerate(leads):
        CollisionResult.objects.create(
            lead=lead, partner=partner if i % 2 else other, checked_at=now - timedelta(hours=i),
            **(
                {"outcome": CheckOutcome.ANSWERED, "user_status": i % 4, "marketable": i % 3 == 0,
                 "is_marketable": i % 4 == 0 and i % 3 == 0}
                if i % 5 else {"outcome": CheckOutcome.CALL_FAILED, "message": "=超时 +1"}
            ),
        )  # fmt: skip
        Push.objects.create(
            lead=lead,
            partner=partner if i % 3 else other,
            state=list(PushState)[i % len(PushState)] if i % 6 else PushState.REJECTED,
            message=f"用户{lead.name}（{lead.phone}，{lead.id_number}）已存在" if i % 2 else "",
            app_download_url=f"https://h5.example/?m={lead.phone}" if i % 4 == 1 else "",
            attempts=i % 3,
            last_attempt_at=now if i % 2 else None,
            finished_at=now - timedelta(minutes=i) if i % 3 else None,
        )
        PushSkip.objects.create(
            lead=lead, partner=partner, reason=list(SkipReason)[i % len(SkipReason)],
            detail="-缺少 学历" if i % 2 else "", actor=actor if i % 3 else None,
        )  # fmt: skip
    return leads


def xlsx_cells(data: bytes) -> list[list]:
    sheet = openpyxl.load_workbook(io.BytesIO(data)).worksheets[0]
    return [[(cell.value, cell.data_type, cell.number_format) for cell in row] for row in sheet]


@pytest.mark.parametrize("kind", list(QUERYSETS))
@pytest.mark.parametrize("reveal", [False, True], ids=["masked", "unmasked"])
def test_an_export_holds_what_the_model_objects_gave_cell_by_cell(book, kind, reveal):
    resource = RESOURCES[kind](reveal=reveal)
    queryset = QUERYSETS[kind]().order_by("pk")
    before = rows_as_before(resource, queryset)

    assert list(resource.rows(queryset)) == before
    assert len(before) == 12
    actor = get_user_model().objects.create_superuser("pii") if reveal else None
    headers = resource.headers()
    text = frozenset(i for i, column in enumerate(resource.columns()) if column.text)
    exported = export_records(
        kind=kind, queryset=QUERYSETS[kind](), file_format="xlsx", actor=actor, unmasked=False
    )
    if reveal:  # a superuser is not enough: the permission is given explicitly (below)
        exported = _unmasked(kind, QUERYSETS[kind]())
    old = write_xlsx(
        [SheetSpec(str(ExportKind(kind).label), headers, before, text, [16] * len(headers))]
    )
    assert xlsx_cells(exported.content) == xlsx_cells(old)
    as_csv = (
        _unmasked(kind, QUERYSETS[kind](), "csv")
        if reveal
        else export_records(kind=kind, queryset=QUERYSETS[kind](), file_format="csv")
    )
    assert as_csv.content == write_csv(headers, before)


def _unmasked(kind, queryset, file_format="xlsx"):
    from django.contrib.auth.models import Permission

    user = get_user_model().objects.create_user(f"revealer-{file_format}-{kind}")
    user.user_permissions.add(Permission.objects.get(codename="export_lead_pii"))
    user = get_user_model().objects.get(pk=user.pk)
    return export_records(
        kind=kind, queryset=queryset, file_format=file_format, actor=user, unmasked=True
    )


def test_text_about_a_lead_is_masked_as_the_push_masks_it(book):
    for push in Push.objects.select_related("lead"):
        for text in (push.message, push.app_download_url, f"{push.lead.name}说好"):
            assert lead_text_masker(push.lead.pii)(text) == lead_masker(push.lead)(text)


def test_the_record_counts_the_rows_written_also_of_a_file_abandoned_half_way(book):
    exported = export_records(
        kind=ExportKind.PUSHES, queryset=Push.objects.all(), file_format="csv"
    )
    assert len(list(csv.reader(io.StringIO(exported.content.decode("utf-8-sig"))))) == 13
    assert ExportRecord.objects.get().row_count == exported.rows == 12

    abandoned = export_records(
        kind=ExportKind.PUSHES, queryset=Push.objects.all(), file_format="csv"
    )
    next(abandoned.pieces)
    abandoned.pieces.close()
    assert ExportRecord.objects.count() == 2
    assert ExportRecord.objects.latest("pk") == abandoned.record and abandoned.rows < 12


def _push_book(partner, count: int) -> None:
    """``count`` leads, one push each (a message on every other), written in bulk."""
    first = Lead.objects.count()
    numbers = range(first, first + count)
    tokens = [core.crypto.encrypt(json.dumps({"phone": f"186{n:08d}", "name": "张三"}))
              for n in numbers]  # fmt: skip
    Lead.objects.bulk_create(
        [Lead(pii={}, phone_index=f"p{n}", id_number_index=f"i{n}") for n in numbers],
        batch_size=2000,
    )
    with connection.cursor() as cursor:  # one token per lead, encrypted once here
        ids = list(Lead.objects.order_by("pk").values_list("pk", flat=True)[first:])
        cursor.executemany(
            "UPDATE leads_lead SET pii = %s WHERE id = %s", list(zip(tokens, ids, strict=True))
        )
    message = core.crypto.encrypt("用户张三已存在")
    Push.objects.bulk_create(
        [Push(lead_id=pk, partner=partner, state=PushState.REJECTED) for pk in ids],
        batch_size=2000,
    )
    Push.objects.filter(pk__in=Push.objects.filter(lead_id__in=ids[::2]).values("pk")).update(
        message=message
    )


def _peak_of_export(file_format: str) -> tuple[int, int]:
    """tracemalloc's peak while the pushes are exported (masked) and the file handed on piece
    by piece, and the file's size."""
    size = 0
    tracemalloc.start()
    try:
        exported = export_records(
            kind=ExportKind.PUSHES, queryset=Push.objects.all(), file_format=file_format
        )
        for piece in exported.pieces:
            size += len(piece)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert exported.rows == Push.objects.count()
    return peak, size


@pytest.mark.parametrize("file_format", ["xlsx", "csv"])
def test_an_export_streams_its_memory_flat_in_the_number_of_rows(partner, file_format):
    _push_book(partner, 2_000)
    _peak_of_export(file_format)  # once before measuring: translations, modules, compiled SQL
    small, small_size = _peak_of_export(file_format)
    _push_book(partner, 18_000)
    large, large_size = _peak_of_export(file_format)

    assert large_size > 8 * small_size  # ten times the rows, written
    assert large < 1.3 * small, (small, large, small_size, large_size)


def test_each_lead_is_decrypted_once_and_the_partner_key_never(partner, monkeypatch):
    _push_book(partner, 3_000)
    with connection.cursor() as cursor:
        cursor.execute("SELECT pii FROM leads_lead")
        lead_tokens = {token for (token,) in cursor.fetchall()}
    decrypted = []
    real = core.crypto.decrypt

    def counting(token: str) -> str:
        plain = real(token)
        decrypted.append((token, plain))
        return plain

    monkeypatch.setattr(core.crypto, "decrypt", counting)
    for file_format in ("xlsx", "csv"):
        decrypted.clear()
        exported = export_records(
            kind=ExportKind.PUSHES, queryset=Push.objects.all(), file_format=file_format
        )
        assert exported.content and exported.rows == 3_000
        of_leads = [token for token, _ in decrypted if token in lead_tokens]
        assert len(of_leads) == len(set(of_leads)) == 3_000
        assert not [plain for _, plain in decrypted if plain == PARTNER_KEY]
        assert len(decrypted) == 3_000 + 1_500  # and the message of every other push


@pytest.mark.parametrize(
    "moment",
    [
        datetime(2026, 12, 1, 9, 30, 5),
        datetime(2026, 12, 1, 9, 30, 5, 999_999, tzinfo=timezone.get_fixed_timezone(480)),
        datetime(999, 1, 2, 3, 4, 5),
    ],
    ids=str,
)
def test_a_time_is_written_to_the_second_as_strftime_wrote_it(moment):
    from leads.imports.spreadsheets import export_cell

    assert export_cell(moment) == moment.strftime("%Y-%m-%d %H:%M:%S")


def test_the_audit_log_export_never_decrypts_a_partner_key(partner, sandbox, make_leads):
    from collision.services import check_leads
    from partners import audit_export
    from partners.models import AuditLogEntry

    for lead in make_leads(3):
        check_leads(partner=partner, leads=Lead.objects.filter(pk=lead.pk))
    decrypted = []
    real = core.crypto.decrypt

    def counting(token: str) -> str:
        decrypted.append(plain := real(token))
        return plain

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(core.crypto, "decrypt", counting)
        rows = list(audit_export.rows(AuditLogEntry.objects.all()))
    assert len(rows) == 3 and {row[2] for row in rows} == {partner.name}
    assert PARTNER_KEY not in decrypted
