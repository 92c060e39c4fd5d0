import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import connections, models, router, transaction
from django.utils import timezone
from django.utils.text import format_lazy
from django.utils.translation import gettext_lazy as _

from core.append_only import AppendOnlyQuerySet, AppendOnlyRecord
from core.crypto import EncryptedTextField
from partners.protocols import (
    COLLISION_PROTOCOLS,
    PUSH_PROTOCOLS,
    choices,
    collision_protocol,
    push_protocol,
    qunadai_push,
    yrxd_collision,
)
from partners.protocols.base import CALL_REFUSAL_WORDS, CallRefusalRules
from partners.protocols.signing import SecretKey


class Environment(models.TextChoices):
    TEST = "test", _("测试环境")
    PRODUCTION = "production", _("生产环境")


def _active_environment_has(name: str) -> models.Q:
    """The database's spelling of "the active environment's ``name`` is filled in"."""
    return models.Q(environment=Environment.TEST) & ~models.Q(**{f"test_{name}": ""}) | models.Q(
        environment=Environment.PRODUCTION
    ) & ~models.Q(**{f"production_{name}": ""})


class Partner(models.Model):
    """A lender we check leads against and push leads to."""

    name = models.CharField(_("名称"), max_length=100)
    slug = models.SlugField(
        _("标识"), unique=True, help_text=_("命令行里用来指定合作平台，例如 --partner demo")
    )
    environment = models.CharField(
        _("当前环境"), max_length=16, choices=Environment, default=Environment.TEST
    )
    test_base_url = models.URLField(
        _("测试环境地址"), help_text=_("撞库接口的域名，例如 http://yrxd.test.creditease.cn")
    )
    production_base_url = models.URLField(_("生产环境地址"), blank=True, default="")
    # Each environment has its own push URL, clientId and key: switching the environment switches
    # where pushes go and how every call is signed. The active one is read through push_url,
    # client_id, secret_key (properties below). Keys are encrypted and write-only (PartnerForm).
    test_push_url = models.URLField(
        _("测试环境推送地址"), blank=True, default="", help_text=_("合作平台提供的用户推送完整 URL")
    )
    production_push_url = models.URLField(
        _("生产环境推送地址"), blank=True, default="", help_text=_("合作平台提供的用户推送完整 URL")
    )
    test_client_id = models.CharField(
        _("测试环境推送 clientId"),
        max_length=64,
        blank=True,
        default="",
        help_text=_("合作平台分配的 clientId（规范示例为 THIRDPARTY_QUNADAI）"),
    )
    production_client_id = models.CharField(
        _("生产环境推送 clientId"),
        max_length=64,
        blank=True,
        default="",
        help_text=_("合作平台分配的 clientId（规范示例为 THIRDPARTY_QUNADAI）"),
    )
    test_secret_key = EncryptedTextField(_("测试环境签名密钥"), blank=True, default="")
    production_secret_key = EncryptedTextField(_("生产环境签名密钥"), blank=True, default="")
    test_secret_key_changed_at = models.DateTimeField(
        _("测试环境密钥最近修改时间"), null=True, blank=True, editable=False
    )
    production_secret_key_changed_at = models.DateTimeField(
        _("生产环境密钥最近修改时间"), null=True, blank=True, editable=False
    )
    receives_pushes = models.BooleanField(
        _("接收推送"),
        default=True,
        help_text=_(
            "只做撞库、不接收推送的合作平台取消勾选；勾选时当前环境必须有推送地址和 clientId"
        ),
    )
    utm_source = models.CharField(_("渠道名称 utmSource"), max_length=64)
    collision_protocol = models.CharField(
        _("撞库协议"),
        max_length=64,
        choices=choices(COLLISION_PROTOCOLS),
        default=yrxd_collision.NAME,
    )
    push_protocol = models.CharField(
        _("推送协议"), max_length=64, choices=choices(PUSH_PROTOCOLS), default=qunadai_push.NAME
    )
    push_data_as_string = models.BooleanField(
        _("推送 data 为 JSON 字符串"), default=True, help_text=_("取消则 data 以嵌套 JSON 对象发送")
    )
    push_integers_as_strings = models.BooleanField(
        _("推送整数以字符串发送"),
        default=True,
        help_text=_('socialInsurancePayed、zhimaScore 写成 "1" 而不是 1'),
    )
    # What counts as the partner refusing the call (not judging the lead), beyond the protocol's
    # defaults (partners.protocols.*.CALL_REFUSAL): e.g. its answer to missing headers.
    call_refusal_codes = models.CharField(
        _("视为拒绝请求的应答码"),
        max_length=200,
        blank=True,
        default="",
        help_text=_(
            "合作平台以这些 status 应答时，表示整个请求被拒绝（如请求头缺失或错误），线索没有被处理："
            "推送记为未送达、撞库记为调用失败，计入连续失败，不算拒绝线索。多个用逗号分隔，例如 401,403"
        ),
    )
    call_refusal_words = models.TextField(
        _("视为拒绝请求的应答关键词"),
        blank=True,
        default="",
        help_text=format_lazy(
            "{}{}",
            _(
                "失败应答的 msg 含其中任一词时，同样视为整个请求被拒绝。每行一个。推送协议默认已包含："
            ),
            "、".join(CALL_REFUSAL_WORDS),
        ),
    )
    connect_timeout = models.FloatField(_("连接超时（秒）"), default=3.0)
    read_timeout = models.FloatField(_("读取超时（秒）"), default=10.0)
    is_active = models.BooleanField(_("启用"), default=True)

    # Throughput: what the partner allows. Jobs keep within these and pause (never fail) outside.
    max_concurrency = models.PositiveSmallIntegerField(
        _("最大并发请求数"), default=4, validators=[MinValueValidator(1), MaxValueValidator(64)]
    )
    max_requests_per_second = models.FloatField(
        _("每秒最多请求数"), default=20.0, validators=[MinValueValidator(0.1)]
    )
    daily_push_cap = models.PositiveIntegerField(
        _("每日推送上限"), null=True, blank=True, help_text=_("留空表示不限")
    )
    working_hours_start = models.TimeField(_("工作时段开始"), null=True, blank=True)
    working_hours_end = models.TimeField(
        _("工作时段结束"), null=True, blank=True, help_text=_("留空表示全天；任务在时段外暂停")
    )
    failure_threshold = models.PositiveSmallIntegerField(
        _("连续失败多少次后自动暂停"), default=10, validators=[MinValueValidator(1)]
    )
    is_paused = models.BooleanField(
        _("已暂停"),
        default=False,
        help_text=_("连续失败达到阈值时自动暂停；排除故障后取消勾选即可恢复"),
    )
    consecutive_failures = models.PositiveIntegerField(_("连续失败次数"), default=0, editable=False)
    last_error = models.TextField(_("最近错误"), blank=True, default="", editable=False)
    last_error_at = models.DateTimeField(_("最近错误时间"), null=True, blank=True, editable=False)

    # Eligibility (接收条件): which leads the partner accepts; empty = no rule. Read through
    # partners.eligibility.EligibilityRules.of(partner), never field by field.
    allowed_regions = models.TextField(
        _("接收地区"),
        blank=True,
        default="",
        help_text=_(
            "每行一个省或市，例如 广东、杭州市（“省”“市”可省略）；线索的省份或城市与任一行相同即可接收。"
            "留空表示不限"
        ),
    )
    refused_regions = models.TextField(
        _("拒收地区"),
        blank=True,
        default="",
        help_text=_("每行一个省或市；线索的省份或城市与任一行相同即拒收。留空表示不限"),
    )
    min_age = models.PositiveSmallIntegerField(
        _("最小年龄"),
        null=True,
        blank=True,
        help_text=_("按身份证号的出生日期计算（周岁）；留空表示不限"),
    )
    max_age = models.PositiveSmallIntegerField(
        _("最大年龄"), null=True, blank=True, help_text=_("含此年龄；留空表示不限")
    )
    min_zhima_score = models.PositiveSmallIntegerField(
        _("最低芝麻分"), null=True, blank=True, help_text=_("没有芝麻分的线索不接收；留空表示不限")
    )
    accepted_edu_levels = models.JSONField(
        _("接收学历"),
        default=list,
        blank=True,
        help_text=_("不勾选表示不限；勾选后，没有学历的线索不接收"),
    )
    requires_social_insurance = models.BooleanField(
        _("要求缴纳社保"), default=False, help_text=_("勾选后只接收已缴社保的线索")
    )
    allowed_sources = models.TextField(
        _("接收渠道"),
        blank=True,
        default="",
        help_text=_("每行一个线索来源（渠道），须完全相同；留空表示不限"),
    )
    refused_sources = models.TextField(
        _("拒收渠道"),
        blank=True,
        default="",
        help_text=_("每行一个线索来源（渠道），须完全相同；这些渠道的线索不接收"),
    )

    # Commercial terms (商务条款): what the partner pays and how it ranks among the partners
    # that accept a lead (the distribution engine reads them).
    price_per_push = models.DecimalField(
        _("每条接收价格（元）"),
        max_digits=10,
        decimal_places=2,
        default=0,
        validators=[MinValueValidator(0)],
        help_text=_("合作平台为每条推送成功的线索支付的价格"),
    )
    priority = models.PositiveSmallIntegerField(
        _("优先级"), default=0, help_text=_("数字越大越优先；同一条线索先分给优先级高的合作平台")
    )
    weight = models.PositiveSmallIntegerField(
        _("权重"),
        default=1,
        help_text=_("至少为 1；优先级和价格相同的合作平台之间，按权重比例分配线索"),
    )
    exclusive_only = models.BooleanField(
        _("只买独家线索"), default=False, help_text=_("勾选后只有独家分发方案会向其推送")
    )
    check_valid_days = models.PositiveSmallIntegerField(
        _("撞库结果有效期（天）"),
        null=True,
        blank=True,
        help_text=_("撞库结果超过这么多天即视为过期，推送前需要重新撞库；留空表示永不过期"),
    )

    created_at = models.DateTimeField(_("创建时间"), auto_now_add=True)
    updated_at = models.DateTimeField(_("更新时间"), auto_now=True)

    class Meta:
        verbose_name = _("合作平台")
        verbose_name_plural = _("合作平台")
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(connect_timeout__gt=0, read_timeout__gt=0),
                name="partner_timeouts_positive",
            ),
            models.CheckConstraint(
                condition=~models.Q(environment=Environment.PRODUCTION, production_base_url=""),
                name="partner_production_needs_url",
            ),
            models.CheckConstraint(
                condition=_active_environment_has("secret_key"),
                name="partner_active_environment_has_key",
                violation_error_message=_("当前环境必须填写签名密钥"),
            ),
            models.CheckConstraint(
                condition=models.Q(receives_pushes=False)
                | _active_environment_has("push_url") & _active_environment_has("client_id"),
                name="partner_pushing_needs_url_and_client_id",
                violation_error_message=_("接收推送的合作平台在当前环境必须有推送地址和 clientId"),
            ),
            models.CheckConstraint(
                condition=models.Q(max_concurrency__gte=1, max_requests_per_second__gt=0),
                name="partner_throughput_positive",
            ),
            models.CheckConstraint(
                condition=(
                    models.Q(working_hours_start__isnull=True, working_hours_end__isnull=True)
                    | models.Q(working_hours_start__isnull=False, working_hours_end__isnull=False)
                ),
                name="partner_working_hours_both_or_neither",
            ),
            models.CheckConstraint(
                condition=models.Q(min_age__isnull=True)
                | models.Q(max_age__isnull=True)
                | models.Q(min_age__lte=models.F("max_age")),
                name="partner_min_age_not_above_max",
                violation_error_message=_("最小年龄不能大于最大年龄"),
            ),
            models.CheckConstraint(
                condition=models.Q(weight__gte=1),
                name="partner_weight_positive",
                violation_error_message=_("权重至少为 1"),
            ),
        ]

    def __str__(self):
        return f"{self.name} [{self.get_environment_display()}]"

    def save(self, *args, **kwargs):
        if not self.is_paused:
            self.consecutive_failures = 0  # an operator resuming a paused partner starts afresh
        super().save(*args, **kwargs)

    def clean(self):
        errors = {}
        if self.environment == Environment.PRODUCTION and not self.production_base_url:
            errors["production_base_url"] = _("切换到生产环境前需要填写生产环境地址")
        environment = self.get_environment_display()
        if not self.secret_key:
            errors[self._active("secret_key")] = _(
                "当前环境（%(environment)s）必须填写签名密钥"
            ) % {"environment": environment}
        if self.receives_pushes and not self.push_url:
            errors[self._active("push_url")] = _(
                "接收推送的合作平台必须填写当前环境（%(environment)s）的推送地址"
            ) % {"environment": environment}
        if self.receives_pushes and not self.client_id:
            errors[self._active("client_id")] = _(
                "接收推送的合作平台必须填写当前环境（%(environment)s）的 clientId"
            ) % {"environment": environment}
        if (self.working_hours_start is None) != (self.working_hours_end is None):
            errors["working_hours_end"] = _("工作时段的开始和结束要么都填，要么都不填")
        if self.min_age is not None and self.max_age is not None and self.min_age > self.max_age:
            errors["max_age"] = _("最小年龄不能大于最大年龄")
        if self.weight is not None and self.weight < 1:
            errors["weight"] = _("权重至少为 1")
        if errors:
            raise ValidationError(errors)

    # -- the active environment's settings ------------------------------------------------------
    # Services read these and never the per-environment fields, so a switch of environment
    # switches every call at once. The setters keep ``Partner(push_url=..., secret_key=...)``
    # and ``partner.secret_key = ...`` working: they write the active environment's field.

    def _active(self, name: str) -> str:
        prefix = "production" if self.environment == Environment.PRODUCTION else "test"
        return f"{prefix}_{name}"

    @property
    def base_url(self) -> str:
        return getattr(self, self._active("base_url"))

    @property
    def push_url(self) -> str:
        """Blank for a partner that takes no pushes: nothing is pushed to it (pushes.services)."""
        return getattr(self, self._active("push_url")) if self.receives_pushes else ""

    @push_url.setter
    def push_url(self, value: str) -> None:
        setattr(self, self._active("push_url"), value)

    @property
    def client_id(self) -> str:
        return getattr(self, self._active("client_id"))

    @client_id.setter
    def client_id(self, value: str) -> None:
        setattr(self, self._active("client_id"), value)

    @property
    def secret_key(self) -> str:
        return getattr(self, self._active("secret_key"))

    @secret_key.setter
    def secret_key(self, value: str) -> None:
        setattr(self, self._active("secret_key"), value)

    @property
    def secret_key_changed_at(self) -> datetime | None:
        return getattr(self, self._active("secret_key_changed_at"))

    @property
    def is_production(self) -> bool:
        return self.environment == Environment.PRODUCTION

    @property
    def has_secret_key(self) -> bool:
        return bool(self.pk and self.secret_key)

    def has_secret_key_for(self, environment: str) -> bool:
        return bool(self.pk and getattr(self, f"{environment}_secret_key"))

    def replace_secret_key(self, key: str, *, environment: str | None = None) -> None:
        """Set the key of ``environment`` (the active one by default) and note when."""
        environment = environment or self.environment
        setattr(self, f"{environment}_secret_key", key)
        setattr(self, f"{environment}_secret_key_changed_at", timezone.now())

    @property
    def signing_key(self) -> SecretKey:
        return SecretKey(self.secret_key)

    def call_refusal_rules(self, operation: str) -> CallRefusalRules:
        """The answers that refuse the call itself for ``operation``: the protocol's defaults
        and this partner's own codes and words."""
        if operation == Operation.PUSH:
            protocol = push_protocol(self.push_protocol)
        else:
            protocol = collision_protocol(self.collision_protocol)
        codes = (code.strip() for code in self.call_refusal_codes.replace("，", ",").split(","))
        words = (word.strip() for word in self.call_refusal_words.splitlines())
        return protocol.CALL_REFUSAL.extended(
            codes=[code for code in codes if code], words=[word for word in words if word]
        )

    @property
    def timeouts(self) -> tuple[float, float]:
        return (self.connect_timeout, self.read_timeout)

    def next_working_time(self, now: datetime) -> datetime | None:
        """``None`` inside the working hours (or without any); else when they next begin.
        Hours are local (TIME_ZONE) and may wrap midnight (e.g. 22:00–06:00)."""
        start, end = self.working_hours_start, self.working_hours_end
        if start is None or end is None or start == end:
            return None
        local = timezone.localtime(now)
        clock = local.time()
        inside = start <= clock < end if start < end else (clock >= start or clock < end)
        if inside:
            return None
        begin = local.replace(
            hour=start.hour, minute=start.minute, second=start.second, microsecond=0
        )
        return begin if begin > local else begin + timedelta(days=1)


