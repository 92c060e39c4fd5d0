"""The personal-data access log (个人信息查看记录, PIPL): every sight of a lead's personal data in
full is one row saying who, when, which leads and why it was allowed; nothing else is; and
nobody can change or delete a row, through the ORM, the admin or (on PostgreSQL) SQL."""

import io

import pytest
from django.contrib.auth.models import Group, Permission, User
from django.db import DatabaseError, connection, transaction
from django.test import Client
from django.urls import reverse

from collision.models import CollisionResult
from collision.services import check_leads
from core.roles import ROLES
from leads.imports import services
from leads.models import AccessKind, ExportRecord, Lead, PersonalDataAccess
from pushes.models import Push
from pushes.services import push_leads
from tests.conftest import log_in_verified
from tests.import_files import CHINESE_HEADERS, lead_rows, xlsx_bytes

pytestmark = pytest.mark.django_db

OPERATOR, AUDITOR, ADMINISTRATOR = ROLES
PII_GROUP = "客服主管（可看完整信息）"


def permission(code: str) -> Permission:
    app_label, codename = code.split(".")
    return Permission.objects.get(content_type__app_label=app_label, codename=codename)


def staff(username: str, *groups: str, grants: tuple[str, ...] = ()) -> User:
    user = User.objects.create_user(username, password="Access-log-pass-2026", is_staff=True)
    for name in groups:
        user.groups.add(Group.objects.get(name=name))
    for code in grants:
        user.user_permissions.add(permission(code))
    return user


def client_for(user: User) -> Client:
    return log_in_verified(Client(), user)


@pytest.fixture
def pii_group(db) -> Group:
    group = Group.objects.create(name=PII_GROUP)
    group.permissions.add(permission("leads.view_lead_pii"))
    return group


@pytest.fixture
def holder(pii_group) -> User:
    """An operator who sees personal data through a group of its own."""
    user = staff("zhang.holder", OPERATOR)
    user.groups.add(pii_group)
    return user


def rows() -> list[PersonalDataAccess]:
    return list(PersonalDataAccess.objects.order_by("pk"))


# --- pages ---------------------------------------------------------------------------------


def test_a_pii_holder_opening_a_lead_page_writes_one_row_naming_the_lead_and_the_grant(
    holder, make_leads
):
    lead = make_leads(2)[0]
    page = client_for(holder).get(reverse("admin:leads_lead_change", args=[lead.pk]))

    assert page.status_code == 200
    assert lead.phone in page.content.decode()  # the page did show it in full
    (row,) = rows()
    assert row.kind == AccessKind.DETAIL
    assert row.lead_id_list == [lead.pk] and row.row_count == 1
    assert row.actor_id == holder.pk and row.actor_username == "zhang.holder"
    assert row.permission == "leads.view_lead_pii"
    assert row.granted_via == f"用户组：{PII_GROUP}"
    assert row.page == f"/admin/leads/lead/{lead.pk}/change/"


def test_a_direct_grant_is_named_as_such(make_leads):
    user = staff("li.direct", OPERATOR, grants=("leads.view_lead_pii",))
    lead = make_leads(1)[0]
    client_for(user).get(reverse("admin:leads_lead_change", args=[lead.pk]))
    (row,) = rows()
    assert row.granted_via == "直接授予"


def test_masked_viewers_write_nothing(make_leads, admin_user):
    """An operator, an auditor, and a superuser without an explicit grant (being superuser does
    not reveal personal data) see masked pages and leave no row."""
    leads = make_leads(3)
    viewers = [staff("op", OPERATOR), staff("au", AUDITOR), admin_user]
    for user in viewers:
        client = client_for(user)
        detail = client.get(reverse("admin:leads_lead_change", args=[leads[0].pk]))
        listing = client.get(reverse("admin:leads_lead_changelist"))
        assert detail.status_code == listing.status_code == 200
        for page in (detail, listing):
            assert leads[0].phone not in page.content.decode()
            assert leads[0].masked_phone in page.content.decode()
    assert rows() == []


def test_a_list_page_that_reveals_records_the_leads_it_showed_with_the_search_masked(
    holder, make_leads
):
    leads = make_leads(4)
    client = client_for(holder)

    client.get(reverse("admin:leads_lead_changelist"))
    client.get(reverse("admin:leads_lead_changelist"), {"q": leads[2].phone})

    listing, search = rows()
    assert listing.kind == search.kind == AccessKind.LIST
    assert listing.lead_id_list == sorted(lead.pk for lead in leads)
    assert search.lead_id_list == [leads[2].pk]
    assert leads[2].phone not in search.page and leads[2].masked_phone in search.page


