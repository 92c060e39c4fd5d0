"""The rejected-rows file round-trips: uploaded again unchanged, every row is rejected again for
the same reason and nothing is imported. Each kind of cell that used to change on the way back:
an ID number Excel had stored as a number (one of them passing the check digit once read as
digits), a ``+86`` phone and a formula-looking cell, next to a valid row."""

import io
import zipfile

import openpyxl
import pytest

from leads.imports import services
from leads.imports.rejected import rejected_preview, rejected_rows_file
from leads.imports.spreadsheets import SheetSpec, cell_text, open_sheet, write_xlsx
from leads.imports.upload import default_source
from leads.models import ImportBatch, ImportState, Lead
from leads.validators import validate_id_number
from tests.import_files import CHINESE_HEADERS, lead_rows, read_xlsx, xlsx_bytes
from tests.test_export_neutralisation import TRIGGERS

pytestmark = pytest.mark.django_db

PHONE, ID, NAME, EDU = 0, 1, 2, 5
# An ID number Excel stored as a number (15 digits kept, the rest zeroed): read back from the
# file it is 110105194901011008, which passes GB 11643. Imported, it would be a lie.
PASSES_AS_DIGITS = 110105194901011000.0
DESTROYED = 452159198001010000.0  # the usual case: read as digits, its check digit is wrong


def analyse(data: bytes, file_name: str, **options) -> ImportBatch:
    batch = services.import_batch_create(file_name=file_name, data=data, **options)
    services.import_batch_analyse(batch.pk)
    batch.refresh_from_db()
    assert batch.state == ImportState.PREVIEW, batch.error
    return batch


def reasons(batch: ImportBatch) -> list[list[tuple[str, str]]]:
    """Each rejected row's (column, reason) pairs, in file order (row numbers change)."""
    found = {}
    for cell in rejected_preview(batch, reveal=True):
        found.setdefault(cell.row, []).append((cell.column, cell.reason))
    return [found[row] for row in sorted(found)]


def original_file() -> bytes:
    rows = lead_rows(5, seed=13)
    rows[0][ID] = DESTROYED  # row 2
    rows[1][ID] = PASSES_AS_DIGITS  # row 3
    rows[2][PHONE], rows[2][ID] = "+86" + rows[2][PHONE], "110105194912310021"  # row 4: bad check
    rows[3][NAME], rows[3][EDU] = "=1+1", "幼儿园"  # row 5: formula-looking name, bad education
    workbook = openpyxl.load_workbook(io.BytesIO(xlsx_bytes(CHINESE_HEADERS, rows)))
    workbook.active.cell(row=5, column=NAME + 1).data_type = "s"  # typed as text, not run
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()  # row 6 is valid


@pytest.fixture
def first():
    batch = analyse(original_file(), "渠道F-名单.xlsx", source="渠道F")
    batch = services.import_batch_confirm(batch)
    assert (batch.leads_created, batch.rows_rejected) == (1, 4)
    return batch


def test_uploaded_again_unchanged_every_row_is_rejected_for_the_same_reason(first):
    before = reasons(first)
    assert "存成了数字" in before[0][0][1] and "存成了数字" in before[1][0][1]
    assert "校验位" in before[2][0][1] and before[3][0][0] == "学历"

    data = rejected_rows_file(first)
    again = analyse(data, "渠道F-名单-被拒行.xlsx")
    assert (again.rows_total, again.rows_new, again.rows_invalid) == (4, 0, 4)
    assert reasons(again) == before
    assert again.unknown_columns == []  # 原行号 and 错误原因 are ours
    assert services.import_batch_confirm(again).leads_created == 0
    assert Lead.objects.count() == 1

    # And once more: the rejected rows of the rejected rows are the same file.
    third = analyse(rejected_rows_file(again), "渠道F-名单-被拒行 (1).xlsx")
    assert reasons(third) == before and third.rows_new == 0


def test_a_destroyed_id_number_is_written_as_the_number_excel_held(first):
    held = [row[ID] for row in list(open_sheet(original_file(), "x.xlsx").rows)[1:3]]
    validate_id_number(cell_text(held[1]))  # as digits, the second would pass
    rows = read_xlsx(rejected_rows_file(first))
    assert [rows[1][ID + 1], rows[2][ID + 1]] == held  # numbers, as Excel held them
    assert all(not isinstance(row[ID + 1], str) or len(row[ID + 1]) == 18 for row in rows[1:])


def test_no_literal_apostrophe_and_a_formula_stays_text(first):
    data = rejected_rows_file(first)
    cells = list(open_sheet(data, "x.xlsx").rows)
    phone = cells[3][PHONE + 1]
    assert phone.startswith("+86") and cells[4][NAME + 1] == "=1+1"  # read back as written
    assert not any(str(c).startswith("'") for row in cells for c in row)
    sheet = zipfile.ZipFile(io.BytesIO(data)).read("xl/worksheets/sheet1.xml").decode()
    assert "<f>" not in sheet  # never a formula cell
    workbook = openpyxl.load_workbook(io.BytesIO(data))
    name_cell = workbook.active.cell(row=5, column=NAME + 2)
    assert name_cell.data_type == "s" and name_cell.quotePrefix  # Excel keeps it text on edit


def test_the_file_carries_row_numbers_highlights_bad_cells_and_a_readable_reason(first):
    workbook = openpyxl.load_workbook(io.BytesIO(rejected_rows_file(first)))
    sheet = workbook.active
    header = [c.value for c in sheet[1]]
    assert header[0] == "原行号" and header[-1] == "错误原因"
    assert [sheet.cell(row=r, column=1).value for r in range(2, 6)] == [2, 3, 4, 5]
    filled = {
        (cell.row, header[cell.column - 1])
        for row in sheet.iter_rows(min_row=2)
        for cell in row
        if cell.fill.fill_type == "solid"
    }
    assert filled == {(2, "身份证号"), (3, "身份证号"), (4, "身份证号"), (5, "学历")}
    reason = sheet.cell(row=2, column=len(header))
    assert reason.alignment.wrap_text and sheet.column_dimensions[reason.column_letter].width >= 40


def test_a_re_upload_keeps_the_source_of_the_batch_it_came_from(first):
    again = analyse(rejected_rows_file(first), "渠道F-名单-被拒行.xlsx")
    assert again.source == "渠道F"
    chosen = analyse(rejected_rows_file(first), "渠道F-名单-被拒行.xlsx", source="渠道G")
    assert chosen.source == "渠道G"  # the operator's choice wins
    assert default_source("别的名单-被拒行.xlsx") == "别的名单"  # no such batch: its name
    assert default_source("渠道H.xlsx") == "渠道H"


@pytest.mark.parametrize("trigger", TRIGGERS)
def test_a_file_read_back_keeps_every_formula_trigger_as_typed_text(trigger):
    data = write_xlsx(
        [SheetSpec("数据", ["甲", "乙"], [[trigger, "x"]], frozenset({0}), quote_prefix=True)]
    )
    read = list(open_sheet(data, "x.xlsx").rows)[1][0]
    assert read == trigger.replace("\r", "\n")  # XML reads a carriage return as a line feed
    assert "<f>" not in zipfile.ZipFile(io.BytesIO(data)).read("xl/worksheets/sheet1.xml").decode()
    assert openpyxl.load_workbook(io.BytesIO(data)).active["A2"].quotePrefix  # text, also on edit
