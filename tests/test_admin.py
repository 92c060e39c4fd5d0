"""The admin through Django's test client: masked PII, blind-index search, the check and push
actions with their partner page, permissions, the lead timeline and the read-only audit log."""

import re

import pytest
from django.contrib.auth.models import Group, Permission, User
from django.test import Client
from django.urls import reverse

from collision.models import CollisionResult
from collision.services import check_leads
from core.masking import (
    mask_address,
    mask_id_number,
    mask_middle,
    mask_name,
    mask_phone,
)
from core.roles import OPERATOR
from jobs.models import Job
from leads.models import Lead
from partners.models import AuditLogEntry, Environment, Partner
from pushes.models import Push, PushState
from pushes.services import push_leads
from sandbox.server import PUSH_PATH, Fault
from tests.conftest import PARTNER_KEY, log_in_verified

LEAD_LIST = reverse("admin:leads_lead_changelist")
VALID_ID_NUMBER = "11010519491231002X"  # GB 11643 check digit X
FULL_WIDTH = str.maketrans("0123456789X", "０１２３４５６７８９Ｘ")


def staff_client(*perms: str, via_group: bool = False) -> Client:
    """A logged-in staff user (not a superuser) holding exactly ``perms`` ("app.codename")."""
    user = User.objects.create_user(f"staff{User.objects.count()}", is_staff=True)
    permissions = [
        Permission.objects.get(content_type__app_label=app, codename=codename)
        for app, codename in (perm.split(".") for perm in perms)
    ]
    if via_group:
        group = Group.objects.create(name=f"group-of-{user.username}")
        group.permissions.set(permissions)
        user.groups.add(group)
    else:
        user.user_permissions.set(permissions)
    return log_in_verified(Client(), user)


def lead_change_url(lead: Lead) -> str:
    return reverse("admin:leads_lead_change", args=[lead.pk])


def plain_values(lead: Lead, *, detail: bool) -> list[str]:
    values = [lead.phone, lead.id_number, lead.name]
    if detail:
        values += [
            lead.wechat,
            lead.qq,
            lead.address,
            lead.emergency_contact_name,
            lead.emergency_contact_phone,
        ]
    return values


def masked_values(lead: Lead, *, detail: bool) -> list[str]:
    values = [mask_phone(lead.phone), mask_id_number(lead.id_number), mask_name(lead.name)]
    if detail:
        values += [
            mask_middle(lead.wechat),
            mask_middle(lead.qq),
            mask_address(lead.address),
            mask_name(lead.emergency_contact_name),
            mask_phone(lead.emergency_contact_phone),
        ]
    return values


def assert_masked(client: Client, leads: list[Lead]) -> None:
    html = client.get(LEAD_LIST).content.decode()
    for lead in leads:
        for masked in masked_values(lead, detail=False):
            assert masked in html
        for plain in plain_values(lead, detail=False):
            assert plain not in html
    html = client.get(lead_change_url(leads[0])).content.decode()
    for masked in masked_values(leads[0], detail=True):
        assert masked in html
    for plain in plain_values(leads[0], detail=True):
        assert plain not in html


# -- PII on screen ---------------------------------------------------------------------------


def test_viewer_without_pii_permission_sees_masked_values(make_leads):
    """A staff user who may view leads sees masked phone, ID number, name and the rest."""
    leads = make_leads(3)
    assert_masked(staff_client("leads.view_lead"), leads)


def test_superuser_without_explicit_grant_sees_masked_values(admin_client, make_leads):
    """Being superuser is not an explicit grant: list and detail stay masked."""
    leads = make_leads(3)
    assert_masked(admin_client, leads)


@pytest.mark.parametrize("via_group", [False, True], ids=["user-grant", "group-grant"])
def test_explicit_pii_permission_reveals_plain_values(make_leads, via_group):
    """leads.view_lead_pii, granted to the user or to a group, shows the real values."""
    leads = make_leads(3)
    client = staff_client("leads.view_lead", "leads.view_lead_pii", via_group=via_group)

    html = client.get(LEAD_LIST).content.decode()
    for lead in leads:
        for plain in plain_values(lead, detail=False):
            assert plain in html
    html = client.get(lead_change_url(leads[0])).content.decode()
    for plain in plain_values(leads[0], detail=True):
        assert plain in html


# -- search through the blind indexes --------------------------------------------------------


def search(client: Client, term: str) -> list[int]:
    response = client.get(LEAD_LIST, {"q": term})
    assert response.status_code == 200
    return [lead.pk for lead in response.context["cl"].result_list]


