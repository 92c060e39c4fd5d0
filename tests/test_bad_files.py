"""Bad files that used to crash the import (HTTP 500 in the admin, a traceback from the CLI) or
slip past its row limit. Each gets one message, the same from the service, the admin and the
CLI, and imports nothing, on SQLite and PostgreSQL alike (PostgreSQL's text refuses NUL, so a
NUL that reached the database failed there only, at confirm)."""

import csv
import io
import zipfile
from dataclasses import dataclass

import pytest
from django.contrib.auth.models import Permission, User
from django.core.management import CommandError, call_command
from django.test import Client, override_settings
from django.urls import reverse
from django.utils.html import escape

from core.errors import StateConflict
from leads.imports import services
from leads.models import ImportBatch, ImportChunk, ImportState, Lead
from tests.import_files import CHINESE_HEADERS, csv_bytes, lead_rows, xls_bytes, xlsx_bytes

pytestmark = pytest.mark.django_db

NAME, PROVINCE, ADDRESS = 2, 6, 9
MARK = "MARK"  # replaced in the file's own bytes, where no writer would put the character


def analyse(data: bytes, file_name: str) -> ImportBatch:
    batch = services.import_batch_create(file_name=file_name, data=data)
    services.import_batch_analyse(batch.pk)
    batch.refresh_from_db()
    return batch


def csv_with_endings(rows: list[list], ending: str) -> bytes:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator=ending).writerows([CHINESE_HEADERS, *rows])
    return buffer.getvalue().encode()


def big_cell_csv() -> bytes:
    rows = lead_rows(3)
    rows[1][ADDRESS] = "x" * 140_000  # the csv module stops at 131,072 characters
    return csv_bytes(CHINESE_HEADERS, rows)


def stray_quote_csv() -> bytes:
    """An unmatched opening quote (a cell typed as ``"张三``): the rest of the file becomes one
    cell. The usual way a real file grows a cell over the limit."""
    rows = lead_rows(2000)
    rows[4][NAME] = '"张三'
    data = csv_bytes(CHINESE_HEADERS, rows)
    return data.replace('"""张三"'.encode(), '"张三'.encode())  # as typed, not as csv quotes it


def nul_csv() -> bytes:
    rows = lead_rows(60)
    rows[50][PROVINCE] = "广\x00东"
    data = csv_bytes(CHINESE_HEADERS, rows)
    assert data.index(b"\x00") > 4096  # past the sniff for binary files
    return data


def nul_xlsx(text: bytes) -> bytes:
    """``text`` written into the sheet's XML as it stands: a raw NUL byte, or the ``_x0000_``
    escape Excel uses for control characters (openpyxl refuses to write either)."""
    rows = lead_rows(5)
    rows[3][PROVINCE] = MARK
    source = zipfile.ZipFile(io.BytesIO(xlsx_bytes(CHINESE_HEADERS, rows)))
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name in source.namelist():
            archive.writestr(name, source.read(name).replace(MARK.encode(), text))
    return buffer.getvalue()


def nul_xls() -> bytes:
    rows = lead_rows(5)
    rows[3][PROVINCE] = "广\x00东"
    return xls_bytes(CHINESE_HEADERS, rows)


@dataclass
class Bad:
    file_name: str
    data: bytes
    message: str  # what the operator must read
    max_rows: int = 300_000


BIG_CELL = "第 3 行有一个单元格超过 131072 个字符"
NUL = "第 5 行 G 列含有空字符（NUL）"
BAD_FILES = {
    "cell over the csv module's limit": Bad("leads.csv", big_cell_csv(), BIG_CELL),
    "unmatched quote swallowing the file": Bad(
        "leads.csv", stray_quote_csv(), "第 6 行有一个单元格超过"
    ),
    "NUL after the first 4 KB of a csv": Bad("leads.csv", nul_csv(), "第 52 行 G 列含有空字符"),
    "raw NUL byte in xlsx": Bad("leads.xlsx", nul_xlsx(b"a\x00b"), NUL),
    "escaped NUL in xlsx": Bad("leads.xlsx", nul_xlsx(b"a_x0000_b"), NUL),
    "NUL in xls": Bad("leads.xls", nul_xls(), NUL),
    "CR-only csv over the limit": Bad(
        "leads.csv", csv_with_endings(lead_rows(4), "\r"), "表头以下有 4 行，上限 3 行", 3
    ),
}


@pytest.fixture(params=BAD_FILES.values(), ids=BAD_FILES.keys())
def bad(request) -> Bad:
    with override_settings(LEAD_IMPORT_MAX_ROWS=request.param.max_rows):
        yield request.param


def assert_nothing_imported() -> None:
    assert Lead.objects.count() == 0 and ImportChunk.objects.count() == 0
    assert ImportBatch.objects.get().state == ImportState.FAILED


def test_a_bad_file_fails_its_batch_with_one_message(bad):
    batch = analyse(bad.data, bad.file_name)
    assert batch.state == ImportState.FAILED and bad.message in batch.error, batch.error
    assert "\n" not in batch.error  # one message, not a traceback
    assert_nothing_imported()
    with pytest.raises(StateConflict, match="不能确认"):
        services.import_batch_confirm(batch)


def test_the_admin_shows_the_message_on_the_upload_form(bad):
    user = User.objects.create_user("operator", is_staff=True)
    user.user_permissions.set(
        Permission.objects.filter(
            content_type__app_label="leads", codename__in=["import_lead", "view_lead"]
        )
    )
    client = Client()
    client.force_login(user)
    file = io.BytesIO(bad.data)
    file.name = bad.file_name
    response = client.post(
        reverse("admin:leads_lead_import"), {"import_file": file, "on_duplicate": "skip"}
    )
    assert response.status_code == 200
    error = ImportBatch.objects.get().error
    assert bad.message in error and escape(error) in response.content.decode()
    assert_nothing_imported()


def test_the_command_line_gives_the_same_message_without_a_traceback(bad, tmp_path):
    path = tmp_path / bad.file_name
    path.write_bytes(bad.data)
    with pytest.raises(CommandError) as raised:
        call_command("import_leads", str(path), stdout=io.StringIO())
    error = ImportBatch.objects.get().error
    assert bad.message in error and str(raised.value).endswith(error)
    assert_nothing_imported()


@pytest.mark.parametrize("ending", ["\r\n", "\n", "\r"])
def test_a_file_of_exactly_the_row_limit_is_imported(ending, tmp_path):
    data = csv_with_endings(lead_rows(3), ending)
    path = tmp_path / "leads.csv"
    path.write_bytes(data + ending.encode() * 2)  # and blank lines at the end, as Excel leaves
    with override_settings(LEAD_IMPORT_MAX_ROWS=3):
        out = io.StringIO()
        call_command("import_leads", str(path), stdout=out)
    assert "3 created" in out.getvalue()
    batch = ImportBatch.objects.get()
    assert (batch.rows_total, batch.progress_total, Lead.objects.count()) == (3, 3, 3)


def test_title_rows_above_the_header_do_not_count_against_the_limit():
    data = xlsx_bytes(CHINESE_HEADERS, lead_rows(3), title_rows=[["渠道A 11 月名单"], []])
    with override_settings(LEAD_IMPORT_MAX_ROWS=3):
        batch = analyse(data, "leads.xlsx")
        assert batch.state == ImportState.PREVIEW, batch.error
        assert (batch.header_row, batch.rows_total) == (3, 3)
        over = xlsx_bytes(CHINESE_HEADERS, lead_rows(4, seed=8), title_rows=[["标题"]])
        assert "表头以下有 4 行，上限 3 行" in analyse(over, "over.xlsx").error