class Operation(models.TextChoices):
    COLLISION_SINGLE = "collision_single", _("单次撞库")
    COLLISION_BATCH = "collision_batch", _("批量撞库")
    PUSH = "push", _("用户推送")
    # One check of a dummy hash, sent by 测试连接 (partners.connection).
    CONNECTION_TEST = "connection_test", _("连接测试")


class CallOutcome(models.TextChoices):
    OK = "ok", _("成功")
    REFUSED = "refused", _("平台返回失败")
    # The partner's rules say the call itself was refused (its headers, say): nothing processed.
    CALL_REFUSED = "call_refused", _("请求被拒（未处理）")
    SIGNATURE_REJECTED = "signature_rejected", _("签名被拒")
    HTTP_ERROR = "http_error", _("HTTP 错误")
    MALFORMED = "malformed", _("应答无法解析")
    RATE_LIMITED = "rate_limited", _("被限流")
    QUOTA_EXCEEDED = "quota_exceeded", _("超出额度")
    TIMEOUT = "timeout", _("读取超时")
    CONNECTION_ERROR = "connection_error", _("连接失败")


class AuditLogEntryQuerySet(AppendOnlyQuerySet):
    def bulk_create(self, *args, **kwargs):
        raise TypeError("audit rows are appended one at a time (AuditLogEntry.save chains them)")