def test_collision_and_push_pages_that_show_the_lead_in_full_are_recorded(
    holder, partner, make_leads
):
    leads = make_leads(3)
    everyone = Lead.objects.filter(pk__in=[lead.pk for lead in leads])
    check_leads(partner=partner, leads=everyone)
    push_leads(partner=partner, leads=everyone)
    result = CollisionResult.objects.filter(lead=leads[0]).latest("pk")
    pushed = sorted(Push.objects.values_list("lead_id", flat=True))
    assert pushed, "the sandbox must take some of the leads"
    client = client_for(holder)

    pages = {
        "collision list": reverse("admin:collision_collisionresult_changelist"),
        "collision detail": reverse("admin:collision_collisionresult_change", args=[result.pk]),
        "push list": reverse("admin:pushes_push_changelist"),
        "push detail": reverse(
            "admin:pushes_push_change", args=[Push.objects.get(lead=pushed[0]).pk]
        ),
    }
    for name, url in pages.items():
        page = client.get(url)
        assert page.status_code == 200, name
        assert leads[0].phone in page.content.decode() or name.startswith("push")

    collision_list, collision_detail, push_list, push_detail = rows()
    assert collision_list.kind == push_list.kind == AccessKind.LIST
    assert collision_list.lead_id_list == sorted(lead.pk for lead in leads)
    assert collision_detail.kind == AccessKind.DETAIL
    assert collision_detail.lead_id_list == [leads[0].pk]
    assert push_list.lead_id_list == pushed
    assert push_detail.kind == AccessKind.DETAIL  # the partner's answer, in full
    assert push_detail.lead_id_list == [pushed[0]]
    assert {row.permission for row in rows()} == {"leads.view_lead_pii"}


# --- exports and rejected rows -------------------------------------------------------------


def test_an_unmasked_export_writes_one_row_with_its_export_record(pii_group, make_leads):
    user = staff("wang.export", OPERATOR, grants=("leads.export_lead_pii",))
    leads = make_leads(3)
    client = client_for(user)
    export = reverse("admin:leads_lead_export")

    masked = client.post(export, {"file_format": "csv"})
    unmasked = client.post(
        export, {"file_format": "csv", "unmasked": "on"}, query_params={"q": leads[1].phone}
    )

    assert masked.status_code == unmasked.status_code == 200
    assert leads[1].phone in unmasked.content.decode("utf-8-sig")
    (row,) = rows()  # the masked export is an export record only
    record = ExportRecord.objects.get(unmasked=True)
    assert row.kind == AccessKind.EXPORT and row.export_record == record
    assert row.row_count == record.row_count == 1
    assert row.criteria == record.criteria and leads[1].masked_phone in row.criteria
    assert leads[1].phone not in row.criteria
    assert row.permission == "leads.export_lead_pii" and row.granted_via == "直接授予"
    assert ExportRecord.objects.count() == 2


def upload_with_a_rejected_row(user) -> "services.ImportBatch":
    table = lead_rows(3, seed=31)
    table[1][1] = "452159198001010000"  # a bad check digit: rejected
    batch = services.import_batch_create(
        file_name="渠道A.xlsx", data=xlsx_bytes(CHINESE_HEADERS, table), actor=user
    )
    services.import_batch_analyse(batch.pk)
    batch.refresh_from_db()
    assert batch.rows_rejected == 1
    return batch


def test_a_rejected_rows_download_writes_one_row_naming_the_uploader_or_the_right(db):
    uploader = staff("chen.upload", OPERATOR)
    manager = staff("zhao.manager", OPERATOR, grants=("leads.manage_all_importbatches",))
    batch = upload_with_a_rejected_row(uploader)
    url = reverse("admin:leads_importbatch_rejected", args=[batch.pk])

    own = client_for(uploader).get(url)
    other = client_for(manager).get(url)

    assert own.status_code == other.status_code == 200
    by_uploader, by_manager = rows()
    records = list(ExportRecord.objects.order_by("pk"))
    assert by_uploader.kind == by_manager.kind == AccessKind.REJECTED_ROWS
    assert (by_uploader.export_record, by_manager.export_record) == tuple(records)
    assert by_uploader.row_count == 1 and f"#{batch.pk}" in by_uploader.criteria
    assert (by_uploader.permission, by_uploader.granted_via) == ("", "上传者本人")
    assert by_manager.permission == "leads.manage_all_importbatches"
    assert by_manager.granted_via == "直接授予"
    assert by_manager.actor_username == "zhao.manager"


def test_an_import_batch_page_showing_rejected_cells_in_full_is_recorded(pii_group):
    uploader = staff("chen.upload", OPERATOR)
    batch = upload_with_a_rejected_row(uploader)
    page = reverse("admin:leads_importbatch_change", args=[batch.pk])

    assert client_for(uploader).get(page).status_code == 200  # masked: nothing to log
    assert rows() == []
    uploader.groups.add(pii_group)
    assert client_for(User.objects.get(pk=uploader.pk)).get(page).status_code == 200

    (row,) = rows()
    assert row.kind == AccessKind.DETAIL and row.lead_ids == "" and row.row_count == 1
    assert row.criteria == f"导入批次 #{batch.pk} 的被拒行"
    assert row.granted_via == f"用户组：{PII_GROUP}"


