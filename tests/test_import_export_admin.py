"""Import and export through the admin and the CLI: permissions, the upload → preview →
confirm flow, masked vs unmasked exports with their audit record, formula injection, text
cells for identifiers."""

import csv
import io
import re
from urllib.parse import quote

import openpyxl
import pytest
from django.contrib.auth.models import Permission, User
from django.core.management import CommandError, call_command
from django.test import Client, override_settings
from django.urls import reverse
from import_export.formats.base_formats import XLSX

from collision.models import CheckOutcome, CollisionResult
from core.masking import mask_id_number, mask_phone
from leads.models import ExportKind, ExportRecord, ImportBatch, ImportState, Lead
from pushes.models import Push, PushState
from tests.conftest import log_in_verified
from tests.import_files import CHINESE_HEADERS, csv_bytes, lead_rows, read_xlsx, xlsx_bytes

pytestmark = pytest.mark.django_db

LEAD_LIST = reverse("admin:leads_lead_changelist")
IMPORT = reverse("admin:leads_lead_import")
EXPORT = reverse("admin:leads_lead_export")
FORMULAS = ["=1+1", "+1+1", "-1+1", "@SUM(A1)", "\t=1", "\r=1", "==1+1", "＝1+1"]


def staff(*perms: str, superuser: bool = False) -> tuple[User, Client]:
    user = User.objects.create_user(
        f"user{User.objects.count()}", is_staff=True, is_superuser=superuser
    )
    user.user_permissions.set(
        Permission.objects.get(content_type__app_label=app, codename=codename)
        for app, codename in (p.split(".") for p in perms)
    )
    return user, log_in_verified(Client(), user)


def upload(client: Client, data: bytes, name: str = "leads.xlsx", **fields):
    file = io.BytesIO(data)
    file.name = name
    return client.post(IMPORT, {"import_file": file, "on_duplicate": "skip", **fields})


def test_import_and_export_each_need_their_own_permission():
    _, viewer = staff("leads.view_lead")
    page = viewer.get(LEAD_LIST).content.decode()
    assert IMPORT not in page and EXPORT not in page
    assert viewer.get(IMPORT).status_code == 403
    assert viewer.get(EXPORT).status_code == 403
    assert viewer.get(reverse("admin:leads_lead_import_template")).status_code == 403
    _, superuser = staff(superuser=True)  # a superuser has every permission, import included
    assert superuser.get(IMPORT).status_code == 200

    _, importer = staff("leads.view_lead", "leads.import_lead")
    page = importer.get(LEAD_LIST).content.decode()
    assert IMPORT in page and EXPORT not in page
    _, exporter = staff("collision.view_collisionresult")
    collision_export = reverse("admin:collision_collisionresult_export")
    assert exporter.get(collision_export).status_code == 403
    _, exporter = staff("collision.view_collisionresult", "collision.export_collisionresult")
    assert exporter.get(collision_export).status_code == 200


def test_upload_preview_confirm_and_download_rejected_rows_in_the_admin():
    user, client = staff("leads.view_lead", "leads.import_lead")
    rows = lead_rows(4)
    rows[2][1] = "452159198001010000"
    response = upload(client, xlsx_bytes(CHINESE_HEADERS, rows), source="渠道C")
    batch = ImportBatch.objects.get()
    assert response.status_code == 302 and response["Location"].endswith(f"/{batch.pk}/change/")

    page = client.get(response["Location"]).content.decode()
    assert 'id="count-new">3<' in page
    assert re.search(r'id="count-invalid">(<a href="#rejected-rows">)?1<', page)
    assert "452159**********00" in page and "452159198001010000" not in page  # masked preview
    assert "末 3 位是 000" in page and "确认导入 3 行" in page
    assert Lead.objects.count() == 0

    response = client.post(reverse("admin:leads_importbatch_confirm", args=[batch.pk]))
    batch.refresh_from_db()
    assert batch.state == ImportState.DONE and batch.confirmed_by == user
    assert Lead.objects.filter(source="渠道C", created_by=user).count() == 3

    download = client.get(reverse("admin:leads_importbatch_rejected", args=[batch.pk]))
    assert (
        "filename*=utf-8''leads-%E8%A2%AB%E6%8B%92%E8%A1%8C.xlsx" in download["Content-Disposition"]
    )
    rejected = read_xlsx(b"".join(download.streaming_content))
    assert rejected[0][-1] == "错误原因" and rejected[1][:3] == [4, rows[2][0], rows[2][1]]
    record = ExportRecord.objects.get(kind=ExportKind.REJECTED_ROWS)
    assert (record.actor, record.row_count, record.unmasked) == (user, 1, True)

    _, other = staff("leads.view_lead", "leads.import_lead")  # not the uploader
    assert (
        other.get(reverse("admin:leads_importbatch_rejected", args=[batch.pk])).status_code == 403
    )