# The fields a row's chain hash covers, in the serialisation's (sorted) order. Adding a field to
# the audit row means deciding how old rows, hashed without it, still verify.
CHAINED_FIELDS = (
    "actor",
    "actor_username",
    "created_at",
    "environment",
    "error",
    "id",
    "job",
    "latency_ms",
    "lead_count",
    "method",
    "operation",
    "outcome",
    "partner",
    "request_body",
    "request_headers",
    "response_body",
    "response_status",
    "url",
)
GENESIS_HASH = "0" * 64  # what the first row chains from
# pg_advisory_xact_lock key of the chain's head: "LDAUDIT1" as a 64-bit number.
CHAIN_LOCK_KEY = int.from_bytes(b"LDAUDIT1", "big", signed=True)


def chain_values(row) -> dict:
    """The chained fields of an audit row (a model instance, also a migration's historical one)
    by attribute name, as stored: foreign keys as ids, times in UTC."""
    values = {}
    for name in CHAINED_FIELDS:
        field = row._meta.get_field(name)
        value = getattr(row, field.attname)
        if isinstance(value, datetime):
            value = value.astimezone(UTC).isoformat()
        values[field.attname] = value
    return values


def link_hash(previous: str, values: dict) -> str:
    """A row's ``chain_hash``: SHA-256 of the previous row's and this row's canonical
    serialisation (compact JSON, keys sorted, text as it is)."""
    canonical = json.dumps(values, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(f"{previous}\n{canonical}".encode()).hexdigest()


class AuditLogEntry(AppendOnlyRecord):
    """One outbound partner call, as sent (PII masked, key never stored) and as answered
    (whatever the partner wrote masked: partners.calls).

    Append-only: rows are never changed or deleted (the model refuses; on PostgreSQL a trigger
    refuses any UPDATE or DELETE), the actor's name is kept beside the foreign key so a deleted
    account leaves it readable, and every row carries ``chain_hash``, chained to the row before
    it in id order (``manage.py verify_audit_log`` walks the chain). No column is encrypted:
    rotating keys (rotate_pii_keys) must never have to rewrite this table."""

    partner = models.ForeignKey(
        Partner, models.PROTECT, related_name="audit_entries", verbose_name=_("合作平台")
    )
    operation = models.CharField(_("操作"), max_length=32, choices=Operation)
    environment = models.CharField(_("环境"), max_length=16, choices=Environment)
    method = models.CharField(_("请求方法"), max_length=8, default="POST")
    url = models.URLField(_("URL"), max_length=500)
    request_headers = models.JSONField(_("请求头（打码）"), default=dict)
    request_body = models.TextField(_("请求体（打码）"))
    response_status = models.PositiveSmallIntegerField(_("HTTP 状态码"), null=True, blank=True)
    response_body = models.TextField(_("应答体（打码）"), blank=True, default="")
    latency_ms = models.PositiveIntegerField(_("耗时（毫秒）"))
    outcome = models.CharField(_("结果"), max_length=32, choices=CallOutcome)
    error = models.TextField(_("错误（打码）"), blank=True, default="")
    lead_count = models.PositiveIntegerField(_("线索数"), default=1)
    # Like the actor (AppendOnlyRecord), not a constraint: deleting a job rewrites nothing.
    job = models.ForeignKey(
        "jobs.Job",
        models.DO_NOTHING,
        db_constraint=False,
        null=True,
        blank=True,
        related_name="audit_entries",
        verbose_name=_("任务"),
    )
    created_at = models.DateTimeField(_("时间"), default=timezone.now, db_index=True)
    chain_hash = models.CharField(_("链式哈希"), max_length=64, editable=False)

    objects = AuditLogEntryQuerySet.as_manager()

    class Meta:
        verbose_name = _("审计日志")
        verbose_name_plural = _("审计日志")
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["partner", "-created_at"], name="audit_partner_time"),
            # The operator filter's names, read through it (core.admin.distinct_values).
            models.Index(fields=["actor_username"], name="audit_actor_name"),
        ]
        permissions = [("export_auditlogentry", _("可导出审计日志（打码）"))]

    def __str__(self):
        return f"#{self.pk} {self.get_operation_display()} ({self.get_outcome_display()})"

    def save(self, *args, **kwargs):
        """Append the row to the chain: under the chain's lock, it takes the id after the last
        row's and hashes itself onto that row's hash. Two writers that somehow read the same
        head would both claim the same id: one fails, the chain never forks."""
        if not self._state.adding:
            raise TypeError("the audit log is append-only")
        self.keep_actor_name()  # before hashing: the name is part of the chained row
        using = kwargs.get("using") or router.db_for_write(type(self), instance=self)
        with transaction.atomic(using=using):
            last_id, last_hash = _lock_chain_head(connections[using])
            self.id = last_id + 1
            self.created_at = timezone.now()  # in chain order
            self.chain_hash = link_hash(last_hash, chain_values(self))
            super().save(*args, **{**kwargs, "force_insert": True})


