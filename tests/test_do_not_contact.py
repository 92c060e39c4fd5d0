"""The do-not-contact list (leads.do_not_contact): blind indexes only, matched to leads through
the same unique index; additions by operators (by hand, from a file, from a lead's page),
removals by administrators only, each recorded append-only."""

import io

import pytest
from django.contrib.auth.models import Group, User
from django.contrib.messages import get_messages
from django.core.exceptions import ValidationError
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from core.roles import ADMINISTRATOR, AUDITOR, OPERATOR
from leads import do_not_contact
from leads.do_not_contact import DoNotContactRefused, listed_reason
from leads.models import (
    DoNotContact,
    DoNotContactKind,
    DoNotContactReason,
    DoNotContactRemoval,
    Lead,
    id_number_index,
    phone_index,
)
from tests.conftest import log_in_verified
from tests.import_files import xlsx_bytes


def reasons(leads) -> dict[int, str | None]:
    return dict(
        Lead.objects.filter(pk__in=[lead.pk for lead in leads])
        .annotate(dnc=listed_reason())
        .values_list("pk", "dnc")
    )


def listed(kind, index, reason=DoNotContactReason.REQUESTED) -> DoNotContact:
    return DoNotContact.objects.create(kind=kind, blind_index=index, reason=reason)


# -- listed_reason: what enforcement annotates leads with ---------------------------------------


@pytest.mark.django_db
def test_listed_reason_matches_a_lead_by_its_phone(make_leads):
    lead, other = make_leads(2)
    listed(DoNotContactKind.PHONE, phone_index(lead.phone), DoNotContactReason.COMPLAINT)
    assert reasons([lead, other]) == {lead.pk: "complaint", other.pk: None}


@pytest.mark.django_db
def test_listed_reason_matches_a_lead_by_its_id_number(make_leads):
    lead, other = make_leads(2)
    listed(DoNotContactKind.ID_NUMBER, id_number_index(lead.id_number), "converted")
    assert reasons([lead, other]) == {lead.pk: "converted", other.pk: None}


@pytest.mark.django_db
def test_a_phone_index_does_not_list_an_id_number_of_the_same_value(make_leads):
    """Kinds are separate: an entry of one kind never matches the other column."""
    (lead,) = make_leads(1)
    listed(DoNotContactKind.ID_NUMBER, lead.phone_index)
    listed(DoNotContactKind.PHONE, lead.id_number_index)
    assert reasons([lead]) == {lead.pk: None}


@pytest.mark.django_db
def test_listed_reason_prefers_the_phone_entry_when_both_are_listed(make_leads):
    (lead,) = make_leads(1)
    listed(DoNotContactKind.PHONE, lead.phone_index, "complaint")
    listed(DoNotContactKind.ID_NUMBER, lead.id_number_index, "converted")
    assert reasons([lead]) == {lead.pk: "complaint"}


@pytest.mark.django_db
def test_an_erased_lead_is_not_matched(make_leads):
    (lead,) = make_leads(1)
    phone, id_number = lead.phone_index, lead.id_number_index
    listed(DoNotContactKind.PHONE, phone)
    listed(DoNotContactKind.ID_NUMBER, id_number)
    lead.erased_at = timezone.now()
    lead.pii = {}
    lead.save()
    assert (lead.phone_index, lead.id_number_index) == (None, None)
    assert reasons([lead]) == {lead.pk: None}


@pytest.mark.django_db
def test_listed_reason_reads_the_unique_index(make_leads):
    """One index probe per lead and kind, no scan of the list."""
    from django.db import connection

    make_leads(1)
    if connection.vendor == "postgresql":
        # Tiny tables are cheaper to scan: ask whether the index can serve, as it must at scale.
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL enable_seqscan = off")
    plan = Lead.objects.annotate(dnc=listed_reason()).values("dnc").explain()
    assert "do_not_contact_unique" in plan or "sqlite_autoindex_leads_donotcontact" in plan
    assert "SCAN leads_donotcontact" not in plan and "Seq Scan on leads_donotcontact" not in plan


def test_reason_label_is_chinese():
    assert do_not_contact.reason_label("requested") == "本人要求"
    assert do_not_contact.reason_label(DoNotContactReason.CONVERTED) == "已成交"
    assert do_not_contact.reason_label("gone") == "gone"