def spaced_phone(phone: str) -> str:
    return f"+86 {phone[:3]} {phone[3:7]} {phone[7:]}"


@pytest.mark.parametrize(
    "form",
    [
        pytest.param(lambda lead: lead.phone, id="phone"),
        pytest.param(lambda lead: spaced_phone(lead.phone), id="phone-+86-spaced"),
        pytest.param(lambda lead: f" 0086-{lead.phone} ", id="phone-0086-dash"),
        pytest.param(lambda lead: lead.phone.translate(FULL_WIDTH), id="phone-full-width"),
        pytest.param(lambda lead: lead.id_number, id="id-number"),
        pytest.param(lambda lead: lead.id_number.lower(), id="id-number-lowercase-x"),
        pytest.param(lambda lead: lead.id_number.translate(FULL_WIDTH), id="id-full-width"),
    ],
)
def test_search_finds_exactly_the_lead_through_its_blind_index(make_leads, form):
    """A full phone or ID number, in whatever form people paste it, finds that one lead."""
    make_leads(2)
    target = make_leads(1, id_number=VALID_ID_NUMBER)[0]
    make_leads(2)
    client = staff_client("leads.view_lead")

    assert search(client, form(target)) == [target.pk]


def test_search_finds_every_fake_lead_by_its_id_number(make_leads):
    """The demo/test leads carry valid ID numbers, so searching each one finds it."""
    leads = make_leads(5)
    client = staff_client("leads.view_lead")

    assert [search(client, lead.id_number) for lead in leads] == [[lead.pk] for lead in leads]


def test_search_by_partial_or_unknown_number_finds_nothing(make_leads):
    """No substring search on PII: a partial or unknown number matches no lead."""
    leads = make_leads(5)
    client = staff_client("leads.view_lead")

    assert search(client, leads[0].phone[:7]) == []
    assert search(client, "13900000000") == []
    assert len(search(client, "")) == 5


# -- the check and push actions --------------------------------------------------------------


def post_action(client: Client, action: str, leads: list[Lead], **extra):
    data = {"action": action, "_selected_action": [lead.pk for lead in leads], **extra}
    return client.post(LEAD_LIST, data, follow="apply" in extra)


def shown_messages(response) -> list[str]:
    return [str(message) for message in response.context["messages"]]


@pytest.fixture
def other_partners(db, sandbox):
    """A production partner (listed, highlighted) and an inactive one (not listed)."""
    production = Partner.objects.create(
        name="生产平台",
        slug="live",
        environment=Environment.PRODUCTION,
        test_base_url=sandbox.base_url,
        production_base_url="https://partner.example.com",
        utm_source="live",
        secret_key="live-key",
        receives_pushes=False,
    )
    Partner.objects.create(
        name="停用平台",
        slug="off",
        test_base_url=sandbox.base_url,
        utm_source="off",
        secret_key="off-key",
        receives_pushes=False,
        is_active=False,
    )
    return production


def test_collision_check_action_asks_for_a_partner_then_checks(
    partner, other_partners, sandbox, make_leads
):
    """First POST: the partner page with environments; second POST: the check, then a summary."""
    leads = make_leads(10)
    operator = staff_client("leads.view_lead", "leads.check_lead")

    page = post_action(operator, "collision_check", leads)

    assert page.status_code == 200
    html = page.content.decode()
    assert 'id="choose-partner"' in html
    assert "将对选中的 <strong>10</strong> 条线索撞库" in html
    rows = re.findall(r'<tr class="partner-environment">(.*?)</tr>', html, re.S)
    assert len(rows) == 2  # the inactive partner is not offered
    sandbox_row = next(row for row in rows if "沙箱平台" in row)
    live_row = next(row for row in rows if "生产平台" in row)
    assert "测试环境" in sandbox_row and sandbox.base_url in sandbox_row
    assert '<strong class="environment-production">生产环境</strong>' in live_row
    assert "停用平台" not in html
    assert PARTNER_KEY not in html
    assert not CollisionResult.objects.exists()

    done = post_action(operator, "collision_check", leads, apply="1", partner=partner.pk)

    assert done.redirect_chain == [(LEAD_LIST, 302)]
    results = CollisionResult.objects.filter(partner=partner)
    assert set(results.values_list("lead_id", flat=True)) == {lead.pk for lead in leads}
    marketable = results.filter(is_marketable=True).count()
    assert shown_messages(done) == [
        f"撞库完成（{partner}）：已检查 10 条，可营销 {marketable} 条，失败 0 条，共 1 次请求。"
    ]
    assert AuditLogEntry.objects.get().actor.username.startswith("staff")


