"""Issue 13, finding 6: the audit log an auditor can read. Times to the second; a batch check's
page shows its leads as a table (masked phone, hash prefix, answer) that links to them; a filter
by operator; a search by a lead's phone, ID number or id (through the blind index); an export of
the filtered list, masked, permissioned and recorded; no link to a 403; a bounded page."""

import hashlib
import io
import re
from urllib.parse import urlencode

import openpyxl
import pytest
from django.contrib.auth.models import Group, Permission, User
from django.test import Client
from django.urls import reverse
from django.utils import formats, timezone

from collision.models import CollisionResult
from collision.services import check_leads
from core.masking import mask_phone
from core.roles import ROLES
from leads.erasure import erase, people_of
from leads.models import ExportRecord, Lead, PersonalDataAccess
from partners.models import AuditLogEntry, Operation
from pushes.models import Push
from pushes.services import push_leads
from tests.conftest import PARTNER_KEY, log_in_verified

pytestmark = pytest.mark.django_db

OPERATOR, AUDITOR, ADMINISTRATOR = ROLES
CHANGELIST = "admin:partners_auditlogentry_changelist"
EXPORT = "admin:partners_auditlogentry_export"
SECONDS = re.compile(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}")


def member(username: str, role: str) -> User:
    user = User.objects.create_user(username, password="Audit-pass-2026!", is_staff=True)
    user.groups.add(Group.objects.get(name=role))
    return user


def signed_in(user: User) -> Client:
    return log_in_verified(Client(), user)


@pytest.fixture
def auditor():
    return signed_in(member("shen.auditor", AUDITOR))


def detail(client: Client, entry: AuditLogEntry) -> str:
    response = client.get(reverse("admin:partners_auditlogentry_change", args=[entry.pk]))
    assert response.status_code == 200
    return response.content.decode()


def listing(client: Client, **query) -> str:
    response = client.get(reverse(CHANGELIST), query)
    assert response.status_code == 200
    return response.content.decode()


def listed_ids(page: str) -> set[int]:
    return {int(pk) for pk in re.findall(r"/admin/partners/auditlogentry/(\d+)/change/", page)}


def batch_check(partner, leads, actor=None) -> AuditLogEntry:
    selection = Lead.objects.filter(pk__in=[lead.pk for lead in leads])
    check_leads(partner=partner, leads=selection, actor=actor)
    return AuditLogEntry.objects.latest("pk")


def checked_and_pushed(partner, leads, actor=None) -> tuple[Lead, AuditLogEntry, Push]:
    """Check ``leads`` in one batch, then push the first one the partner says is marketable."""
    entry = batch_check(partner, leads, actor=actor)
    lead = next(
        r.lead for r in CollisionResult.objects.filter(audit_entry=entry, is_marketable=True)
    )
    push_leads(partner=partner, leads=Lead.objects.filter(pk=lead.pk), actor=actor)
    return lead, entry, Push.objects.get(lead=lead)


def test_times_are_shown_to_the_second_on_the_list_and_the_page(
    auditor, partner, sandbox, make_leads
):
    entry = batch_check(partner, make_leads(2))
    shown = formats.date_format(timezone.localtime(entry.created_at), "DATETIME_FORMAT")
    assert shown.endswith(timezone.localtime(entry.created_at).strftime(" %H:%M:%S"))
    assert shown in listing(auditor)
    assert shown in detail(auditor, entry)


def test_a_batch_check_shows_its_leads_masked_with_hash_prefix_and_answer_and_links_to_them(
    auditor, partner, sandbox, make_leads
):
    leads = make_leads(5)
    entry = batch_check(partner, leads)
    page = detail(auditor, entry)
    table = page[page.index('id="audit-leads"') :]
    assert "本次调用涉及的线索（5 条）" in table
    results = {r.lead_id: r for r in CollisionResult.objects.filter(audit_entry=entry)}
    for lead in leads:
        assert lead.phone not in page  # masked everywhere on the page
        assert mask_phone(lead.phone) in table
        assert hashlib.md5(lead.phone.encode()).hexdigest()[:3] + "…" in table  # noqa: S324
        assert results[lead.pk].get_user_status_display() in table
        link = reverse("admin:leads_lead_change", args=[lead.pk])
        assert f'href="{link}"' in table
        assert auditor.get(link).status_code == 200  # the link opens for the auditor
    # The raw bodies are still there, folded below the table.
    assert table.index("audit-leads-table") < table.index("<details>")
    assert "请求与应答原文（打码）" in table