# -- adding ---------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_add_lead_lists_its_phone_and_id_number_once(make_leads, admin_user):
    (lead,) = make_leads(1)
    added = do_not_contact.add_lead(lead, reason="complaint", note="电话投诉", actor=admin_user)
    assert {(entry.kind, entry.blind_index) for entry in added} == {
        ("phone", lead.phone_index),
        ("id_number", lead.id_number_index),
    }
    assert {entry.lead_id for entry in added} == {lead.pk}
    assert {entry.added_by_id for entry in added} == {admin_user.pk}
    assert do_not_contact.add_lead(lead, reason="complaint") == []
    assert DoNotContact.objects.count() == 2


@pytest.mark.django_db
def test_add_lead_refuses_an_erased_lead(make_leads):
    (lead,) = make_leads(1)
    lead.erased_at = timezone.now()
    lead.save()
    with pytest.raises(DoNotContactRefused, match="已删除"):
        do_not_contact.add_lead(lead, reason="requested")
    assert isinstance(DoNotContactRefused("x"), ValueError)
    assert not DoNotContact.objects.exists()


@pytest.mark.django_db
def test_add_numbers_normalises_like_the_import(make_leads):
    (lead,) = make_leads(1)
    full_width = lead.phone.translate(str.maketrans("0123456789", "０１２３４５６７８９"))
    added = do_not_contact.add_numbers(
        phone=f"+86 {full_width}", id_number=lead.id_number.lower(), reason="requested"
    )
    assert len(added) == 2
    assert reasons([lead]) == {lead.pk: "requested"}
    # The entry holds the index and nothing else of the person.
    stored = list(DoNotContact.objects.values_list("blind_index", "note"))
    assert all(lead.phone not in str(row) and lead.id_number not in str(row) for row in stored)


@pytest.mark.django_db
def test_add_numbers_says_what_is_wrong():
    with pytest.raises(ValidationError) as bad:
        do_not_contact.add_numbers(phone="12345", id_number="110101199003070000", reason="other")
    assert set(bad.value.message_dict) == {"phone", "id_number"}
    with pytest.raises(ValidationError, match="至少填写"):
        do_not_contact.add_numbers(reason="other")
    with pytest.raises(DoNotContactRefused, match="个人信息"):
        do_not_contact.add_numbers(phone="13800138000", reason="other", note="他的号 13800138000")
    assert not DoNotContact.objects.exists()


# -- removing -------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_remove_records_who_when_and_why(admin_user):
    (entry,) = do_not_contact.add_numbers(phone="13800138000", reason="converted")
    record = do_not_contact.remove(entry, actor=admin_user, why="录入错误")
    assert not DoNotContact.objects.exists()
    assert DoNotContactRemoval.objects.get() == record
    assert (record.kind, record.blind_index, record.reason, record.why) == (
        "phone",
        phone_index("13800138000"),
        "converted",
        "录入错误",
    )
    assert record.actor_username == admin_user.username
    with pytest.raises(TypeError):
        record.delete()


@pytest.mark.django_db
def test_remove_needs_a_reason(admin_user):
    (entry,) = do_not_contact.add_numbers(phone="13800138000", reason="converted")
    with pytest.raises(DoNotContactRefused, match="移除理由"):
        do_not_contact.remove(entry, actor=admin_user, why="  ")
    assert DoNotContact.objects.exists()
    assert not DoNotContactRemoval.objects.exists()


# -- the admin, as each role ------------------------------------------------------------------------

PHONE, ID_NUMBER = "13800138000", "11010519491231002X"


def signed_in(role: str):
    """A client signed in (both factors) as a member of the role's group; "superuser" too."""
    user = User.objects.create_user(
        f"dnc-{role}", is_staff=True, is_superuser=role == "superuser", password="x-Pass-2026!"
    )
    if role != "superuser":
        user.groups.add(Group.objects.get(name=role))
    return log_in_verified(Client(), user), user


@pytest.fixture
def operator(db):
    return signed_in(OPERATOR)[0]


@pytest.fixture
def auditor(db):
    return signed_in(AUDITOR)[0]


@pytest.fixture
def administrator(db):
    return signed_in(ADMINISTRATOR)


def shown(response) -> list[str]:
    return [str(message) for message in get_messages(response.wsgi_request)]


def url(name: str, *args) -> str:
    return reverse(f"admin:{name}", args=args)


