"""Roles that hold against an ordinary account: the partner key reaches no page, administrators
cannot make anyone (themselves included) more powerful than an administrator, and operators act
only on their own import batches."""

import io

import pytest
from django.contrib.auth.models import Group, Permission, User
from django.db.models import Q
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from core.roles import ROLES
from jobs.models import Job, JobKind, JobState
from leads.models import ImportBatch, ImportState, Lead
from tests.conftest import PARTNER_KEY, log_in_verified
from tests.import_files import CHINESE_HEADERS, lead_rows, xlsx_bytes

pytestmark = pytest.mark.django_db

OPERATOR, AUDITOR, ADMINISTRATOR = ROLES


def member(role: str | None, *, superuser: bool = False, username: str = "") -> tuple[User, Client]:
    """A signed-in staff user in ``role`` (one of core.roles.ROLES, or none)."""
    user = User.objects.create_user(
        username or f"user{User.objects.count()}",
        password="x-Very-long-pass-2026",
        is_staff=True,
        is_superuser=superuser,
    )
    if role:
        user.groups.add(Group.objects.get(name=role))
    return user, log_in_verified(Client(), user)  # past the second factor, as signing in ends


# --- the partner key -----------------------------------------------------------------------


@pytest.mark.parametrize("role", [OPERATOR, AUDITOR, ADMINISTRATOR, None])
def test_partner_page_shows_whether_a_key_is_set_never_the_key(role, partner):
    _, client = member(role, superuser=role is None)
    page = client.get(reverse("admin:partners_partner_change", args=[partner.pk]))
    assert page.status_code == 200
    body = page.content.decode()
    assert PARTNER_KEY not in body
    assert "已设置" in body
    listing = client.get(reverse("admin:partners_partner_changelist")).content.decode()
    history = client.get(reverse("admin:partners_partner_history", args=[partner.pk]))
    assert PARTNER_KEY not in listing and PARTNER_KEY not in history.content.decode()


def test_saving_with_the_key_blank_keeps_it_and_records_no_change_of_it(partner):
    from django.contrib.admin.models import LogEntry

    _, client = member(None, superuser=True)
    url = reverse("admin:partners_partner_change", args=[partner.pk])
    form = client.get(url).context["adminform"].form
    data = {
        name: value
        for name, value in form.initial.items()
        if value is not None and name in form.fields
    }
    data.update(name="改名", test_secret_key="", working_hours_start="", working_hours_end="")
    data.pop("daily_push_cap", None)
    response = client.post(url, data)
    assert response.status_code == 302, response.context["adminform"].form.errors
    partner.refresh_from_db()
    assert partner.secret_key == PARTNER_KEY and partner.secret_key_changed_at is None
    message = LogEntry.objects.get(object_id=str(partner.pk)).get_change_message()
    assert "名称" in message and "密钥" not in message

    data["test_secret_key"] = "a-brand-new-key-2026"
    assert client.post(url, data).status_code == 302
    partner.refresh_from_db()
    assert partner.secret_key == "a-brand-new-key-2026" and partner.secret_key_changed_at
    newest = LogEntry.objects.filter(object_id=str(partner.pk)).order_by("-pk").first()
    assert "签名密钥" in newest.get_change_message()
    page = client.get(url).content.decode()
    assert "a-brand-new-key-2026" not in page and "已设置" in page


def test_the_key_is_not_in_the_change_forms_initial_data(partner):
    """Not rendered is not enough: a form holding the key in its initial data can leak it in an
    error report's local variables."""
    _, client = member(None, superuser=True)
    form = (
        client.get(reverse("admin:partners_partner_change", args=[partner.pk]))
        .context["adminform"]
        .form
    )
    assert PARTNER_KEY not in repr(form.initial) and PARTNER_KEY not in repr(form.fields)


# --- administrators ------------------------------------------------------------------------


