"""The import use case on real files: headers, every kind of bad cell, duplicates, the preview's
counts, the rejected-rows round trip, unreadable files, encodings, all-or-nothing."""

import io
import logging
import os
import zipfile
from datetime import timedelta

import msoffcrypto
import pytest
from django.db import connection
from django.test import override_settings
from django.utils import timezone

from core.errors import StateConflict
from leads.imports import services
from leads.imports.rejected import rejected_preview, rejected_rows_file
from leads.models import (
    ChunkKind,
    ImportBatch,
    ImportChunk,
    ImportState,
    Lead,
    OnDuplicate,
    phone_index,
)
from tests.import_files import (
    CHINESE_HEADERS,
    ENGLISH_HEADERS,
    csv_bytes,
    lead_rows,
    read_xlsx,
    xls_bytes,
    xlsx_bytes,
)

pytestmark = pytest.mark.django_db

PHONE, ID, NAME, EDU, SCORE = 0, 1, 2, 5, 14
VALID_ID = "11010519491231002X"


def analyse(data: bytes, file_name: str = "leads.xlsx", **options) -> ImportBatch:
    batch = services.import_batch_create(file_name=file_name, data=data, **options)
    services.import_batch_analyse(batch.pk)
    batch.refresh_from_db()
    return batch


def import_file(data: bytes, file_name: str = "leads.xlsx", **options) -> ImportBatch:
    batch = analyse(data, file_name, **options)
    assert batch.state == ImportState.PREVIEW, batch.error
    return services.import_batch_confirm(batch)


def reasons(batch: ImportBatch) -> dict[int, list[tuple[str, str]]]:
    found = {}
    for cell in rejected_preview(batch, reveal=True):
        found.setdefault(cell.row, []).append((cell.column, cell.reason))
    return found


def test_chinese_headers_preview_then_import_links_leads_to_the_batch():
    rows = lead_rows(5)
    batch = analyse(xlsx_bytes(CHINESE_HEADERS, rows), "渠道A-1123.xlsx")

    assert batch.state == ImportState.PREVIEW
    assert (batch.rows_total, batch.rows_new, batch.rows_invalid) == (5, 5, 0)
    assert Lead.objects.count() == 0  # the preview writes nothing

    batch = services.import_batch_confirm(batch)
    assert batch.state == ImportState.DONE and batch.leads_created == 5
    leads = {lead.phone: lead for lead in Lead.objects.all()}
    first = leads[rows[0][PHONE]]
    assert first.id_number == rows[0][ID] and first.name == rows[0][NAME]
    assert first.edu_level == rows[0][EDU] and first.zhima_score == rows[0][SCORE]
    assert first.import_batch == batch and first.source == "渠道A-1123"
    assert set(batch.leads.values_list("pk", flat=True)) == {lead.pk for lead in leads.values()}


def test_english_headers_variants_and_a_title_row_are_recognised():
    headers = ["*Phone", "ID Num", "name（必填）", *ENGLISH_HEADERS[3:], "备注"]
    rows = [[*row, "vip"] for row in lead_rows(3)]
    batch = analyse(xlsx_bytes(headers, rows, title_rows=[["2026年11月 渠道B 线索"]]))

    assert batch.state == ImportState.PREVIEW and batch.header_row == 2
    assert batch.rows_new == 3
    assert batch.unknown_columns == ["备注"]  # reported, not silently dropped
    fields = [c["field"] for c in batch.columns]
    assert fields[:3] == ["phone", "id_number", "name"] and fields[-1] == ""