@pytest.mark.django_db
def test_operator_adds_numbers_which_are_kept_as_indexes_only(operator):
    assert operator.get(url("leads_donotcontact_add")).status_code == 200
    response = operator.post(
        url("leads_donotcontact_add"),
        {"phone": PHONE, "id_number": ID_NUMBER.lower(), "reason": "requested", "note": "来电"},
    )
    assert response.status_code == 302
    assert shown(response) == ["已加入免打扰名单：手机号、身份证号"]
    assert set(DoNotContact.objects.values_list("kind", "blind_index")) == {
        ("phone", phone_index(PHONE)),
        ("id_number", id_number_index(ID_NUMBER)),
    }
    # The list shows no number, in clear or masked, and names who added it.
    page = operator.get(url("leads_donotcontact_changelist")).content.decode()
    assert PHONE not in page and PHONE[-4:] not in page and ID_NUMBER[-4:] not in page
    assert "dnc-运营" in page and "本人要求" in page


@pytest.mark.django_db
def test_adding_a_listed_number_again_is_reported_not_an_error(operator):
    do_not_contact.add_numbers(phone=PHONE, reason="complaint")
    response = operator.post(
        url("leads_donotcontact_add"),
        {"phone": PHONE, "id_number": ID_NUMBER, "reason": "requested"},
        follow=True,
    )
    assert response.status_code == 200
    assert [str(m) for m in response.context["messages"]] == [
        "已加入免打扰名单：身份证号",
        "手机号此前已在免打扰名单中，未重复添加",
    ]
    assert DoNotContact.objects.get(kind="phone").reason == "complaint"  # left as it was


@pytest.mark.django_db
def test_bad_or_missing_numbers_are_refused_in_chinese(operator):
    response = operator.post(
        url("leads_donotcontact_add"),
        {"phone": "1380013800", "id_number": "110105194912310020", "reason": "requested"},
    )
    assert response.status_code == 200
    errors = response.context["form"].errors
    assert errors["phone"] == ["不是有效的中国大陆手机号（11 位，1 开头）"]
    assert errors["id_number"] == ["身份证号校验位不对（GB 11643）"]
    response = operator.post(url("leads_donotcontact_add"), {"reason": "requested"})
    assert "请至少填写手机号或身份证号中的一项" in response.context["form"].non_field_errors()
    response = operator.post(
        url("leads_donotcontact_add"), {"phone": PHONE, "reason": "requested", "note": PHONE}
    )
    assert response.context["form"].errors["note"] == ["备注里不能写手机号、身份证号等个人信息"]
    assert not DoNotContact.objects.exists()


@pytest.mark.django_db
def test_the_list_is_searched_by_a_whole_number_only(operator):
    do_not_contact.add_numbers(phone=PHONE, id_number=ID_NUMBER, reason="requested")
    do_not_contact.add_numbers(phone="13900139000", reason="complaint")

    def found(term):
        response = operator.get(url("leads_donotcontact_changelist"), {"q": term})
        return sorted(response.context["cl"].result_list.values_list("kind", flat=True))

    assert found(f"+86 {PHONE}") == ["phone"]
    assert found(ID_NUMBER.lower()) == ["id_number"]
    assert found(PHONE[:7]) == []
    assert found(phone_index(PHONE)) == []  # not even the index itself
    assert found("本人要求") == []


def import_file(client, rows, headers=("手机号", "身份证号", "原因", "备注")):
    upload = io.BytesIO(xlsx_bytes(list(headers), rows))
    upload.name = "免打扰.xlsx"
    return client.post(url("leads_donotcontact_import"), {"import_file": upload})