def _user_form_data(client: Client, user: User, **changes) -> dict:
    form = client.get(reverse("admin:auth_user_change", args=[user.pk])).context["adminform"].form
    data = {}
    for name, field in form.fields.items():
        value = form.initial.get(name, field.initial)
        if name in ("groups", "user_permissions"):
            value = [getattr(item, "pk", item) for item in value or []]
        if value is None or name in ("password", "usable_password"):
            continue
        if isinstance(value, bool) and not value:
            continue
        if hasattr(value, "date"):  # a split date and time widget
            local = timezone.localtime(value)
            data[f"{name}_0"], data[f"{name}_1"] = local.date(), local.strftime("%H:%M:%S")
            continue
        data[name] = value
    for name, value in changes.items():
        if value is False:
            data.pop(name, None)
        else:
            data[name] = value
    return data


def _permission_id(code: str) -> int:
    app, codename = code.split(".")
    return Permission.objects.get(content_type__app_label=app, codename=codename).pk


def _rights(user: User) -> tuple:
    user = User.objects.get(pk=user.pk)
    return (
        user.is_superuser,
        sorted(user.groups.values_list("name", flat=True)),
        sorted(user.user_permissions.values_list("codename", flat=True)),
        user.password,
    )


def test_an_administrator_cannot_raise_its_own_rights():
    admin_user, client = member(ADMINISTRATOR)
    before = _rights(admin_user)
    url = reverse("admin:auth_user_change", args=[admin_user.pk])
    attempts = [
        {"is_superuser": "on"},
        {"user_permissions": [_permission_id("leads.view_lead_pii")]},
        {"user_permissions": [_permission_id("leads.export_lead_pii")]},
        {"user_permissions": [_permission_id("auth.delete_user")]},
    ]
    for attempt in attempts:
        data = {
            "username": admin_user.username,
            "is_active": "on",
            "is_staff": "on",
            "groups": [Group.objects.get(name=ADMINISTRATOR).pk],
            "date_joined_0": "2026-12-01",
            "date_joined_1": "10:00:00",
            **attempt,
        }
        response = client.post(url, data)
        assert response.status_code in (200, 403)
        assert _rights(admin_user) == before, attempt


def test_an_administrator_cannot_grant_personal_data_or_superuser_to_an_operator():
    operator, _ = member(OPERATOR)
    _, client = member(ADMINISTRATOR)
    before = _rights(operator)
    url = reverse("admin:auth_user_change", args=[operator.pk])
    form = client.get(url).context["adminform"].form
    offered = {str(choice.value) for choice, _ in form.fields["user_permissions"].choices}
    assert str(_permission_id("leads.view_lead_pii")) not in offered
    assert "is_superuser" not in form.fields
    for attempt in (
        {"is_superuser": "on"},
        {"user_permissions": [_permission_id("leads.view_lead_pii")]},
        {"user_permissions": [_permission_id("leads.export_lead_pii")]},
        {"user_permissions": [_permission_id("leads.erase_lead")]},
        {"groups": [Group.objects.get(name=ADMINISTRATOR).pk]},
    ):
        response = client.post(url, _user_form_data(client, operator, **attempt))
        assert response.status_code in (200, 302)  # refused, or saved without the field
        assert _rights(operator) == before, attempt
    pii_group = Group.objects.create(name="可看个人信息")
    pii_group.permissions.add(_permission_id("leads.view_lead_pii"))
    client.post(url, _user_form_data(client, operator, groups=[pii_group.pk]))
    assert _rights(operator) == before


def test_an_administrator_manages_operators_and_auditors():
    operator, _ = member(OPERATOR)
    _, client = member(ADMINISTRATOR)
    url = reverse("admin:auth_user_change", args=[operator.pk])
    auditor_group = Group.objects.get(name=AUDITOR)
    response = client.post(url, _user_form_data(client, operator, groups=[auditor_group.pk]))
    assert response.status_code == 302, response.context["adminform"].form.errors
    assert list(User.objects.get(pk=operator.pk).groups.all()) == [auditor_group]
    password_url = reverse("admin:auth_user_password_change", args=[operator.pk])
    assert client.get(password_url).status_code == 200


