"""Admin building blocks shared by the apps: who may see personal data in full (an explicit
grant, decided once per request), read-only admins, and the user and group admins within
core.accounts' rule. The lead-specific blocks (PII columns, the pages' access log, blind-index
search) are ``leads.admin_pii``: core imports no other app."""

from django.contrib import admin
from django.contrib.auth import admin as auth_admin
from django.contrib.auth.models import Group, User

from core import accounts
from core.lockout import unlock_sign_in
from core.two_factor import reset_two_factor

PII_PERMISSION = "leads.view_lead_pii"


def can_view_pii(user) -> bool:
    """Only an explicit grant (to the user or a group) reveals PII: being superuser is not enough."""
    return accounts.has_explicit_permission(user, PII_PERMISSION)


def reveal_pii(request) -> bool:
    """Whether this request's page shows personal data in full (``can_view_pii``): decided once
    per request and remembered, so that ``PersonalDataPagesMixin`` logs exactly the pages whose
    columns were built unmasked. Admins call this where they decide to reveal."""
    if not hasattr(request, "_reveals_pii"):
        request._reveals_pii = can_view_pii(request.user)
    return request._reveals_pii


class ReadOnlyAdmin(admin.ModelAdmin):
    """Records written by services only: viewable, never added, changed or deleted by hand."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


def _without(fieldsets, name: str) -> list:
    return [
        (title, {**options, "fields": [f for f in options["fields"] if f != name]})
        for title, options in fieldsets
    ]


admin.site.unregister(User)
admin.site.unregister(Group)


@admin.register(User)
class UserAdmin(auth_admin.UserAdmin):
    """Django's user admin within core.accounts' rule: who is not a superuser is offered only
    what they may grant, and may change (or reset the password of) only users below them."""

    actions = [reset_two_factor, unlock_sign_in]

    def get_fieldsets(self, request, obj=None):
        fieldsets = super().get_fieldsets(request, obj)
        return fieldsets if request.user.is_superuser else _without(fieldsets, "is_superuser")

    def formfield_for_manytomany(self, db_field, request, **kwargs):
        if db_field.name == "user_permissions":
            kwargs["queryset"] = accounts.grantable_permissions(request.user)
        elif db_field.name == "groups":
            kwargs["queryset"] = accounts.assignable_groups(request.user)
        return super().formfield_for_manytomany(db_field, request, **kwargs)

    def has_change_permission(self, request, obj=None):
        allowed = super().has_change_permission(request, obj)
        return allowed and (obj is None or accounts.may_manage_user(request.user, obj))

    def has_delete_permission(self, request, obj=None):
        allowed = super().has_delete_permission(request, obj)
        return allowed and (obj is None or accounts.may_manage_user(request.user, obj))


@admin.register(Group)
class GroupAdmin(auth_admin.GroupAdmin):
    """A group is a bundle of rights: the same rule as for users, and never one's own group."""

    def formfield_for_manytomany(self, db_field, request, **kwargs):
        if db_field.name == "permissions":
            kwargs["queryset"] = accounts.grantable_permissions(request.user)
        return super().formfield_for_manytomany(db_field, request, **kwargs)

    def has_change_permission(self, request, obj=None):
        allowed = super().has_change_permission(request, obj)
        return allowed and (obj is None or accounts.may_manage_group(request.user, obj))

    def has_delete_permission(self, request, obj=None):
        allowed = super().has_delete_permission(request, obj)
        return allowed and (obj is None or accounts.may_manage_group(request.user, obj))
