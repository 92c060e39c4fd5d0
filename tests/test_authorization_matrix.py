"""Least privilege as one table: every named URL of the site, for every role, answers what the
table below says. A page added later without a row here fails ``test_every_url_has_a_row``.

Each role walks the whole table in its own fresh database (the POSTs change things). Objects in
URLs belong to someone else (the import batch, the job) so that "own" never hides a denial;
a user's own rights are tested in test_access_control.py. Actions are a table of their own.

Run with ``AUTHZ_PRINT=1`` to print what each role actually got, as rows of this table.
"""

import io
import os
import re

import pytest
from axes.models import AccessAttempt, AccessLog
from django.contrib import admin
from django.contrib.auth.models import Group, Permission, User
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from collision.models import CheckSkip, CheckSkipReason, CollisionResult
from collision.services import check_leads
from core.roles import ROLES
from distribution.models import Plan
from distribution.services import start_run
from jobs.models import Job, JobKind
from leads import do_not_contact
from leads.models import DoNotContact, ExportRecord, ImportBatch, Lead, PersonalDataAccess
from partners.models import AuditLogEntry
from pushes.models import Push, PushSkip
from pushes.services import push_leads
from tests.conftest import log_in_verified
from tests.crawl import crawl, is_html
from tests.import_files import CHINESE_HEADERS, lead_rows, xlsx_bytes

pytestmark = pytest.mark.django_db

OPERATOR, AUDITOR, ADMINISTRATOR = ROLES
ROLE_NAMES = ["operator", "auditor", "administrator", "staff", "superuser"]

OK, REDIRECT, FORBIDDEN, NOT_FOUND, NOT_ALLOWED = 200, 302, 403, 404, 405
# What a denied role may get instead of 403: Django's admin answers a change page of an object
# the role may not see with a redirect to the index and a message ("… doesn't exist"), and an
# app index the role sees nothing of with 404. Both keep the object's existence hidden.
DENIED = {FORBIDDEN, NOT_FOUND, REDIRECT}

