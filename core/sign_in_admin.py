"""The admin's sign-in pages (set up by ``core.lockout.AxesConfig.ready``): django-axes' failed
login records, where an administrator lifts a lock by deleting them, and its login log, read
only; django-otp's device pages are removed, since a device's secret (an authenticator key,
unused recovery codes) would sign anyone in as its owner. A user's devices are reset from the
users list instead (``core.two_factor.reset_two_factor``)."""

from axes import admin as axes_admin
from axes.models import AccessAttempt, AccessLog
from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.utils import formats, timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext
from django_otp.plugins.otp_static.models import StaticDevice
from django_otp.plugins.otp_totp.models import TOTPDevice


def failure_name(attempt: AccessAttempt) -> str:
    """A failed-login record as a person reads it (axes names it "Attempted Access: <time>")."""
    when = formats.date_format(timezone.localtime(attempt.attempt_time), "DATETIME_FORMAT")
    return _("登录失败：%(username)s %(time)s") % {"username": attempt.username, "time": when}


class AccessAttemptAdmin(axes_admin.AccessAttemptAdmin):
    """One row per (username, address, browser) that failed; a lock holds while the failures
    of a username, or of an address, within the cool-off reach AXES_FAILURE_LIMIT."""

    actions = ["unlock"]
    list_display_links = None  # the list says it all; a record's own page would be axes' English

    def get_actions(self, request, action_location=admin.ActionLocation.CHANGE_LIST):
        actions = super().get_actions(request, action_location=action_location)
        actions.pop("delete_selected", None)  # "unlock" deletes, without axes' English titles
        return actions

    def action_checkbox(self, obj):
        """Django's checkbox, read out with our name of the record instead of axes' English."""
        label = _("选择此对象执行操作 - %(record)s") % {"record": failure_name(obj)}
        attrs = {"class": "action-select", "aria-label": label}
        checkbox = forms.CheckboxInput(attrs, check_test=lambda value: False)
        return checkbox.render(helpers.ACTION_CHECKBOX_NAME, str(obj.pk))

    @admin.display(description=gettext_lazy("状态"))
    def status(self, obj):
        remaining = settings.AXES_FAILURE_LIMIT - obj.failures_since_start
        if remaining > 0:
            return _("还可尝试 %(count)d 次") % {"count": remaining}
        return _("已锁定")

    @admin.action(description=gettext_lazy("解除锁定（删除所选记录）"), permissions=["delete"])
    def unlock(self, request, queryset):
        count = queryset.count()
        queryset.delete()
        self.message_user(
            request,
            ngettext(
                "已删除 %(count)d 条记录，锁定已解除。",
                "已删除 %(count)d 条记录，锁定已解除。",
                count,
            )
            % {"count": count},
            messages.SUCCESS,
        )


class AccessLogAdmin(axes_admin.AccessLogAdmin):
    """Every successful login (who, when, from where) and its logout: a record, never edited."""

    list_display_links = None

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


def register() -> None:
    admin.site.unregister([TOTPDevice, StaticDevice])
    admin.site.register(AccessAttempt, AccessAttemptAdmin)
    admin.site.register(AccessLog, AccessLogAdmin)