def test_push_action_after_a_check_pushes_the_marketable_leads(partner, sandbox, make_leads):
    """After a check, push_to_partner delivers exactly the marketable leads and says so."""
    leads = make_leads(10)
    operator = staff_client("leads.view_lead", "leads.check_lead", "leads.push_lead")
    post_action(operator, "collision_check", leads, apply="1", partner=partner.pk)
    marketable = set(
        CollisionResult.objects.filter(is_marketable=True).values_list("lead_id", flat=True)
    )
    assert 0 < len(marketable) < 10

    page = post_action(operator, "push_to_partner", leads)
    assert 'id="choose-partner"' in page.content.decode()
    assert "条线索推送" in page.content.decode()
    assert not Push.objects.exists()

    done = post_action(operator, "push_to_partner", leads, apply="1", partner=partner.pk)

    accepted = set(Push.objects.filter(state=PushState.ACCEPTED).values_list("lead_id", flat=True))
    assert accepted == marketable
    assert sandbox.calls(PUSH_PATH) == len(marketable)
    assert shown_messages(done) == [
        f"推送完成（{partner}）：共 10 条，发出 {len(marketable)} 条（接收 {len(marketable)}，"
        f"拒绝 0，结果未知 0，未送达 0），未推送 {10 - len(marketable)} 条。"
        f" 未推送原因：最近一次撞库不可营销 {10 - len(marketable)}（见“未推送及原因”）"
    ]


def test_push_action_says_how_many_leads_the_daily_cap_held_back(partner, sandbox, make_leads):
    leads = make_leads(10)
    check_leads(partner=partner, leads=leads)
    marketable = CollisionResult.objects.filter(is_marketable=True).count()
    assert marketable > 1
    Partner.objects.filter(pk=partner.pk).update(daily_push_cap=1)
    operator = staff_client("leads.view_lead", "leads.push_lead")

    done = post_action(operator, "push_to_partner", leads, apply="1", partner=partner.pk)

    [message] = shown_messages(done)
    assert f"超出每日推送上限 {marketable - 1}" in message
    assert sandbox.calls(PUSH_PATH) == 1


def action_choices(response) -> set[str]:
    form = response.context["action_form"]
    return set() if form is None else {name for name, _ in form.fields["action"].choices}


def test_actions_are_gated_by_their_permissions(partner, sandbox, make_leads):
    """View-only users get no action; check and push each need their own permission."""
    leads = make_leads(3)
    viewer = staff_client("leads.view_lead")
    checker = staff_client("leads.view_lead", "leads.check_lead")
    pusher = staff_client("leads.view_lead", "leads.push_lead")

    assert action_choices(viewer.get(LEAD_LIST)) == set()
    assert "collision_check" not in viewer.get(LEAD_LIST).content.decode()
    assert action_choices(checker.get(LEAD_LIST)) - {""} == {"collision_check"}
    assert action_choices(pusher.get(LEAD_LIST)) - {""} == {"push_to_partner"}

    for client, action in [
        (viewer, "collision_check"),
        (viewer, "push_to_partner"),
        (checker, "push_to_partner"),
        (pusher, "collision_check"),
    ]:
        page = post_action(client, action, leads)
        assert 'id="choose-partner"' not in page.content.decode()
        post_action(client, action, leads, apply="1", partner=partner.pk)
    assert not CollisionResult.objects.exists()
    assert not Push.objects.exists()
    assert not AuditLogEntry.objects.exists()


@pytest.mark.parametrize("action", ["collision_check", "push_to_partner"])
def test_operator_role_follows_a_big_selection_to_its_job_page(
    action, partner, sandbox, make_leads, settings
):
    """The operator group, not a superuser: a selection over the inline limit starts a job and
    lands on its page, which the role may see."""
    settings.JOB_INLINE_LIMIT = 2
    leads = make_leads(3)
    operator = User.objects.create_user("operator", is_staff=True)
    operator.groups.add(Group.objects.get(name=OPERATOR))
    client = Client()
    client.force_login(operator)

    page = post_action(client, action, leads, apply="1", partner=partner.pk)

    job = Job.objects.get()
    assert page.status_code == 200
    assert page.redirect_chain[-1][0] == reverse("admin:jobs_job_change", args=[job.pk])
    assert job.created_by == operator and job.total == 3


