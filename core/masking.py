"""How personal data looks on screens, in exports and in the audit log when it must not be read."""

import json
import re
import unicodedata
from collections.abc import Callable, Iterable
from urllib.parse import unquote

MASK = "*"


def mask_phone(phone: str) -> str:
    """186****4854"""
    if not phone:
        return ""
    if len(phone) < 7:
        return MASK * len(phone)
    return f"{phone[:3]}{MASK * (len(phone) - 7)}{phone[-4:]}"


def mask_id_number(id_number: str) -> str:
    """452159**********2X"""
    if not id_number:
        return ""
    if len(id_number) < 8:
        return MASK * len(id_number)
    return f"{id_number[:6]}{MASK * (len(id_number) - 8)}{id_number[-2:]}"


def mask_name(name: str) -> str:
    """李** : the family name stays, the rest goes."""
    if not name:
        return ""
    return name[0] + MASK * max(len(name) - 1, 1)


def mask_middle(value: str, *, keep: int = 2) -> str:
    """For account names and addresses: a short head and tail, the rest masked."""
    if not value:
        return ""
    if len(value) <= keep * 2:
        return MASK * len(value)
    return f"{value[:keep]}{MASK * 4}{value[-keep:]}"


def mask_address(address: str) -> str:
    if not address:
        return ""
    return address[:6] + MASK * 4


PII_HASH_PREFIX = 3
SIGNATURE_PREFIX = 6


def short_hash(digest: str, *, keep: int = PII_HASH_PREFIX) -> str:
    """A hash cut to a prefix: enough to match a log line, too little to single anyone out.

    An MD5 of personal data keeps 3 hex digits (4,096 values): a masked phone (186****4854)
    leaves 10,000 candidates, and 6 digits would pick out the one whose MD5 matches. A keyed
    signature cannot be brute-forced and keeps ``SIGNATURE_PREFIX``."""
    if not digest:
        return ""
    return digest[:keep] + "…"


# -- free text: what a partner writes back about a person ----------------------------------------
#
# A partner's ``msg``, an ``appDownloadUrl``, an error page: text we did not write, that may echo
# a phone, an ID number, a name or a hash of them. ``mask_text`` masks what can be recognised in
# any text, and the values of the person the caller knows the text is about.


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


# A phone or an ID number in any text (a partner's answer, a log line), spelt as people and URLs
# spell them: ASCII or full-width digits, raw or percent-encoded (once or twice), up to two
# blanks or hyphens between digits ("+" is a blank in a query string; "." is not, so a version
# number stays readable), a phone with +86 / 0086 / 86 in front, an ID number ending in x or X.
# Deliberately broad: masking a number that only looks like one costs a reader little.
_D = _digit()
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
_ID_NUMBER = rf"{_NOT_AFTER_DIGIT}{_D}(?:{_SEP}{_D}){{16}}{_SEP}(?:{_D}|{_X}){_NOT_BEFORE_DIGIT}"
_PHONE = rf"{_NOT_AFTER_DIGIT}{_COUNTRY}{_digit('1')}{_SEP}{_digit('3-9')}(?:{_SEP}{_D}){{9}}{_NOT_BEFORE_DIGIT}"
_PERSON = rf"(?P<id_number>{_ID_NUMBER})|(?P<phone>{_PHONE})"
# Hash-like: a run of 8 or more hex digits (an MD5, a prefix of one, a long number), or of 6 or 7
# mixing digits and letters. Shorter runs stay: they are error codes and words ("2024", "cafe").
_HEX_RUN = "(?<![0-9a-fA-F])[0-9a-fA-F]{6,}(?![0-9a-fA-F])"
_IDENTIFIER = re.compile(_PERSON, re.IGNORECASE)
_IDENTIFIER_OR_HASH = re.compile(rf"{_PERSON}|(?P<hex>{_HEX_RUN})", re.IGNORECASE)


def _plain(text: str) -> str:
    """The digits (and X) a match stands for: percent-decoded, half-width, separators gone."""
    text = unicodedata.normalize("NFKC", unquote(unquote(text)))
    return "".join(ch for ch in text.upper() if ch in "0123456789X")


def _mask_identifier(match: re.Match) -> str:
    text = match.group()
    if match.lastgroup == "hex":
        has_digit = any(ch.isdigit() for ch in text)
        hashlike = len(text) >= 8 or (has_digit and not text.isdigit())
        return short_hash(text) if hashlike else text
    value = _plain(text)
    if match.lastgroup == "id_number":
        return mask_id_number(value)
    return mask_phone(value[-11:])  # without +86 / 0086 / 86


def mask_identifiers(text: str) -> str:
    """``text`` with every phone and ID number masked, however it is spelt (see above): what a
    log line may hold (hashes stay, a static file's name carries one)."""
    return _IDENTIFIER.sub(_mask_identifier, text)


def mask_text(
    text: str,
    *,
    names: Iterable[str] = (),
    phones: Iterable[str] = (),
    id_numbers: Iterable[str] = (),
) -> str:
    """``text`` with every phone number, ID number and hash-like token masked (``186****4854``,
    ``452159**********2X``, ``0a1…``), and the given values of the person it is about masked
    wherever they appear (a name cannot be recognised otherwise). Masking masked text changes
    nothing."""
    if not text:
        return text
    known = [(name, mask_name(name)) for name in names if len(name or "") >= 2]
    known += [(phone, mask_phone(phone)) for phone in phones if phone]
    for id_number in id_numbers:
        if id_number:
            masked = mask_id_number(id_number)
            known += [(id_number.upper(), masked), (id_number.lower(), masked)]
    for value, masked in sorted(known, key=lambda pair: -len(pair[0])):
        text = text.replace(value, masked)
    return _IDENTIFIER_OR_HASH.sub(_mask_identifier, text)


def mask_document(text: str, mask: Callable[[str], str] = mask_text) -> str:
    """A partner's answer as it may be kept: a JSON document has each of its strings, keys and
    numbers masked by ``mask`` (so an escaped ``\\u5f20`` cannot slip past it) and is written
    back compact; any other text is masked as it is. NUL, which PostgreSQL cannot store, is
    replaced."""
    text = text.replace("\x00", "\ufffd")
    try:
        document = json.loads(text)
    except ValueError:
        return mask(text)
    if not isinstance(document, dict | list):
        return mask(text)
    masked = _mask_json(document, _remembered(mask))
    return json.dumps(masked, ensure_ascii=False, separators=(",", ":"))


def _remembered(mask: Callable[[str], str]) -> Callable[[str], str]:
    """``mask`` that works out each distinct text once: a batch answer repeats its keys and
    statuses a thousand times."""
    seen: dict[str, str] = {}

    def remembered(text: str) -> str:
        if (masked := seen.get(text)) is None:
            masked = seen[text] = mask(text)
        return masked

    return remembered


def _mask_json(value, mask: Callable[[str], str]):
    if isinstance(value, str):
        return mask(value)
    if isinstance(value, dict):
        return {mask(key): _mask_json(item, mask) for key, item in value.items()}
    if isinstance(value, list):
        return [_mask_json(item, mask) for item in value]
    if isinstance(value, bool) or value is None:
        return value
    text = str(value)  # a number: a phone sent as 18698574854
    masked = mask(text)
    return value if masked == text else masked