def test_a_push_shows_its_lead_and_the_answer(auditor, partner, sandbox, make_leads):
    lead, _, push = checked_and_pushed(partner, make_leads(6))
    page = detail(auditor, push.audit_entry)
    assert push.audit_entry.operation == Operation.PUSH
    assert mask_phone(lead.phone) in page and lead.phone not in page
    assert push.get_state_display() in page[page.index('id="audit-leads"') :]


def test_without_the_right_to_open_leads_the_table_has_no_links(partner, sandbox, make_leads):
    """A user who may read the audit log but not lead pages sees ids, not links to a 403."""
    reader = User.objects.create_user("log.reader", is_staff=True)
    reader.user_permissions.add(Permission.objects.get(codename="view_auditlogentry"))
    leads = make_leads(2)
    page = detail(signed_in(reader), batch_check(partner, leads))
    assert mask_phone(leads[0].phone) in page
    assert "/admin/leads/lead/" not in page


def test_an_operator_is_shown_no_link_into_the_audit_log(partner, sandbox, make_leads):
    """Operators read check results and pushes, not the audit log: the result's page names its
    audit row without a link (core.admin_links), and the audit pages stay closed."""
    operator = signed_in(member("wang.operator", OPERATOR))
    entry = batch_check(partner, make_leads(2))
    result = CollisionResult.objects.filter(audit_entry=entry).first()
    page = operator.get(reverse("admin:collision_collisionresult_change", args=[result.pk]))
    assert page.status_code == 200
    assert "/admin/partners/auditlogentry/" not in page.content.decode()
    assert operator.get(reverse(CHANGELIST)).status_code == 403
    assert operator.get(reverse(EXPORT)).status_code == 403


def test_an_erased_lead_stays_in_the_table_without_its_phone(auditor, partner, sandbox, make_leads):
    leads = make_leads(3)
    entry = batch_check(partner, leads)
    erase(people_of(Lead.objects.filter(pk=leads[0].pk)), reason="依申请")
    table = detail(auditor, entry).split('id="audit-leads"')[1]
    assert "本次调用涉及的线索（3 条）" in table
    assert mask_phone(leads[0].phone) not in table and "已删除" in table
    assert mask_phone(leads[1].phone) in table
    assert listed_ids(listing(auditor, q=leads[0].phone)) == set()  # nothing finds it any more


def test_revealed_phones_are_logged_as_a_sight_of_personal_data(partner, sandbox, make_leads):
    viewer = member("pii.auditor", AUDITOR)
    viewer.user_permissions.add(Permission.objects.get(codename="view_lead_pii"))
    leads = make_leads(2)
    entry = batch_check(partner, leads)
    page = detail(signed_in(viewer), entry)
    assert all(lead.phone in page for lead in leads)
    sight = PersonalDataAccess.objects.get(actor=viewer)
    assert sight.page == reverse("admin:partners_auditlogentry_change", args=[entry.pk])
    assert sight.lead_ids == PersonalDataAccess.joined_ids(sorted(lead.pk for lead in leads))


def test_filter_by_operator_lists_who_acted_and_the_command_line(
    auditor, partner, sandbox, make_leads
):
    wang, li = member("wang.operator", OPERATOR), member("li.operator", OPERATOR)
    by_wang = batch_check(partner, make_leads(2), actor=wang)
    by_li = batch_check(partner, make_leads(2), actor=li)
    by_nobody = batch_check(partner, make_leads(2))
    page = listing(auditor)
    assert "?actor=wang.operator" in page and "?actor=li.operator" in page
    assert "命令行/后台任务" in page
    assert listed_ids(listing(auditor, actor="wang.operator")) == {by_wang.pk}
    assert listed_ids(listing(auditor, actor="li.operator")) == {by_li.pk}
    assert listed_ids(listing(auditor, actor="-")) == {by_nobody.pk}


