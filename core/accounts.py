"""Who may change whose rights. Administrators manage operators and auditors; only superusers
grant personal data, manage users and groups, or touch a superuser; nobody raises their own.

The rule is one comparison: a right is *reserved* when it reveals personal data or manages
accounts. A user who is not a superuser may grant only unreserved rights, and may change only
another user who holds none of the reserved ones (so not an administrator, not a superuser and
not themselves)."""

from django.contrib import admin
from django.contrib.auth.models import Group, Permission
from django.contrib.contenttypes.models import ContentType
from django.db.models import Q, QuerySet

# Seeing a person's data in full, or erasing it for good.
PII_PERMISSIONS = ("leads.view_lead_pii", "leads.export_lead_pii", "leads.erase_lead")
# Managing accounts: users, groups and the permissions themselves.
ACCOUNT_APPS = ("auth",)


def _reserved() -> Q:
    pii = Q()
    for code in PII_PERMISSIONS:
        app_label, codename = code.split(".")
        pii |= Q(content_type__app_label=app_label, codename=codename)
    return pii | Q(content_type__app_label__in=ACCOUNT_APPS)


def has_explicit_permission(user, permission: str) -> bool:
    """``permission`` ("app.codename") granted to the user or one of their groups. Being a
    superuser is not enough: the personal-data rights are revealed only by an explicit grant,
    so Django's superuser shortcut in ``has_perm`` is bypassed on purpose."""
    if not (user and user.is_active and user.is_authenticated):
        return False
    app_label, codename = permission.split(".")
    grants = Permission.objects.filter(content_type__app_label=app_label, codename=codename)
    return grants.filter(Q(user=user) | Q(group__user=user)).exists()


def _shown_in_admin() -> Q:
    """Rights over the models the admin site shows. The others are plumbing (second-factor
    devices, the task queue, import and job chunks, sessions) that nobody works with."""
    shown = ContentType.objects.get_for_models(*admin.site._registry, for_concrete_models=False)
    return Q(content_type__in=shown.values())


def grantable_permissions(actor) -> QuerySet[Permission]:
    """What ``actor`` may pick on a user's or a group's page. The form validates against the
    same queryset, so a right left out is refused when posted, not only hidden."""
    permissions = Permission.objects.select_related("content_type")
    if actor.is_superuser:
        return permissions
    return permissions.filter(_shown_in_admin()).exclude(_reserved())


def assignable_groups(actor) -> QuerySet[Group]:
    """Groups whose every permission ``actor`` may grant."""
    if actor.is_superuser:
        return Group.objects.all()
    reserved = Permission.objects.filter(_reserved())
    return Group.objects.exclude(permissions__in=reserved).distinct()


def holds_reserved_rights(user) -> bool:
    """Read from the tables, not ``get_all_permissions``: an inactive account counts too (it
    would regain its rights the moment someone re-activates it)."""
    if user.is_superuser:
        return True
    held = Permission.objects.filter(Q(user=user) | Q(group__user=user))
    return held.filter(_reserved()).exists()


def may_manage_user(actor, target) -> bool:
    if actor.is_superuser:
        return True
    return target.pk != actor.pk and not holds_reserved_rights(target)


def may_manage_group(actor, group) -> bool:
    if actor.is_superuser:
        return True
    is_own = group.user_set.filter(pk=actor.pk).exists()
    return not is_own and assignable_groups(actor).filter(pk=group.pk).exists()
