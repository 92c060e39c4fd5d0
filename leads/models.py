"""The lead app's models in the one module Django looks in: the Lead, its import batches and
staged chunks, export records, the personal-data access log and the do-not-contact list (over 400
lines for that reason)."""

import re
from typing import NamedTuple

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from core.append_only import AppendOnlyRecord
from core.crypto import EncryptedJSONField, blind_index
from core.masking import mask_id_number, mask_name, mask_phone
from leads.fields import (  # noqa: F401  (EduLevel and EmergencyRelation: their home was here)
    FIELDS_BY_NAME,
    LEAD_FIELDS,
    SEALED_FIELDS,
    EduLevel,
    EmergencyRelation,
)

# How screens show a lead whose personal data was erased on request (leads.erasure).
ERASED_LABEL = _("已删除")

PHONE_INDEX = "phone"
ID_NUMBER_INDEX = "id_number"


def phone_index(phone: str) -> str:
    return blind_index(phone, purpose=PHONE_INDEX)


def id_number_index(id_number: str) -> str:
    return blind_index(id_number.upper(), purpose=ID_NUMBER_INDEX)


class LeadIdentity(NamedTuple):
    """What a collision check needs of a lead: read without building the model."""

    pk: int
    phone: str
    id_number: str


class LeadQuerySet(models.QuerySet):
    def not_erased(self):
        """Leads whose personal data is still held (see ``Lead.erased_at``)."""
        return self.filter(erased_at__isnull=True)

    def identities(self) -> list[LeadIdentity]:
        return [
            LeadIdentity(pk, pii.get("phone", ""), pii.get("id_number", ""))
            for pk, pii in self.values_list("pk", "pii")
        ]


def sealed(name: str) -> property:
    """An attribute stored inside the lead's encrypted ``pii`` object (a property, so that
    ``Lead(phone=...)`` works like a field)."""

    def get(lead) -> str:
        return lead.pii.get(name, "")

    def set(lead, value) -> None:
        lead.pii[name] = "" if value is None else str(value)

    return property(get, set)


