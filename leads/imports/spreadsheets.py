"""Reading and writing spreadsheet files: xlsx/xls through python-calamine, CSV through the csv
module, and a small streaming xlsx writer. (Over 400 lines because both halves keep one rule
of cells, identifiers as text, and the rejected-rows file goes out through one and back in
through the other.)

Reading refuses, with one clear message, anything it should not open: wrong type, password
protection, zip bombs, XML with a DOCTYPE (so no entity is ever expanded), files over the size
limit, a cell holding a NUL character, a CSV cell over the csv module's field limit. Writing
never touches the disk (the rows may hold personal data), writes every string as a text cell,
streams (``stream_xlsx``, ``stream_csv``: a piece per 2,000 rows, memory flat in the rows),
and neutralises values a spreadsheet would run as a formula.
"""

import csv
import io
import re
import zipfile
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from xml.sax.saxutils import escape

from django.conf import settings
from django.utils.translation import gettext as _

XLSX, XLS, CSV = "xlsx", "xls", "csv"
EXTENSIONS = {".xlsx": XLSX, ".xlsm": XLSX, ".xls": XLS, ".csv": CSV, ".txt": CSV}
ZIP_MAGIC = b"PK\x03\x04"
OLE2_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
# An encrypted OOXML file is an OLE2 container holding these streams (names in UTF-16LE).
ENCRYPTED_PACKAGE = "EncryptedPackage".encode("utf-16-le")
XML_DANGER = (b"<!DOCTYPE", b"<!ENTITY")
XML_NUL = b"_x0000_"  # how OOXML writes a NUL character in text
CSV_ENCODINGS = ("utf-8-sig", "gb18030")  # gb18030 is a superset of GBK, which Chinese Excel writes


class UnreadableFile(Exception):
    """The file cannot be imported at all; the message says why, in words an operator can act on."""


@dataclass
class Sheet:
    """The first worksheet: ``rows`` yields each row's raw cells (str, float, int, bool, dates)."""

    format: str
    rows: Iterator[list]
    height: int  # rows up to the last one used, header and title rows included (see _line_count)


def file_format(file_name: str) -> str:
    suffix = "." + file_name.rsplit(".", 1)[-1].lower() if "." in file_name else ""
    if suffix not in EXTENSIONS:
        raise UnreadableFile(
            _("不支持的文件类型“%(suffix)s”：请上传 .xlsx、.xls 或 .csv 文件。")
            % {"suffix": suffix or file_name}
        )
    return EXTENSIONS[suffix]


def open_sheet(data: bytes, file_name: str) -> Sheet:
    """Check the file and open its first worksheet, or raise ``UnreadableFile``."""
    expected = file_format(file_name)
    if not data:
        raise UnreadableFile(_("文件是空的（0 字节）。"))
    if len(data) > settings.LEAD_IMPORT_MAX_BYTES:
        raise UnreadableFile(
            _("文件太大：%(size)s MB，上限 %(limit)s MB。请拆分后分批导入。")
            % {"size": _megabytes(len(data)), "limit": _megabytes(settings.LEAD_IMPORT_MAX_BYTES)}
        )
    if data.startswith(OLE2_MAGIC):
        if ENCRYPTED_PACKAGE in data:
            raise UnreadableFile(
                _("文件设置了打开密码（已加密）：请在 Excel 中取消密码后重新上传。")
            )
        sheet = _calamine_sheet(data, XLS, nul=True)  # BIFF strings are UTF-16: bytes cannot tell
    elif data.startswith(ZIP_MAGIC):
        sheet = _calamine_sheet(data, XLSX, nul=_check_zip(data))
    elif expected == CSV:
        sheet = _csv_sheet(data)
    else:
        raise UnreadableFile(
            _(
                "文件内容不是 Excel 工作簿（扩展名是 .%(ext)s）：可能已损坏，或是改了扩展名的其他文件。"
            )
            % {"ext": expected}
        )
    return sheet


def _megabytes(size: int) -> str:
    return f"{size / 1024 / 1024:.1f}"