# --- append-only ---------------------------------------------------------------------------


@pytest.fixture
def logged(holder, make_leads) -> PersonalDataAccess:
    lead = make_leads(1)[0]
    client_for(holder).get(reverse("admin:leads_lead_change", args=[lead.pk]))
    return PersonalDataAccess.objects.get()


def test_rows_cannot_be_changed_or_deleted_through_the_orm(logged):
    with pytest.raises(TypeError):
        PersonalDataAccess.objects.update(granted_via="改过")
    with pytest.raises(TypeError):
        PersonalDataAccess.objects.all().delete()
    logged.granted_via = "改过"
    with pytest.raises(TypeError):
        logged.save()
    with pytest.raises(TypeError):
        logged.delete()
    assert PersonalDataAccess.objects.get().granted_via == f"用户组：{PII_GROUP}"


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the trigger is PostgreSQL's")
def test_postgresql_refuses_update_and_delete_of_a_row(logged):
    for sql in (
        "UPDATE leads_personaldataaccess SET granted_via = 'x'",
        "DELETE FROM leads_personaldataaccess",
    ):
        with (
            pytest.raises(DatabaseError, match="append-only"),
            transaction.atomic(),
            connection.cursor() as cursor,
        ):
            cursor.execute(sql)
    assert PersonalDataAccess.objects.get().granted_via == f"用户组：{PII_GROUP}"


def test_auditors_and_administrators_read_the_log_and_nobody_changes_it(logged, admin_user):
    auditor, administrator = staff("au", AUDITOR), staff("ad", ADMINISTRATOR)
    operator = staff("op", OPERATOR)
    listing = reverse("admin:leads_personaldataaccess_changelist")
    detail = reverse("admin:leads_personaldataaccess_change", args=[logged.pk])
    delete = reverse("admin:leads_personaldataaccess_delete", args=[logged.pk])
    add = reverse("admin:leads_personaldataaccess_add")

    for user in (auditor, administrator, admin_user):
        client = client_for(user)
        page = client.get(listing)
        assert page.status_code == 200 and "zhang.holder" in page.content.decode()
        shown = client.get(detail)
        assert shown.status_code == 200
        assert 'name="_save"' not in shown.content.decode()  # a read-only page
        assert client.post(detail, {"granted_via": "改过"}).status_code == 403
        assert client.post(delete, {"post": "yes"}).status_code == 403
        assert client.get(add).status_code == 403
    assert client_for(operator).get(listing).status_code == 403
    assert PersonalDataAccess.objects.get().granted_via == f"用户组：{PII_GROUP}"


def test_the_log_is_searched_by_lead_id_and_keeps_the_name_of_a_deleted_account(holder, make_leads):
    first, second = make_leads(2)
    client = client_for(holder)
    client.get(reverse("admin:leads_lead_change", args=[first.pk]))
    client.get(reverse("admin:leads_lead_change", args=[second.pk]))
    holder_id = holder.pk
    holder.delete()  # the account goes; its rows stay as they were

    auditor = client_for(staff("au", AUDITOR))
    page = auditor.get(reverse("admin:leads_personaldataaccess_changelist"), {"q": second.pk})
    assert list(page.context["cl"].result_list) == [
        PersonalDataAccess.objects.get(lead_ids=f",{second.pk},")
    ]
    assert "zhang.holder" in page.content.decode()
    assert set(PersonalDataAccess.objects.values_list("actor_id", flat=True)) == {holder_id}


def test_no_full_identifier_in_the_access_log(holder, make_leads):
    """The log names leads by id and keeps criteria masked: its table holds no phone or ID."""
    leads = make_leads(3)
    client = client_for(holder)
    client.get(reverse("admin:leads_lead_changelist"), {"q": leads[0].phone})
    client.get(reverse("admin:leads_lead_changelist"), {"q": leads[1].id_number})
    quote = connection.ops.quote_name
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT * FROM {quote(PersonalDataAccess._meta.db_table)}")  # noqa: S608
        text = repr(cursor.fetchall())
    assert len(rows()) == 2
    for lead in leads:
        assert lead.phone not in text and lead.id_number not in text
    assert leads[0].masked_phone in text


def test_an_upload_reveals_nothing_by_itself(db):
    """Uploading through the admin shows the preview masked: no row (only the download is)."""
    uploader = staff("chen.upload", OPERATOR)
    file = io.BytesIO(xlsx_bytes(CHINESE_HEADERS, lead_rows(2, seed=5)))
    file.name = "a.xlsx"
    client = client_for(uploader)
    response = client.post(
        reverse("admin:leads_lead_import"), {"import_file": file, "on_duplicate": "skip"}
    )
    assert response.status_code == 302
    assert client.get(response["Location"]).status_code == 200
    assert rows() == []