def test_each_kind_of_bad_cell_is_rejected_with_row_column_and_reason():
    rows = lead_rows(9)
    rows[0][ID] = 4.52159e17  # an ID number Excel stored as a number
    rows[1][ID] = "4.52159E+17"  # ... and displayed in scientific notation (a CSV saved by Excel)
    rows[2][ID] = "452159198001010000"  # last digits zeroed by Excel's 15-digit limit
    rows[3][PHONE] = 18698574854.0  # a phone read as a float: normalised, accepted
    rows[4][PHONE] = "＋86 186 9857 4855"  # full-width, +86, blanks: normalised, accepted
    rows[5][EDU] = "小学"
    rows[6][SCORE] = 999
    rows[7][NAME] = "  "
    rows[8][PHONE] = "1869857"
    batch = analyse(xlsx_bytes(CHINESE_HEADERS, rows))

    found = reasons(batch)
    assert set(found) == {2, 3, 4, 7, 8, 9, 10}  # header is row 1, so rows[i] is row i + 2
    assert found[2] == [("身份证号", found[2][0][1])] and "存成了数字" in found[2][0][1]
    assert "科学计数法" in found[3][0][1]
    assert "末 3 位是 000" in found[4][0][1]
    assert found[7][0][0] == "学历" and "本科" in found[7][0][1]
    assert found[8][0][0] == "芝麻分" and "350" in found[8][0][1]
    assert found[9] == [("姓名", "姓名不能为空")]
    assert found[10][0][0] == "手机号" and "手机号" in found[10][0][1]
    assert (batch.rows_total, batch.rows_new, batch.rows_invalid) == (9, 2, 7)

    services.import_batch_confirm(batch)
    assert sorted(Lead.objects.values_list("pii", flat=True)[i]["phone"] for i in range(2)) == [
        "18698574854",
        "18698574855",
    ]


def test_preview_masks_personal_data_unless_revealed():
    rows = lead_rows(1)
    rows[0][ID] = "452159198001010000"
    batch = analyse(xlsx_bytes(CHINESE_HEADERS, rows))

    [masked] = rejected_preview(batch, reveal=False)
    assert masked.value == "452159**********00"
    [plain] = rejected_preview(batch, reveal=True)
    assert plain.value == "452159198001010000"


def test_duplicates_in_the_file_and_in_the_database_are_counted_and_skipped(make_leads):
    existing = make_leads(2)
    rows = lead_rows(4)
    rows[1][PHONE] = existing[0].phone  # already a lead (by phone)
    rows[2][ID] = existing[1].id_number  # already a lead (by ID number)
    rows.append(list(rows[0]))  # the same row twice in the file
    batch = analyse(xlsx_bytes(CHINESE_HEADERS, rows))

    assert (batch.rows_total, batch.rows_new, batch.rows_existing) == (5, 2, 2)
    assert (batch.rows_duplicate_in_file, batch.rows_duplicate, batch.rows_invalid) == (1, 3, 0)
    assert reasons(batch)[6] == [
        ("手机号", "与第 2 行手机号重复"),
        ("身份证号", "与第 2 行身份证号重复"),
    ]

    batch = services.import_batch_confirm(batch)
    assert (batch.leads_created, batch.leads_skipped, Lead.objects.count()) == (2, 2, 4)
    existing[0].refresh_from_db()
    assert existing[0].name != rows[1][NAME]  # skipped: untouched


def test_update_policy_overwrites_filled_cells_and_rejects_conflicts(make_leads):
    first, second = make_leads(2)
    rows = lead_rows(3)
    rows[0][PHONE], rows[0][ID] = first.phone, first.id_number
    rows[0][NAME], rows[0][SCORE] = "新名字", ""  # an empty cell keeps the lead's value
    rows[1][PHONE] = second.phone  # updates `second`, found by phone
    rows[2][ID] = second.id_number  # ... and so would this row, found by ID: a conflict
    batch = analyse(xlsx_bytes(CHINESE_HEADERS, rows), on_duplicate=OnDuplicate.UPDATE)

    assert (batch.rows_update, batch.rows_invalid) == (2, 1)
    assert "与第 3 行更新的是同一条已有线索" in reasons(batch)[4][0][1]
    batch = services.import_batch_confirm(batch)
    assert batch.leads_updated == 2
    first.refresh_from_db()
    second.refresh_from_db()
    assert first.name == "新名字" and first.zhima_score is not None and first.import_batch == batch
    assert second.id_number == rows[1][ID] and second.name == rows[1][NAME]


