"""One declaration per lead field (leads.fields): the import template, the import's header
recognition, the admin's list, detail and add pages, the hand-entry form, the export and the model
all take the lead's fields from it, each with its declared label; and no other module lists them,
so adding a field is one declaration (plus, for a plain column, its model field and migration)."""

import ast
import html
import io
import pathlib
import random

import openpyxl
import pytest
from django.contrib.admin.templatetags.admin_list import result_headers
from django.core.exceptions import ValidationError
from django.urls import reverse

from leads.demo import fake_lead_fields
from leads.exports.resources import LeadResource
from leads.fields import FIELDS_BY_NAME, LEAD_FIELDS, SEALED_FIELDS, Clean, Kind, LeadField
from leads.forms import LeadForm
from leads.imports.columns import ALIASES, COLUMNS, header_key
from leads.models import Lead
from leads.validators import ZHIMA_RANGE, validate_zhima_score
from tests.import_files import read_xlsx

ROOT = pathlib.Path(__file__).resolve().parent.parent
NAMES = [declared.name for declared in LEAD_FIELDS]
OTHER_LEAD_COLUMNS = ["source", "import_batch", "created_at", "lead_id"]

pytestmark = pytest.mark.django_db


def test_the_import_template_heads_and_explains_every_declared_field(admin_client):
    response = admin_client.get(reverse("admin:leads_lead_import_template"))
    workbook = openpyxl.load_workbook(io.BytesIO(response.content))
    headers = [cell.value for cell in workbook.worksheets[0][1]]
    assert headers == [str(declared.file_header) for declared in LEAD_FIELDS]
    notes = {row[0]: row for row in workbook.worksheets[1].iter_rows(min_row=2, values_only=True)}
    for declared in LEAD_FIELDS:
        _, required, aliases, hint = notes[str(declared.file_header)]
        assert (required == "必填") is declared.required
        assert aliases == " / ".join(declared.aliases)
        assert (hint or "") == str(declared.hint)
    zhima = notes[str(FIELDS_BY_NAME["zhima_score"].file_header)][3]
    assert zhima == f"{ZHIMA_RANGE[0]}–{ZHIMA_RANGE[1]} 的整数"

    page = html.unescape(admin_client.get(reverse("admin:leads_lead_import")).content.decode())
    for declared in LEAD_FIELDS:
        assert f"<td>{declared.file_header}</td>" in page
        assert " / ".join(declared.aliases) in page


def test_every_declared_header_and_alias_is_recognised_as_its_field():
    assert [column.field for column in COLUMNS] == NAMES
    for declared, column in zip(LEAD_FIELDS, COLUMNS, strict=True):
        assert (column.label, column.required, column.mask, column.identifier) == (
            declared.file_header,
            declared.required,
            declared.mask,
            declared.identifier,
        )
        for header in (*declared.aliases, declared.file_header, declared.label):
            assert ALIASES[header_key(header)].field == declared.name, header


def test_the_admin_shows_every_declared_field_with_its_label(admin_client, make_leads):
    lead = make_leads(1)[0]
    detail = admin_client.get(reverse("admin:leads_lead_change", args=[lead.pk]))
    shown = [
        str(field.field["label"])
        for fieldset in detail.context["adminform"]
        for line in fieldset
        for field in line
    ]
    personal = [str(f.label) for f in LEAD_FIELDS if f.is_sealed]
    assert shown == [
        *personal,
        *(str(f.label) for f in LEAD_FIELDS if not f.is_sealed),
        "来源",
        "创建时间",
    ]

    listing = admin_client.get(reverse("admin:leads_lead_changelist"))
    shown = [str(header["text"]) for header in result_headers(listing.context["cl"])][1:]
    listed = [str(f.label) for f in LEAD_FIELDS if f.listed]
    # Where the lead stands with the partners (pushes.lead_list) comes between its fields and
    # its source.
    assert shown == ["ID", *listed, "撞库结果", "推送状态", "来源", "创建时间"]
    filters = [str(spec.title) for spec in listing.context["cl"].filter_specs]
    declared = filters[filters.index("来源") + 1 : filters.index("创建时间")]
    assert declared == [str(f.label) for f in LEAD_FIELDS if f.filtered]

    add = admin_client.get(reverse("admin:leads_lead_add"))
    form = add.context["adminform"].form
    assert [(name, str(field.label)) for name, field in form.fields.items()][: len(NAMES)] == [
        (f.name, str(f.label)) for f in LEAD_FIELDS
    ]


def test_the_hand_entry_form_takes_every_declared_field():
    form = LeadForm()
    assert list(form.fields) == [*NAMES, "source"]
    for declared in LEAD_FIELDS:
        assert str(form.fields[declared.name].label) == str(declared.label)
        assert form.fields[declared.name].required is declared.required

    values = fake_lead_fields(random.Random(12))
    values |= {"phone": "+86 138 0013 8000", "id_number": values["id_number"].lower()}
    form = LeadForm(data={**values, "source": "hand"})
    assert form.is_valid(), form.errors
    lead = form.save()
    assert (lead.phone, lead.id_number) == ("13800138000", values["id_number"].upper())
    assert set(lead.pii) == set(SEALED_FIELDS)


def test_the_export_has_a_column_per_declared_field_under_its_file_header(admin_client, make_leads):
    make_leads(1)
    headers = [str(header) for header in LeadResource().headers()]
    assert headers == [str(f.file_header) for f in LEAD_FIELDS] + headers[len(NAMES) :]
    assert len(headers) == len(NAMES) + len(OTHER_LEAD_COLUMNS)
    export = admin_client.post(reverse("admin:leads_lead_export"), {"file_format": "xlsx"})
    assert read_xlsx(export.content)[0] == headers