class Lead(models.Model):
    """A person we may check and push. Personal fields are encrypted; phone and ID number are
    found and kept unique through keyed blind indexes, never through stored hashes.

    An erased lead (``erased_at``, leads.erasure) keeps its row, id, source, batch, times and
    coarse attributes, so counts and outcomes stay; its ``pii`` is empty and its blind indexes
    are NULL (unique columns allow any number of NULLs), so nothing finds or matches it again."""

    # Phone, ID number, name, contacts and address, sealed together: one Fernet token per lead
    # keeps imports and exports of 100k rows fast. Read and write them as attributes (below).
    pii = EncryptedJSONField(_("个人信息（加密）"), default=dict, editable=False)
    # The plain columns: label, length, choices and validators are declared in leads.fields.
    edu_level = models.CharField(
        **FIELDS_BY_NAME["edu_level"].column_options(), blank=True, default=""
    )
    province = models.CharField(
        **FIELDS_BY_NAME["province"].column_options(), blank=True, default=""
    )
    city = models.CharField(**FIELDS_BY_NAME["city"].column_options(), blank=True, default="")
    district = models.CharField(
        **FIELDS_BY_NAME["district"].column_options(), blank=True, default=""
    )
    social_insurance_paid = models.BooleanField(
        **FIELDS_BY_NAME["social_insurance_paid"].column_options(), null=True, blank=True
    )
    emergency_relation = models.CharField(
        **FIELDS_BY_NAME["emergency_relation"].column_options(), blank=True, default=""
    )
    zhima_score = models.PositiveSmallIntegerField(
        **FIELDS_BY_NAME["zhima_score"].column_options(), null=True, blank=True
    )
    source = models.CharField(_("来源"), max_length=100, blank=True, default="")  # lead_source_id
    created_at = models.DateTimeField(_("创建时间"), auto_now_add=True, db_index=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, models.SET_NULL, null=True, blank=True, related_name="+"
    )
    import_batch = models.ForeignKey(
        "leads.ImportBatch",
        models.SET_NULL,
        null=True,
        blank=True,
        related_name="leads",
        verbose_name=_("导入批次（最近一次写入）"),
    )

    # NULL once erased: unique columns take any number of NULLs, never two equal values.
    phone_index = models.CharField(max_length=64, unique=True, null=True, editable=False)  # noqa: DJ001
    id_number_index = models.CharField(max_length=64, unique=True, null=True, editable=False)  # noqa: DJ001
    erased_at = models.DateTimeField(
        _("个人信息删除时间"), null=True, blank=True, editable=False, db_index=True
    )

    objects = LeadQuerySet.as_manager()

    # The sealed attributes (``phone``, ``id_number``, ...) are added below the class, one per
    # sealed field of leads.fields.

    class Meta:
        verbose_name = _("线索")
        verbose_name_plural = _("线索")
        ordering = ["-id"]
        # The lead list's filters (issue 14): their counts and values read an index, not 1M rows.
        indexes = [
            # A source's lead ids from the index alone: the check-result and push lists'
            # source filter and search select them in a subquery (no read of 1M leads' rows).
            models.Index(fields=["source", "id"], name="lead_source_id"),
            # A batch's leads newest first, and split into created and updated by their time
            # (pushes.lead_list.batch_part), read from the index alone.
            models.Index(fields=["import_batch", "id", "created_at"], name="lead_batch_id"),
            models.Index(fields=["province"], name="lead_province"),
            models.Index(fields=["edu_level"], name="lead_edu_level"),
            models.Index(fields=["social_insurance_paid"], name="lead_social_insurance"),
        ]
        permissions = [
            ("view_lead_pii", _("可查看线索的完整个人信息（不打码）")),
            ("check_lead", _("可对线索撞库")),
            ("push_lead", _("可向合作平台推送线索")),
            ("import_lead", _("可导入线索")),
            ("export_lead", _("可导出线索")),
            ("export_lead_pii", _("导出时可包含完整个人信息（不打码，记入导出审计）")),
            ("erase_lead", _("可依申请删除线索的个人信息")),
        ]

    def __str__(self):
        if self.is_erased:
            return f"#{self.pk} {ERASED_LABEL}"
        return f"{mask_name(self.name)} {mask_phone(self.phone)}"

    def save(self, *args, **kwargs):
        self.refresh_indexes()
        super().save(*args, **kwargs)

    def clean(self):
        super().clean()
        self.validate_sealed()
        self.refresh_indexes()
        others = Lead.objects.exclude(pk=self.pk)
        errors = {}
        if others.filter(phone_index=self.phone_index).exists():
            errors["phone"] = _("已有线索使用这个手机号")
        if others.filter(id_number_index=self.id_number_index).exists():
            errors["id_number"] = _("已有线索使用这个身份证号")
        if errors:
            raise ValidationError(errors)

    def validate_sealed(self) -> None:
        """Field-style validation of the sealed attributes (they are not model fields)."""
        errors = {}
        for declared in LEAD_FIELDS:
            if not declared.is_sealed:
                continue  # model fields: Django's full_clean runs their validators
            value = getattr(self, declared.name)
            if not value:
                if declared.required:
                    errors[declared.name] = _("%(label)s不能为空") % {"label": declared.label}
                continue
            for validator in declared.validators:
                try:
                    validator(value)
                except ValidationError as exc:
                    errors[declared.name] = exc.messages
                    break
        if errors:
            raise ValidationError(errors)

    @property
    def is_erased(self) -> bool:
        return self.erased_at is not None

    def refresh_indexes(self) -> None:
        """Keep the blind indexes in step with the values; ``bulk_create`` callers call this.
        An erased lead has none."""
        if self.is_erased:
            self.phone_index = self.id_number_index = None
            return
        self.id_number = (self.id_number or "").upper()
        self.phone_index = phone_index(self.phone)
        self.id_number_index = id_number_index(self.id_number)

    @property
    def masked_phone(self) -> str:
        return mask_phone(self.phone)

    @property
    def masked_id_number(self) -> str:
        return mask_id_number(self.id_number)

    @property
    def masked_name(self) -> str:
        return mask_name(self.name)


def _add_sealed_attributes(model) -> None:
    """``Lead.phone`` and the rest: one property per sealed field of leads.fields, set before any
    lead is built (``Lead(phone=...)`` accepts the names Django finds as properties)."""
    for name in SEALED_FIELDS:
        setattr(model, name, sealed(name))


_add_sealed_attributes(Lead)


class OnDuplicate(models.TextChoices):
    SKIP = "skip", _("跳过已存在的线索")
    UPDATE = "update", _("用文件内容更新已存在的线索")


