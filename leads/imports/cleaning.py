"""Normalising and validating one cell: each ``clean_*`` takes a raw spreadsheet value and
returns the lead's value, or raises ``Problem`` with the reason in words an operator can act on.

Pure functions over plain values: no database, no request, no model. Each field's declaration
(leads.fields) names its cleaner; ``leads.imports.columns`` builds them once per column.
"""

import re
import unicodedata
from collections.abc import Callable

from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _

from core.masking import mask_id_number
from leads.imports.spreadsheets import cell_text, looks_scientific, lost_digits
from leads.validators import (
    MOBILE_PATTERN,
    ZHIMA_RANGE,
    normalize_phone,
    validate_id_number,
    validate_mobile,
)


class Problem(Exception):
    """One bad cell: the reason, in words an operator can act on."""


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


def phone_cleaner(label) -> Callable[[object], str]:
    """A mobile number column's cleaner; ``label`` names the column in messages."""

    def clean(raw) -> str:
        return _phone(raw, label)

    return clean


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