# name: (method, operator, auditor, administrator, staff without a group, superuser)
# "deny" accepts any of DENIED; a number must match exactly.
D = "deny"
TABLE = {
    # --- the site ---
    "admin:index": ("GET", OK, OK, OK, OK, OK),
    "admin:app_list": ("GET", OK, OK, OK, D, OK),  # app "leads"
    "admin:password_change": ("GET", OK, OK, OK, OK, OK),
    "admin:password_change_done": ("GET", OK, OK, OK, OK, OK),
    "admin:jsi18n": ("GET", OK, OK, OK, OK, OK),
    "admin:autocomplete": ("GET", D, D, D, D, D),  # no admin declares autocomplete fields
    "admin:view_on_site": ("GET", D, D, D, D, D),  # no model has get_absolute_url
    # --- leads ---
    "admin:leads_lead_changelist": ("GET", OK, OK, OK, D, OK),
    "admin:leads_lead_add": ("GET", OK, D, D, D, OK),
    "admin:leads_lead_change": ("GET", OK, OK, OK, D, OK),
    "admin:leads_lead_history": ("GET", OK, OK, OK, D, OK),
    "admin:leads_lead_delete": ("GET", D, D, D, D, D),  # leads carry their history
    "admin:leads_lead_import": ("GET", OK, D, D, D, OK),
    "admin:leads_lead_import_template": ("GET", OK, D, D, D, OK),
    "admin:leads_lead_export": ("GET", OK, D, D, D, OK),
    # --- import batches: someone else's ---
    "admin:leads_importbatch_changelist": ("GET", OK, OK, D, D, OK),
    "admin:leads_importbatch_add": ("GET", D, D, D, D, D),
    "admin:leads_importbatch_change": ("GET", OK, OK, D, D, OK),
    "admin:leads_importbatch_history": ("GET", OK, OK, D, D, OK),
    "admin:leads_importbatch_delete": ("GET", D, D, D, D, D),
    "admin:leads_importbatch_progress": ("GET", OK, OK, D, D, OK),
    "admin:leads_importbatch_rejected": ("GET", D, D, D, D, OK),
    "admin:leads_importbatch_retry": ("POST", D, D, D, D, REDIRECT),
    "admin:leads_importbatch_cancel": ("POST", D, D, D, D, REDIRECT),
    "admin:leads_importbatch_confirm": ("POST", D, D, D, D, REDIRECT),
    # --- export records ---
    "admin:leads_exportrecord_changelist": ("GET", D, OK, OK, D, OK),
    "admin:leads_exportrecord_add": ("GET", D, D, D, D, D),
    "admin:leads_exportrecord_change": ("GET", D, OK, OK, D, OK),
    "admin:leads_exportrecord_history": ("GET", D, OK, OK, D, OK),
    "admin:leads_exportrecord_delete": ("GET", D, D, D, D, D),
    # --- partners and the audit log ---
    "admin:partners_partner_changelist": ("GET", OK, OK, OK, D, OK),
    "admin:partners_partner_add": ("GET", D, D, OK, D, OK),
    "admin:partners_partner_change": ("GET", OK, OK, OK, D, OK),
    "admin:partners_partner_history": ("GET", OK, OK, OK, D, OK),
    "admin:partners_partner_delete": ("GET", D, D, D, D, D),  # deactivate instead
    # 测试连接: one audited check of a dummy hash, for whoever may change the partner.
    "admin:partners_partner_test_connection": ("POST", D, D, REDIRECT, D, REDIRECT),
    "admin:partners_auditlogentry_changelist": ("GET", D, OK, OK, D, OK),
    "admin:partners_auditlogentry_add": ("GET", D, D, D, D, D),
    "admin:partners_auditlogentry_change": ("GET", D, OK, OK, D, OK),
    "admin:partners_auditlogentry_history": ("GET", D, OK, OK, D, OK),
    "admin:partners_auditlogentry_delete": ("GET", D, D, D, D, D),
    "admin:partners_auditlogentry_export": ("GET", D, OK, D, D, OK),  # masked, recorded
    # --- check results and pushes ---
    "admin:collision_collisionresult_changelist": ("GET", OK, OK, OK, D, OK),
    "admin:collision_collisionresult_add": ("GET", D, D, D, D, D),
    "admin:collision_collisionresult_change": ("GET", OK, OK, OK, D, OK),
    "admin:collision_collisionresult_history": ("GET", OK, OK, OK, D, OK),
    "admin:collision_collisionresult_delete": ("GET", D, D, D, D, D),
    "admin:collision_collisionresult_export": ("GET", OK, D, D, D, OK),
    "admin:pushes_push_changelist": ("GET", OK, OK, OK, D, OK),
    "admin:pushes_push_add": ("GET", D, D, D, D, D),
    "admin:pushes_push_change": ("GET", OK, OK, OK, D, OK),
    "admin:pushes_push_history": ("GET", OK, OK, OK, D, OK),
    "admin:pushes_push_delete": ("GET", D, D, D, D, D),
    "admin:pushes_push_export": ("GET", OK, D, D, D, OK),
    # --- 未推送及原因: read by whoever reads push history ---
    "admin:pushes_pushskip_changelist": ("GET", OK, OK, OK, D, OK),
    "admin:pushes_pushskip_add": ("GET", D, D, D, D, D),
    "admin:pushes_pushskip_change": ("GET", OK, OK, OK, D, OK),
    "admin:pushes_pushskip_history": ("GET", OK, OK, OK, D, OK),
    "admin:pushes_pushskip_delete": ("GET", D, D, D, D, D),
    "admin:pushes_pushskip_export": ("GET", OK, D, D, D, OK),
    # --- 对账单: read and exported by auditors and administrators (reporting.view_statement) ---
    "admin:reporting_statement_changelist": ("GET", D, OK, OK, D, OK),
    # no partner chosen: back to the statements page
    "admin:reporting_statement_export": ("GET", D, REDIRECT, REDIRECT, D, REDIRECT),
    # --- jobs: someone else's ---
    "admin:jobs_job_changelist": ("GET", OK, OK, OK, D, OK),
    "admin:jobs_job_add": ("GET", D, D, D, D, D),
    "admin:jobs_job_change": ("GET", OK, OK, OK, D, OK),
    "admin:jobs_job_history": ("GET", OK, OK, OK, D, OK),
    "admin:jobs_job_delete": ("GET", D, D, D, D, D),
    "admin:jobs_job_progress": ("GET", OK, OK, OK, D, OK),
    # --- 未撞库及原因, 分发方案 and 分发任务 (someone else's) ---
    "admin:collision_checkskip_changelist": ("GET", OK, OK, OK, D, OK),
    "admin:collision_checkskip_add": ("GET", D, D, D, D, D),
    "admin:collision_checkskip_change": ("GET", OK, OK, OK, D, OK),
    "admin:collision_checkskip_history": ("GET", OK, OK, OK, D, OK),
    "admin:collision_checkskip_delete": ("GET", D, D, D, D, D),
    "admin:distribution_plan_changelist": ("GET", OK, OK, OK, D, OK),
    "admin:distribution_plan_add": ("GET", OK, D, OK, D, OK),
    "admin:distribution_plan_change": ("GET", OK, OK, OK, D, OK),
    "admin:distribution_plan_history": ("GET", OK, OK, OK, D, OK),
    "admin:distribution_plan_delete": ("GET", D, D, D, D, OK),
    "admin:distribution_run_changelist": ("GET", OK, OK, OK, D, OK),
    "admin:distribution_run_add": ("GET", D, D, D, D, D),
    "admin:distribution_run_change": ("GET", OK, OK, OK, D, OK),
    "admin:distribution_run_history": ("GET", OK, OK, OK, D, OK),
    "admin:distribution_run_delete": ("GET", D, D, D, D, D),
    "admin:distribution_run_live": ("GET", OK, OK, OK, D, OK),
    # Cancelled by whoever started it, or by whoever may cancel others' jobs.
    "admin:distribution_run_cancel": ("POST", D, D, REDIRECT, D, REDIRECT),
    "admin:jobs_job_cancel": ("POST", D, D, REDIRECT, D, REDIRECT),
    # --- users and groups: the target is an operator, the group the operators' ---
    "admin:auth_user_changelist": ("GET", D, D, OK, D, OK),
    "admin:auth_user_add": ("GET", D, D, OK, D, OK),
    "admin:auth_user_change": ("GET", D, D, OK, D, OK),
    "admin:auth_user_history": ("GET", D, D, OK, D, OK),
    "admin:auth_user_delete": ("GET", D, D, D, D, OK),
    "admin:auth_user_password_change": ("GET", D, D, OK, D, OK),
    "admin:auth_group_changelist": ("GET", D, D, D, D, OK),
    "admin:auth_group_add": ("GET", D, D, D, D, OK),
    "admin:auth_group_change": ("GET", D, D, D, D, OK),
    "admin:auth_group_history": ("GET", D, D, D, D, OK),
    "admin:auth_group_delete": ("GET", D, D, D, D, OK),
    # --- the personal-data access log: read by auditors and administrators, changed by nobody ---
    "admin:leads_personaldataaccess_changelist": ("GET", D, OK, OK, D, OK),
    "admin:leads_personaldataaccess_add": ("GET", D, D, D, D, D),
    "admin:leads_personaldataaccess_change": ("GET", D, OK, OK, D, OK),
    "admin:leads_personaldataaccess_history": ("GET", D, OK, OK, D, OK),
    "admin:leads_personaldataaccess_delete": ("GET", D, D, D, D, D),
    # --- the do-not-contact list: operators list numbers, auditors read, administrators also
    # remove (the 移除 page records why; Django's delete is off for everyone) ---
    "admin:leads_lead_do_not_contact": ("GET", OK, D, OK, D, OK),
    "admin:leads_donotcontact_changelist": ("GET", OK, OK, OK, D, OK),
    "admin:leads_donotcontact_add": ("GET", OK, D, OK, D, OK),
    "admin:leads_donotcontact_change": ("GET", OK, OK, OK, D, OK),
    "admin:leads_donotcontact_history": ("GET", OK, OK, OK, D, OK),
    "admin:leads_donotcontact_delete": ("GET", D, D, D, D, D),
    "admin:leads_donotcontact_import": ("GET", OK, D, OK, D, OK),
    "admin:leads_donotcontact_remove": ("GET", D, D, OK, D, OK),
    "admin:leads_donotcontactremoval_changelist": ("GET", D, OK, OK, D, OK),
    "admin:leads_donotcontactremoval_add": ("GET", D, D, D, D, D),
    "admin:leads_donotcontactremoval_change": ("GET", D, OK, OK, D, OK),
    "admin:leads_donotcontactremoval_history": ("GET", D, OK, OK, D, OK),
    "admin:leads_donotcontactremoval_delete": ("GET", D, D, D, D, D),
    # --- sign-in protection: administrators lift locks; the login log is the superuser's ---
    "admin:axes_accessattempt_changelist": ("GET", D, D, OK, D, OK),
    "admin:axes_accessattempt_add": ("GET", D, D, D, D, D),
    "admin:axes_accessattempt_change": ("GET", D, D, OK, D, OK),
    "admin:axes_accessattempt_history": ("GET", D, D, OK, D, OK),
    "admin:axes_accessattempt_delete": ("GET", D, D, OK, D, OK),  # deleting unlocks
    "admin:axes_accesslog_changelist": ("GET", D, D, D, D, OK),
    "admin:axes_accesslog_add": ("GET", D, D, D, D, D),
    "admin:axes_accesslog_change": ("GET", D, D, D, D, OK),
    "admin:axes_accesslog_history": ("GET", D, D, D, D, OK),
    "admin:axes_accesslog_delete": ("GET", D, D, D, D, D),
    # --- signing in and the second factor ---
    "admin:login": ("GET", OK, OK, OK, OK, OK),
    "two_factor:login": ("GET", OK, OK, OK, OK, OK),
    "admin:logout": ("GET", NOT_ALLOWED, NOT_ALLOWED, NOT_ALLOWED, NOT_ALLOWED, NOT_ALLOWED),
    "two_factor:profile": ("GET", OK, OK, OK, OK, OK),
    "two_factor:setup": ("GET", REDIRECT, REDIRECT, REDIRECT, REDIRECT, REDIRECT),  # has one
    "two_factor:setup_complete": ("GET", OK, OK, OK, OK, OK),
    "two_factor:qr": ("GET", D, D, D, D, D),  # only while setting one up
    "two_factor:backup_tokens": ("GET", OK, OK, OK, OK, OK),
    # who must have a second factor cannot turn it off
    "two_factor:disable": ("GET", OK, OK, REDIRECT, OK, REDIRECT),
    # --- the load balancer's probe ---
    "healthz": ("GET", OK, OK, OK, OK, OK),
}

