"""The audit log as a spreadsheet: one row per call, the columns the list shows plus the URL, the
error and the chain hash. Everything here is as the row keeps it, already masked (partners.calls);
the bodies stay out (a batch answer outgrows a spreadsheet cell) and the partner's key was never
kept, so it cannot leak. Written and recorded by leads (``partners.audit_leads.LeadBook``)."""

from collections.abc import Callable, Iterator

from django.utils import timezone
from django.utils.translation import gettext_lazy

from partners.models import AuditLogEntry


def to_the_second(moment) -> str:
    """A time as the audit pages show it: local, to the second."""
    return timezone.localtime(moment).strftime("%Y-%m-%d %H:%M:%S") if moment else ""


def actor_label(entry: AuditLogEntry) -> str:
    """Who made the call, by the name kept with the row (the account may be gone)."""
    if entry.actor_id is None and not entry.actor_username:
        return str(NO_ACTOR)
    return entry.actor_username or f"#{entry.actor_id}"


NO_ACTOR = gettext_lazy("命令行/后台任务")

COLUMNS: list[tuple[str, Callable[[AuditLogEntry], object]]] = [
    (gettext_lazy("时间"), lambda entry: to_the_second(entry.created_at)),
    (gettext_lazy("审计日志ID"), lambda entry: entry.pk),
    (gettext_lazy("合作平台"), lambda entry: entry.partner.name),
    (gettext_lazy("操作"), lambda entry: entry.get_operation_display()),
    (gettext_lazy("环境"), lambda entry: entry.get_environment_display()),
    (gettext_lazy("结果"), lambda entry: entry.get_outcome_display()),
    (gettext_lazy("HTTP 状态码"), lambda entry: entry.response_status),
    (gettext_lazy("耗时（毫秒）"), lambda entry: entry.latency_ms),
    (gettext_lazy("线索数"), lambda entry: entry.lead_count),
    (gettext_lazy("操作人"), actor_label),
    (gettext_lazy("任务"), lambda entry: entry.job_id),
    (gettext_lazy("URL"), lambda entry: entry.url),
    (gettext_lazy("错误（打码）"), lambda entry: entry.error),
    (gettext_lazy("链式哈希"), lambda entry: entry.chain_hash),
]


def headers() -> list[str]:
    return [str(header) for header, _ in COLUMNS]


def rows(queryset) -> Iterator[list]:
    """Lazily, 2,000 rows at a time, the bodies never loaded, nor the partner's keys (each
    would be decrypted again for every row)."""
    entries = (
        queryset.select_related("partner")
        .defer(
            "request_headers",
            "request_body",
            "response_body",
            "partner__test_secret_key",
            "partner__production_secret_key",
        )
        .order_by("-created_at", "-id")
    )
    for entry in entries.iterator(chunk_size=2000):
        yield [value(entry) for _, value in COLUMNS]