def test_the_model_keeps_sealed_fields_in_pii_and_plain_ones_as_declared_columns():
    for declared in LEAD_FIELDS:
        if declared.is_sealed:
            assert Lead(**{declared.name: "x"}).pii == {declared.name: "x"}
            assert declared.name not in {f.name for f in Lead._meta.get_fields()}
            continue
        column = Lead._meta.get_field(declared.name)
        assert str(column.verbose_name) == str(declared.label)
        assert column.max_length == declared.max_length
        assert all(validator in column.validators for validator in declared.validators)
    assert validate_zhima_score in Lead._meta.get_field("zhima_score").validators

    missing = Lead(phone="12", id_number="", name="")
    with pytest.raises(ValidationError) as refused:
        missing.validate_sealed()
    assert set(refused.value.message_dict) == {f.name for f in LEAD_FIELDS if f.required}
    assert "不是有效的中国大陆手机号" in refused.value.message_dict["phone"][0]


def test_the_demo_fakes_only_declared_fields():
    assert set(fake_lead_fields(random.Random(1))) <= set(NAMES)


# --- nothing outside the declaration lists lead fields ---------------------------------------

# Modules that must read every lead field from leads.fields: no field name in them at all.
READERS = [
    "leads/admin.py",
    "leads/forms.py",
    "leads/imports/columns.py",
    "leads/imports/cleaning.py",
    "leads/imports/admin.py",
]
# Collections of two or more field names elsewhere, each for a reason of its own.
KNOWN_PAIRS = {
    ("leads/admin_pii.py", ("id_number", "phone")),  # the two fields with blind indexes
    ("leads/erasure.py", ("id_number", "phone")),  # the same two: how a person is found
    ("leads/erasure.py", ("city", "district")),  # the fine-grained place goes with the person
    ("leads/exports/resources.py", ("name", "phone")),  # whose check or push a row is about
    # The do-not-contact list holds the two fields with blind indexes, and takes them in.
    ("leads/do_not_contact.py", ("id_number", "phone")),
    ("leads/do_not_contact_admin.py", ("id_number", "phone")),
    ("leads/do_not_contact_import.py", ("id_number", "phone")),
    # What a partner's 接收条件 read of a lead (a region rule matches its province or its city).
    ("partners/eligibility.py", ("city", "province")),
    ("partners/eligibility.py", ("edu_level", "social_insurance_paid", "zhima_score")),
}
NOT_SCANNED = {
    "leads/fields.py",  # the declaration itself
    "leads/demo.py",  # a fake value per field; one it lacks is left empty in demo leads
}
SCANNED = ["config", "core", "partners", "jobs", "leads", "collision", "pushes"]


def _python_files():
    for app in SCANNED:
        for path in sorted((ROOT / app).rglob("*.py")):
            relative = path.relative_to(ROOT).as_posix()
            if "migrations" in path.parts or relative in NOT_SCANNED:
                continue
            if relative.startswith("partners/protocols/"):
                continue  # a partner's wire format: its own names (camelCase or not)
            yield relative, ast.parse(path.read_text())


def test_no_module_but_the_declaration_lists_lead_fields():
    names = set(NAMES)
    found = set()
    for relative, tree in _python_files():
        for node in ast.walk(tree):
            if isinstance(node, ast.List | ast.Tuple | ast.Set):
                items = node.elts
            elif isinstance(node, ast.Dict):
                items = [key for key in node.keys if key is not None]
            else:
                continue
            listed = {i.value for i in items if isinstance(i, ast.Constant) and i.value in names}
            if len(listed) >= 2:
                found.add((relative, tuple(sorted(listed))))
    assert found == KNOWN_PAIRS


def _is_format_key(node, tree) -> bool:
    """A key of a ``%``-formatting dict (``%(name)s``): a message's placeholder, not a field."""
    return any(
        isinstance(parent, ast.BinOp)
        and isinstance(parent.op, ast.Mod)
        and isinstance(parent.right, ast.Dict)
        and any(key is node for key in parent.right.keys)
        for parent in ast.walk(tree)
    )


def test_the_readers_name_no_lead_field():
    names = set(NAMES)
    for relative in READERS:
        tree = ast.parse((ROOT / relative).read_text())
        named = {
            node.value
            for node in ast.walk(tree)
            if isinstance(node, ast.Constant)
            and node.value in names
            and not _is_format_key(node, tree)
        }
        assert named == set(), relative


def test_the_zhima_range_is_written_once():
    low, high = (str(bound) for bound in ZHIMA_RANGE)
    holders = []
    for app in [*SCANNED, "templates"]:
        for path in sorted((ROOT / app).rglob("*")):
            if path.suffix not in {".py", ".html", ".txt"} or "migrations" in path.parts:
                continue
            text = path.read_text()
            if low in text and high in text:
                holders.append(path.relative_to(ROOT).as_posix())
    assert holders == ["leads/validators.py"]


@pytest.mark.parametrize(
    ("options", "refusal"),
    [
        ({"clean": "text"}, "max_length"),
        ({"clean": "choice", "max_length": 8}, "choices"),
        ({"clean": "yes_no", "mask": str}, "personal data"),
    ],
)
def test_a_declaration_missing_what_its_cleaner_needs_is_refused_when_the_module_loads(
    options, refusal
):
    options = {**options, "clean": Clean(options["clean"])}
    with pytest.raises(ValueError, match=refusal):
        LeadField("extra", "额外", Kind.PLAIN, aliases=("额外",), **options)