def test_an_administrator_cannot_touch_a_superuser_or_another_administrator():
    root, _ = member(None, superuser=True)
    peer, _ = member(ADMINISTRATOR)
    _, client = member(ADMINISTRATOR)
    for target in (root, peer):
        before = _rights(target)
        password_url = reverse("admin:auth_user_password_change", args=[target.pk])
        assert client.get(password_url).status_code == 403
        response = client.post(
            password_url,
            {"password1": "Hijacked-pass-2026!", "password2": "Hijacked-pass-2026!"},
        )
        assert response.status_code == 403
        change = client.post(
            reverse("admin:auth_user_change", args=[target.pk]),
            {"username": target.username, "is_active": "on"},
        )
        assert change.status_code == 403
        assert _rights(target) == before


def test_an_administrator_cannot_create_a_superuser():
    _, client = member(ADMINISTRATOR)
    response = client.post(
        reverse("admin:auth_user_add"),
        {
            "username": "sneaky",
            "password1": "Sneaky-pass-2026!",
            "password2": "Sneaky-pass-2026!",
            "usable_password": "true",
            "is_superuser": "on",
        },
    )
    assert response.status_code == 302
    created = User.objects.get(username="sneaky")
    assert not created.is_superuser and not created.user_permissions.exists()


def test_a_superuser_may_grant_personal_data():
    operator, _ = member(OPERATOR)
    _, client = member(None, superuser=True)
    url = reverse("admin:auth_user_change", args=[operator.pk])
    data = _user_form_data(
        client, operator, user_permissions=[_permission_id("leads.view_lead_pii")]
    )
    response = client.post(url, data)
    assert response.status_code == 302, response.context["adminform"].form.errors
    assert User.objects.get(pk=operator.pk).has_perm("leads.view_lead_pii")


# Tables the admin does not show: their rights grant nothing anyone works with.
PLUMBING = ("otp_totp", "otp_static", "django_tasks_database", "sessions", "contenttypes")
PLUMBING_MODELS = ("importchunk", "jobchunk", "workerheartbeat", "permission", "logentry")


def _plumbing() -> list[Permission]:
    permissions = Permission.objects.filter(
        Q(content_type__app_label__in=PLUMBING) | Q(content_type__model__in=PLUMBING_MODELS)
    )
    assert permissions.filter(content_type__model="jobchunk").exists()  # the names still hold
    return list(permissions)


def test_an_administrator_is_offered_no_rights_over_plumbing():
    operator, _ = member(OPERATOR)
    _, client = member(ADMINISTRATOR)
    url = reverse("admin:auth_user_change", args=[operator.pk])
    form = client.get(url).context["adminform"].form
    offered = {choice.value for choice, _ in form.fields["user_permissions"].choices}
    assert _permission_id("leads.view_lead") in offered
    assert not offered & {p.pk for p in _plumbing()}
    before = _rights(operator)
    for permission in _plumbing():
        data = _user_form_data(client, operator, user_permissions=[permission.pk])
        assert client.post(url, data).status_code == 200, permission  # the form refuses it
    assert _rights(operator) == before


def test_a_group_manager_who_is_no_superuser_cannot_grant_rights_over_plumbing():
    manager, client = member(None)
    manager.user_permissions.add(
        _permission_id("auth.view_group"), _permission_id("auth.change_group")
    )
    group = Group.objects.get(name=OPERATOR)
    before = set(group.permissions.all())
    url = reverse("admin:auth_group_change", args=[group.pk])
    offered = {
        choice.value
        for choice, _ in client.get(url).context["adminform"].form.fields["permissions"].choices
    }
    assert _permission_id("leads.view_lead") in offered
    assert not offered & {p.pk for p in _plumbing()}
    for permission in _plumbing():
        data = {"name": group.name, "permissions": [p.pk for p in before] + [permission.pk]}
        assert client.post(url, data).status_code == 200, permission  # the form refuses it
    assert set(group.permissions.all()) == before
    data = {"name": group.name, "permissions": [p.pk for p in before]}
    assert client.post(url, data).status_code == 302  # what it may grant, it can


def test_a_superuser_is_still_offered_every_right():
    operator, _ = member(OPERATOR)
    _, client = member(None, superuser=True)
    form = client.get(reverse("admin:auth_user_change", args=[operator.pk])).context["adminform"]
    offered = {choice.value for choice, _ in form.form.fields["user_permissions"].choices}
    assert offered == set(Permission.objects.values_list("pk", flat=True))