def test_a_row_whose_phone_and_id_belong_to_two_leads_cannot_update(make_leads):
    first, second = make_leads(2)
    rows = lead_rows(1)
    rows[0][PHONE], rows[0][ID] = first.phone, second.id_number
    batch = analyse(xlsx_bytes(CHINESE_HEADERS, rows), on_duplicate=OnDuplicate.UPDATE)
    assert batch.rows_invalid == 1
    assert f"#{first.pk}" in reasons(batch)[2][0][1] and f"#{second.pk}" in reasons(batch)[2][0][1]


def test_rejected_rows_file_round_trip_fix_and_reupload():
    rows = lead_rows(4)
    good_id = rows[1][ID]
    rows[1][ID] = "4.52159E+17"
    rows[3][EDU] = "幼儿园"
    headers = [*CHINESE_HEADERS, "备注"]
    batch = import_file(xlsx_bytes(headers, [[*row, f"note {i}"] for i, row in enumerate(rows)]))
    assert (batch.leads_created, batch.rows_rejected) == (2, 2)

    rejected = read_xlsx(rejected_rows_file(batch))
    assert rejected[0] == ["原行号", *headers, "错误原因"]
    assert [r[0] for r in rejected[1:]] == [3, 5]  # the row numbers in the uploaded file
    assert [r[-2] for r in rejected[1:]] == [
        "note 1",
        "note 3",
    ]  # unknown columns kept as they were
    assert "科学计数法" in rejected[1][-1] and "学历" in rejected[2][-1]
    assert rejected[1][PHONE + 1] == rows[1][PHONE]  # full values: the operator has to fix them

    rejected[1][ID + 1], rejected[2][EDU + 1] = good_id, "本科"  # the operator fixes both rows
    fixed = xlsx_bytes(rejected[0], rejected[1:])
    again = import_file(fixed, "leads-被拒行.xlsx")
    assert (again.rows_total, again.leads_created, again.rows_rejected) == (2, 2, 0)
    assert again.unknown_columns == ["备注"]  # 原行号 and the reason column are ours
    assert Lead.objects.count() == 4


@pytest.mark.parametrize(
    ("data", "name", "message"),
    [
        (b"", "leads.xlsx", "文件是空的"),
        (b"PK\x03\x04 this is not really a zip", "leads.xlsx", "已损坏"),
        (b"%PDF-1.4 \x00\x01\x02 binary", "leads.xlsx", "不是 Excel 工作簿"),
        (b"%PDF-1.4 \x00\x01\x02 binary", "leads.csv", "不是文本"),
        (b"hello", "leads.pdf", "不支持的文件类型"),
    ],
)
def test_unreadable_files_get_one_clear_message_and_import_nothing(data, name, message):
    batch = analyse(data, name)
    assert batch.state == ImportState.FAILED and message in batch.error
    assert not batch.chunks.exists() and Lead.objects.count() == 0  # the upload is gone too


def test_a_workbook_with_only_a_header_or_nothing_at_all():
    assert "空表" in analyse(xlsx_bytes([], [])).error
    header_only = analyse(xlsx_bytes(CHINESE_HEADERS, []))
    assert header_only.state == ImportState.PREVIEW and header_only.rows_total == 0
    assert (
        "缺少必需的列：身份证号"
        in analyse(xlsx_bytes(["手机号", "姓名"], [["18698574854", "张三"]])).error
    )
    assert "找不到表头" in analyse(xlsx_bytes(["a", "b"], [[1, 2]])).error


def test_a_word_document_is_not_a_workbook():
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("word/document.xml", "<w:document/>")
    assert "不是 Excel 工作簿" in analyse(buffer.getvalue()).error


