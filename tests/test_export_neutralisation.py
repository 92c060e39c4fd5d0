"""Formula neutralisation as a spreadsheet program meets it: every trigger written by both writers
(xlsx and csv), and through the admin's export, then read back from the file. A cell that a
spreadsheet would run begins with a formula sign; each must come back behind a leading quote, as
text, never as a formula element."""

import csv
import io
import re
import zipfile

import openpyxl
import pytest
from python_calamine import CalamineWorkbook

from core.masking import mask_id_number, mask_phone
from leads.imports.spreadsheets import SheetSpec, write_csv, write_xlsx
from leads.models import Lead
from tests.import_files import lead_rows
from tests.test_import_export_admin import EXPORT, staff

# Every sign a spreadsheet reads as the start of a formula (half- and full-width, as Chinese
# input methods type them), tab and carriage return (which some programs skip before one), and
# a doubled sign (a writer that strips one "=" leaves a live formula).
TRIGGERS = [
    "=1+1",
    "+1+1",
    "-1+1",
    "@SUM(A1)",
    "\t=1+1",
    "\r=1+1",
    "==1+1",
    "＝1+1",
    "＋1+1",
    "－1+1",
    "＠SUM(A1)",
]


def xlsx_cells(data: bytes) -> list[list]:
    """Cell values as openpyxl reads them, with a check that no cell holds a formula element."""
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        for name in archive.namelist():
            if name.startswith("xl/worksheets/"):
                assert not re.search(rb"<(\w+:)?f[ >]", archive.read(name)), name
    sheet = openpyxl.load_workbook(io.BytesIO(data)).worksheets[0]
    assert all(cell.data_type != "f" for row in sheet.iter_rows() for cell in row)
    return [list(row) for row in sheet.iter_rows(values_only=True)]


def csv_cells(data: bytes) -> list[list[str]]:
    # newline="" keeps a carriage return inside a quoted field as written.
    return list(csv.reader(io.StringIO(data.decode("utf-8-sig"), newline="")))


def as_xml_reads(text: str) -> str:
    """XML parsers turn a raw carriage return into a line feed; the leading quote is unaffected."""
    return text.replace("\r", "\n")


@pytest.mark.parametrize("trigger", TRIGGERS, ids=ascii)
def test_the_xlsx_writer_neutralises_every_trigger(trigger):
    data = write_xlsx([SheetSpec("数据", [trigger, "列"], [[trigger, trigger]], frozenset({0}))])

    header, row = xlsx_cells(data)
    assert as_xml_reads(header[0]) == as_xml_reads("'" + trigger)
    assert [as_xml_reads(value) for value in row] == [as_xml_reads("'" + trigger)] * 2
    calamine = CalamineWorkbook.from_filelike(io.BytesIO(data)).get_sheet_by_index(0).to_python()
    assert all(str(value).startswith("'") for value in calamine[1])


@pytest.mark.parametrize("trigger", TRIGGERS, ids=ascii)
def test_the_csv_writer_neutralises_every_trigger(trigger):
    data = write_csv([trigger, "列"], [[trigger, trigger]])

    assert csv_cells(data) == [["'" + trigger, "列"], ["'" + trigger] * 2]


def test_ordinary_text_and_numbers_are_written_as_they_are():
    rows = [["张三", "a=b", "1-2", -5, 3.5, "'=已有引号"]]
    assert csv_cells(write_csv(["甲", "乙", "丙", "丁", "戊", "己"], rows))[1] == [
        "张三", "a=b", "1-2", "-5", "3.5", "'=已有引号",
    ]  # fmt: skip
    # A negative number stays a number: no formula, and no quote to spoil its sum.
    assert xlsx_cells(write_xlsx([SheetSpec("数据", ["甲"] * 6, rows)]))[1][:5] == [
        "张三", "a=b", "1-2", -5, 3.5,
    ]  # fmt: skip


@pytest.mark.django_db
@pytest.mark.parametrize("file_format", ["xlsx", "csv"])
def test_the_admin_export_neutralises_every_trigger_in_both_formats(file_format):
    """One lead per trigger, in its address (free text), exported in full by a user allowed to."""
    rows = lead_rows(len(TRIGGERS), seed=41)
    for (phone, id_number, *_), trigger in zip(rows, TRIGGERS, strict=True):
        Lead(phone=phone, id_number=id_number, name="张三", source="公式", address=trigger).save()
    _, client = staff("leads.view_lead", "leads.export_lead", "leads.export_lead_pii")

    response = client.post(EXPORT, {"file_format": file_format, "unmasked": "on"})

    assert response.status_code == 200
    read = xlsx_cells if file_format == "xlsx" else csv_cells
    header, *exported = read(response.content)
    phone_at, address_at = header.index("手机号"), header.index("详细地址")
    address_of = {str(row[phone_at]): row[address_at] for row in exported}
    normal = as_xml_reads if file_format == "xlsx" else str
    assert {phone: normal(address_of[phone]) for phone, *_ in rows} == {
        phone: normal("'" + trigger) for (phone, *_), trigger in zip(rows, TRIGGERS, strict=True)
    }


@pytest.mark.django_db
@pytest.mark.parametrize("file_format", ["xlsx", "csv"])
def test_a_masked_export_holds_no_plain_phone_or_id_number_anywhere(file_format):
    """Not only the masked cells equal mask_phone()'s output: the plain values appear nowhere in
    the file, in any cell or part of the archive (the emergency contact's phone included)."""
    (phone, id_number, *_), (contact_phone, *_) = lead_rows(2, seed=43)
    lead = Lead(
        phone=phone,
        id_number=id_number,
        name="张三",
        source="掩码",
        emergency_contact_name="李四",
        emergency_contact_phone=contact_phone,
    )
    lead.save()
    _, client = staff("leads.view_lead", "leads.export_lead")  # no permission to unmask

    data = client.post(EXPORT, {"file_format": file_format, "unmasked": "on"}).content

    cells = (xlsx_cells if file_format == "xlsx" else csv_cells)(data)
    values = [str(value) for row in cells for value in row if value is not None]
    assert mask_phone(phone) in values and mask_id_number(id_number) in values
    for plain in (phone, id_number, id_number.lower(), contact_phone):
        assert not any(plain in value for value in values), plain
    if file_format == "xlsx":
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            raw = b"".join(archive.read(name) for name in archive.namelist())
    else:
        raw = data
    for plain in (phone, id_number, contact_phone):
        assert plain.encode() not in raw
