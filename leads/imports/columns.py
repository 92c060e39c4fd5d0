"""Which column of the file is which lead field: the import columns (read from the declarations
of leads.fields: header aliases, cleaner, masking), the header row's recognition and the file's
``Layout``."""

import re
import unicodedata
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from leads.fields import LEAD_FIELDS, Clean, LeadField
from leads.imports.cleaning import (
    _choice,
    _limited,
    clean_address,
    clean_id_number,
    clean_qq,
    clean_social_insurance,
    clean_zhima_score,
    phone_cleaner,
)
from leads.imports.spreadsheets import Sheet, UnreadableFile, cell_text

HEADER_SCAN_ROWS = 10


@dataclass(frozen=True)
class ImportColumn:
    field: str  # the Lead attribute
    label: str  # the canonical header: template, exports and messages
    aliases: tuple[str, ...]  # accepted headers, compared after ``header_key``
    clean: Callable[[object], object]
    required: bool = False
    mask: Callable[[str], str] | None = None  # personal data: masked on screens
    identifier: bool = False  # long digits: written as text cells
    repeats: bool = False  # few distinct values (places, enumerations, names): clean each once


def header_key(header) -> str:
    """``"*手机号（必填）"`` → ``"手机号"``, ``"ID Num"`` → ``"idnum"``."""
    text = unicodedata.normalize("NFKC", cell_text(header))
    text = re.sub(r"\(.*?\)|\[.*?\]|【.*?】", "", text)
    return re.sub(r"[\s_\-*:.#]", "", text).lower()


def cleaner(declared: LeadField) -> Callable[[object], object]:
    """The cell cleaner a declared field asks for, built once (the cleaning path is hot: no
    lookups per cell). Messages name the field by its file header."""
    label = declared.file_header
    match declared.clean:
        case Clean.PHONE:
            return phone_cleaner(label)
        case Clean.ID_NUMBER:
            return clean_id_number
        case Clean.TEXT:
            return _limited(declared.max_length, label)
        case Clean.QQ:
            return clean_qq
        case Clean.ADDRESS:
            return clean_address
        case Clean.CHOICE:
            return _choice(declared.choices.values, declared.synonyms, label)
        case Clean.YES_NO:
            return clean_social_insurance
        case Clean.ZHIMA:
            return clean_zhima_score
    raise ValueError(f"{declared.name}: no cleaner for {declared.clean!r}")


def import_column(declared: LeadField) -> ImportColumn:
    return ImportColumn(
        declared.name,
        declared.file_header,
        declared.aliases,
        cleaner(declared),
        required=declared.required,
        mask=declared.mask,
        identifier=declared.identifier,
        repeats=declared.repeats,
    )


COLUMNS = tuple(import_column(declared) for declared in LEAD_FIELDS)
COLUMNS_BY_FIELD = {column.field: column for column in COLUMNS}
ALIASES = {header_key(alias): column for column in COLUMNS for alias in column.aliases}
# Our own rejected-rows file adds these columns; reading it back ignores them.
REASON_HEADER = gettext_lazy("错误原因")
ROW_NUMBER_HEADER = gettext_lazy("原行号")
ROW_NUMBER_KEY = header_key("原行号")
IGNORED = {header_key("错误原因"), "reason", ROW_NUMBER_KEY}


@dataclass
class ColumnPlan:
    """How one column of the file is cleaned during one analysis."""

    index: int  # position in the file's rows
    field: str
    clean: Callable[[object], object]
    required: bool
    memo: dict | None  # repeating columns: each distinct cell value's outcome, cleaned once
    failed: set = field(default_factory=set)  # repeating columns: the values that were bad
    had_problems: bool = False  # a bad cell seen in this column


# --- the header row -----------------------------------------------------------------------


@dataclass
class Layout:
    """Where the header is and what each column of the file means."""

    header_row: int  # 1-based, as Excel numbers rows
    headers: list[str]  # the file's own header texts
    columns: dict[int, ImportColumn]  # file column index → what it holds
    unknown: list[str]  # headers we do not recognise (reported, never silently dropped)
    ignored: list[int] = field(default_factory=list)  # e.g. our own "错误原因" column
    plan: list[ColumnPlan] = field(default_factory=list)  # the known columns, in file order

    def __post_init__(self):
        self.plan = [
            ColumnPlan(i, c.field, c.clean, c.required, {} if c.repeats else None)
            for i, c in sorted(self.columns.items())
        ]
        self.width = max(self.columns, default=-1) + 1  # cells a row needs to hold them all

    def describe(self) -> list[dict]:
        """Every column of the file, in order, with the Lead attribute it fills ("" unknown,
        "reason" / "row_number" for our own columns)."""
        described = []
        for index, header in enumerate(self.headers):
            column = self.columns.get(index)
            name = column.field if column else ""
            if index in self.ignored:  # ours: the reason, or the row number in the file before
                name = "row_number" if header_key(header) == ROW_NUMBER_KEY else "reason"
            described.append({"header": header, "field": name})
        return described


def find_layout(sheet: Sheet) -> tuple[Layout, Iterator[tuple[int, list]]]:
    """Find the header row among the first rows (files often carry a title above it) and return
    the layout with an iterator of ``(row number, cells)`` for the rows below it."""
    scanned = []
    for number, cells in enumerate(sheet.rows, 1):
        scanned.append((number, cells))
        matches = sum(1 for cell in cells if header_key(cell) in ALIASES)
        if matches >= 2:
            layout = _layout(number, cells)
            return layout, _rows_after(sheet.rows, number)
        if number >= HEADER_SCAN_ROWS:
            break
    if not any(any(cell_text(c).strip() for c in cells) for _, cells in scanned):
        raise UnreadableFile(_("文件里没有数据（空表）。"))
    raise UnreadableFile(
        _("找不到表头：前 %(rows)s 行里没有“手机号”“身份证号”“姓名”等列名。请使用导入模板的表头。")
        % {"rows": HEADER_SCAN_ROWS}
    )


def _rows_after(rows, header_row: int) -> Iterator[tuple[int, list]]:
    return enumerate(rows, header_row + 1)


def _layout(header_row: int, cells: list) -> Layout:
    headers = [cell_text(c).strip() for c in cells]
    columns, unknown, ignored, seen = {}, [], [], {}
    for index, header in enumerate(headers):
        key = header_key(header)
        if not key:
            continue
        if key in IGNORED:
            ignored.append(index)
            continue
        column = ALIASES.get(key)
        if column is None:
            unknown.append(header)
            continue
        if column.field in seen:
            raise UnreadableFile(
                _("“%(first)s”和“%(second)s”两列都表示%(label)s：请删掉其中一列后重新上传。")
                % {"first": headers[seen[column.field]], "second": header, "label": column.label}
            )
        seen[column.field] = index
        columns[index] = column
    missing = [c for c in COLUMNS if c.required and c.field not in seen]
    if missing:
        raise UnreadableFile(
            _("缺少必需的列：%(columns)s。")
            % {"columns": "、".join(f"{c.label}（{'/'.join(c.aliases[:3])}）" for c in missing)}
        )
    return Layout(header_row, headers, columns, unknown, ignored)


def masked(field_name: str, value: str, *, reveal: bool) -> str:
    column = COLUMNS_BY_FIELD.get(field_name)
    if reveal or column is None or column.mask is None:
        return value
    return column.mask(value)
