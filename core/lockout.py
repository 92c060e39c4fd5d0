"""Lockout after repeated failed logins (django-axes, configured in settings "Sign-in"): the app's
name in the admin, the page a locked login gets, the client address it counts by, and the
"解除登录锁定" action for the users list.

Imported by INSTALLED_APPS (``AxesConfig``) before the app registry is ready: nothing here may
touch a model at import time."""

from axes.apps import AppConfig
from django.conf import settings
from django.contrib import admin, messages
from django.shortcuts import render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext


class AxesConfig(AppConfig):
    """django-axes under a Chinese name. Listed after django.contrib.admin and the otp apps, so
    their admin modules are loaded when this sets up the admin's sign-in pages."""

    verbose_name = gettext_lazy("登录保护")

    def ready(self):
        super().ready()
        from core import sign_in_admin

        sign_in_admin.register()


def client_ip_address(request) -> str | None:
    """The address the outermost of our ``TRUSTED_PROXY_COUNT`` proxies received the request from
    (each proxy appends the address it saw to X-Forwarded-For; what comes before is the client's
    to invent), or REMOTE_ADDR when there is no proxy."""
    count = settings.TRUSTED_PROXY_COUNT
    if not count:
        return request.META.get("REMOTE_ADDR")
    forwarded = [hop.strip() for hop in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")]
    forwarded = [hop for hop in forwarded if hop]
    return forwarded[-count] if len(forwarded) >= count else request.META.get("REMOTE_ADDR")


def locked_out(request, original_response=None, credentials=None):
    """AXES_LOCKOUT_CALLABLE: the login page again, HTTP 429, saying why and what to do."""
    cool_off = settings.AXES_COOLOFF_TIME
    context = {
        **admin.site.each_context(request),
        "title": _("登录已锁定"),
        "failure_limit": settings.AXES_FAILURE_LIMIT,
        "cool_off_minutes": int(cool_off.total_seconds() // 60) if cool_off else None,
    }
    return render(request, "two_factor/core/locked_out.html", context, status=429)


@admin.action(description=gettext_lazy("解除登录锁定"), permissions=["change"])
def unlock_sign_in(modeladmin, request, queryset):
    """For the users list: forget the selected users' failed logins, which lifts a lock on their
    account. A lock on an address stays: it is lifted in 登录保护 › 登录失败记录."""
    from axes.utils import reset

    unlocked = [user for user in queryset if reset(username=user.get_username())]
    for user in unlocked:
        modeladmin.log_change(request, user, _("解除了登录锁定"))
    modeladmin.message_user(
        request,
        ngettext(
            "已解除 %(count)d 个用户的登录锁定。",
            "已解除 %(count)d 个用户的登录锁定。",
            len(unlocked),
        )
        % {"count": len(unlocked)}
        if unlocked
        else _("所选用户没有失败的登录记录，无需解锁。"),
        messages.SUCCESS if unlocked else messages.INFO,
    )
