"""Roles as Django groups, least privilege by default. Kept in step after every migrate."""

from django.apps import apps
from django.contrib.auth.models import Group, Permission
from django.core.exceptions import ImproperlyConfigured
from django.db import DEFAULT_DB_ALIAS

# The groups' names are what an administrator reads on a user's page: Chinese only. Code names a
# role by these constants (or by its place in ROLES: operator, auditor, administrator).
OPERATOR, AUDITOR, ADMINISTRATOR = "运营", "审计", "管理员"

ROLES = {
    OPERATOR: [
        "leads.view_lead",
        "leads.add_lead",
        "leads.check_lead",
        "leads.push_lead",
        "leads.import_lead",
        "leads.view_importbatch",
        "leads.export_lead",
        "collision.export_collisionresult",
        "pushes.export_push",
        "partners.view_partner",
        "collision.view_collisionresult",
        "pushes.view_push",
        "pushes.view_pushskip",
        "jobs.view_job",
        # The do-not-contact list: listed by operators, taken off by administrators only.
        "leads.view_donotcontact",
        "leads.add_donotcontact",
        "collision.view_checkskip",
        # Distribution: plans are set up and run by operators.
        "distribution.view_plan",
        "distribution.add_plan",
        "distribution.change_plan",
        "distribution.run_plan",
        "distribution.view_run",
    ],
    AUDITOR: [
        "leads.view_lead",
        "leads.view_importbatch",
        "leads.view_exportrecord",
        "leads.view_personaldataaccess",
        "partners.view_partner",
        "partners.view_auditlogentry",
        "partners.export_auditlogentry",  # masked, recorded (partners.audit_admin)
        "reporting.view_statement",  # 对账单: checked against the audit log's calls
        "collision.view_collisionresult",
        "pushes.view_push",
        "pushes.view_pushskip",
        "jobs.view_job",
        "leads.view_donotcontact",
        "leads.view_donotcontactremoval",
        "collision.view_checkskip",
        "distribution.view_plan",
        "distribution.view_run",
    ],
    ADMINISTRATOR: [
        "partners.view_partner",
        "partners.add_partner",
        "partners.change_partner",
        "partners.view_auditlogentry",
        "leads.view_lead",
        "leads.view_exportrecord",
        "leads.view_personaldataaccess",
        "leads.erase_lead",  # erasure on request (PIPL), leads.erasure
        "reporting.view_statement",  # 对账单 sent to partners (reporting.statements)
        "leads.view_donotcontact",
        "leads.add_donotcontact",
        # Removal, with a written reason, recorded (leads.do_not_contact.remove).
        "leads.delete_donotcontact",
        "leads.view_donotcontactremoval",
        "collision.view_collisionresult",
        "collision.view_checkskip",
        "pushes.view_push",
        "pushes.view_pushskip",
        "distribution.view_plan",
        "distribution.add_plan",
        "distribution.change_plan",
        "distribution.view_run",
        "auth.view_user",
        "auth.add_user",
        "auth.change_user",
        "jobs.view_job",
        "jobs.cancel_job",
        # Failed logins, and lifting a lock by deleting them (core.sign_in_admin).
        "axes.view_accessattempt",
        "axes.delete_accessattempt",
    ],
}


# What the groups were called before: sync_roles renames them, so that their members keep their
# role (creating the new group beside the old one would leave everyone without it).
FORMER_NAMES = {
    "运营 operator": OPERATOR,
    "审计 auditor": AUDITOR,
    "管理员 administrator": ADMINISTRATOR,
}


def sync_roles(*, app_config, using=DEFAULT_DB_ALIAS, **kwargs) -> None:
    """post_migrate fires once per app, and an app's permissions are created by its own signal:
    all of them exist by the last app's."""
    if app_config is not [config for config in apps.get_app_configs() if config.models_module][-1]:
        return
    wanted = {code for codes in ROLES.values() for code in codes}
    found = {
        f"{permission.content_type.app_label}.{permission.codename}": permission
        for permission in Permission.objects.using(using).select_related("content_type")
    }
    if missing := wanted - found.keys():
        raise ImproperlyConfigured(f"roles name unknown permissions: {sorted(missing)}")
    groups = Group.objects.using(using)
    for former, name in FORMER_NAMES.items():
        if not groups.filter(name=name).exists():
            groups.filter(name=former).update(name=name)
    for name, codes in ROLES.items():
        group, _ = groups.get_or_create(name=name)
        group.permissions.set([found[code] for code in codes])
