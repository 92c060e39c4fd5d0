"""From spreadsheet rows to clean lead values: recognise the header row, read every cell as
text, normalise it, and validate it, saying for each bad cell which column and why.

Pure functions over plain values: no database, no request. ``leads.services`` runs them over a
file and decides what becomes of each row.
"""

import re
import unicodedata
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from operator import itemgetter

from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from core.masking import mask_address, mask_id_number, mask_middle, mask_name, mask_phone
from leads.models import EduLevel, EmergencyRelation
from leads.spreadsheets import Sheet, UnreadableFile, cell_text, looks_scientific, lost_digits
from leads.validators import (
    MOBILE_PATTERN,
    ZHIMA_RANGE,
    normalize_phone,
    validate_id_number,
    validate_mobile,
)

HEADER_SCAN_ROWS = 10


class Problem(Exception):
    """One bad cell: the reason, in words an operator can act on."""


@dataclass(frozen=True)
class Column:
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


# --- cleaning one cell --------------------------------------------------------------------


def _text(raw) -> str:
    """normalize_text(cell_text(raw)), with the common cases short-cut: this runs for every
    cell of a 100k-row file."""
    if raw.__class__ is not str:
        raw = cell_text(raw)
    if not raw.isascii():
        raw = unicodedata.normalize("NFKC", raw)  # full-width digits and letters to ASCII
    return "".join(raw.split())


# Cells that are already what cleaning makes of them (ASCII digits only: nothing to normalise).
CLEAN_MOBILE = re.compile(r"1[3-9][0-9]{9}")
CLEAN_ID_NUMBER = re.compile(r"[0-9]{17}[0-9Xx]")


def _phone(raw, label) -> str:
    if raw.__class__ is float and raw.is_integer():
        raw = str(int(raw))  # what cell_text makes of a phone typed as a number
    if raw.__class__ is str and CLEAN_MOBILE.fullmatch(raw):
        return raw  # the common case, already clean: _text would return it unchanged
    text = _text(raw)
    if not text:
        return ""
    if MOBILE_PATTERN.fullmatch(text):  # the common case, already clean
        return text
    if looks_scientific(text):
        raise Problem(
            _("%(label)s被 Excel 显示成了科学计数法（%(text)s），数字已丢失：请把这一列设为“文本”后重新填写")
            % {"label": label, "text": text}
        )  # fmt: skip
    phone = normalize_phone(text)
    if phone.endswith(".0") and phone[:-2].isdigit():  # a number saved as "18698574854.0"
        phone = phone[:-2]
    try:
        validate_mobile(phone)
    except ValidationError as exc:
        raise Problem(exc.messages[0]) from None
    return phone


PHONE_LABEL = gettext_lazy("手机号")
EMERGENCY_PHONE_LABEL = gettext_lazy("紧急联系人电话")


def clean_phone(raw) -> str:
    return _phone(raw, PHONE_LABEL)


def clean_emergency_phone(raw) -> str:
    return _phone(raw, EMERGENCY_PHONE_LABEL)


ZEROED_TAIL = re.compile(r"^\d{15}000$")


def clean_id_number(raw) -> str:
    if raw.__class__ is str and CLEAN_ID_NUMBER.fullmatch(raw):
        return _valid_id_number(raw.upper())  # the common case: nothing to normalise
    if lost_digits(raw):
        raise Problem(
            _(
                "身份证号被 Excel 存成了数字，超过 15 位的部分已变成 0（%(value)s）：请把这一列设为“文本”后重新填写"
            )
            % {"value": mask_id_number(cell_text(raw))}
        )
    text = _text(raw).upper()
    if not text:
        return ""
    if "E" in text and looks_scientific(text):  # the test first: this runs for every row
        raise Problem(
            _(
                "身份证号被 Excel 显示成了科学计数法（%(text)s），后几位已丢失：请把这一列设为“文本”后重新填写"
            )
            % {"text": text}
        )
    return _valid_id_number(text)


def _valid_id_number(text: str) -> str:
    try:
        validate_id_number(text)
    except ValidationError as exc:
        if ZEROED_TAIL.match(text):
            raise Problem(
                _(
                    "身份证号末 3 位是 000 且校验位不对：多半是 Excel 按数字保存时截断了（只保留 15 位）。请把这一列设为“文本”后重新填写"
                )
            ) from None
        raise Problem(exc.messages[0]) from None
    return text


