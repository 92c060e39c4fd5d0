"""Erasure on request (PIPL 删除权): ``manage.py erase_lead`` and the administrators' action remove
a person's personal data from every table (the lead, its blind indexes, import staging, partners'
answers), keep the counts, results, pushes and audit rows, and are themselves recorded."""

import pytest
from django.contrib.auth.models import Group, Permission, User
from django.core.management import CommandError, call_command
from django.db import connection
from django.test import Client
from django.urls import reverse

from collision.models import CollisionResult
from collision.services import check_leads
from core.crypto import decrypt, decrypt_bytes
from core.roles import ROLES
from leads.imports import services
from leads.imports.rejected import rejected_rows
from leads.models import (
    AccessKind,
    ImportBatch,
    ImportState,
    Lead,
    OnDuplicate,
    PersonalDataAccess,
    id_number_index,
    phone_index,
)
from partners.models import AuditLogEntry
from partners.protocols.yrxd_collision import id_number_md5, phone_md5
from pushes.models import Push
from pushes.services import push_leads, reconcile_unknown_pushes, retry_unknown_pushes
from sandbox.server import Fault
from tests.conftest import log_in_verified
from tests.import_files import CHINESE_HEADERS, FIELD_ORDER, lead_rows, xlsx_bytes

pytestmark = pytest.mark.django_db

OPERATOR, AUDITOR, ADMINISTRATOR = ROLES
CONTACT_PHONE = FIELD_ORDER.index("emergency_contact_phone")
ID_COLUMN = FIELD_ORDER.index("id_number")


def row_of(lead: Lead) -> list:
    """The lead as a row of an uploaded file."""
    values = {name: getattr(lead, name) for name in FIELD_ORDER}
    values["social_insurance_paid"] = 1 if lead.social_insurance_paid else 0
    return [values[name] for name in FIELD_ORDER]


def upload(rows: list[list], *, on_duplicate=OnDuplicate.SKIP, name="渠道.xlsx") -> ImportBatch:
    batch = services.import_batch_create(
        file_name=name, data=xlsx_bytes(CHINESE_HEADERS, rows), on_duplicate=on_duplicate
    )
    services.import_batch_analyse(batch.pk)
    batch.refresh_from_db()
    assert batch.state == ImportState.PREVIEW, batch.error
    return batch


def opened_cells() -> list[tuple[str, str]]:
    """(table, text) for every cell of every table, read raw, with every Fernet token (a sealed
    column, a staged chunk, an upload) opened: what the database holds, in clear."""
    cells = []
    quote = connection.ops.quote_name
    with connection.cursor() as cursor:
        for table in connection.introspection.table_names():
            cursor.execute(f"SELECT * FROM {quote(table)}")  # noqa: S608
            for row in cursor.fetchall():
                for value in row:
                    if value is None:
                        continue
                    if isinstance(value, bytes | memoryview):
                        value = decrypt_bytes(bytes(value)).decode("latin-1")
                    elif isinstance(value, str) and value.startswith("gAAAAA"):
                        value = decrypt(value)
                    cells.append((table, str(value)))
    return cells


def traces(person: dict) -> dict[str, str]:
    """Everything that identifies the person, as it could be stored."""
    return {
        person["phone"]: "phone",
        person["id_number"]: "ID number",
        person["wechat"]: "wechat",
        person["address"]: "address",
        phone_md5(person["phone"]): "phone MD5",
        id_number_md5(person["id_number"]): "ID number MD5",
        phone_index(person["phone"]): "phone blind index",
        id_number_index(person["id_number"]): "ID number blind index",
    }


def found_traces(person: dict) -> list[str]:
    wanted = traces(person)
    found = []
    for table, cell in opened_cells():
        text = cell.lower()
        found += [f"{what} in {table}" for value, what in wanted.items() if value.lower() in text]
        if person["name"] in cell:  # a name nobody else has (the fixture gives it)
            found.append(f"name in {table}")
    return found


