"""The pure pieces: cells as text, header recognition, formula neutralisation, the xlsx writer."""

import io

import openpyxl
import pytest
from python_calamine import CalamineWorkbook

from leads.imports.columns import header_key
from leads.imports.spreadsheets import (
    SheetSpec,
    UnreadableFile,
    cell_text,
    looks_scientific,
    lost_digits,
    neutralise,
    open_sheet,
    write_csv,
    write_xlsx,
)


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (18698574854.0, "18698574854"),
        (650.0, "650"),
        (1.5, "1.5"),
        (True, "1"),
        (None, ""),
        ("x", "x"),
    ],
)
def test_cells_read_as_the_text_typed(value, text):
    assert cell_text(value) == text


def test_what_excel_destroyed_is_recognised():
    assert lost_digits(452159198001010000.0) and not lost_digits(18698574854.0)
    assert looks_scientific("4.52159E+17") and not looks_scientific("452159198001010012")


@pytest.mark.parametrize(
    ("header", "key"),
    [
        ("*手机号（必填）", "手机号"),
        ("ID Num", "idnum"),
        ("emergency_contact_phone", "emergencycontactphone"),
        (" ＱＱ ", "qq"),
    ],
)
def test_header_variants_reduce_to_one_key(header, key):
    assert header_key(header) == key


def test_neutralise_leaves_ordinary_text_alone():
    assert neutralise("张三") == "张三" and neutralise("") == ""
    assert neutralise("-5") == "'-5" and neutralise("＠x") == "'＠x"


def test_xlsx_writer_output_opens_in_openpyxl_and_calamine():
    headers = [f"列{i}" for i in range(30)]  # past column Z
    rows = [["a&b<c>", "bad\x01char", 42, 3.5, True, None, "=cmd|' /C calc'!A0", *[""] * 23]]
    data = write_xlsx([SheetSpec("数据", headers, rows, frozenset({0}))])
    sheet = openpyxl.load_workbook(io.BytesIO(data)).active
    assert sheet["AD1"].value == "列29"
    assert [sheet.cell(2, c).value for c in range(1, 8)] == [
        "a&b<c>", "bad\ufffdchar", 42, 3.5, "是", None, "'=cmd|' /C calc'!A0",
    ]  # fmt: skip
    assert sheet["A2"].number_format == "@" and sheet["A2"].data_type == "s"
    calamine = CalamineWorkbook.from_filelike(io.BytesIO(data)).get_sheet_by_index(0).to_python()
    assert calamine[1][:3] == ["a&b<c>", "bad\ufffdchar", 42.0]


def test_csv_writer_has_a_bom_for_excel():
    data = write_csv(["姓名"], [["=1+1"]])
    assert data.startswith(b"\xef\xbb\xbf") and data.decode("utf-8-sig") == "姓名\r\n'=1+1\r\n"


@pytest.mark.parametrize("ending", ["\r\n", "\n", "\r"])
def test_csv_height_counts_lines_of_every_ending_and_not_the_blank_tail(ending):
    lines = ["手机号,姓名", "1,a", '2,"b', 'c"', "", "3,d"]  # a quoted line break, a blank line
    text = ending.join(lines) + ending + ",," + ending * 3  # what Excel leaves at the end
    sheet = open_sheet(text.encode(), "a.csv")
    assert sheet.height == 6  # an upper bound: the quoted break and the blank line count
    rows = [["手机号", "姓名"], ["1", "a"], ["2", f"b{ending}c"], [], ["3", "d"], ["", "", ""]]
    assert list(sheet.rows) == rows + [[]] * 2


def test_a_nul_in_unicode_text_is_found_after_decoding():
    data = "手机号\t姓名\r\n18698574854\t张\x00三\r\n".encode("utf-16")
    with pytest.raises(UnreadableFile, match="第 2 行 B 列含有空字符"):
        list(open_sheet(data, "leads.txt").rows)
