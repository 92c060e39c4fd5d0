"""The do-not-contact list (leads.do_not_contact): blind indexes only, matched to leads through
the same unique index; additions by operators (by hand, from a file, from a lead's page),
removals by administrators only, each recorded append-only."""

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

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
    sql, params = Lead.objects.annotate(dnc=listed_reason()).values("dnc").query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN QUERY PLAN {sql}", params)
        plan = " | ".join(str(row[-1]) for row in cursor.fetchall())
    assert "do_not_contact_unique" in plan or "sqlite_autoindex_leads_donotcontact" in plan
    assert "SCAN leads_donotcontact" not in plan


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