def _lock_chain_head(connection) -> tuple[int, str]:
    """The last row's id and hash, read under the chain's lock, held until the transaction ends.
    PostgreSQL: a transaction-scoped advisory lock. SQLite: the transaction itself (begun
    IMMEDIATE, settings.DATABASES, it holds the database's write lock)."""
    table = connection.ops.quote_name(AuditLogEntry._meta.db_table)
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [CHAIN_LOCK_KEY])
        cursor.execute(f"SELECT id, chain_hash FROM {table} ORDER BY id DESC LIMIT 1")  # noqa: S608
        row = cursor.fetchone()
    return (row[0], row[1]) if row else (0, GENESIS_HASH)


@dataclass(frozen=True)
class BrokenLink:
    """The first row of the audit chain that does not follow from the row before it."""

    id: int
    previous_id: int | None
    stored: str
    recomputed: str
    next_links: bool | None  # does the next row still chain onto this row's stored hash?

    def __str__(self):
        after = f"row #{self.previous_id}" if self.previous_id else "the start of the chain"
        text = (
            f"broken link at row #{self.id} (after {after}): stored chain_hash "
            f"{self.stored[:16]}…, recomputed from the row as it is now {self.recomputed[:16]}…"
        )
        if self.next_links:
            return text + (
                "; the next row still chains onto the stored hash, so this row's fields were"
                " changed after it was written (or a row before it was removed)"
            )
        return text + (
            "; this row's fields or its chain_hash were changed, or a row before it was removed"
            " or changed"
        )


@dataclass(frozen=True)
class ChainCheck:
    rows: int  # rows that verify, from the first on
    last_id: int | None  # the last of them
    last_hash: str
    broken: BrokenLink | None = None


def verify_audit_chain(*, chunk_size: int = 200) -> ChainCheck:
    """Walk the chain in id order, up to its first broken link, streaming: ``chunk_size`` rows
    in memory at a time (a batch check's row holds up to ~50 KB of masked answer)."""
    rows = AuditLogEntry.objects.order_by("id").iterator(chunk_size=chunk_size)
    previous_id, previous_hash, count = None, GENESIS_HASH, 0
    for row in rows:
        expected = link_hash(previous_hash, chain_values(row))
        if expected != row.chain_hash:
            following = AuditLogEntry.objects.filter(id__gt=row.id).order_by("id").first()
            next_links = (
                link_hash(row.chain_hash, chain_values(following)) == following.chain_hash
                if following
                else None
            )
            broken = BrokenLink(row.id, previous_id, row.chain_hash, expected, next_links)
            return ChainCheck(count, previous_id, previous_hash, broken)
        previous_id, previous_hash, count = row.id, row.chain_hash, count + 1
    return ChainCheck(count, previous_id, previous_hash)