class ImportState(models.TextChoices):
    UPLOADED = "uploaded", _("待分析")
    ANALYSING = "analysing", _("分析中")
    PREVIEW = "preview", _("待确认")
    QUEUED = "queued", _("排队导入")
    IMPORTING = "importing", _("导入中")
    DONE = "done", _("已完成")
    FAILED = "failed", _("失败")
    CANCELLED = "cancelled", _("已取消")


RUNNING_STATES = (
    ImportState.UPLOADED,
    ImportState.ANALYSING,
    ImportState.QUEUED,
    ImportState.IMPORTING,
)


class ImportBatch(models.Model):
    """One uploaded lead list, from upload through preview to the all-or-nothing import.

    The upload waits Fernet-encrypted (in ``ImportChunk`` pieces) until it is analysed, the
    analysed rows wait encrypted in ``ImportChunk`` rows until the import; both are dropped as soon
    as they are no longer needed (rejected rows after ``LEAD_IMPORT_RETENTION_DAYS``)."""

    file_name = models.CharField(_("文件名"), max_length=255)
    file_size = models.PositiveIntegerField(_("文件大小（字节）"), default=0)
    source = models.CharField(_("来源（渠道）"), max_length=100, blank=True, default="")
    on_duplicate = models.CharField(
        _("已存在的线索"), max_length=8, choices=OnDuplicate, default=OnDuplicate.SKIP
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("上传人"),
    )
    created_at = models.DateTimeField(_("上传时间"), auto_now_add=True, db_index=True)
    confirmed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("确认人"),
    )
    finished_at = models.DateTimeField(_("完成时间"), null=True, blank=True)

    state = models.CharField(
        _("状态"), max_length=16, choices=ImportState, default=ImportState.UPLOADED, db_index=True
    )
    error = models.TextField(_("错误"), blank=True, default="")
    phase = models.CharField(_("当前步骤"), max_length=64, blank=True, default="")
    progress_done = models.PositiveIntegerField(_("已处理行数"), default=0)
    progress_total = models.PositiveIntegerField(_("总行数"), default=0)
    heartbeat_at = models.DateTimeField(_("最近进度时间"), null=True, blank=True)

    # What the preview found (no personal data: headers, counts, reasons).
    header_row = models.PositiveIntegerField(_("表头所在行"), default=0)
    columns = models.JSONField(_("识别的列"), default=list, blank=True)
    unknown_columns = models.JSONField(_("未识别的列"), default=list, blank=True)
    problem_summary = models.JSONField(_("问题汇总"), default=list, blank=True)
    rows_total = models.PositiveIntegerField(_("数据行"), default=0)
    rows_new = models.PositiveIntegerField(_("新增"), default=0)
    rows_update = models.PositiveIntegerField(_("更新"), default=0)
    rows_existing = models.PositiveIntegerField(_("已存在（跳过）"), default=0)
    rows_duplicate_in_file = models.PositiveIntegerField(_("文件内重复"), default=0)
    rows_invalid = models.PositiveIntegerField(_("无效"), default=0)

    # What the import did.
    leads_created = models.PositiveIntegerField(_("已新增线索"), default=0)
    leads_updated = models.PositiveIntegerField(_("已更新线索"), default=0)
    leads_skipped = models.PositiveIntegerField(_("已跳过"), default=0)
    rows_rejected = models.PositiveIntegerField(_("被拒行"), default=0)

    rejected_rows_purged_at = models.DateTimeField(_("被拒行数据清除时间"), null=True, blank=True)

    class Meta:
        verbose_name = _("导入批次")
        verbose_name_plural = _("导入批次")
        ordering = ["-created_at", "-id"]
        # Acting on a batch (confirm, cancel, retry, rejected rows) belongs to its uploader.
        permissions = [("manage_all_importbatches", _("可处理他人上传的导入批次"))]

    def __str__(self):
        return f"#{self.pk} {self.file_name}"

    def may_be_handled_by(self, user) -> bool:
        """Its uploader, or a user allowed to handle everyone's batches."""
        return self.created_by_id == user.pk or user.has_perm("leads.manage_all_importbatches")

    @property
    def is_running(self) -> bool:
        return self.state in RUNNING_STATES

    @property
    def rows_duplicate(self) -> int:
        return self.rows_existing + self.rows_duplicate_in_file

    @property
    def progress_percent(self) -> int:
        if not self.progress_total:
            return 0
        return min(100, round(100 * self.progress_done / self.progress_total))

    @property
    def has_rejected_rows(self) -> bool:
        return self.chunks.filter(kind=ChunkKind.REJECTED).exists()