def test_password_protected_workbook_is_refused_clearly():
    plain = io.BytesIO(xlsx_bytes(CHINESE_HEADERS, lead_rows(2)))
    encrypted = io.BytesIO()
    office = msoffcrypto.OfficeFile(plain)
    office.encrypt("secret", encrypted)
    batch = analyse(encrypted.getvalue())
    assert batch.state == ImportState.FAILED and "密码" in batch.error


def test_zip_bomb_and_xml_entities_are_refused_before_parsing():
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("xl/workbook.xml", "<workbook/>")
        archive.writestr("xl/worksheets/sheet1.xml", b"\0" * (30 * 1024 * 1024))
    assert "压缩炸弹" in analyse(buffer.getvalue()).error

    data = xlsx_bytes(CHINESE_HEADERS, lead_rows(1))
    source = zipfile.ZipFile(io.BytesIO(data))
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for item in source.infolist():
            content = source.read(item)
            if item.filename == "xl/worksheets/sheet1.xml":  # a billion-laughs style prolog
                entity = b'<!DOCTYPE worksheet [<!ENTITY lol "lol">]><worksheet'
                content = content.replace(b"<worksheet", entity, 1)
            archive.writestr(item, content)
    assert "DOCTYPE" in analyse(buffer.getvalue()).error


def test_size_and_row_limits():
    data = xlsx_bytes(CHINESE_HEADERS, lead_rows(3))
    with override_settings(LEAD_IMPORT_MAX_BYTES=len(data) - 1):
        assert "文件太大" in analyse(data).error
    with override_settings(LEAD_IMPORT_MAX_ROWS=2):
        assert "行数太多" in analyse(data).error


@pytest.mark.parametrize("encoding", ["gbk", "gb18030", "utf-8-sig", "utf-8"])
def test_csv_in_the_encodings_chinese_excel_writes(encoding):
    rows = lead_rows(3)
    rows[0][ID] = "4.52159E+17"
    batch = import_file(csv_bytes(CHINESE_HEADERS, rows, encoding=encoding), "leads.csv")
    assert (batch.leads_created, batch.rows_invalid) == (2, 1)
    assert {lead.name for lead in Lead.objects.all()} == {rows[1][NAME], rows[2][NAME]}
    assert "科学计数法" in reasons(batch)[2][0][1]


def test_xls_files_are_read_too():
    rows = lead_rows(2)
    rows[1][ID] = 4.52159e17
    batch = import_file(xls_bytes(ENGLISH_HEADERS, rows), "leads.xls")
    assert (batch.leads_created, batch.rows_invalid) == (1, 1)
    assert "存成了数字" in reasons(batch)[3][0][1]


def test_personal_data_waits_encrypted_and_is_dropped_when_done():
    rows = lead_rows(3)
    rows[2][ID] = "452159198001010000"
    batch = services.import_batch_create(
        file_name="leads.csv", data=csv_bytes(CHINESE_HEADERS, rows)
    )
    pieces = _raw_all("SELECT data FROM leads_importchunk WHERE batch_id = %s", batch.pk)
    assert pieces and all(rows[0][PHONE].encode() not in bytes(piece) for piece in pieces)

    services.import_batch_analyse(batch.pk)
    batch.refresh_from_db()
    assert not batch.chunks.filter(kind=ChunkKind.UPLOAD).exists()  # gone once analysed
    for token in _raw_all('SELECT "rows" FROM leads_importchunk WHERE batch_id = %s', batch.pk):
        assert rows[0][PHONE] not in token and rows[2][NAME] not in token

    services.import_batch_confirm(batch)
    kinds = set(ImportChunk.objects.filter(batch=batch).values_list("kind", flat=True))
    assert kinds == {ChunkKind.REJECTED}  # valid rows dropped; rejected kept to be fixed

    with override_settings(LEAD_IMPORT_RETENTION_DAYS=7):
        assert services.import_batches_purge(now=timezone.now() + timedelta(days=8)) == 1
    batch.refresh_from_db()
    assert batch.rejected_rows_purged_at and not batch.chunks.exists()