# (model admin, action): which roles are offered it.
ACTIONS = {
    ("leads.lead", "collision_check"): ("operator", "superuser"),
    ("leads.lead", "push_to_partner"): ("operator", "superuser"),
    ("leads.lead", "distribute_by_plan"): ("operator", "superuser"),
    ("pushes.push", "reconcile"): ("operator", "superuser"),
    ("pushes.push", "retry"): ("operator", "superuser"),
    ("jobs.job", "cancel_jobs"): ("administrator", "superuser"),
    ("leads.lead", "erase_personal_data"): ("administrator", "superuser"),
    ("auth.user", "reset_two_factor"): ("administrator", "superuser"),
    ("auth.user", "unlock_sign_in"): ("administrator", "superuser"),
    ("axes.accessattempt", "unlock"): ("administrator", "superuser"),
}


def named_urls(patterns=None, namespace=""):
    """Every named URL pattern of the site, as ``namespace:name`` → the pattern."""
    found = {}
    for pattern in get_resolver().url_patterns if patterns is None else patterns:
        if isinstance(pattern, URLResolver):
            inner = f"{namespace}{pattern.namespace}:" if pattern.namespace else namespace
            found.update(named_urls(pattern.url_patterns, inner))
        elif isinstance(pattern, URLPattern) and pattern.name:
            found[f"{namespace}{pattern.name}"] = pattern
    return found