def _limited(length: int, label) -> Callable[[object], str]:
    def clean(raw) -> str:
        text = _text(raw)
        if len(text) > length:
            raise Problem(
                _("%(label)s太长（最多 %(length)s 个字）") % {"label": label, "length": length}
            )
        return text

    return clean


QQ_PATTERN = re.compile(r"[1-9]\d{4,11}")


def clean_qq(raw) -> str:
    text = _text(raw)
    if text and not QQ_PATTERN.fullmatch(text):
        raise Problem(_("QQ 号应为 5–12 位数字"))
    return text


def clean_address(raw) -> str:
    if raw.__class__ is not str:
        raw = cell_text(raw)
    return " ".join(raw.split())


def _choice(choices, synonyms: dict[str, str], label) -> Callable[[object], str]:
    accepted = {value: value for value in choices} | synonyms

    def clean(raw) -> str:
        text = _text(raw)
        if not text:
            return ""
        value = accepted.get(text) or accepted.get(text.replace("／", "/"))
        if value is None:
            raise Problem(
                _("%(label)s只能填：%(choices)s") % {"label": label, "choices": "、".join(choices)}
            )
        return value

    return clean


EDU_SYNONYMS = {
    "硕士": EduLevel.MASTER_OR_ABOVE,
    "博士": EduLevel.MASTER_OR_ABOVE,
    "研究生": EduLevel.MASTER_OR_ABOVE,
    "研究生及以上": EduLevel.MASTER_OR_ABOVE,
    "大学本科": EduLevel.BACHELOR,
    "专科": EduLevel.COLLEGE,
    "大专及以下": EduLevel.HIGH_SCHOOL_OR_BELOW,
    "中专": EduLevel.HIGH_SCHOOL_OR_BELOW,
    "高中": EduLevel.HIGH_SCHOOL_OR_BELOW,
    "高中及以下": EduLevel.HIGH_SCHOOL_OR_BELOW,
    "中专及以下": EduLevel.HIGH_SCHOOL_OR_BELOW,
    "初中": EduLevel.HIGH_SCHOOL_OR_BELOW,
    "初中及以下": EduLevel.HIGH_SCHOOL_OR_BELOW,
}
RELATION_SYNONYMS = {
    "夫妻": EmergencyRelation.SPOUSE,
    "丈夫": EmergencyRelation.SPOUSE,
    "妻子": EmergencyRelation.SPOUSE,
    "父亲": EmergencyRelation.PARENT,
    "母亲": EmergencyRelation.PARENT,
    "父": EmergencyRelation.PARENT,
    "母": EmergencyRelation.PARENT,
    "兄弟": EmergencyRelation.SIBLING,
    "姐妹": EmergencyRelation.SIBLING,
    "哥哥": EmergencyRelation.SIBLING,
    "弟弟": EmergencyRelation.SIBLING,
    "姐姐": EmergencyRelation.SIBLING,
    "妹妹": EmergencyRelation.SIBLING,
    "儿子": EmergencyRelation.CHILD,
    "女儿": EmergencyRelation.CHILD,
}
YES = {"1", "是", "有", "已缴", "已缴纳", "true", "yes", "y", "√"}
NO = {"0", "否", "无", "没有", "未缴", "未缴纳", "false", "no", "n", "×"}


def clean_social_insurance(raw) -> bool | None:
    text = _text(raw).lower()
    if not text:
        return None
    if text in YES:
        return True
    if text in NO:
        return False
    raise Problem(_("是否缴纳社保只能填 1/0 或 是/否"))


def clean_zhima_score(raw) -> int | None:
    text = _text(raw)
    if not text:
        return None
    if text.endswith(".0"):
        text = text[:-2]
    if not text.isdigit():
        raise Problem(_("芝麻分应为整数"))
    score = int(text)
    low, high = ZHIMA_RANGE
    if not low <= score <= high:
        raise Problem(_("芝麻分应在 %(low)s 到 %(high)s 之间") % {"low": low, "high": high})
    return score