def test_an_unreadable_upload_shows_one_message_on_the_form():
    _, client = staff("leads.import_lead")
    response = upload(client, b"\x00\x01garbage", "leads.xlsx")
    assert response.status_code == 200
    assert "不是 Excel 工作簿" in response.content.decode()
    assert ImportBatch.objects.get().state == ImportState.FAILED and Lead.objects.count() == 0


def test_an_oversized_upload_is_stopped_while_reading_and_never_spooled_to_disk():
    _, client = staff("leads.import_lead")
    data = csv_bytes(CHINESE_HEADERS, lead_rows(50))
    with override_settings(LEAD_IMPORT_MAX_BYTES=1000, FILE_UPLOAD_MAX_MEMORY_SIZE=10):
        response = upload(client, data, "leads.csv")
    assert "文件太大" in response.content.decode() and not ImportBatch.objects.exists()


def test_import_template_has_the_canonical_headers_as_text_columns():
    _, client = staff("leads.import_lead")
    response = client.get(reverse("admin:leads_lead_import_template"))
    # Named in Chinese, as RFC 6266 lets browsers read it (a raw header would be MIME-encoded).
    assert response["Content-Disposition"] == (
        f"attachment; filename*=utf-8''{quote('线索导入模板.xlsx')}"
    )
    workbook = openpyxl.load_workbook(io.BytesIO(response.content))
    headers = [cell.value for cell in workbook.worksheets[0][1]]
    assert headers[:3] == ["手机号", "身份证号", "姓名"] and len(headers) == 15
    assert workbook.worksheets[0].column_dimensions["B"].number_format == "@"
    assert workbook.worksheets[1].title == "填写说明"


def _lead_with(**values) -> Lead:
    rows = lead_rows(1, seed=len(values) + Lead.objects.count())
    fields = dict(zip(["phone", "id_number"], rows[0][:2], strict=True))
    lead = Lead(**fields, name="张三", source="export-test", **values)
    lead.save()
    return lead


def test_exports_are_masked_unless_the_explicit_permission_even_for_a_superuser():
    lead = _lead_with()
    _, superuser = staff(superuser=True)
    masked = read_xlsx(superuser.post(EXPORT, {"file_format": "xlsx", "unmasked": "on"}).content)
    assert masked[1][:3] == [mask_phone(lead.phone), mask_id_number(lead.id_number), "张*"]
    cells = [str(value) for row in masked for value in row if value is not None]
    assert not any(lead.phone in cell or lead.id_number in cell for cell in cells)
    assert ExportRecord.objects.get().unmasked is False  # the request to unmask was ignored

    user, allowed = staff("leads.view_lead", "leads.export_lead", "leads.export_lead_pii")
    assert "包含完整个人信息" in allowed.get(EXPORT).content.decode()
    plain = read_xlsx(allowed.post(EXPORT, {"file_format": "xlsx", "unmasked": "on"}).content)
    assert plain[1][:3] == [lead.phone, lead.id_number, "张三"]
    record = ExportRecord.objects.latest("id")
    assert (record.actor, record.kind, record.row_count, record.unmasked) == (
        user,
        ExportKind.LEADS,
        1,
        True,
    )