class ChunkKind(models.TextChoices):
    UPLOAD = "upload", _("上传文件")
    VALID = "valid", _("待导入")
    REJECTED = "rejected", _("被拒")


class ImportChunk(models.Model):
    """A piece of a batch, sealed with Fernet: 1 MiB of the uploaded file (``data``, until it is
    analysed), or up to 10,000 analysed rows (``rows``): what the import needs (valid rows) and
    what the operator may download to fix (rejected rows). Small pieces keep memory flat: one
    token for a 10 MB file costs several full copies at once."""

    batch = models.ForeignKey(ImportBatch, models.CASCADE, related_name="chunks")
    kind = models.CharField(max_length=8, choices=ChunkKind)
    number = models.PositiveIntegerField()
    rows = EncryptedJSONField(default=dict, blank=True)
    data = models.BinaryField(null=True, blank=True, editable=False)

    class Meta:
        verbose_name = _("导入分块")
        verbose_name_plural = _("导入分块")
        ordering = ["batch", "kind", "number"]
        constraints = [
            models.UniqueConstraint(fields=["batch", "kind", "number"], name="import_chunk_unique")
        ]

    def __str__(self):
        return f"{self.batch_id}/{self.kind}/{self.number}"


class ExportKind(models.TextChoices):
    LEADS = "leads", _("线索")
    COLLISION_RESULTS = "collision_results", _("撞库结果")
    PUSHES = "pushes", _("推送记录")
    REJECTED_ROWS = "rejected_rows", _("导入被拒行")
    PUSH_SKIPS = "push_skips", _("未推送及原因")
    AUDIT_LOG = "audit_log", _("审计日志")


class ExportChannel(models.TextChoices):
    """Where an export was asked for."""

    ADMIN = "admin", _("后台")
    CLI = "cli", _("命令行")


class ExportRecord(models.Model):
    """Who exported what, how many rows, and whether personal data left unmasked. Append-only."""

    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("操作人"),
    )
    created_at = models.DateTimeField(_("导出时间"), auto_now_add=True, db_index=True)
    kind = models.CharField(_("导出内容"), max_length=32, choices=ExportKind)
    file_format = models.CharField(_("格式"), max_length=8)
    row_count = models.PositiveIntegerField(_("行数"))
    unmasked = models.BooleanField(_("含完整个人信息"), default=False, db_index=True)
    criteria = models.TextField(_("筛选条件"), blank=True, default="")
    channel = models.CharField(
        _("途径"), max_length=16, choices=ExportChannel, default=ExportChannel.ADMIN
    )

    class Meta:
        verbose_name = _("导出记录")
        verbose_name_plural = _("导出记录")
        ordering = ["-created_at", "-id"]

    def __str__(self):
        return f"{self.get_kind_display()} × {self.row_count}"


class AccessKind(models.TextChoices):
    DETAIL = "detail", _("详情页")
    LIST = "list", _("列表页")
    EXPORT = "export", _("不打码导出")
    REJECTED_ROWS = "rejected_rows", _("下载导入被拒行")
    ERASURE = "erasure", _("依申请删除")