L = gettext_lazy
COLUMNS = (
    Column("phone", L("手机号"), ("手机号", "手机", "手机号码", "电话", "电话号码", "联系电话", "phone", "mobile"), clean_phone, required=True, mask=mask_phone, identifier=True),
    Column("id_number", L("身份证号"), ("身份证号", "身份证", "身份证号码", "idnum", "idno", "idnumber", "idcard"), clean_id_number, required=True, mask=mask_id_number, identifier=True),
    Column("name", L("姓名"), ("姓名", "名字", "name"), _limited(50, L("姓名")), required=True, mask=mask_name, repeats=True),
    Column("wechat", L("微信"), ("微信", "微信号", "wechat", "weixin"), _limited(64, L("微信")), mask=mask_middle),
    Column("qq", L("QQ"), ("qq", "qq号", "qq号码"), clean_qq, mask=mask_middle, identifier=True),
    Column("edu_level", L("学历"), ("学历", "edulevel", "education"), _choice(EduLevel.values, EDU_SYNONYMS, L("学历")), repeats=True),
    Column("province", L("省份"), ("省", "省份", "province"), _limited(32, L("省份")), repeats=True),
    Column("city", L("城市"), ("市", "城市", "city"), _limited(32, L("城市")), repeats=True),
    Column("district", L("区县"), ("区", "区县", "县", "district", "county"), _limited(32, L("区县")), repeats=True),
    Column("address", L("详细地址"), ("地址", "详细地址", "住址", "address"), clean_address, mask=mask_address),
    Column("social_insurance_paid", L("是否缴纳社保"), ("社保", "是否缴纳社保", "缴纳社保", "socialinsurancepayed", "socialinsurancepaid"), clean_social_insurance, repeats=True),
    Column("emergency_contact_name", L("紧急联系人"), ("紧急联系人", "紧急联系人姓名", "emergencycontactname", "emergencycontact"), _limited(50, L("紧急联系人")), mask=mask_name, repeats=True),
    Column("emergency_relation", L("紧急联系人关系"), ("关系", "紧急联系人关系", "emergencyrelation"), _choice(EmergencyRelation.values, RELATION_SYNONYMS, L("紧急联系人关系")), repeats=True),
    Column("emergency_contact_phone", L("紧急联系人电话"), ("紧急联系人电话", "紧急联系人手机", "紧急联系人手机号", "紧急联系电话", "emergencycontactphone"), clean_emergency_phone, mask=mask_phone, identifier=True),
    Column("zhima_score", L("芝麻分"), ("芝麻分", "芝麻信用分", "zhimascore"), clean_zhima_score, repeats=True),
)  # fmt: skip
COLUMNS_BY_FIELD = {column.field: column for column in COLUMNS}
ALIASES = {header_key(alias): column for column in COLUMNS for alias in column.aliases}
# Our own rejected-rows file adds this column; reading it back ignores it.
REASON_HEADER = L("错误原因")
IGNORED = {header_key("错误原因"), "reason"}


MEMO_LIMIT = 50_000  # distinct values remembered per repeating column and analysis
MEMO_WARM_UP = 5000  # distinct values seen before a column may give up its memo
_MISSING = object()


class _Failed(str):
    """A bad cell's outcome: the Problem's message only (an exception would pin its traceback's
    frames, and with them whole blocks of rows)."""


def _outcome(clean: Callable[[object], object], raw):
    try:
        return clean(raw)
    except Problem as problem:
        return _Failed(str(problem))


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
    columns: dict[int, Column]  # file column index → what it holds
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
        "reason" for our own reason column)."""
        described = []
        for index, header in enumerate(self.headers):
            column = self.columns.get(index)
            name = column.field if column else ("reason" if index in self.ignored else "")
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


# --- a block of rows, column by column ------------------------------------------------------


def is_blank(cells: list) -> bool:
    for cell in cells:
        if cell is not None and not (isinstance(cell, str) and not cell.strip()):
            return False
    return True


def clean_columns(rows: list[list], layout: Layout) -> tuple[dict[str, list], dict[int, list]]:
    """Clean every known cell of a block of (non-blank) rows, one column at a time: a column of
    a repeating field is cleaned once per distinct value, the others cell by cell.

    Returns ``(values, problems)``: ``values`` maps each field of the file to its column of
    clean values (a bad cell holds a ``_Failed`` message), ``problems`` maps the position of
    each bad row to its ``(field, reason)`` pairs, in the file's column order."""
    width = layout.width
    if any(len(row) < width for row in rows):  # CSV rows may stop early
        rows = [row if len(row) >= width else [*row, *[""] * (width - len(row))] for row in rows]
    values, problems = {}, {}
    for plan in layout.plan:
        raw = list(map(itemgetter(plan.index), rows))
        if plan.memo is None:
            column, failed = _clean_each(raw, plan)
        else:
            column, failed = _clean_repeating(raw, plan)
        for position in failed:
            problems.setdefault(position, []).append((plan.field, str(column[position])))
        if plan.required and not all(column):
            empty = _("%(label)s不能为空") % {"label": COLUMNS_BY_FIELD[plan.field].label}
            for position, value in enumerate(column):
                if not value:
                    problems.setdefault(position, []).append((plan.field, empty))
        values[plan.field] = column
    return values, problems