def test_cancel_drops_everything():
    batch = analyse(xlsx_bytes(CHINESE_HEADERS, lead_rows(2)))
    assert services.import_batch_cancel(batch)
    assert batch.state == ImportState.CANCELLED and not batch.chunks.exists()
    with pytest.raises(StateConflict, match="不能确认"):
        services.import_batch_confirm(batch)


def test_nothing_is_half_imported_when_the_import_fails(settings):
    settings.LEAD_IMPORT_BLOCK_ROWS = settings.LEAD_IMPORT_CHUNK_ROWS = 10  # three chunks
    rows = lead_rows(25)
    batch = analyse(xlsx_bytes(CHINESE_HEADERS, rows))
    assert batch.chunks.filter(kind=ChunkKind.VALID).count() == 3
    inserted = []

    def disk_full(execute, sql, params, many, context):
        """The database fails the import's last statement (dropping the staged chunks), after
        every lead was written in its transaction; the batch's own clean-up then succeeds."""
        if not inserted and sql.startswith("DELETE") and '"leads_importchunk"' in sql:
            inserted.append(Lead.objects.count())
            raise RuntimeError("disk full")
        return execute(sql, params, many, context)

    with connection.execute_wrapper(disk_full), pytest.raises(RuntimeError):
        services.import_batch_confirm(batch)
    batch.refresh_from_db()
    assert batch.state == ImportState.FAILED and "未导入任何数据" in batch.error
    assert Lead.objects.count() == 0 and inserted == [25]


def test_leads_written_between_preview_and_import_are_rechecked(make_leads):
    rows = lead_rows(3)
    batch = analyse(xlsx_bytes(CHINESE_HEADERS, rows))
    assert batch.rows_new == 3
    Lead(**{**dict(zip(_fields(), rows[1], strict=True)), "social_insurance_paid": True}).save()

    batch = services.import_batch_confirm(batch)
    assert batch.state == ImportState.DONE
    assert (batch.leads_created, batch.leads_skipped) == (2, 1)
    assert Lead.objects.count() == 3


def test_large_files_go_to_the_background_task_with_progress():
    from django.tasks import default_task_backend  # noqa: F401 - the ImmediateBackend in tests

    rows = lead_rows(30)
    with override_settings(LEAD_IMPORT_BACKGROUND_BYTES=0, LEAD_IMPORT_BACKGROUND_ROWS=0):
        batch = services.import_batch_create(
            file_name="big.xlsx", data=xlsx_bytes(CHINESE_HEADERS, rows)
        )
        services.import_batch_start_analysis(batch)
        batch.refresh_from_db()
        assert batch.state == ImportState.PREVIEW
        assert (batch.progress_done, batch.progress_total) == (30, 30)
        batch = services.import_batch_confirm(batch)
    assert batch.state == ImportState.DONE and batch.leads_created == 30


def test_a_stale_batch_can_be_queued_again_safely():
    batch = analyse(xlsx_bytes(CHINESE_HEADERS, lead_rows(2)))
    ImportBatch.objects.filter(pk=batch.pk).update(
        state=ImportState.IMPORTING, heartbeat_at=timezone.now() - timedelta(hours=1)
    )  # a worker killed mid-import: its transaction rolled back, nothing was written
    batch.refresh_from_db()
    assert services.import_batch_is_stale(batch)
    assert services.import_batch_retry(batch)  # the ImmediateBackend runs it at once
    batch.refresh_from_db()
    assert batch.state == ImportState.DONE and Lead.objects.count() == 2


def _cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()


def _fields():
    from tests.import_files import FIELD_ORDER

    return FIELD_ORDER


def _raw(sql, *params):
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchone()[0]


def _raw_all(sql, *params):
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return [row[0] for row in cursor.fetchall()]


