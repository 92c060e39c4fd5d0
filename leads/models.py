from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.utils.translation import gettext_lazy as _

from core.crypto import EncryptedJSONField, blind_index
from core.masking import mask_id_number, mask_name, mask_phone
from leads.validators import validate_id_number, validate_mobile, validate_zhima_score
from partners.protocols.qunadai_push import PushProfile


class EduLevel(models.TextChoices):
    MASTER_OR_ABOVE = "硕士及以上", _("硕士及以上")
    BACHELOR = "本科", _("本科")
    COLLEGE = "大专", _("大专")
    HIGH_SCHOOL_OR_BELOW = "中专/高中及以下", _("中专/高中及以下")


class EmergencyRelation(models.TextChoices):
    SPOUSE = "配偶", _("配偶")
    PARENT = "父母", _("父母")
    SIBLING = "兄弟姐妹", _("兄弟姐妹")
    CHILD = "子女", _("子女")
    COLLEAGUE = "同事", _("同事")
    CLASSMATE = "同学", _("同学")
    FRIEND = "朋友", _("朋友")


PHONE_INDEX = "phone"
ID_NUMBER_INDEX = "id_number"


def phone_index(phone: str) -> str:
    return blind_index(phone, purpose=PHONE_INDEX)


def id_number_index(id_number: str) -> str:
    return blind_index(id_number.upper(), purpose=ID_NUMBER_INDEX)


SEALED_FIELDS = (
    "phone",
    "id_number",
    "name",
    "wechat",
    "qq",
    "address",
    "emergency_contact_name",
    "emergency_contact_phone",
)


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
    found and kept unique through keyed blind indexes, never through stored hashes."""

    # Phone, ID number, name, contacts and address, sealed together: one Fernet token per lead
    # keeps imports and exports of 100k rows fast. Read and write them as attributes (below).
    pii = EncryptedJSONField(_("个人信息（加密）"), default=dict, editable=False)
    edu_level = models.CharField(_("学历"), max_length=16, choices=EduLevel, blank=True, default="")
    province = models.CharField(_("省份"), max_length=32, blank=True, default="")
    city = models.CharField(_("城市"), max_length=32, blank=True, default="")
    district = models.CharField(_("区县"), max_length=32, blank=True, default="")
    social_insurance_paid = models.BooleanField(_("缴纳社保"), null=True, blank=True)
    emergency_relation = models.CharField(
        _("紧急联系人关系"), max_length=8, choices=EmergencyRelation, blank=True, default=""
    )
    zhima_score = models.PositiveSmallIntegerField(
        _("芝麻分"), null=True, blank=True, validators=[validate_zhima_score]
    )

    source = models.CharField(_("来源"), max_length=100, blank=True, default="", db_index=True)
    created_at = models.DateTimeField(_("创建时间"), auto_now_add=True, db_index=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, models.SET_NULL, null=True, blank=True, related_name="+"
    )

    phone_index = models.CharField(max_length=64, unique=True, editable=False)
    id_number_index = models.CharField(max_length=64, unique=True, editable=False)

    phone = sealed("phone")
    id_number = sealed("id_number")
    name = sealed("name")
    wechat = sealed("wechat")
    qq = sealed("qq")
    address = sealed("address")
    emergency_contact_name = sealed("emergency_contact_name")
    emergency_contact_phone = sealed("emergency_contact_phone")

    class Meta:
        verbose_name = _("线索")
        verbose_name_plural = _("线索")
        ordering = ["-id"]
        permissions = [
            ("view_lead_pii", _("可查看线索的完整个人信息（不打码）")),
            ("check_lead", _("可对线索撞库")),
            ("push_lead", _("可向合作平台推送线索")),
        ]

    def __str__(self):
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
        required = {"phone": _("手机号"), "id_number": _("身份证号"), "name": _("姓名")}
        for name, label in required.items():
            if not getattr(self, name):
                errors[name] = _("%(label)s不能为空") % {"label": label}
        checks = [
            ("phone", validate_mobile),
            ("id_number", validate_id_number),
            ("emergency_contact_phone", validate_mobile),
        ]
        for name, validator in checks:
            value = getattr(self, name)
            if value and name not in errors:
                try:
                    validator(value)
                except ValidationError as exc:
                    errors[name] = exc.messages
        if errors:
            raise ValidationError(errors)

    def refresh_indexes(self) -> None:
        """Keep the blind indexes in step with the values; ``bulk_create`` callers call this."""
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

    def missing_push_fields(self) -> list[str]:
        """Fields the push spec requires that this lead lacks (it cannot be pushed without them)."""
        required = {
            "eduLevel": self.edu_level,
            "socialInsurancePayed": self.social_insurance_paid,
            "zhimaScore": self.zhima_score,
        }
        return [name for name, value in required.items() if value in (None, "")]

    def push_profile(self) -> PushProfile:
        return PushProfile(
            phone=self.phone,
            idNum=self.id_number,
            name=self.name,
            wechat=self.wechat,
            qq=self.qq,
            eduLevel=self.edu_level,
            province=self.province,
            city=self.city,
            district=self.district,
            address=self.address,
            socialInsurancePayed=int(bool(self.social_insurance_paid)),
            emergencyContactName=self.emergency_contact_name,
            emergencyRelation=self.emergency_relation,
            emergencyContactPhone=self.emergency_contact_phone,
            zhimaScore=int(self.zhima_score or 0),
        )