def test_export_follows_the_changelist_filter_and_writes_identifiers_as_text():
    _lead_with()
    Lead(
        phone=lead_rows(1, seed=3)[0][0],
        id_number=lead_rows(1, seed=3)[0][1],
        name="李四",
        source="other",
    ).save()
    _, client = staff("leads.view_lead", "leads.export_lead")
    response = client.post(f"{EXPORT}?source=other", {"file_format": "xlsx"})
    sheet = openpyxl.load_workbook(io.BytesIO(response.content)).worksheets[0]
    assert sheet.max_row == 2 and sheet["C2"].value == "李*"
    assert sheet["A2"].data_type == "s" and sheet["A2"].number_format == "@"
    assert ExportRecord.objects.get().criteria == "source=other"


def test_export_of_a_search_by_phone_keeps_the_phone_masked_in_its_record():
    lead = _lead_with()
    _lead_with()
    _, client = staff("leads.view_lead", "leads.export_lead")
    response = client.post(EXPORT, {"file_format": "csv"}, query_params={"q": lead.phone})
    assert response.content.decode("utf-8-sig").count("\n") == 2  # header and the one lead
    assert ExportRecord.objects.get().criteria == f"q={lead.phone[:3]}****{lead.phone[-4:]}"


def test_formula_injection_is_neutralised_where_import_export_would_not():
    lead = _lead_with(address="=HYPERLINK(1)")
    lead.pii.update(
        name=FORMULAS[0], wechat=FORMULAS[1], qq=FORMULAS[2], emergency_contact_name=FORMULAS[3]
    )
    lead.save()
    _, client = staff("leads.view_lead", "leads.export_lead", "leads.export_lead_pii")
    sheet = read_xlsx(client.post(EXPORT, {"file_format": "xlsx", "unmasked": "on"}).content)
    assert sheet[1][2:5] == ["'=1+1", "'+1+1", "'-1+1"] and sheet[1][11] == "'@SUM(A1)"
    assert sheet[1][9] == "'=HYPERLINK(1)"

    response = client.post(EXPORT, {"file_format": "csv", "unmasked": "on"})
    assert response.content.startswith("\ufeff".encode())
    row = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))[1]
    assert row[2:5] == ["'=1+1", "'+1+1", "'-1+1"]

    # What django-import-export's own setting does with the same values: it strips one "="
    # and leaves the rest live.
    import tablib

    dataset = tablib.Dataset(*[[value] for value in FORMULAS], headers=["v"])
    with override_settings(IMPORT_EXPORT_ESCAPE_FORMULAE_ON_EXPORT=True):
        stock = read_xlsx(XLSX().export_data(dataset))
    assert [r[0] for r in stock[1:]][1:4] == ["+1+1", "-1+1", "@SUM(A1)"]
    assert stock[7][0] == "=1+1"  # "==1+1" comes out as a formula again

    from leads.imports.spreadsheets import neutralise

    assert all(neutralise(value).startswith("'") for value in FORMULAS)