def _check_zip(data: bytes) -> bool:
    """Refuse zip bombs and XML with a DOCTYPE before calamine opens anything. Every part is
    unpacked here as a stream, so a header that lies about sizes is caught too (zipfile stops at
    the declared size and checks the CRC). Returns whether an XML part holds a NUL (a raw zero
    byte or Excel's ``_x0000_`` escape, both of which calamine passes on): only then are the
    sheet's cells searched for it."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        members = archive.infolist()
    except (zipfile.BadZipFile, OSError) as exc:
        raise UnreadableFile(_("文件已损坏，无法作为 .xlsx 打开。")) from exc
    names = {member.filename for member in members}
    if "xl/workbook.xml" not in names:
        raise UnreadableFile(_("这个压缩文件不是 Excel 工作簿（可能是 Word 文档或其他文件）。"))
    declared = sum(member.file_size for member in members)
    if declared > settings.LEAD_IMPORT_MAX_UNPACKED_BYTES:
        raise UnreadableFile(_("文件解压后过大，拒绝打开（疑似压缩炸弹）。"))
    unpacked, nul = 0, False
    for member in members:
        ratio_limit = settings.LEAD_IMPORT_MAX_ZIP_RATIO * max(member.compress_size, 1024)
        with archive.open(member) as stream:
            head = b""
            while block := stream.read(1 << 20):
                unpacked += len(block)
                if (
                    unpacked > settings.LEAD_IMPORT_MAX_UNPACKED_BYTES
                    or stream.tell() > ratio_limit
                ):
                    raise UnreadableFile(_("文件解压后过大，拒绝打开（疑似压缩炸弹）。"))
                if member.filename.endswith((".xml", ".rels")):
                    window = head + block
                    if any(marker in window for marker in XML_DANGER):
                        raise UnreadableFile(
                            _("文件中的 XML 含有 DOCTYPE/实体声明，出于安全原因拒绝打开。")
                        )
                    nul = nul or b"\x00" in block or XML_NUL in window
                    head = block[-16:]
    return nul


def _calamine_sheet(data: bytes, kind: str, *, nul: bool) -> Sheet:
    """``nul``: the file may hold a NUL, so its cells are searched for one as they are read."""
    from python_calamine import CalamineError, CalamineWorkbook, PasswordError

    try:
        workbook = CalamineWorkbook.from_filelike(io.BytesIO(data))
        if not workbook.sheet_names:
            raise UnreadableFile(_("工作簿里没有工作表。"))
        sheet = workbook.get_sheet_by_index(0)
        height = sheet.end[0] + 1 if sheet.end is not None else 0  # rows up to the last used one
        rows = sheet.iter_rows() if height else iter(())
    except PasswordError as exc:
        raise UnreadableFile(
            _("文件设置了打开密码（已加密）：请在 Excel 中取消密码后重新上传。")
        ) from exc
    except (CalamineError, ValueError, OSError) as exc:
        raise UnreadableFile(
            _("文件已损坏或格式不对，无法作为 .%(kind)s 读取。") % {"kind": kind}
        ) from exc
    # The sheet is parsed by now: iterating it converts cells, it cannot fail on the file.
    return Sheet(format=kind, rows=_without_nul(rows) if nul else rows, height=height)


def _without_nul(rows: Iterator[list]) -> Iterator[list]:
    """The rows, refusing the file at the first cell holding a NUL character: no spreadsheet
    program writes one, and PostgreSQL's text refuses it (a lead holding one failed to import
    there, and only there)."""
    for number, row in enumerate(rows, 1):
        for column, cell in enumerate(row):
            if cell.__class__ is str and "\x00" in cell:
                raise UnreadableFile(
                    _(
                        "第 %(row)s 行 %(column)s 列含有空字符（NUL）：正常的表格里不会有这个字符，文件可能已损坏或导出有误。请删掉这个字符或重新导出文件后再上传。"
                    )
                    % {"row": number, "column": _column_letters(column)}
                )
        yield row


def _csv_sheet(data: bytes) -> Sheet:
    if b"\x00" in data[:4096] and not data.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise UnreadableFile(_("文件内容不是文本（CSV）：可能是改了扩展名的其他文件。"))
    text = _decode(data)
    first_line = FIRST_LINE.match(text).group()
    delimiter = max(",\t;", key=first_line.count)
    rows = _csv_rows(csv.reader(io.StringIO(text, newline=""), delimiter=delimiter))
    if "\x00" in text:  # one C-level scan; the cells are searched only when it finds one
        rows = _without_nul(rows)
    return Sheet(format=CSV, rows=rows, height=_line_count(text))


FIRST_LINE = re.compile(r"[^\r\n]*")
BLANK_TAIL = "\r\n\t ,;"  # what blank lines at the end are made of (Excel writes ",,,")


def _line_count(text: str) -> int:
    """Lines up to the last one with content, whatever ends them: ``\\r\\n``, ``\\n``, or ``\\r``
    alone (old Mac files). That is one per row, except for blank lines between rows and line
    breaks inside quoted cells, which make it an upper bound."""
    end = len(text)
    while end:  # back over the blank tail, a slice at a time (no copy of the whole text)
        start = max(end - 4096, 0)
        end = start + len(text[start:end].rstrip(BLANK_TAIL))
        if end > start:
            break
    if not end:
        return 0
    breaks = text.count("\n", 0, end) + text.count("\r", 0, end) - text.count("\r\n", 0, end)
    return breaks + 1


def _csv_rows(reader) -> Iterator[list]:
    """The reader's rows. A cell over the csv module's field limit (131,072 characters unless
    changed, and we leave the process-wide setting alone: no lead's value comes near it) is not
    data but a broken file, nearly always an opening quote that is never closed, so that the
    rest of the file reads as one cell: refused, naming the row it starts in."""
    number = 0
    try:
        for row in reader:
            number += 1
            yield row
    except csv.Error as exc:
        raise UnreadableFile(
            _(
                '第 %(row)s 行有一个单元格超过 %(limit)s 个字符，不是正常的线索数据：多半是这一格以英文双引号（"）开头却没有配对的引号，把后面的内容都连成了一格。请检查这一行后重新上传。'
            )
            % {"row": number + 1, "limit": csv.field_size_limit()}
        ) from exc


def _decode(data: bytes) -> str:
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):  # Excel's "Unicode text" (UTF-16)
        try:
            return data.decode("utf-16")
        except UnicodeDecodeError:
            pass
    for encoding in CSV_ENCODINGS:
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise UnreadableFile(
        _("无法识别 CSV 的文字编码：请另存为 UTF-8 或 GBK 编码的 CSV，或直接上传 .xlsx。")
    )


# --- cells as text -------------------------------------------------------------------------

# Excel keeps 15 significant digits: larger integers typed as numbers have lost their tail.
EXACT_DIGITS = 15


def cell_text(value) -> str:
    """A cell as the text an operator typed, as far as it can be known. Whole floats lose their
    ``.0`` (calamine reads 18698574854 as 18698574854.0)."""
    if value is None or value == "":
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, float):
        if value.is_integer():
            return str(int(value))
        return repr(value)
    if isinstance(value, datetime):
        return value.isoformat(sep=" ")
    if isinstance(value, date | time):
        return value.isoformat()
    if isinstance(value, timedelta):
        return str(value)
    return str(value)


def lost_digits(value) -> bool:
    """True when a numeric cell holds more digits than Excel keeps (an 18-digit ID number)."""
    return (
        isinstance(value, float) and value.is_integer() and len(str(int(abs(value)))) > EXACT_DIGITS
    )


SCIENTIFIC = re.compile(r"^[+-]?\d+(\.\d+)?[eE][+-]?\d+$")


def looks_scientific(text: str) -> bool:
    """``4.52159E+17``: Excel's display of a long number, saved as text in a CSV."""
    return bool(SCIENTIFIC.match(text))


# --- writing -------------------------------------------------------------------------------

FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r", "＝", "＋", "－", "＠")


def neutralise(value: str) -> str:
    """A leading quote keeps Excel, WPS and LibreOffice from running a value as a formula
    (OWASP "CSV injection"); the full-width signs are included because Chinese input methods
    type them."""
    if value and value.startswith(FORMULA_TRIGGERS):
        return "'" + value
    return value


def export_cell(value):
    """A value as written: numbers stay numbers, everything else becomes neutralised text.
    (The exact classes first: this runs once per cell, two million times in a 200k-row export.)"""
    kind = value.__class__
    if kind is str:
        return neutralise(value)
    if value is None:
        return ""
    if kind is int or kind is float:
        return value
    if kind is datetime:
        return _second(value)
    if isinstance(value, bool):
        return "是" if value else "否"
    if isinstance(value, int | float):
        return value
    if isinstance(value, datetime):
        return _second(value)
    return neutralise(str(value))


def _second(moment: datetime) -> str:
    """``%Y-%m-%d %H:%M:%S``, from ``isoformat`` (a third of strftime's time)."""
    if moment.year < 1000:  # isoformat pads the year, strftime does not
        return moment.strftime("%Y-%m-%d %H:%M:%S")
    return moment.isoformat(sep=" ", timespec="seconds")[:19]


def write_csv(headers: Sequence[str], rows: Iterable[Sequence]) -> bytes:
    """UTF-8 with a BOM, so that Excel opens Chinese text correctly."""
    return b"".join(stream_csv(headers, rows))


def stream_csv(headers: Sequence[str], rows: Iterable[Sequence]) -> Iterator[bytes]:
    """``write_csv``'s file in pieces, each written as its rows are read (2,000 at a time)."""
    yield "\ufeff".encode()
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow([export_cell(h) for h in headers])
    for number, row in enumerate(rows, 1):
        writer.writerow([export_cell(v) for v in row])
        if number % 2000 == 0:
            yield _drained(buffer).encode()
    yield _drained(buffer).encode()


def _drained(buffer: io.StringIO) -> str:
    text = buffer.getvalue()
    buffer.seek(0)
    buffer.truncate()
    return text


@dataclass
class SheetSpec:
    name: str
    headers: Sequence[str]
    rows: Iterable[Sequence]
    text_columns: frozenset[int] = frozenset()  # formatted as text, so Excel keeps long digits
    widths: Sequence[int] = ()
    # Formula triggers kept as typed, made safe by Excel's own quote-prefix cell style instead of
    # a literal apostrophe (a file meant to be read back in: the apostrophe would be data).
    quote_prefix: bool = False
    wrap_columns: frozenset[int] = frozenset()  # long text (a reason): wrapped, top-aligned


class MarkedRow(list):
    """A row whose cells at ``marked`` (positions) are highlighted: the bad cells of a row."""

    def __init__(self, cells, marked=frozenset()):
        super().__init__(cells)
        self.marked = frozenset(marked)


NS = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
REL_NS = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
PKG_REL_NS = "http://schemas.openxmlformats.org/package/2006/relationships"
XML_SPECIAL = re.compile("[&<>\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
# One pass per string: XML's three special characters escaped, characters XML 1.0 forbids
# (control characters, U+FFFE/U+FFFF) replaced.
XML_TEXT = str.maketrans(
    {"&": "&amp;", "<": "&lt;", ">": "&gt;"}
    | {
        chr(c): "\ufffd"
        for c in [*range(0x00, 0x09), 0x0B, 0x0C, *range(0x0E, 0x20), 0xFFFE, 0xFFFF]
    }
)
# Cell formats: (text number format, quote prefix, highlighted fill, wrapped). The first three
# are the plain, text and header styles every export uses; the others serve files read back in.
CELL_FORMATS = [
    (t, q, m, w)
    for m in (False, True)
    for q in (False, True)
    for t in (False, True)
    for w in (False,)
] + [(False, False, False, True)]
STYLE_INDEX = {f: i + 3 for i, f in enumerate(CELL_FORMATS)}
STYLE_INDEX[(False, False, False, False)] = 0
STYLE_INDEX[(True, False, False, False)] = 1


def _xf(text: bool, quote: bool, marked: bool, wrap: bool, *, font: int = 0) -> str:
    attributes = f'numFmtId="{49 if text else 0}" fontId="{font}" fillId="{2 if marked else 0}"'
    attributes += ' borderId="0" xfId="0"'
    if text:
        attributes += ' applyNumberFormat="1"'
    if font:
        attributes += ' applyFont="1"'
    if marked:
        attributes += ' applyFill="1"'
    if quote:
        attributes += ' quotePrefix="1"'
    if wrap:
        return f'<xf {attributes} applyAlignment="1"><alignment wrapText="1" vertical="top"/></xf>'
    return f"<xf {attributes}/>"


_XFS = [_xf(False, False, False, False), _xf(True, False, False, False)]
_XFS.append(_xf(True, False, False, False, font=1))
_XFS += [_xf(*f) for f in CELL_FORMATS]
STYLES = (
    f'<styleSheet xmlns="{NS}">'
    '<fonts count="2"><font><sz val="11"/><name val="Calibri"/></font>'
    '<font><b/><sz val="11"/><name val="Calibri"/></font></fonts>'
    '<fills count="3"><fill><patternFill patternType="none"/></fill>'
    '<fill><patternFill patternType="gray125"/></fill>'
    '<fill><patternFill patternType="solid"><fgColor rgb="FFFFC7CE"/><bgColor indexed="64"/>'
    "</patternFill></fill></fills>"
    '<borders count="1"><border><left/><right/><top/><bottom/><diagonal/></border></borders>'
    '<cellStyleXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" borderId="0"/></cellStyleXfs>'
    f'<cellXfs count="{len(_XFS)}">{"".join(_XFS)}</cellXfs>'
    '<cellStyles count="1"><cellStyle name="Normal" xfId="0" builtinId="0"/></cellStyles>'
    "</styleSheet>"
)
STYLE_TEXT, STYLE_HEADER = 1, 2


def write_xlsx(sheets: Sequence[SheetSpec]) -> bytes:
    """A minimal, valid xlsx built in memory: inline-string cells (always text, no shared-string
    table to hold in memory), a text number format on identifier columns, a bold header row.
    openpyxl is ~10x slower here and spools each sheet through a temporary file on disk."""
    return b"".join(stream_xlsx(sheets))


class _Pipe:
    """Where the zip archive writes: kept only until the next piece is handed on. It cannot
    seek or tell, so zipfile writes each member's sizes after its data (a data descriptor), as
    streaming zip writers do: the file never has to exist whole to be written."""

    def __init__(self):
        self.pieces: list[bytes] = []

    def write(self, data) -> int:
        self.pieces.append(bytes(data))
        return len(data)

    def flush(self) -> None:
        pass

    def drain(self) -> bytes:
        data = b"".join(self.pieces)
        self.pieces.clear()
        return data


def stream_xlsx(sheets: Sequence[SheetSpec]) -> Iterator[bytes]:
    """``write_xlsx``'s file in pieces, each compressed and handed on as its rows are read
    (2,000 at a time): memory stays flat however many rows there are, and nothing touches the
    disk."""
    pipe = _Pipe()
    with zipfile.ZipFile(pipe, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as archive:
        archive.writestr("[Content_Types].xml", _content_types(len(sheets)))
        archive.writestr(
            "_rels/.rels",
            f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?><Relationships xmlns="{PKG_REL_NS}">'
            f'<Relationship Id="rId1" Type="{REL_NS}/officeDocument" Target="xl/workbook.xml"/>'
            "</Relationships>",
        )
        sheet_entries = "".join(
            f'<sheet name="{escape(_sheet_name(s.name), {chr(34): "&quot;"})}" sheetId="{i}" r:id="rId{i}"/>'
            for i, s in enumerate(sheets, 1)
        )
        archive.writestr(
            "xl/workbook.xml",
            f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?><workbook xmlns="{NS}" '
            f'xmlns:r="{REL_NS}"><sheets>{sheet_entries}</sheets></workbook>',
        )
        rels = "".join(
            f'<Relationship Id="rId{i}" Type="{REL_NS}/worksheet" Target="worksheets/sheet{i}.xml"/>'
            for i in range(1, len(sheets) + 1)
        )
        rels += (
            f'<Relationship Id="rId{len(sheets) + 1}" Type="{REL_NS}/styles" Target="styles.xml"/>'
        )
        archive.writestr(
            "xl/_rels/workbook.xml.rels",
            f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?><Relationships xmlns="{PKG_REL_NS}">{rels}</Relationships>',
        )
        archive.writestr("xl/styles.xml", STYLES)
        for i, spec in enumerate(sheets, 1):
            with archive.open(f"xl/worksheets/sheet{i}.xml", "w") as out:
                for piece in _sheet_xml(spec):
                    out.write(piece)
                    if pipe.pieces:  # the compressor holds on to small writes
                        yield pipe.drain()
    yield pipe.drain()


def _sheet_name(name: str) -> str:
    return re.sub(r"[\[\]:*?/\\]", "_", name)[:31] or "Sheet"


def _content_types(count: int) -> str:
    overrides = "".join(
        f'<Override PartName="/xl/worksheets/sheet{i}.xml" '
        'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>'
        for i in range(1, count + 1)
    )
    return (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
        '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
        '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
        '<Default Extension="xml" ContentType="application/xml"/>'
        '<Override PartName="/xl/workbook.xml" '
        'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
        '<Override PartName="/xl/styles.xml" '
        'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.styles+xml"/>'
        f"{overrides}</Types>"
    )


def _column_letters(index: int) -> str:
    letters = ""
    index += 1
    while index:
        index, remainder = divmod(index - 1, 26)
        letters = chr(65 + remainder) + letters
    return letters


def _sheet_xml(spec: SheetSpec) -> Iterator[bytes]:
    """A worksheet's XML, 2,000 rows a piece."""
    letters = [_column_letters(i) for i in range(max(len(spec.headers), 1))]
    cols = "".join(
        f'<col min="{i + 1}" max="{i + 1}" width="{spec.widths[i] if i < len(spec.widths) else 14}" '
        f'customWidth="1"{f" style={chr(34)}{STYLE_TEXT}{chr(34)}" if i in spec.text_columns else ""}/>'
        for i in range(len(spec.headers))
    )
    yield (
        f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?><worksheet xmlns="{NS}">'
        f'<sheetViews><sheetView workbookViewId="0"><pane ySplit="1" topLeftCell="A2" '
        f'activePane="bottomLeft" state="frozen"/></sheetView></sheetViews>'
        f"{f'<cols>{cols}</cols>' if cols else ''}<sheetData>".encode()
    )
    parts = [_row_xml(1, spec.headers, letters, spec.text_columns, header=True)]
    plain = not (spec.quote_prefix or spec.wrap_columns)
    for number, row in enumerate(spec.rows, 2):
        if len(row) > len(letters):
            letters += [_column_letters(i) for i in range(len(letters), len(row))]
        if plain and row.__class__ is not MarkedRow:
            parts.append(_row_xml(number, row, letters, spec.text_columns))
        else:
            parts.append(_styled_row_xml(number, row, letters, spec))
        if len(parts) >= 2000:
            yield "".join(parts).encode()
            parts.clear()
    parts.append("</sheetData></worksheet>")
    yield "".join(parts).encode()


_CELL_STYLE = {STYLE_TEXT: f' s="{STYLE_TEXT}"', STYLE_HEADER: f' s="{STYLE_HEADER}"', 0: ""}


def _row_xml(number: int, values, letters, text_columns, *, header: bool = False) -> str:
    cells = []
    for i, raw in enumerate(values):
        value = export_cell(raw)
        if value.__class__ is str:
            if value:
                style = STYLE_HEADER if header else (STYLE_TEXT if i in text_columns else 0)
                text = value.translate(XML_TEXT) if XML_SPECIAL.search(value) else value
                cells.append(
                    f'<c r="{letters[i]}{number}" t="inlineStr"{_CELL_STYLE[style]}>'
                    f'<is><t xml:space="preserve">{text}</t></is></c>'
                )
        else:  # a number (export_cell gives text or numbers)
            cells.append(f'<c r="{letters[i]}{number}"><v>{value!r}</v></c>')
    return f'<row r="{number}">{"".join(cells)}</row>'


def _styled_row_xml(number: int, values, letters, spec: SheetSpec) -> str:
    """A row of a file meant to be read back in: formula triggers kept as typed under the
    quote-prefix style (Excel, WPS and LibreOffice show it as text and keep it text when the cell
    is edited), marked cells filled, long text wrapped."""
    marked = getattr(values, "marked", frozenset())
    cells = []
    for i, raw in enumerate(values):
        ref = f"{letters[i]}{number}"
        if raw.__class__ is str and spec.quote_prefix:
            value, quote = raw, raw.startswith(FORMULA_TRIGGERS)
        else:
            value, quote = export_cell(raw), False
        text_format, fill, wrap = i in spec.text_columns, i in marked, i in spec.wrap_columns
        if isinstance(value, int | float):
            style = STYLE_INDEX[(False, False, fill, False)]
            cells.append(f'<c r="{ref}"{f" s={chr(34)}{style}{chr(34)}" if style else ""}>'
                         f"<v>{value!r}</v></c>")  # fmt: skip
        elif value or fill:
            style = STYLE_INDEX[
                (text_format, quote, fill, False) if not wrap else (False, False, False, True)
            ]
            text = value.translate(XML_TEXT) if XML_SPECIAL.search(value) else value
            cells.append(
                f'<c r="{ref}" t="inlineStr"{f" s={chr(34)}{style}{chr(34)}" if style else ""}>'
                f'<is><t xml:space="preserve">{text}</t></is></c>'
            )
    return f'<row r="{number}">{"".join(cells)}</row>'