# --- import batches and jobs ---------------------------------------------------------------


def _upload(client: Client) -> ImportBatch:
    rows = lead_rows(3)
    rows[1][1] = "452159198001010000"  # one rejected row
    file = io.BytesIO(xlsx_bytes(CHINESE_HEADERS, rows))
    file.name = "leads.xlsx"
    response = client.post(
        reverse("admin:leads_lead_import"), {"import_file": file, "on_duplicate": "skip"}
    )
    assert response.status_code == 302
    return ImportBatch.objects.latest("pk")


def test_an_operator_cannot_act_on_another_operators_batch():
    _, uploader = member(OPERATOR)
    _, intruder = member(OPERATOR)
    batch = _upload(uploader)
    assert batch.state == ImportState.PREVIEW
    for name in ("confirm", "cancel", "retry"):
        url = reverse(f"admin:leads_importbatch_{name}", args=[batch.pk])
        assert intruder.post(url).status_code == 403, name
    rejected = reverse("admin:leads_importbatch_rejected", args=[batch.pk])
    assert intruder.get(rejected).status_code == 403
    batch.refresh_from_db()
    assert batch.state == ImportState.PREVIEW and Lead.objects.count() == 0
    page = intruder.get(reverse("admin:leads_importbatch_change", args=[batch.pk]))
    assert page.status_code == 200  # seeing the team's batches is fine
    assert reverse("admin:leads_importbatch_confirm", args=[batch.pk]) not in page.content.decode()

    manager, manager_client = member(OPERATOR)
    manager.user_permissions.add(_permission_id("leads.manage_all_importbatches"))
    assert manager_client.get(rejected).status_code == 200
    confirm = reverse("admin:leads_importbatch_confirm", args=[batch.pk])
    assert manager_client.post(confirm).status_code == 302
    batch.refresh_from_db()
    assert batch.state == ImportState.DONE and Lead.objects.count() == 2


def test_operators_see_the_teams_jobs_and_cancel_only_their_own(partner):
    owner, owner_client = member(OPERATOR)
    _, colleague = member(OPERATOR)
    job = Job.objects.create(
        kind=JobKind.CHECK, partner=partner, created_by=owner, state=JobState.QUEUED
    )
    cancel = reverse("admin:jobs_job_cancel", args=[job.pk])
    assert colleague.get(reverse("admin:jobs_job_change", args=[job.pk])).status_code == 200
    assert colleague.get(reverse("admin:jobs_job_changelist")).status_code == 200
    assert colleague.post(cancel).status_code in (403, 404)
    job.refresh_from_db()
    assert not job.cancel_requested and job.state == JobState.QUEUED
    assert owner_client.post(cancel).status_code == 302
    job.refresh_from_db()
    assert job.cancel_requested or job.state == JobState.CANCELLED


def test_read_only_links_lead_only_where_the_viewer_may_go(partner, make_leads):
    """Django links a read-only foreign key whatever the viewer may open: an operator was shown
    the audit row and the user behind a push, both answering 403."""
    from collision.services import check_leads
    from pushes.models import Push
    from pushes.services import push_leads

    owner, _ = member(OPERATOR)
    leads = Lead.objects.filter(pk__in=[lead.pk for lead in make_leads(10)])
    check_leads(partner=partner, leads=leads, actor=owner)
    push_leads(partner=partner, leads=leads, actor=owner)
    push = Push.objects.filter(actor=owner).latest("pk")
    audit_url = reverse("admin:partners_auditlogentry_change", args=[push.audit_entry_id])
    user_url = reverse("admin:auth_user_change", args=[owner.pk])
    _, operator = member(OPERATOR)
    page = operator.get(reverse("admin:pushes_push_change", args=[push.pk])).content.decode()
    assert audit_url not in page and user_url not in page
    _, auditor = member(AUDITOR)
    page = auditor.get(reverse("admin:pushes_push_change", args=[push.pk])).content.decode()
    assert audit_url in page and user_url not in page