def _clean_each(raw: list, plan: ColumnPlan) -> tuple[list, list[int]]:
    clean = plan.clean
    if not plan.had_problems:  # no bad cell in this column so far: clean it in one pass
        try:
            return list(map(clean, raw)), []
        except Problem:
            plan.had_problems = True  # from now on cell by cell, starting with this block
    column, failed = [], []
    append = column.append
    for position, value in enumerate(raw):
        try:
            append(clean(value))
        except Problem as problem:
            append(_Failed(str(problem)))
            failed.append(position)
    return column, failed


def _clean_repeating(raw: list, plan: ColumnPlan) -> tuple[list, list[int]]:
    """Each distinct value cleaned once per analysis (the memo), then looked up per cell."""
    try:
        try:
            column = list(map(plan.memo.__getitem__, raw))  # all seen before: the usual case
        except KeyError:
            column = _remember(raw, plan)
        if plan.failed.isdisjoint(raw):
            return column, []
    except TypeError:  # an unhashable cell value: clean the column cell by cell
        return _clean_each(raw, plan)
    return column, [i for i, outcome in enumerate(column) if outcome.__class__ is _Failed]


def _remember(raw: list, plan: ColumnPlan) -> list:
    memo, outcomes, new = plan.memo, {}, 0
    for value in set(raw):
        outcome = memo.get(value, _MISSING)
        if outcome is _MISSING:
            new += 1
            outcome = _outcome(plan.clean, value)
            if len(memo) < MEMO_LIMIT:
                memo[value] = outcome
            if outcome.__class__ is _Failed:
                plan.failed.add(value)
        outcomes[value] = outcome
    if new > len(raw) // 2 and len(memo) > MEMO_WARM_UP:
        plan.memo = None  # mostly new values still (names, say): cleaning each cell is cheaper
    return list(map(outcomes.__getitem__, raw))


class DuplicateTracker:
    """Rows of one file that repeat an earlier accepted row's phone or ID number."""

    def __init__(self):
        self.phones: dict[str, int] = {}
        self.id_numbers: dict[str, int] = {}

    def repeated(self, numbers: list[int], phones: list[str], id_numbers: list[str]) -> list:
        """The rows (positions) of a block that repeat an earlier row, with their problems; the
        others are remembered."""
        found, phones_seen, ids_seen = [], self.phones, self.id_numbers
        for position, phone in enumerate(phones):
            id_number = id_numbers[position]
            if phone in phones_seen or id_number in ids_seen:
                found.append((position, self.first_seen(numbers[position], phone, id_number)))
            else:
                phones_seen[phone] = ids_seen[id_number] = numbers[position]
        return found

    def first_seen(self, number: int, phone: str, id_number: str) -> list[tuple[str, str]]:
        problems = []
        if phone in self.phones:
            problems.append(("phone", _("与第 %(row)s 行手机号重复") % {"row": self.phones[phone]}))
        if id_number in self.id_numbers:
            problems.append(
                (
                    "id_number",
                    _("与第 %(row)s 行身份证号重复") % {"row": self.id_numbers[id_number]},
                )
            )
        if not problems:
            self.phones[phone] = number
            self.id_numbers[id_number] = number
        return problems


def masked(field_name: str, value: str, *, reveal: bool) -> str:
    column = COLUMNS_BY_FIELD.get(field_name)
    if reveal or column is None or column.mask is None:
        return value
    return column.mask(value)