def test_every_url_has_a_row():
    missing = sorted(set(named_urls()) - set(TABLE))
    assert not missing, f"add these to TABLE (and decide who may open them): {missing}"
    gone = sorted(set(TABLE) - set(named_urls()))
    assert not gone, f"these rows name URLs that no longer exist: {gone}"


def test_every_action_has_a_row():
    declared = {
        (model._meta.label_lower, name)
        for model, model_admin in admin.site._registry.items()
        for name in (getattr(action, "__name__", action) for action in model_admin.actions or [])
    }
    assert declared == set(ACTIONS)


def _log_in(user: User) -> Client:
    """A session that passed its second factor, as every role's real sign-in ends."""
    return log_in_verified(Client(), user)


def _user(role: str) -> User:
    user = User.objects.create_user(
        role, is_staff=True, is_superuser=role == "superuser", password="Matrix-pass-2026!"
    )
    group = {"operator": OPERATOR, "auditor": AUDITOR, "administrator": ADMINISTRATOR}.get(role)
    if group:
        user.groups.add(Group.objects.get(name=group))
    return user


@pytest.fixture
def world(partner, make_leads):
    """One of everything, made by someone other than the role under test."""
    owner = _user("someone-else")
    owner.groups.add(Group.objects.get(name=OPERATOR))
    leads = make_leads(3)
    selection = Lead.objects.filter(pk__in=[lead.pk for lead in leads])
    check_leads(partner=partner, leads=selection, actor=owner)
    push_leads(partner=partner, leads=selection, actor=owner)
    push_leads(partner=partner, leads=selection, actor=owner)  # each lead now a skip, with why
    check_leads(partner=partner, leads=selection[:1])  # as the command line does: no account
    uploader = _log_in(owner)
    rows = lead_rows(2)
    rows[1][1] = "452159198001010000"  # one rejected row
    file = io.BytesIO(xlsx_bytes(CHINESE_HEADERS, rows))
    file.name = "matrix.xlsx"
    uploader.post(reverse("admin:leads_lead_import"), {"import_file": file, "on_duplicate": "skip"})
    uploader.post(reverse("admin:leads_lead_export"), {"file_format": "csv"})
    job = Job.objects.create(kind=JobKind.CHECK, partner=partner, created_by=owner, total=1)
    plan = Plan.objects.create(name="矩阵方案")
    plan.partners.add(partner)
    target = _user("target-operator")
    target.groups.add(Group.objects.get(name=OPERATOR))
    do_not_contact.add_lead(leads[1], reason="complaint", actor=owner)
    remover = _user("remover")
    remover.groups.add(Group.objects.get(name=ADMINISTRATOR))
    removal = do_not_contact.remove(
        do_not_contact.add_lead(leads[2], reason="requested", actor=owner)[0],
        actor=remover,
        why="录入错误",
    )
    return {
        "leads.lead": leads[0],
        "leads.importbatch": ImportBatch.objects.latest("pk"),
        "leads.exportrecord": ExportRecord.objects.latest("pk"),
        "partners.partner": partner,
        "partners.auditlogentry": AuditLogEntry.objects.latest("pk"),
        "collision.collisionresult": CollisionResult.objects.latest("pk"),
        "pushes.push": Push.objects.latest("pk"),
        "pushes.pushskip": PushSkip.objects.latest("pk"),
        "jobs.job": job,
        "auth.user": target,
        "auth.group": Group.objects.get(name=OPERATOR),
        "leads.personaldataaccess": _someone_sees_personal_data(leads[0]),
        "leads.donotcontact": DoNotContact.objects.latest("pk"),
        "leads.donotcontactremoval": removal,
        "collision.checkskip": CheckSkip.objects.create(
            lead=leads[0], partner=partner, reason=CheckSkipReason.NOT_ELIGIBLE, detail="未缴社保"
        ),
        "distribution.plan": plan,
        "distribution.run": start_run(plan=plan, leads=selection, actor=owner),
        "axes.accessattempt": AccessAttempt.objects.create(
            username="guessed", ip_address="127.0.0.9", user_agent="x", failures_since_start=1
        ),
        "axes.accesslog": AccessLog.objects.create(
            username=owner.username, ip_address="127.0.0.9", user_agent="x"
        ),
    }