def test_search_by_phone_id_number_or_lead_id_finds_the_calls_about_that_lead(
    auditor, partner, sandbox, make_leads
):
    leads = make_leads(8)
    lead, first, push = checked_and_pushed(partner, leads[:6])
    single = batch_check(partner, [lead])
    other = batch_check(partner, leads[6:])
    wanted = {first.pk, single.pk, push.audit_entry_id}
    for term in (lead.phone, lead.id_number, lead.id_number.lower(), str(lead.pk), f"#{lead.pk}"):
        page = listing(auditor, q=term)
        assert listed_ids(page) == wanted, term
    assert listed_ids(listing(auditor, q=leads[7].phone)) == {other.pk}
    assert listed_ids(listing(auditor, q="13800000000")) == set()  # nobody's phone


def export(client: Client, **query):
    query_string = urlencode(query)
    return client.post(f"{reverse(EXPORT)}?{query_string}", {"file_format": "xlsx"})


def test_the_export_is_the_filtered_list_masked_without_keys_and_recorded(
    auditor, partner, sandbox, make_leads
):
    wang = member("wang.operator", OPERATOR)
    leads = make_leads(6)
    lead, _, _ = checked_and_pushed(partner, leads, actor=wang)
    batch_check(partner, [lead])  # by nobody: filtered out
    page = listing(auditor)
    assert f'href="{reverse(EXPORT)}"' in page
    assert auditor.get(reverse(EXPORT), {"actor": "wang.operator"}).status_code == 200

    response = export(auditor, actor="wang.operator", q=lead.phone)
    assert response.status_code == 200
    assert "attachment" in response["Content-Disposition"]
    sheet = openpyxl.load_workbook(io.BytesIO(response.content)).worksheets[0]
    rows = [[cell.value for cell in row] for row in sheet.iter_rows()]
    header, body = rows[0], rows[1:]
    assert header[:3] == ["时间", "审计日志ID", "合作平台"]
    wanted = AuditLogEntry.objects.filter(actor_username="wang.operator")
    assert sorted(int(row[1]) for row in body) == sorted(wanted.values_list("pk", flat=True))
    assert all(SECONDS.fullmatch(row[0]) for row in body)
    text = "\n".join(str(value) for row in rows for value in row)
    assert PARTNER_KEY not in text
    assert not any(lead.phone in text or lead.id_number in text for lead in leads)

    record = ExportRecord.objects.get()
    assert record.kind == "audit_log" and record.row_count == len(body) and not record.unmasked
    assert lead.phone not in record.criteria and mask_phone(lead.phone) in record.criteria


@pytest.mark.parametrize("role", [OPERATOR, ADMINISTRATOR])
def test_only_who_holds_the_export_right_is_offered_and_may_export(
    role, partner, sandbox, make_leads
):
    batch_check(partner, make_leads(2))
    client = signed_in(member("someone", role))
    if role == ADMINISTRATOR:  # reads the log, may not export it
        assert reverse(EXPORT) not in listing(client)
    assert client.get(reverse(EXPORT)).status_code == 403
    assert export(client).status_code == 403
    assert not ExportRecord.objects.exists()


def test_a_batch_of_1000_leads_opens_in_a_bounded_number_of_queries(
    auditor, partner, sandbox, bulk_leads, django_assert_max_num_queries
):
    bulk_leads(1000)
    entry = batch_check(partner, Lead.objects.all())
    assert entry.lead_count == 1000
    with django_assert_max_num_queries(16):  # 14 measured, whatever the number of leads
        page = detail(auditor, entry)
    assert "本次调用涉及的线索（1000 条）" in page
    assert page.count("/admin/leads/lead/") >= 1000