@pytest.mark.django_db
def test_import_lists_good_rows_counts_duplicates_and_reports_every_bad_row(operator):
    do_not_contact.add_numbers(phone="13900139000", reason="complaint")  # listed before
    rows = [
        [PHONE, ID_NUMBER, "投诉", "电话投诉"],  # row 2: two numbers listed
        ["13900139000", "", "", ""],  # row 3: already listed
        ["", "", "", ""],  # blank: passed over
        ["13700137000", "", "已成交", ""],  # row 5
        [PHONE, "", "本人要求", ""],  # row 6: earlier in the file
        ["1234", "", "", ""],  # row 7: bad phone
        ["", "", "投诉", "无号码"],  # row 8: nothing given
        ["13600136000", "", "拉黑", ""],  # row 9: unknown reason
        ["13500135000", "110105194912310020", "", ""],  # row 10: bad ID: nothing of it listed
        ["13400134000", "", "", "号码13400134000"],  # row 11: personal data in the note
        [13300133000, "", None, None],  # row 12: a phone typed as a number
    ]
    response = import_file(operator, rows)
    assert response.status_code == 200
    result = response.context["result"]
    assert (result.rows, result.added, result.already) == (10, 4, 2)
    problems = {bad.row: "；".join(bad.problems) for bad in result.bad_rows}
    assert problems == {
        7: "不是有效的中国大陆手机号（11 位，1 开头）",
        8: "请至少填写手机号或身份证号中的一项",
        9: "原因只能填：本人要求、投诉、已成交、其他（留空为“本人要求”）",
        10: "身份证号校验位不对（GB 11643）",
        11: "备注里不能写手机号、身份证号等个人信息",
    }
    page = response.content.decode()
    assert "身份证号校验位不对（GB 11643）" in page and "<td>10</td>" in page
    listed = dict(DoNotContact.objects.values_list("blind_index", "reason"))
    assert listed[phone_index(PHONE)] == "complaint"
    assert listed[id_number_index(ID_NUMBER)] == "complaint"
    assert listed[phone_index("13700137000")] == "converted"
    assert listed[phone_index("13300133000")] == "requested"  # empty reason: 本人要求
    assert phone_index("13500135000") not in listed
    assert DoNotContact.objects.get(blind_index=phone_index(PHONE)).note == "电话投诉"


@pytest.mark.django_db
def test_import_reads_tolerant_headers_below_a_title_and_refuses_a_file_without_numbers(
    operator,
):
    upload = io.BytesIO(
        xlsx_bytes(["*手机号码（必填）", "免打扰原因"], [[PHONE, "投诉"]], title_rows=[["名单"]])
    )
    upload.name = "list.xlsx"
    response = operator.post(url("leads_donotcontact_import"), {"import_file": upload})
    assert response.context["result"].added == 1
    response = import_file(operator, [["张三"]], headers=("姓名",))
    assert response.context["result"] is None
    assert "找不到表头" in str(response.context["form"].errors["import_file"])


@pytest.mark.django_db
def test_operator_lists_a_lead_from_its_page(operator, make_leads):
    (lead,) = make_leads(1)
    page = operator.get(url("leads_lead_change", lead.pk)).content.decode()
    action = url("leads_lead_do_not_contact", lead.pk)
    assert action in page and "加入免打扰名单" in page
    assert operator.get(action).status_code == 200
    response = operator.post(action, {"reason": "converted", "note": "已放款"}, follow=True)
    assert response.redirect_chain[-1][0] == url("leads_lead_change", lead.pk)
    assert {(e.kind, e.lead_id, e.reason) for e in DoNotContact.objects.all()} == {
        ("phone", lead.pk, "converted"),
        ("id_number", lead.pk, "converted"),
    }
    # The lead's page now says so.
    assert "这条线索在免打扰名单中" in response.content.decode()


@pytest.mark.django_db
def test_an_erased_lead_offers_no_button_and_is_refused(operator, make_leads):
    (lead,) = make_leads(1)
    lead.erased_at = timezone.now()
    lead.save()
    action = url("leads_lead_do_not_contact", lead.pk)
    assert action not in operator.get(url("leads_lead_change", lead.pk)).content.decode()
    response = operator.post(action, {"reason": "requested"})
    assert "个人信息已删除" in response.content.decode()
    assert not DoNotContact.objects.exists()


@pytest.mark.django_db
def test_auditor_views_but_cannot_add_or_remove(auditor, make_leads):
    (lead,) = make_leads(1)
    (entry, _id) = do_not_contact.add_lead(lead, reason="complaint")
    page = auditor.get(url("leads_donotcontact_changelist")).content.decode()
    assert url("leads_donotcontact_change", entry.pk) in page
    assert url("leads_donotcontact_add") not in page
    assert url("leads_donotcontact_import") not in page
    assert (
        url("leads_donotcontact_remove", entry.pk)
        not in auditor.get(url("leads_donotcontact_change", entry.pk)).content.decode()
    )
    assert (
        url("leads_lead_do_not_contact", lead.pk)
        not in auditor.get(url("leads_lead_change", lead.pk)).content.decode()
    )
    for refused in (
        auditor.post(url("leads_donotcontact_add"), {"phone": PHONE, "reason": "other"}),
        auditor.post(url("leads_lead_do_not_contact", lead.pk), {"reason": "other"}),
        auditor.post(url("leads_donotcontact_import")),
        auditor.post(url("leads_donotcontact_remove", entry.pk), {"why": "试试"}),
        auditor.post(url("leads_donotcontact_delete", entry.pk), {"post": "yes"}),
    ):
        assert refused.status_code == 403
    assert DoNotContact.objects.count() == 2
    assert auditor.get(url("leads_donotcontactremoval_changelist")).status_code == 200