def test_retrying_unknown_pushes_asks_first_and_shows_where_they_go(
    admin_client, partner, sandbox, make_leads
):
    check_leads(partner=partner, leads=make_leads(12))
    lead = Lead.objects.filter(collision_results__is_marketable=True).first()
    sandbox.inject(Fault.RESET, times=1)
    push_leads(partner=partner, leads=Lead.objects.filter(pk=lead.pk))
    push = Push.objects.get(state=PushState.UNKNOWN)
    pushes = reverse("admin:pushes_push_changelist")
    selection = {"action": "retry", "_selected_action": [push.pk]}

    page = admin_client.post(pushes, selection).content.decode()

    assert 'id="confirm-retry"' in page and "可能让同一线索被推送两次" in page
    assert partner.push_url in page and partner.get_environment_display() in page
    assert sandbox.calls(PUSH_PATH) == 1  # only the first, lost, answer: nothing resent yet

    admin_client.post(pushes, {**selection, "apply": "1"})

    push.refresh_from_db()
    assert push.state == PushState.ACCEPTED and sandbox.calls(PUSH_PATH) == 2


# -- the lead timeline -----------------------------------------------------------------------


def timeline(client: Client, lead: Lead) -> str:
    html = client.get(lead_change_url(lead)).content.decode()
    match = re.search(r'<div class="module" id="lead-timeline">(.*?)</div>', html, re.S)
    assert match, "the change page has no timeline"
    return match.group(1)


def test_lead_change_page_shows_the_timeline_of_checks_and_pushes(partner, sandbox, make_leads):
    """A checked and pushed lead lists both events with the partner and what it answered."""
    *checked, untouched = make_leads(11)
    check_leads(partner=partner, leads=checked)
    pushable = CollisionResult.objects.filter(is_marketable=True).first().lead
    push_leads(partner=partner, leads=Lead.objects.filter(pk=pushable.pk))
    client = staff_client("leads.view_lead")

    events = timeline(client, pushable)

    rows = re.findall(r"<tr>\s*<td>(.*?)</tr>", events, re.S)
    assert len(rows) == 2
    push_row, check_row = rows  # newest first
    assert "推送" in push_row and "<strong>已接收</strong>" in push_row
    assert "撞库" in check_row and "<strong>0 未注册</strong>" in check_row
    assert "可营销" in check_row
    assert all(str(partner) in row for row in rows)
    assert "还没有撞库或推送记录" in timeline(client, untouched)


# -- the audit log is read-only ----------------------------------------------------------------


def test_audit_log_cannot_be_added_changed_or_deleted(admin_client, partner, sandbox, make_leads):
    """Even a superuser gets 403 on add, change-POST and delete; the model refuses too."""
    check_leads(partner=partner, leads=make_leads(2))
    entry = AuditLogEntry.objects.get()
    change_url = reverse("admin:partners_auditlogentry_change", args=[entry.pk])

    assert admin_client.get(reverse("admin:partners_auditlogentry_add")).status_code == 403
    assert admin_client.post(change_url, {"error": "edited"}).status_code == 403
    delete_url = reverse("admin:partners_auditlogentry_delete", args=[entry.pk])
    assert admin_client.get(delete_url).status_code == 403
    assert admin_client.post(delete_url, {"post": "yes"}).status_code == 403
    listing = admin_client.get(reverse("admin:partners_auditlogentry_changelist"))
    assert "delete_selected" not in listing.content.decode()
    view = admin_client.get(change_url).content.decode()
    assert 'name="_save"' not in view

    entry.error = "edited"
    with pytest.raises(TypeError):
        entry.save()
    with pytest.raises(TypeError):
        entry.delete()
    with pytest.raises(TypeError):
        AuditLogEntry.objects.filter(pk=entry.pk).update(error="edited")
    with pytest.raises(TypeError):
        AuditLogEntry.objects.all().delete()
    assert AuditLogEntry.objects.get(pk=entry.pk).error == ""


def test_the_partner_picker_starts_empty_and_acts_only_on_a_chosen_partner(
    admin_client, partner, make_leads
):
    leads = make_leads(2)
    page = post_action(admin_client, "collision_check", leads).content.decode()
    assert '<option value="" selected>请选择</option>' in page
    response = post_action(admin_client, "collision_check", leads, apply="1")
    assert "请先选择合作平台" in response.content.decode()
    assert not CollisionResult.objects.exists()
    post_action(admin_client, "collision_check", leads, apply="1", partner=partner.pk)
    assert CollisionResult.objects.filter(lead__in=leads).count() == 2
