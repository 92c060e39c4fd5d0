"""Real spreadsheet files for the import tests: written with openpyxl, xlwt and the csv module,
the way operators' files arrive."""

import csv
import io
import random

import openpyxl

from leads.demo import fake_lead_fields

CHINESE_HEADERS = [
    "手机号", "身份证号", "姓名", "微信", "QQ", "学历", "省", "市", "区", "地址",
    "社保", "紧急联系人", "关系", "紧急联系人电话", "芝麻分",
]  # fmt: skip
ENGLISH_HEADERS = [
    "phone", "idNum", "name", "wechat", "qq", "eduLevel", "province", "city", "district",
    "address", "socialInsurancePayed", "emergencyContactName", "emergencyRelation",
    "emergencyContactPhone", "zhimaScore",
]  # fmt: skip
FIELD_ORDER = [
    "phone", "id_number", "name", "wechat", "qq", "edu_level", "province", "city", "district",
    "address", "social_insurance_paid", "emergency_contact_name", "emergency_relation",
    "emergency_contact_phone", "zhima_score",
]  # fmt: skip


def lead_rows(count: int, *, seed: int = 7) -> list[list]:
    """Valid leads as rows in FIELD_ORDER (social insurance as 1/0)."""
    rng = random.Random(seed)
    rows = []
    for _ in range(count):
        fields = fake_lead_fields(rng)
        fields["social_insurance_paid"] = 1 if fields["social_insurance_paid"] else 0
        rows.append([fields[name] for name in FIELD_ORDER])
    return rows


def xlsx_bytes(headers: list, rows: list[list], *, title_rows: list[list] = ()) -> bytes:
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    for row in [*title_rows, headers, *rows]:
        sheet.append(row)
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def csv_bytes(headers: list, rows: list[list], *, encoding: str = "utf-8") -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(headers)
    writer.writerows(rows)
    return buffer.getvalue().encode(encoding)


def xls_bytes(headers: list, rows: list[list]) -> bytes:
    import xlwt

    workbook = xlwt.Workbook(encoding="utf-8")
    sheet = workbook.add_sheet("线索")
    for r, row in enumerate([headers, *rows]):
        for c, value in enumerate(row):
            sheet.write(r, c, value)
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def read_xlsx(data: bytes) -> list[list]:
    workbook = openpyxl.load_workbook(io.BytesIO(data))
    return [list(row) for row in workbook.worksheets[0].iter_rows(values_only=True)]
