"""Roles as Django groups, least privilege by default. Kept in step after every migrate."""

from django.contrib.auth.models import Group, Permission

ROLES = {
    "运营 operator": [
        "leads.view_lead",
        "leads.add_lead",
        "leads.check_lead",
        "leads.push_lead",
        "leads.import_lead",
        "leads.view_importbatch",
        "leads.export_lead",
        "leads.export_collisionresult",
        "leads.export_push",
        "partners.view_partner",
        "collision.view_collisionresult",
        "pushes.view_push",
    ],
    "审计 auditor": [
        "leads.view_lead",
        "leads.view_importbatch",
        "leads.view_exportrecord",
        "partners.view_partner",
        "partners.view_auditlogentry",
        "collision.view_collisionresult",
        "pushes.view_push",
    ],
    "管理员 administrator": [
        "partners.view_partner",
        "partners.add_partner",
        "partners.change_partner",
        "partners.view_auditlogentry",
        "leads.view_lead",
        "leads.view_exportrecord",
        "collision.view_collisionresult",
        "pushes.view_push",
        "auth.view_user",
        "auth.add_user",
        "auth.change_user",
    ],
}


def sync_roles(**kwargs) -> None:
    for name, codes in ROLES.items():
        group, _ = Group.objects.get_or_create(name=name)
        permissions = []
        for code in codes:
            app_label, codename = code.split(".")
            permission = Permission.objects.filter(
                content_type__app_label=app_label, codename=codename
            ).first()
            if permission is not None:
                permissions.append(permission)
        group.permissions.set(permissions)