def _someone_sees_personal_data(lead: Lead) -> PersonalDataAccess:
    viewer = _user("pii-viewer")
    viewer.user_permissions.add(
        *Permission.objects.filter(codename__in=["view_lead", "view_lead_pii"])
    )
    _log_in(viewer).get(reverse("admin:leads_lead_change", args=[lead.pk]))
    return PersonalDataAccess.objects.get(actor=viewer)


def _url(name: str, pattern: URLPattern, world: dict) -> str:
    converters = set(pattern.pattern.converters) | set(
        re.findall(r"\(\?P<(\w+)>", str(pattern.pattern))
    )
    if not converters:
        return reverse(name)
    if name == "admin:app_list":
        return reverse(name, kwargs={"app_label": "leads"})
    if name == "admin:view_on_site":
        return reverse(name, args=[1, 1])
    if name == "admin:autocomplete":
        return reverse(name)
    (label,) = [
        model._meta.label_lower
        for model in admin.site._registry
        if name.startswith(f"admin:{model._meta.app_label}_{model._meta.model_name}_")
    ]
    obj = world[label]
    (kwarg,) = converters
    return reverse(name, kwargs={kwarg: obj.pk})


def _expected_ok(expected, status: int) -> bool:
    return status in DENIED if expected == D else status == expected


