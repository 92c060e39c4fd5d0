"""Log lines never carry a full phone or ID number.

A search by phone puts the number into the request line (``GET /admin/leads/lead/?q=138…``),
the Referer of the next request, and any error logged about that request. ``MaskIdentifiers`` is
a logging filter that rewrites a record's final text with every phone and ID number masked (the
same ``186****4854`` / ``452159**********2X`` as on screens). It sits on every handler: Django's
(settings.LOGGING: the root console, ``django.server`` for runserver's request lines,
``django.request``) and gunicorn's access and error logs (config/gunicorn.py).

What counts as an identifier is what the admin's search accepts (leads.validators'
normalisation), as it may appear in a log line: ASCII or full-width digits, raw or
percent-encoded (UTF-8; once or twice), with a blank or ``-`` or two between digits (``+`` is a blank in a
query string), a phone with ``+86`` / ``0086`` / ``86`` in front, an ID number ending in ``x``
or ``X``. Deliberately broad: masking a number that only looks like a phone costs a log
reader little; missing a real one leaks it.

Pure Python, no Django: gunicorn's master process loads it before any Django setup.
"""

import logging
import re
import unicodedata
from urllib.parse import unquote

from core.masking import mask_id_number, mask_phone


def _pct(hex_bytes: str) -> str:
    """Percent-encoded bytes (``"EF%BC%9[0-9]"``), each ``%`` possibly encoded once more (``%25``):
    a login redirect's ?next= holds the query string of the page it came from."""
    return "%(?:25)?" + hex_bytes.replace("%", "%(?:25)?")


def _digit(ascii_class: str = "0-9") -> str:
    """One digit of ``ascii_class`` (``"0-9"``, ``"3-9"``, ``"1"``): ASCII, full-width
    (U+FF10–FF19), or full-width percent-encoded as UTF-8 (``%EF%BC%90``–``%EF%BC%99``)."""
    low, _, high = ascii_class.partition("-")
    high = high or low
    full_width = f"{chr(0xFF10 + int(low))}-{chr(0xFF10 + int(high))}"
    return f"(?:[{low}-{high}{full_width}]|{_pct(f'EF%BC%9[{low}-{high}]')})"


_D = _digit()
# Up to two separators between two digits, as search ignores them: a blank (raw, "+", %20, %09,
# the ideographic space) or a hyphen (ASCII or full-width). Not ".": "Chrome/140.0.7339.185" in a
# user agent stays readable.
_SEP = "(?:{})".format(
    "|".join([r"[\s\-+\u3000\uff0d]", *map(_pct, ["20", "09", "2B", "2D", "E3%80%80", "EF%BC%8D"])])
)
_SEP += "{0,2}"
# Look-behinds must be fixed-width: one per spelling of the digit before.
_NOT_AFTER_DIGIT = r"(?<![0-9\uff10-\uff19])(?<!%EF%BC%9[0-9])(?<!%25EF%25BC%259[0-9])"
_NOT_BEFORE_DIGIT = rf"(?![0-9\uff10-\uff19])(?!{_pct('EF%BC%9[0-9]')})"
_X = rf"(?:[xX\uff38\uff58]|{_pct('EF%BC%B8')}|{_pct('EF%BD%98')})"  # x, X, full-width Ｘ ｘ
_COUNTRY = rf"(?:(?:(?:\+|{_pct('2B')}|00){_SEP})?8{_SEP}6{_SEP})?"

# An ID number is tried first: its first 11 digits may look like a phone.
ID_NUMBER = rf"{_NOT_AFTER_DIGIT}{_D}(?:{_SEP}{_D}){{16}}{_SEP}(?:{_D}|{_X}){_NOT_BEFORE_DIGIT}"
PHONE = rf"{_NOT_AFTER_DIGIT}{_COUNTRY}{_digit('1')}{_SEP}{_digit('3-9')}(?:{_SEP}{_D}){{9}}{_NOT_BEFORE_DIGIT}"
IDENTIFIER = re.compile(rf"(?P<id_number>{ID_NUMBER})|(?P<phone>{PHONE})", re.IGNORECASE)


def _plain(text: str) -> str:
    """The digits (and X) a match stands for: percent-decoded, half-width, separators gone."""
    text = unquote(unquote(text))
    text = unicodedata.normalize("NFKC", text)
    return "".join(ch for ch in text.upper() if ch in "0123456789X")


def _mask(match: re.Match) -> str:
    value = _plain(match.group())
    if match.lastgroup == "id_number":
        return mask_id_number(value)
    if len(value) > 11:  # +86 / 0086 / 86 in front
        value = value[-11:]
    return mask_phone(value)


def mask_identifiers_in_log_text(text: str) -> str:
    """``text`` with every phone and ID number masked, whatever its spelling (see above)."""
    return IDENTIFIER.sub(_mask, text)


class MaskIdentifiers(logging.Filter):
    """Rewrites a record's message (and its traceback) with identifiers masked; drops nothing.

    The message is formatted here, once (``record.args`` cleared), so every handler after this
    one sees the masked text; a record already masked is left alone."""

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "identifiers_masked", False):
            return True
        try:
            message = record.getMessage()
        except Exception:  # a broken format: let the handler report it as it would
            return True
        masked = mask_identifiers_in_log_text(message)
        if masked != message or record.args:
            record.msg, record.args = masked, ()
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = mask_identifiers_in_log_text(record.exc_text)
        if record.stack_info:
            record.stack_info = mask_identifiers_in_log_text(record.stack_info)
        record.identifiers_masked = True
        return True


def mask_handlers(*loggers: logging.Logger) -> None:
    """Put ``MaskIdentifiers`` on every handler of these loggers (once each)."""
    for logger in loggers:
        for handler in logger.handlers:
            if not any(isinstance(f, MaskIdentifiers) for f in handler.filters):
                handler.addFilter(MaskIdentifiers())
