"""Listing the numbers of a spreadsheet on the do-not-contact list (columns 手机号 / 身份证号 /
原因 / 备注), synchronously: files of a few thousand rows.

Every row is either listed (its numbers, or counted as already listed) or reported with its row
number and what is wrong; a row with any problem lists nothing, so the operator fixes and
uploads it again. Blank rows are not data and are passed over. The file is read as the lead
import reads it (leads.imports.spreadsheets: the same refusals of unsafe files) and its numbers
cleaned by the same cleaners; nothing of it is stored but the blind indexes."""

from dataclasses import dataclass, field

from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _

from leads.do_not_contact import (
    DoNotContactRefused,
    Listing,
    add_many,
    check_note,
    clean_numbers,
    indexes_of,
)
from leads.fields import FIELDS_BY_NAME
from leads.imports.columns import header_key
from leads.imports.spreadsheets import UnreadableFile, cell_text, open_sheet
from leads.models import DoNotContactReason

MAX_ROWS = 20_000  # synchronous: a larger file would outlast the request
HEADER_SCAN_ROWS = 10

PHONE, ID_NUMBER, REASON, NOTE = "phone", "id_number", "reason", "note"
# Header → column, compared after the lead import's ``header_key`` ("*手机号（必填）" → "手机号").
ALIASES = {
    **{header_key(alias): PHONE for alias in FIELDS_BY_NAME["phone"].aliases},
    **{header_key(alias): ID_NUMBER for alias in FIELDS_BY_NAME["id_number"].aliases},
    **{header_key(alias): REASON for alias in ("原因", "免打扰原因", "理由", "reason")},
    **{header_key(alias): NOTE for alias in ("备注", "说明", "note", "remark")},
}


def reason_code(text: str) -> str:
    """A 原因 cell: a label (本人要求、投诉、已成交、其他) or a code; empty means 本人要求."""
    text = "".join(text.split())
    if not text:
        return DoNotContactReason.REQUESTED
    for code, label in DoNotContactReason.choices:
        if text in (code, str(label)):
            return code
    raise ValidationError(
        _("原因只能填：%(labels)s（留空为“本人要求”）")
        % {"labels": "、".join(str(label) for label in DoNotContactReason.labels)}
    )


@dataclass
class BadRow:
    row: int
    problems: list[str]


@dataclass
class FileResult:
    rows: int = 0  # data rows read (blank rows not counted)
    added: int = 0  # numbers newly listed
    already: int = 0  # numbers listed before (or earlier in the file)
    bad_rows: list[BadRow] = field(default_factory=list)


def _columns(cells: list) -> dict[str, int] | None:
    found = {}
    for index, cell in enumerate(cells):
        column = ALIASES.get(header_key(cell))
        if column is not None and column not in found:
            found[column] = index
    if PHONE in found or ID_NUMBER in found:
        return found
    return None


def _read_row(number: int, cells: list, columns: dict[str, int]) -> Listing | BadRow:
    def cell(name):
        index = columns.get(name)
        return cells[index] if index is not None and index < len(cells) else ""

    problems = []
    pairs, reason, note = [], "", ""
    try:
        pairs = indexes_of(*clean_numbers(cell(PHONE), cell(ID_NUMBER)))
    except ValidationError as exc:
        problems += exc.messages  # each names its column (手机号…, 身份证号…)
    try:
        reason = reason_code(cell_text(cell(REASON)))
    except ValidationError as exc:
        problems += exc.messages
    try:
        note = check_note(cell_text(cell(NOTE)).strip())
    except DoNotContactRefused as exc:
        problems.append(str(exc))
    if problems:
        return BadRow(number, problems)
    return Listing(row=number, pairs=pairs, reason=reason, note=note)


def list_file(data: bytes, file_name: str, *, actor=None) -> FileResult:
    """List the file's good rows; report the others. Raises ``UnreadableFile`` (nothing listed)
    when the file cannot be read, has no 手机号 or 身份证号 column, or is too long."""
    sheet = open_sheet(data, file_name)
    rows = iter(sheet.rows)
    columns, header_row = None, 0
    for header_row, cells in enumerate(rows, 1):
        columns = _columns(cells)
        if columns is not None or header_row >= HEADER_SCAN_ROWS:
            break
    if columns is None:
        raise UnreadableFile(
            _("找不到表头：前 %(rows)s 行里没有“手机号”或“身份证号”列。")
            % {"rows": HEADER_SCAN_ROWS}
        )
    result, listings = FileResult(), []
    for number, cells in enumerate(rows, header_row + 1):
        if not any(cell_text(cell).strip() for cell in cells):
            continue
        result.rows += 1
        if result.rows > MAX_ROWS:
            raise UnreadableFile(
                _("文件超过 %(limit)s 行：请拆分后分批上传。") % {"limit": MAX_ROWS}
            )
        read = _read_row(number, cells, columns)
        (result.bad_rows if isinstance(read, BadRow) else listings).append(read)
    listed = add_many(listings, actor=actor)
    result.added, result.already = listed.added, listed.already
    return result