@pytest.mark.parametrize("role", ROLE_NAMES)
def test_every_url_answers_each_role_as_the_table_says(role, world):
    column = ROLE_NAMES.index(role) + 1
    client = _log_in(_user(role))
    urls = named_urls()
    wrong, seen = [], {}
    # GETs first, then the POSTs that change things.
    for name, row in sorted(TABLE.items(), key=lambda item: item[1][0] == "POST"):
        url = _url(name, urls[name], world)
        response = client.post(url) if row[0] == "POST" else client.get(url)
        seen[name] = response.status_code
        if not _expected_ok(row[column], response.status_code):
            wrong.append(f"{name} {url}: got {response.status_code}, table says {row[column]}")
    if os.environ.get("AUTHZ_PRINT"):
        print(f"\n{role}: " + ", ".join(f"{name}={code}" for name, code in seen.items()))
    assert not wrong, "\n".join(wrong)


@pytest.mark.parametrize("role", ROLE_NAMES)
def test_each_role_is_offered_exactly_its_actions(role, world):
    client = _log_in(_user(role))
    offered = set()
    for label, action in ACTIONS:
        app_label, model = label.split(".")
        response = client.get(reverse(f"admin:{app_label}_{model}_changelist"))
        if response.status_code == OK and response.context.get("action_form"):
            names = {value for value, _ in response.context["action_form"].fields["action"].choices}
            if action in names:
                offered.add((label, action))
    expected = {key for key, roles in ACTIONS.items() if role in roles}
    assert offered == expected


@pytest.mark.parametrize("role", ROLE_NAMES)
def test_an_action_not_offered_does_nothing_when_posted_anyway(role, world):
    """An attacker posts the action by hand: it must not run, nor show its confirmation page."""
    client = _log_in(_user(role))
    before = _footprint()
    for (label, action), roles in ACTIONS.items():
        if role in roles:
            continue
        app_label, model = label.split(".")
        obj = world[label] if label in world else world["auth.user"]
        response = client.post(
            reverse(f"admin:{app_label}_{model}_changelist"),
            {"action": action, "_selected_action": [obj.pk], "index": 0},
        )
        assert response.status_code in DENIED | {OK}, (action, response.status_code)
        assert b'name="apply"' not in response.content, action  # no intermediate page
    assert _footprint() == before


def _footprint() -> tuple:
    """What any action would change: checks, pushes, jobs, access and erasure records, locks,
    second factors, the admin's history."""
    from django.contrib.admin.models import LogEntry
    from django_otp.plugins.otp_totp.models import TOTPDevice

    return tuple(
        model.objects.count()
        for model in (
            CollisionResult,
            Push,
            Job,
            PersonalDataAccess,
            AccessAttempt,
            TOTPDevice,
            LogEntry,
        )
    ) + (
        Lead.objects.filter(erased_at__isnull=False).count(),
        Push.objects.filter(state="pending").count(),
    )


def test_anonymous_visitors_reach_only_the_login_page(world):
    client = Client()
    urls = named_urls()
    for name, row in TABLE.items():
        if name in PUBLIC:
            continue
        url = _url(name, urls[name], world)
        response = client.post(url) if row[0] == "POST" else client.get(url)
        assert response.status_code in (302, 403, 404, 405), (name, response.status_code)
        if response.status_code == 302:  # to the login, or to the index, which sends there
            location = response["Location"]
            assert "/login/" in location or location == "/admin/", (name, location)


# Pages a visitor who has not signed in may open.
PUBLIC = {"admin:jsi18n", "admin:login", "two_factor:login", "admin:logout", "healthz"}


NONE = re.compile(r">\s*None\s*<")  # an empty value rendered as Python's "None"


@pytest.mark.parametrize("role", ROLE_NAMES)
def test_no_link_a_role_is_shown_leads_to_a_403(role, world):
    """Crawl what the role can reach from the admin's index (every page it links to, breadth
    first, query strings included): no link the role is shown may answer 403, and no page holds
    the partner's key."""
    client = _log_in(_user(role))
    broken = []
    for url, response in crawl(client):
        if response.status_code == FORBIDDEN:
            broken.append(url)
            continue
        if response.status_code != OK or not is_html(response):
            continue
        page = response.content.decode()
        assert world["partners.partner"].secret_key not in page, f"{role} sees the key at {url}"
        assert not NONE.search(page), f"{role} is shown Python's None at {url}"
    assert not broken, f"{role} is shown links that answer 403: {broken}"
