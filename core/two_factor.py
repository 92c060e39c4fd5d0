"""Two-factor sign-in (django-otp with django-two-factor-auth): who must have a second factor,
the middleware that holds them to it, and the "重置两步验证" action for the users list.

A second factor is required of whoever holds reserved rights (``core.accounts``): a superuser,
anyone granted the personal-data permissions directly or through a group, and anyone who
manages accounts (the 管理员 role). Everybody else may enrol from 两步验证 in the user tools.
Whoever has a device passes it at every login: two_factor's login asks for it, and a session
that never did (opened before the device existed) is sent back to the login."""

from django.contrib import admin, messages
from django.contrib.auth.views import redirect_to_login
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext
from django_otp import devices_for_user
from two_factor.utils import default_device

from core import accounts

# Views a signed-in user may reach before passing the second factor: signing in (again) or out.
SIGN_IN_VIEWS = {"two_factor:login", "admin:logout"}
# ... and, when a second factor is required and none is set up yet, setting one up.
SETUP_VIEWS = {"two_factor:setup", "two_factor:qr", "two_factor:setup_complete"}


def two_factor_required(user) -> bool:
    return user.is_authenticated and accounts.holds_reserved_rights(user)


class TwoFactorMiddleware:
    """After django_otp's OTPMiddleware. A session that has not passed a second factor reaches
    only the login and logout when its user has a device, and only those and the setup when its
    user must have one and has none; nobody who must have one may disable it. A verified
    session costs no query here."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_view(self, request, view_func, view_args, view_kwargs):
        user = request.user
        if not user.is_authenticated:
            return None
        view = request.resolver_match.view_name
        if user.is_verified():
            if view == "two_factor:disable" and two_factor_required(user):
                messages.error(request, _("你的账号必须使用两步验证，不能停用。"))
                return redirect("two_factor:profile")
            return None
        if view in SIGN_IN_VIEWS:
            return None
        if default_device(user):
            return redirect_to_login(request.get_full_path(), reverse("two_factor:login"))
        if two_factor_required(user):
            if view in SETUP_VIEWS:
                return None
            return redirect("two_factor:setup")
        return None


@admin.action(description=gettext_lazy("重置两步验证"), permissions=["change"])
def reset_two_factor(modeladmin, request, queryset):
    """For the users list: delete the selected users' second factors (authenticator and recovery
    codes), for a lost phone. Whoever must have one sets up a new one at their next request.
    Only a superuser may reset a user holding reserved rights (a superuser, a personal-data
    holder, an administrator): ``core.accounts.may_manage_user``."""
    reset, refused = [], []
    for user in queryset:
        if not accounts.may_manage_user(request.user, user):
            refused.append(user.get_username())
            continue
        devices = list(devices_for_user(user, confirmed=None))
        for device in devices:
            device.delete()
        if devices:
            reset.append(user)
            modeladmin.log_change(request, user, _("重置了两步验证"))
    if reset:
        modeladmin.message_user(
            request,
            ngettext(
                "已重置 %(count)d 个用户的两步验证，需要时他们会在下次访问时重新设置。",
                "已重置 %(count)d 个用户的两步验证，需要时他们会在下次访问时重新设置。",
                len(reset),
            )
            % {"count": len(reset)},
            messages.SUCCESS,
        )
    if refused:
        modeladmin.message_user(
            request,
            _("只有超级用户可以重置这些用户的两步验证：%(users)s")
            % {"users": "、".join(sorted(refused))},
            messages.ERROR,
        )
    if not reset and not refused:
        modeladmin.message_user(request, _("所选用户没有设置两步验证。"), messages.INFO)