def test_collision_results_and_pushes_export_with_their_own_permissions(partner, make_leads):
    [lead] = make_leads(1)
    CollisionResult.objects.create(
        lead=lead, partner=partner, outcome=CheckOutcome.CALL_FAILED, message="-1 超时"
    )
    Push.objects.create(lead=lead, partner=partner, state=PushState.REJECTED, message="@拒绝")
    _, client = staff(
        "collision.export_collisionresult",
        "pushes.export_push",
        "collision.view_collisionresult",
        "pushes.view_push",
    )
    results = read_xlsx(
        client.post(
            reverse("admin:collision_collisionresult_export"), {"file_format": "xlsx"}
        ).content
    )
    assert results[0][:4] == ["撞库时间", "线索ID", "姓名", "手机号"]
    assert results[1][3] == mask_phone(lead.phone) and results[1][-1] == "'-1 超时"
    cells = [str(value) for row in results for value in row if value is not None]
    assert not any(lead.phone in cell or lead.id_number in cell for cell in cells)
    pushes = read_xlsx(
        client.post(reverse("admin:pushes_push_export"), {"file_format": "xlsx"}).content
    )
    assert pushes[1][5] == "被拒绝" and pushes[1][6] == "'@拒绝"
    cells = [str(value) for row in pushes for value in row if value is not None]
    assert not any(lead.phone in cell or lead.id_number in cell for cell in cells)
    assert list(ExportRecord.objects.values_list("kind", flat=True).order_by("id")) == [
        ExportKind.COLLISION_RESULTS,
        ExportKind.PUSHES,
    ]


def test_import_leads_command_dry_run_then_import(tmp_path):
    rows = lead_rows(3)
    rows[0][1] = "4.52159E+17"
    path = tmp_path / "渠道D.csv"
    path.write_bytes(csv_bytes(CHINESE_HEADERS, rows, encoding="gbk"))
    out = io.StringIO()
    call_command("import_leads", str(path), "--dry-run", stdout=out)
    assert "3 rows, 2 new" in out.getvalue() and "row 2 · 身份证号" in out.getvalue()
    assert "dry run" in out.getvalue() and Lead.objects.count() == 0

    out = io.StringIO()
    rejected = tmp_path / "rejected.xlsx"
    call_command(
        "import_leads", str(path), "--source", "D", "--rejected-out", str(rejected), stdout=out
    )
    assert "2 created" in out.getvalue() and Lead.objects.filter(source="D").count() == 2
    assert read_xlsx(rejected.read_bytes())[1][-1].startswith("身份证号：")

    with pytest.raises(CommandError, match="文件是空的"):
        empty = tmp_path / "empty.xlsx"
        empty.write_bytes(b"")
        call_command("import_leads", str(empty), stdout=io.StringIO())


def test_export_data_command_masks_unless_a_permitted_user(tmp_path):
    lead = _lead_with()
    output = tmp_path / "leads.csv"
    call_command("export_data", "leads", "-o", str(output), stdout=io.StringIO())
    masked = output.read_text("utf-8-sig")
    assert mask_phone(lead.phone) in masked and mask_id_number(lead.id_number) in masked
    assert lead.phone not in masked and lead.id_number not in masked
    with pytest.raises(CommandError, match="export_lead_pii"):
        call_command("export_data", "leads", "-o", str(output), "--unmasked", stdout=io.StringIO())
    user, _ = staff("leads.export_lead_pii")
    call_command(
        "export_data",
        "leads",
        "-o",
        str(output),
        "--unmasked",
        "--user",
        user.username,
        stdout=io.StringIO(),
    )
    assert lead.phone in output.read_text("utf-8-sig")
    assert lead.id_number in output.read_text("utf-8-sig")
    assert ExportRecord.objects.filter(unmasked=True, channel="cli", actor=user).count() == 1


def test_export_records_are_read_only_in_the_admin():
    ExportRecord.objects.create(
        kind=ExportKind.LEADS, file_format="xlsx", row_count=3, unmasked=True
    )
    _, auditor = staff("leads.view_exportrecord")
    page = auditor.get(reverse("admin:leads_exportrecord_changelist"))
    assert page.status_code == 200 and "xlsx" in page.content.decode()
    assert auditor.get(reverse("admin:leads_exportrecord_add")).status_code == 403


def test_an_export_with_a_filter_the_list_does_not_know_is_refused_not_a_server_error():
    _, client = staff("leads.view_lead", "leads.export_lead")
    response = client.get(EXPORT + "?format=csv")
    assert response.status_code == 302 and response["Location"] == f"{LEAD_LIST}?e=1"
    assert not ExportRecord.objects.exists()