@pytest.fixture
def world(partner, sandbox, make_leads):
    """A person who was checked, pushed to a partner that echoed them back, sits in the rejected
    rows of a finished import and in a preview waiting to update them, and is the emergency
    contact of two rows someone else uploaded."""
    leads = make_leads(20)
    everyone = Lead.objects.filter(pk__in=[lead.pk for lead in leads]).order_by("pk")
    check_leads(partner=partner, leads=everyone)
    marketable = CollisionResult.objects.filter(is_marketable=True).values_list("lead", flat=True)
    person = Lead.objects.get(pk=min(marketable))
    person.name = "欧阳删除测"  # found in no other lead's data
    person.save()
    sandbox.config.fault = Fault.ECHO  # the partner's answers name the person
    push_leads(partner=partner, leads=everyone)
    sandbox.config.fault = Fault.NONE
    assert person.name in Push.objects.get(lead=person).message

    fresh = lead_rows(3, seed=99)
    bad_id = [*fresh[1]]
    bad_id[ID_COLUMN] = "452159198001010000"
    bad_id[CONTACT_PHONE] = person.phone
    finished = upload([row_of(person), row_of(person), bad_id, fresh[0]], name="已导入.xlsx")
    services.import_batch_confirm(finished)
    updating = [*row_of(person)]
    updating[FIELD_ORDER.index("name")] = "改名字"
    contact = [*fresh[2]]
    contact[CONTACT_PHONE] = person.phone
    waiting = upload([updating, contact], on_duplicate=OnDuplicate.UPDATE, name="待确认.xlsx")
    assert (waiting.rows_update, waiting.rows_new) == (1, 1)
    return {
        "lead": person,
        "person": {name: getattr(person, name) for name in FIELD_ORDER if name != "zhima_score"},
        "finished": ImportBatch.objects.get(pk=finished.pk),
        "waiting": waiting,
        "contact_phone": fresh[2][0],
    }


def counts(lead: Lead) -> dict:
    return {
        "leads": Lead.objects.count(),
        "results": list(
            CollisionResult.objects.filter(lead=lead).values_list("outcome", "is_marketable")
        ),
        "pushes": list(Push.objects.filter(lead=lead).values_list("state", "attempts")),
        "audit rows": AuditLogEntry.objects.count(),
        "batches": list(
            ImportBatch.objects.order_by("pk").values_list(
                "rows_total", "rows_new", "rows_invalid", "rows_duplicate_in_file", "rows_rejected"
            )
        ),
    }


def test_the_command_erases_the_person_everywhere_and_keeps_what_was_done(world, capsys):
    lead, person = world["lead"], world["person"]
    assert found_traces(person)  # before: the person is all over the database
    before = counts(lead)

    call_command("erase_lead", "--phone", person["phone"], "--reason", "本人来电申请，工单 8812")

    assert found_traces(person) == []
    assert counts(lead) == before
    erased = Lead.objects.get(pk=lead.pk)
    assert erased.is_erased and erased.pii == {} and str(erased) == f"#{lead.pk} 已删除"
    assert (erased.source, erased.import_batch_id, erased.created_at) == (
        lead.source,
        lead.import_batch_id,
        lead.created_at,
    )
    assert (erased.phone_index, erased.id_number_index) == (None, None)
    assert list(Push.objects.filter(lead=lead).values_list("message", "app_download_url")) == [
        ("", "")
    ]
    record = PersonalDataAccess.objects.get(kind=AccessKind.ERASURE)
    assert record.lead_id_list == [lead.pk] and record.actor is None
    assert record.actor_username.startswith("命令行：")
    assert lead.masked_phone in record.criteria and lead.masked_id_number in record.criteria
    assert "工单 8812" in record.note and "导入暂存数据 2 行、2 个单元格" in record.note
    assert f"已删除手机号 {lead.masked_phone}" in capsys.readouterr().out

    # The rejected rows left are someone else's, the person's number blanked in them.
    rejected = list(rejected_rows(world["finished"]))
    assert len(rejected) == 1 and rejected[0][1][CONTACT_PHONE] == ""

    # Confirming the waiting preview brings nobody back: its other row is imported, the
    # person's emergency-contact number left out.
    done = services.import_batch_confirm(world["waiting"])
    assert (done.leads_created, done.leads_updated) == (1, 0)
    assert not Lead.objects.filter(phone_index=phone_index(person["phone"])).exists()
    assert Lead.objects.get(pk=lead.pk).pii == {}
    contact = Lead.objects.get(phone_index=phone_index(world["contact_phone"]))
    assert contact.emergency_contact_phone == ""
    assert found_traces(person) == []


