"""An operator imports a lead list in a real browser: upload, preview with counts and a rejected
row's reason, confirm, download the rejected rows; and the batch page follows a background run."""

import pytest
from django.contrib.auth.models import User
from django.db import connection
from django.utils import timezone

from leads.models import ImportBatch, ImportState, Lead
from tests.browser import browser_page, log_in, operator_user, requires_chromium
from tests.import_files import CHINESE_HEADERS, lead_rows, read_xlsx, xlsx_bytes

pytestmark = [pytest.mark.browser, requires_chromium, pytest.mark.django_db(transaction=True)]

PASSWORD = "correct-horse-battery"


def operator() -> User:
    return operator_user("operator", PASSWORD)


def update(batch: ImportBatch, **fields) -> None:
    """A worker's progress write. Inside the Playwright block the ORM gets a connection of its
    own (another context), which nothing else would close."""
    ImportBatch.objects.filter(pk=batch.pk).update(**fields)
    connection.close()


def test_operator_uploads_previews_confirms_and_downloads_rejected_rows(live_server, tmp_path):
    operator()
    rows = lead_rows(4)
    rows[2][1] = "452159198001010000"  # row 4: zeroed by Excel
    upload = tmp_path / "渠道E-线索.xlsx"
    upload.write_bytes(xlsx_bytes(CHINESE_HEADERS, rows))

    with browser_page() as page:
        log_in(page, live_server.url, "operator", PASSWORD)
        page.goto(f"{live_server.url}/admin/leads/lead/")
        page.click("a.import_link")
        assert page.is_checked("input[name=on_duplicate][value=skip]")  # the safe default
        page.set_input_files("#id_import_file", str(upload))
        page.fill("#id_source", "渠道E")
        page.click("#import-form input[type=submit]")
        page.wait_for_selector("#batch-counts")
        assert page.inner_text("#count-total") == "4"
        assert page.inner_text("#count-new") == "3"
        assert page.inner_text("#count-invalid") == "1"
        rejected = page.inner_text("tr.rejected-row")
        assert rejected.startswith("4") and "身份证号" in rejected and "末 3 位是 000" in rejected
        assert "452159**********00" in rejected  # masked on screen

        page.click("#batch-actions input[name=confirm]")
        assert "导入完成：新增 3 条" in page.inner_text("ul.messagelist")
        assert "已新增 3 条" in page.inner_text("#result-summary")

        with page.expect_download() as download:
            page.click("#download-rejected")
        saved = tmp_path / "rejected.xlsx"
        download.value.save_as(saved)

    fixed = read_xlsx(saved.read_bytes())
    assert fixed[0][:2] == ["原行号", "手机号"] and fixed[0][-1] == "错误原因"
    assert fixed[1][:3] == [4, rows[2][0], "452159198001010000"]
    assert "末 3 位是 000" in fixed[1][-1]
    assert Lead.objects.filter(source="渠道E").count() == 3


def rejected_lines(page) -> list[list[str]]:
    """The preview's rejected cells (column, masked value, reason), without the row number."""
    return [
        [cell.inner_text() for cell in row.query_selector_all("td")][1:]
        for row in page.query_selector_all("tr.rejected-row")
    ]


def upload_file(page, base_url: str, path, source: str = "") -> None:
    page.goto(f"{base_url}/admin/leads/lead/")
    page.click("a.import_link")
    page.set_input_files("#id_import_file", str(path))
    if source:
        page.fill("#id_source", source)
    page.click("#import-form input[type=submit]")
    page.wait_for_selector("#batch-counts")


def test_the_rejected_rows_uploaded_again_unchanged_import_nothing_for_the_same_reasons(
    live_server, tmp_path
):
    from tests.test_rejected_round_trip import original_file

    operator()
    upload = tmp_path / "渠道F-名单.xlsx"
    upload.write_bytes(original_file())  # destroyed IDs, a +86 phone, "=1+1", a valid row

    with browser_page() as page:
        log_in(page, live_server.url, "operator", PASSWORD)
        upload_file(page, live_server.url, upload, source="渠道F")
        assert (page.inner_text("#count-new"), page.inner_text("#count-invalid")) == ("1", "4")
        first = rejected_lines(page)
        assert len(first) == 4 and "存成了数字" in first[1][2]
        page.click("#batch-actions input[name=confirm]")
        assert "已新增 1 条" in page.inner_text("#result-summary")

        with page.expect_download() as download:
            page.click("#download-rejected")
        assert download.value.suggested_filename == "渠道F-名单-被拒行.xlsx"
        saved = tmp_path / download.value.suggested_filename
        download.value.save_as(saved)

        upload_file(page, live_server.url, saved)  # unchanged, no source given
        assert (page.inner_text("#count-new"), page.inner_text("#count-invalid")) == ("0", "4")
        assert rejected_lines(page) == first
        recognised = page.inner_text("#batch-counts")
        assert "原行号" not in recognised and "未识别" not in recognised  # they are ours
        page.screenshot(path=str(tmp_path / "re-upload.png"), full_page=True)
        assert page.query_selector("#batch-actions input[name=confirm]") is None

    assert Lead.objects.count() == 1
    again = ImportBatch.objects.latest("pk")
    assert again.file_name == "渠道F-名单-被拒行.xlsx" and again.source == "渠道F"
    assert again.unknown_columns == []


def test_batch_page_follows_a_background_run_with_a_progress_bar(live_server):
    user = operator()
    batch = ImportBatch.objects.create(
        file_name="大文件.xlsx",
        created_by=user,
        state=ImportState.ANALYSING,
        phase="校验数据",
        progress_done=40_000,
        progress_total=100_000,
        heartbeat_at=timezone.now(),
    )
    with browser_page() as page:
        log_in(page, live_server.url, "operator", PASSWORD)
        page.goto(f"{live_server.url}/admin/leads/importbatch/{batch.pk}/change/")
        assert page.get_attribute("#progress-bar", "value") == "40"
        assert "40000 / 100000" in page.inner_text("#progress-count")

        update(batch, progress_done=80_000)
        # An arrow function: a bare expression is eval'd, which the page's CSP refuses.
        page.wait_for_function("() => document.getElementById('progress-bar').value == 80")

        update(
            batch,
            state=ImportState.PREVIEW,
            rows_total=100_000,
            rows_new=99_000,
            rows_invalid=1_000,
        )
        page.wait_for_selector("#batch-counts")  # the page reloads itself when the run ends
        assert page.inner_text("#count-new") == "99000"
        assert page.inner_text("#batch-state") == "待确认"
        page.goto("about:blank")  # no poll left in flight when the server's database goes away