class PersonalDataAccess(AppendOnlyRecord):
    """One sight of a lead's personal data in full, or one erasure of it (PIPL): who, when, which
    leads, and why it was allowed. Written by ``leads.access_log`` only.

    Append-only: the queryset and the instance refuse to change or delete rows, the admin is
    read-only, and on PostgreSQL a trigger refuses any UPDATE or DELETE (migration 0004). The
    actor's key is neither a database constraint nor followed on delete, and the username is
    kept beside it, so a deleted account leaves the row as it was. Nothing here is personal
    data: lead ids, masked criteria and masked identifiers only."""

    created_at = models.DateTimeField(_("时间"), default=timezone.now, db_index=True)
    kind = models.CharField(_("类型"), max_length=16, choices=AccessKind, db_index=True)
    page = models.CharField(_("页面"), max_length=500, blank=True, default="")
    # ",12,34," (commas around every id): a lead's rows are found with a portable
    # ``contains=",12,"``, on SQLite as on PostgreSQL.
    lead_ids = models.TextField(_("线索ID"), blank=True, default="")
    row_count = models.PositiveIntegerField(_("条数"), default=0)
    export_record = models.ForeignKey(
        ExportRecord,
        models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("导出记录"),
    )
    criteria = models.TextField(_("筛选条件（打码）"), blank=True, default="")
    permission = models.CharField(_("依据的权限"), max_length=100, blank=True, default="")
    granted_via = models.CharField(_("授权来源"), max_length=255, blank=True, default="")
    note = models.TextField(_("说明"), blank=True, default="")

    class Meta:
        verbose_name = _("个人信息查看记录")
        verbose_name_plural = _("个人信息查看记录")
        ordering = ["-created_at", "-id"]

    def __str__(self):
        return f"#{self.pk} {self.actor_username} {self.get_kind_display()}"

    @property
    def lead_id_list(self) -> list[int]:
        return [int(pk) for pk in self.lead_ids.split(",") if pk]

    @staticmethod
    def joined_ids(ids) -> str:
        return f",{','.join(str(int(pk)) for pk in ids)}," if ids else ""


class DoNotContactKind(models.TextChoices):
    PHONE = PHONE_INDEX, _("手机号")
    ID_NUMBER = ID_NUMBER_INDEX, _("身份证号")


class DoNotContactReason(models.TextChoices):
    REQUESTED = "requested", _("本人要求")
    COMPLAINT = "complaint", _("投诉")
    CONVERTED = "converted", _("已成交")
    OTHER = "other", _("其他")


# Seven digits in a row look like a phone or an ID number: a note must not hold one.
DIGIT_RUN = re.compile(r"[0-9０-９]{7,}")


def validate_no_number(note: str) -> None:
    if DIGIT_RUN.search(note or ""):
        raise ValidationError(
            _("备注里不能写手机号、身份证号等个人信息"), code="personal_data_in_note"
        )


class DoNotContact(models.Model):
    """A phone or an ID number never to be checked or pushed (leads.do_not_contact). Kept as
    the blind index only, the same keyed index a lead's column holds (purpose per kind, so a
    phone and an ID number never collide): nothing here is personal data."""

    kind = models.CharField(_("类型"), max_length=16, choices=DoNotContactKind)
    blind_index = models.CharField(_("索引"), max_length=64, editable=False)
    reason = models.CharField(_("原因"), max_length=16, choices=DoNotContactReason)
    note = models.CharField(
        _("备注"),
        max_length=200,
        blank=True,
        default="",
        validators=[validate_no_number],
        help_text=_("只写原因，不要写手机号、身份证号、姓名等个人信息"),
    )
    lead = models.ForeignKey(
        Lead,
        models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("来自线索"),
    )
    added_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("添加人"),
    )
    created_at = models.DateTimeField(_("添加时间"), auto_now_add=True, db_index=True)

    class Meta:
        verbose_name = _("免打扰名单")
        verbose_name_plural = _("免打扰名单")
        ordering = ["-created_at", "-id"]
        constraints = [
            # Also the index listed_reason() reads: one lookup per lead, never a scan.
            models.UniqueConstraint(fields=["kind", "blind_index"], name="do_not_contact_unique")
        ]

    def __str__(self):
        return f"#{self.pk} {self.get_kind_display()} {self.get_reason_display()}"


class DoNotContactRemoval(AppendOnlyRecord):
    """One entry taken off the do-not-contact list: what it was (kind, index, reason), who took
    it off, when and why. Append-only like the access log (a trigger on PostgreSQL, migration
    0014); ``actor`` is who removed it, kept by name as well."""

    removed_at = models.DateTimeField(_("移除时间"), default=timezone.now, db_index=True)
    kind = models.CharField(_("类型"), max_length=16, choices=DoNotContactKind)
    blind_index = models.CharField(_("索引"), max_length=64, db_index=True)
    reason = models.CharField(_("原因"), max_length=16, choices=DoNotContactReason)
    added_at = models.DateTimeField(_("添加时间"), null=True, blank=True)
    why = models.TextField(_("移除理由"))

    class Meta:
        verbose_name = _("免打扰移除记录")
        verbose_name_plural = _("免打扰移除记录")
        ordering = ["-removed_at", "-id"]

    def __str__(self):
        return f"#{self.pk} {self.actor_username} {self.get_kind_display()}"
