"""The personal-data access log (个人信息查看记录, PIPL): every sight of a lead's personal data in
full, and every erasure of it, is one append-only ``PersonalDataAccess`` row saying who, when,
which leads and why it was allowed. Pages record through ``leads.admin_pii.PersonalDataPagesMixin``,
unmasked exports through ``leads.exports``, rejected-rows downloads in the import batch
admin, erasures through ``leads.erasure``: all of them through ``record_access``."""

from collections.abc import Iterable

from django.contrib.auth.models import Group, Permission
from django.utils.translation import gettext as _

from leads.models import AccessKind, ExportRecord, PersonalDataAccess

UPLOADER = "上传者本人"  # the uploader of an import batch, downloading its own rejected rows
MANAGE_ALL_BATCHES = "leads.manage_all_importbatches"


def grant_of(user, permission: str) -> str:
    """How ``user`` holds ``permission``: granted directly, through which groups, or (only when
    neither) by being a superuser; ``""`` when not at all. Two queries: asked only when a row is
    written, never to decide."""
    if user is None or not user.is_authenticated:
        return ""
    app_label, codename = permission.split(".")
    held = Permission.objects.filter(content_type__app_label=app_label, codename=codename)
    sources = []
    if held.filter(user=user).exists():
        sources.append(_("直接授予"))
    groups = Group.objects.filter(user=user, permissions__in=held).order_by("name")
    sources += [
        _("用户组：%(group)s") % {"group": name} for name in groups.values_list("name", flat=True)
    ]
    if not sources and user.is_superuser:
        sources.append(_("超级用户"))
    return "；".join(sources)


def record_access(
    *,
    actor,
    kind: str,
    permission: str = "",
    granted_via: str = "",
    lead_ids: Iterable[int] = (),
    row_count: int | None = None,
    export_record: ExportRecord | None = None,
    page: str = "",
    criteria: str = "",
    note: str = "",
    actor_name: str = "",
) -> PersonalDataAccess:
    """Append one row. ``granted_via`` defaults to how ``actor`` holds ``permission``;
    ``actor_name`` names an actor without an account (the command line)."""
    ids = sorted(set(lead_ids))
    user = actor if getattr(actor, "is_authenticated", False) else None
    if row_count is None:
        row_count = export_record.row_count if export_record else len(ids)
    if not granted_via and permission:
        granted_via = grant_of(user, permission)
    return PersonalDataAccess.objects.create(
        actor=user,
        actor_username=user.get_username() if user else actor_name,
        kind=kind,
        page=page[:500],
        lead_ids=PersonalDataAccess.joined_ids(ids),
        row_count=row_count,
        export_record=export_record,
        criteria=(export_record.criteria if export_record and not criteria else criteria)[:2000],
        permission=permission,
        granted_via=granted_via[:255],
        note=note,
    )


def record_rejected_rows(*, actor, batch, export_record, page: str = "") -> PersonalDataAccess:
    """A download of an import batch's rejected rows, which hold personal data in full (they
    are to be fixed): by its uploader, or by whoever may handle every batch."""
    if batch.created_by_id is not None and batch.created_by_id == actor.pk:
        permission, granted_via = "", UPLOADER
    else:
        permission, granted_via = MANAGE_ALL_BATCHES, ""
    return record_access(
        actor=actor,
        kind=AccessKind.REJECTED_ROWS,
        permission=permission,
        granted_via=granted_via,
        export_record=export_record,
        page=page,
    )
