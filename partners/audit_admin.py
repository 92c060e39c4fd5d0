"""The audit log's screens: every call to a partner, as sent and as answered (masked)."""

import json

from django.contrib import admin
from django.core.exceptions import ObjectDoesNotExist
from django.utils.html import format_html
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from core.admin import ReadOnlyAdmin


class AuditLogEntryAdmin(ReadOnlyAdmin):
    list_display = [
        "created_at",
        "partner",
        "operation",
        "environment",
        "outcome",
        "response_status",
        "latency_ms",
        "lead_count",
        "actor_name",
        "job",
    ]
    list_filter = ["partner", "operation", "outcome", "environment", "created_at"]
    search_fields = ["url", "error", "response_body"]
    date_hierarchy = "created_at"
    list_select_related = ["partner", "actor", "job"]
    fields = [
        "created_at",
        "partner",
        "operation",
        "environment",
        "actor_name",
        "job",
        "method",
        "url",
        "pretty_request_headers",
        "pretty_request_body",
        "response_status",
        "pretty_response_body",
        "latency_ms",
        "outcome",
        "error",
        "lead_count",
        "chain_hash",
    ]

    @admin.display(description=gettext_lazy("操作人"), ordering="actor_username")
    def actor_name(self, entry):
        """The name kept with the row, marked when its account has been deleted since."""
        if entry.actor_id is None:
            return entry.actor_username or _("（无：命令行或后台任务）")
        try:
            gone = entry.actor is None  # the list's join finds no account
        except ObjectDoesNotExist:  # the detail page looks it up on its own
            gone = True
        name = entry.actor_username or (entry.actor_id if gone else entry.actor.get_username())
        return _("%(name)s（账号已删除）") % {"name": name} if gone else name

    @admin.display(description=gettext_lazy("请求头（打码）"))
    def pretty_request_headers(self, entry):
        return _pre(json.dumps(entry.request_headers, ensure_ascii=False, indent=2))

    @admin.display(description=gettext_lazy("请求体（打码）"))
    def pretty_request_body(self, entry):
        return _pre(_pretty_json(entry.request_body))

    @admin.display(description=gettext_lazy("应答体（打码）"))
    def pretty_response_body(self, entry):
        return _pre(_pretty_json(entry.response_body))


def _pretty_json(text: str) -> str:
    try:
        return json.dumps(json.loads(text), ensure_ascii=False, indent=2)
    except ValueError:
        return text


def _pre(text: str):
    return format_html(
        '<pre class="wire-text">{}</pre>',
        text,
    )