def test_a_second_erasure_finds_nothing(world):
    phone = world["person"]["phone"]
    call_command("erase_lead", "--phone", phone)
    with pytest.raises(CommandError, match="没有找到"):
        call_command("erase_lead", "--phone", phone)
    id_number = world["person"]["id_number"]
    with pytest.raises(CommandError, match="没有找到"):
        call_command("erase_lead", "--id-number", id_number)
    assert PersonalDataAccess.objects.filter(kind=AccessKind.ERASURE).count() == 1


def test_erasing_by_id_number(world):
    call_command("erase_lead", "--id-number", world["person"]["id_number"].lower())
    assert Lead.objects.get(pk=world["lead"].pk).is_erased
    assert found_traces(world["person"]) == []


def test_a_person_found_only_in_import_staging_is_erased_there(db):
    """A rejected row is all we hold of someone who never became a lead: erasure finds it."""
    row = lead_rows(1, seed=77)[0]
    row[ID_COLUMN] = "452159198001010000"
    batch = upload([row, lead_rows(1, seed=78)[0]])
    assert batch.rows_rejected == 1

    call_command("erase_lead", "--phone", row[0])

    assert list(rejected_rows(batch)) == []
    record = PersonalDataAccess.objects.get()
    assert record.lead_ids == "" and "导入暂存数据 1 行" in record.note
    assert all(row[0] not in cell for _table, cell in opened_cells())


def test_erasure_waits_for_an_import_in_flight_and_changes_nothing(world):
    """A file not yet analysed cannot be edited row by row: erasure is refused, naming it."""
    in_flight = services.import_batch_create(
        file_name="刚上传.xlsx", data=xlsx_bytes(CHINESE_HEADERS, [row_of(world["lead"])])
    )
    with pytest.raises(CommandError, match=f"#{in_flight.pk}（待分析）"):
        call_command("erase_lead", "--phone", world["person"]["phone"])
    assert not Lead.objects.get(pk=world["lead"].pk).is_erased
    assert not PersonalDataAccess.objects.exists()

    services.import_batch_cancel(in_flight)
    call_command("erase_lead", "--phone", world["person"]["phone"])
    assert Lead.objects.get(pk=world["lead"].pk).is_erased


def test_a_bad_identifier_is_refused():
    with pytest.raises(CommandError, match="手机号"):
        call_command("erase_lead", "--phone", "12345")
    with pytest.raises(CommandError, match="校验位"):
        call_command("erase_lead", "--id-number", "452159198001010000")


# --- the admin action ----------------------------------------------------------------------


def member(role: str, username: str) -> tuple[User, Client]:
    user = User.objects.create_user(username, password="Erasure-pass-2026", is_staff=True)
    user.groups.add(Group.objects.get(name=role))
    return user, log_in_verified(Client(), user)


def action_names(client: Client) -> set[str]:
    form = client.get(reverse("admin:leads_lead_changelist")).context["action_form"]
    return {name for name, _label in form.fields["action"].choices} if form else set()


def test_an_administrator_erases_through_the_action_on_the_second_post(world):
    lead, person = world["lead"], world["person"]
    administrator, client = member(ADMINISTRATOR, "admin.wu")
    assert "erase_personal_data" in action_names(client)
    changelist = reverse("admin:leads_lead_changelist")
    chosen = {"action": "erase_personal_data", "_selected_action": [lead.pk]}

    confirm = client.post(changelist, chosen)
    assert confirm.status_code == 200
    page = confirm.content.decode()
    assert lead.masked_phone in page and person["phone"] not in page
    assert not Lead.objects.get(pk=lead.pk).is_erased  # the first POST only asks

    no_reason = client.post(changelist, {**chosen, "apply": "1", "reason": ""})
    assert no_reason.status_code == 200 and "errorlist" in no_reason.content.decode()
    assert not Lead.objects.get(pk=lead.pk).is_erased

    done = client.post(changelist, {**chosen, "apply": "1", "reason": "书面申请"}, follow=True)
    assert done.status_code == 200
    assert f"已删除 1 条线索的个人信息（#{lead.pk}）" in done.content.decode()
    assert found_traces(person) == []
    record = PersonalDataAccess.objects.get(kind=AccessKind.ERASURE)
    assert record.actor == administrator and record.permission == "leads.erase_lead"
    assert record.granted_via == f"用户组：{ADMINISTRATOR}"
    assert record.page == changelist and "书面申请" in record.note