def test_cleaning_in_blocks_gives_the_same_outcome_as_one_block(settings, make_leads):
    [known] = make_leads(1)
    rows = lead_rows(60)
    rows[5][ID], rows[17][EDU], rows[33][PHONE] = "4.52159E+17", "小学", known.phone
    rows += [list(rows[8]), list(rows[40])]  # repeated in the file, in different blocks
    data = xlsx_bytes(CHINESE_HEADERS, rows)
    whole = analyse(data)
    settings.LEAD_IMPORT_BLOCK_ROWS = 7
    blocks = analyse(data)

    counts = ["rows_total", "rows_new", "rows_existing", "rows_duplicate_in_file", "rows_invalid"]
    assert [getattr(blocks, c) for c in counts] == [getattr(whole, c) for c in counts]
    assert [getattr(blocks, c) for c in counts] == [62, 57, 1, 2, 2]
    assert rejected_preview(blocks, reveal=True) == rejected_preview(whole, reveal=True)
    assert services.import_batch_confirm(blocks).leads_created == 57


def test_personal_data_json_is_exactly_what_the_lead_field_writes():
    from core.crypto import _COMPACT_JSON
    from leads.imports.sealing import pii_texts
    from leads.models import SEALED_FIELDS

    tricky = ["", "张三", 'a"b', "back\\slash", "tab\tnew\nline\x01", "😀 emoji", "é", "</x>"]
    rows = [[tricky[(i + j) % len(tricky)] for j in range(len(SEALED_FIELDS))] for i in range(40)]
    columns = [(name, [row[j] for row in rows]) for j, name in enumerate(SEALED_FIELDS)]
    expected = [
        _COMPACT_JSON.encode({name: v for name, v in zip(SEALED_FIELDS, row, strict=True) if v})
        for row in rows
    ]
    assert pii_texts(columns, len(rows)) == expected
    assert pii_texts([("phone", ["", "18698574854"])], 2) == ["{}", '{"phone":"18698574854"}']


@pytest.mark.parametrize("helper", [True, False])
def test_sealing_in_a_helper_process_or_here_gives_the_same_leads(settings, caplog, helper):
    from core.crypto import decrypt

    settings.LEAD_IMPORT_HELPER_ROWS = 1 if helper else 10**9
    settings.LEAD_IMPORT_SEAL_ROWS = 7  # several jobs in flight, inserted in order
    caplog.set_level(logging.INFO, logger="leads.imports.writing")
    rows = lead_rows(30)
    rows[4][3] = ""  # no WeChat: left out of the sealed object
    batch = import_file(xlsx_bytes(CHINESE_HEADERS, rows))

    assert batch.state == ImportState.DONE and batch.leads_created == 30
    started = [r for r in caplog.records if "sealing helper process" in r.getMessage()]
    assert bool(started) == (helper and _cores() > 1)
    leads = list(Lead.objects.order_by("pk"))
    assert [lead.phone for lead in leads] == [row[PHONE] for row in rows]  # file order
    assert [lead.name for lead in leads] == [row[NAME] for row in rows]
    assert "wechat" not in leads[4].pii and leads[5].wechat == rows[5][3]
    token = _raw("SELECT pii FROM leads_lead WHERE id = %s", leads[0].pk)
    assert decrypt(token).startswith('{"phone":"' + rows[0][PHONE] + '","id_number":')


@pytest.mark.skipif(_cores() < 2, reason="the sealing helper runs only with a second core")
def test_a_helper_that_fails_fails_the_import_and_writes_nothing(settings, monkeypatch):
    from core import crypto

    settings.LEAD_IMPORT_HELPER_ROWS = 1
    batch = analyse(xlsx_bytes(CHINESE_HEADERS, lead_rows(12)))
    # The key handed to the helper: one it cannot use, so it exits at once.
    monkeypatch.setattr(crypto, "encryption_key", lambda: "not a Fernet key")
    with pytest.raises(Exception, match="sealing helper stopped"):
        services.import_batch_confirm(batch)
    batch.refresh_from_db()
    assert batch.state == ImportState.FAILED and "未导入任何数据" in batch.error
    assert Lead.objects.count() == 0