@pytest.mark.django_db
def test_operator_cannot_remove(operator):
    (entry,) = do_not_contact.add_numbers(phone=PHONE, reason="complaint")
    page = operator.get(url("leads_donotcontact_change", entry.pk)).content.decode()
    assert url("leads_donotcontact_remove", entry.pk) not in page
    assert operator.get(url("leads_donotcontact_remove", entry.pk)).status_code == 403
    assert (
        operator.post(url("leads_donotcontact_remove", entry.pk), {"why": "x"}).status_code == 403
    )
    assert operator.get(url("leads_donotcontactremoval_changelist")).status_code == 403
    assert DoNotContact.objects.filter(pk=entry.pk).exists()


@pytest.mark.django_db
def test_administrator_removes_with_a_reason_and_it_is_recorded(administrator):
    client, user = administrator
    (entry,) = do_not_contact.add_numbers(phone=PHONE, reason="complaint")
    page = client.get(url("leads_donotcontact_change", entry.pk)).content.decode()
    remove_url = url("leads_donotcontact_remove", entry.pk)
    assert remove_url in page
    response = client.post(remove_url, {"why": "   "})
    assert response.status_code == 200 and response.context["form"].errors["why"]
    assert DoNotContact.objects.filter(pk=entry.pk).exists()
    response = client.post(remove_url, {"why": "本人书面撤回，工单 88"})
    assert response.status_code == 302
    assert shown(response) == ["已从免打扰名单移除，并记入移除记录"]
    assert not DoNotContact.objects.exists()
    record = DoNotContactRemoval.objects.get()
    assert (record.kind, record.blind_index, record.reason, record.why, record.actor_id) == (
        "phone",
        phone_index(PHONE),
        "complaint",
        "本人书面撤回，工单 88",
        user.pk,
    )
    assert record.actor_username == user.username and record.added_at == entry.created_at
    log = client.get(url("leads_donotcontactremoval_changelist"), {"q": PHONE})
    assert list(log.context["cl"].result_list) == [record]
    assert client.get(url("leads_donotcontactremoval_change", record.pk)).status_code == 200
    assert client.get(url("leads_donotcontactremoval_delete", record.pk)).status_code == 403


@pytest.mark.django_db
@pytest.mark.parametrize("role", [ADMINISTRATOR, "superuser"])
def test_no_admin_path_deletes_without_the_removal_record(role):
    """Django's delete view and its bulk delete action are off even for who may remove."""
    client, _user = signed_in(role)
    (entry,) = do_not_contact.add_numbers(phone=PHONE, reason="complaint")
    assert client.get(url("leads_donotcontact_delete", entry.pk)).status_code == 403
    assert (
        client.post(url("leads_donotcontact_delete", entry.pk), {"post": "yes"}).status_code == 403
    )
    listing = client.get(url("leads_donotcontact_changelist"))
    assert listing.context.get("action_form") is None  # no delete_selected offered
    client.post(
        url("leads_donotcontact_changelist"),
        {"action": "delete_selected", "_selected_action": [entry.pk], "post": "yes"},
    )
    assert DoNotContact.objects.filter(pk=entry.pk).exists()
    assert not DoNotContactRemoval.objects.exists()


def test_the_roles_grant_the_list_as_the_brief_says():
    from core.roles import ROLES

    assert {"leads.view_donotcontact", "leads.add_donotcontact"} <= set(ROLES[OPERATOR])
    assert "leads.delete_donotcontact" not in ROLES[OPERATOR] + ROLES[AUDITOR]
    assert "leads.add_donotcontact" not in ROLES[AUDITOR]
    assert "leads.delete_donotcontact" in ROLES[ADMINISTRATOR]
    assert "leads.view_donotcontactremoval" in ROLES[AUDITOR]
    assert "leads.view_donotcontactremoval" not in ROLES[OPERATOR]


@pytest.mark.django_db
def test_pages_of_an_entry_that_is_not_there_answer_404(administrator):
    client, _user = administrator
    assert client.get(url("leads_donotcontact_remove", "999")).status_code == 404
    assert client.get("/admin/leads/donotcontact/x/remove/").status_code == 404
    assert client.get("/admin/leads/lead/x/do-not-contact/").status_code == 404