def test_operators_and_auditors_are_not_offered_the_action_and_cannot_post_it(world):
    lead = world["lead"]
    for role, name in ((OPERATOR, "op.li"), (AUDITOR, "au.he")):
        _user, client = member(role, name)
        assert "erase_personal_data" not in action_names(client)
        response = client.post(
            reverse("admin:leads_lead_changelist"),
            {
                "action": "erase_personal_data",
                "_selected_action": [lead.pk],
                "apply": "1",
                "reason": "x",
            },
        )
        assert response.status_code in (200, 302, 403)  # the list again, or a refusal
    assert not Lead.objects.get(pk=lead.pk).is_erased
    assert not PersonalDataAccess.objects.filter(kind=AccessKind.ERASURE).exists()


def test_select_all_cannot_erase_a_whole_list(make_leads):
    make_leads(21)
    _user, client = member(ADMINISTRATOR, "admin.wu")
    response = client.post(
        reverse("admin:leads_lead_changelist"),
        {"action": "erase_personal_data", "select_across": "1", "_selected_action": ["1"]},
        follow=True,
    )
    assert "一次最多 20 条" in response.content.decode()
    assert not Lead.objects.filter(erased_at__isnull=False).exists()


# --- screens and use cases after erasure ---------------------------------------------------


def test_screens_show_an_erased_lead_as_deleted(world):
    lead = world["lead"]
    call_command("erase_lead", "--phone", world["person"]["phone"])
    pii_viewer, _client = member(OPERATOR, "pii.viewer")
    pii_viewer.user_permissions.add(Permission.objects.get(codename="view_lead_pii"))
    operator, _client = member(OPERATOR, "op.li")
    for user in (pii_viewer, operator):
        client = log_in_verified(Client(), user)
        detail = client.get(reverse("admin:leads_lead_change", args=[lead.pk]))
        assert detail.status_code == 200
        assert "已删除" in detail.content.decode() and 'id="lead-erased"' in detail.content.decode()
        for name in (
            "admin:leads_lead_changelist",
            "admin:collision_collisionresult_changelist",
            "admin:pushes_push_changelist",
        ):
            page = client.get(reverse(name))
            assert page.status_code == 200, name
            assert "已删除" in page.content.decode(), name
        push = Push.objects.get(lead=lead)
        assert client.get(reverse("admin:pushes_push_change", args=[push.pk])).status_code == 200


def test_an_erased_lead_is_neither_checked_nor_pushed(world, partner):
    lead = world["lead"]
    call_command("erase_lead", "--phone", world["person"]["phone"])
    Push.objects.filter(lead=lead).update(state="failed")  # it never left: pushable again
    before = counts(lead)

    summary = check_leads(partner=partner, leads=Lead.objects.filter(pk=lead.pk))
    pushed = push_leads(partner=partner, leads=Lead.objects.filter(pk=lead.pk))

    assert (summary.checked, summary.requests) == (0, 0)
    assert pushed.sent == 0
    assert counts(lead) == before
    operator, client = member(OPERATOR, "op.li")
    response = client.post(
        reverse("admin:leads_lead_changelist"),
        {
            "action": "collision_check",
            "_selected_action": [lead.pk],
            "apply": "1",
            "partner": partner.pk,
        },
        follow=True,
    )
    assert "已跳过 1 条线索：其个人信息已依申请删除" in response.content.decode()
    assert counts(lead) == before

    # An unknown push of the lead is neither reconciled (a check) nor sent again.
    Push.objects.filter(lead=lead).update(state="unknown")
    unknown = Push.objects.filter(lead=lead)
    assert reconcile_unknown_pushes(pushes=unknown)["erased"] == 1
    assert retry_unknown_pushes(pushes=unknown).sent == 0
    assert AuditLogEntry.objects.count() == before["audit rows"]
    assert unknown.get().state == "unknown"