def test_the_helper_computes_the_same_blind_indexes():
    from core.crypto import blind_index_key
    from leads.imports.sealing import indexer
    from leads.models import ID_NUMBER_INDEX, PHONE_INDEX, id_number_index

    phone = indexer(blind_index_key(), PHONE_INDEX)
    id_number = indexer(blind_index_key(), ID_NUMBER_INDEX)
    assert phone("18698574854") == phone_index("18698574854")
    assert id_number(VALID_ID) == id_number_index(VALID_ID)


def test_a_bad_value_of_a_repeating_column_is_rejected_in_every_block(settings):
    settings.LEAD_IMPORT_BLOCK_ROWS = 3
    rows = lead_rows(12)
    for i in (1, 5, 10):  # blocks 1, 2 and 4: the later ones find it remembered
        rows[i][EDU] = "小学"
    rows[7][EDU] = "硕士"  # a synonym, remembered as 硕士及以上
    batch = import_file(xlsx_bytes(CHINESE_HEADERS, rows))
    assert set(reasons(batch)) == {3, 7, 12}  # the header is row 1
    assert batch.leads_created == 9
    assert Lead.objects.get(phone_index=phone_index(rows[7][PHONE])).edu_level == "硕士及以上"


def test_a_repeating_column_of_mostly_new_values_stops_remembering_and_still_checks(settings):
    settings.LEAD_IMPORT_BLOCK_ROWS = 4
    settings.LEAD_IMPORT_MEMO_WARM_UP = 0
    rows = lead_rows(12)
    for i, row in enumerate(rows):
        row[NAME] = f"测试{i}"  # every name new: the column gives its memo up after a block
    rows[9][NAME] = "名" * 51
    batch = import_file(xlsx_bytes(CHINESE_HEADERS, rows))
    assert reasons(batch) == {11: [("姓名", "姓名太长（最多 50 个字）")]}
    assert batch.leads_created == 11


def test_the_helper_answers_in_order_and_what_it_is_behind_on_is_done_here():
    from core.crypto import blind_index_key, decrypt, encryption_key
    from leads.imports.sealing import Helper
    from leads.models import ID_NUMBER_INDEX, PHONE_INDEX

    helper = Helper(
        fernet_key=encryption_key(),
        index_key=blind_index_key(),
        purposes=(PHONE_INDEX, ID_NUMBER_INDEX),
    )
    try:
        first = helper.seal([("phone", ["18698574854"])], 1, indexes=False, here=lambda: ["here"])
        columns = [("phone", ["13912345678"]), ("id_number", [VALID_ID])]
        second = helper.seal(columns, 1, indexes=True)
        answer = first()  # asked for at once: the helper is still starting, so done here
        assert helper.stolen == 1 and answer == ["here"]
        pii, phones, ids = second()  # the first job's late answer is dropped, not taken for this
        assert decrypt(pii[0]) == f'{{"phone":"13912345678","id_number":"{VALID_ID}"}}'
        assert phones == [phone_index("13912345678")]
    finally:
        helper.close()


def test_a_garbled_answer_ends_the_helper_and_fails_at_once():
    from concurrent.futures import ThreadPoolExecutor

    from core.crypto import blind_index_key, encryption_key
    from leads.imports import sealing
    from leads.models import ID_NUMBER_INDEX, PHONE_INDEX

    helper = sealing.Helper(
        fernet_key=encryption_key(),
        index_key=blind_index_key(),
        purposes=(PHONE_INDEX, ID_NUMBER_INDEX),
        max_frame=10,  # every real answer now reads as garbled
    )
    pool = ThreadPoolExecutor(max_workers=1)
    try:
        answer = pool.submit(helper.seal([("phone", ["18698574854"])], 1, indexes=False))
        # Before, the reader thread died quietly and this waited forever on a live helper.
        with pytest.raises(sealing.HelperFailed, match="exit code -9"):
            answer.result(timeout=60)
    finally:
        pool.shutdown(wait=False)
        helper.close(check=False)
