"""One declaration per lead field: its label, where it is kept (sealed in ``Lead.pii`` or a plain
column), how a spreadsheet cell becomes its value, the headers a file may give it, how screens
mask it and how exports and the import template head it.

The model (sealed keys, labels and validators of its plain columns), the import's column table
and header recognition, the admin's lists, the hand-entry form and the export columns all read
``LEAD_FIELDS``; none of them lists lead fields itself (tests/test_lead_fields.py holds them to
it). Adding a personal (sealed) field is one entry here; a plain field is one entry plus its
model column and migration. Partner protocols keep their own wire names and read our attributes
by name (partners.protocols): a protocol imports no app.

Imports no model and nothing of the import pipeline: ``leads.models`` imports it.
"""

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from django.db import models
from django.utils.functional import Promise
from django.utils.text import format_lazy
from django.utils.translation import gettext_lazy as _

from core.masking import mask_address, mask_id_number, mask_middle, mask_name, mask_phone
from leads.validators import ZHIMA_RANGE, validate_id_number, validate_mobile, validate_zhima_score


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


class Kind(StrEnum):
    PII = "pii"  # sealed in the lead's encrypted ``pii`` object, read and written as an attribute
    PLAIN = "plain"  # a column of its own (filterable; a new one needs a migration)


class Clean(StrEnum):
    """Which of leads.imports.cleaning's cleaners turns a cell into the value (built once per
    column of a file from the declaration: nothing is looked up per cell)."""

    PHONE = "phone"  # mainland mobile, +86 and Excel's number forms undone
    ID_NUMBER = "id_number"  # GB 11643, Excel's lost digits reported as such
    TEXT = "text"  # blanks removed, at most ``max_length`` characters
    QQ = "qq"
    ADDRESS = "address"  # inner blanks kept (single)
    CHOICE = "choice"  # one of ``choices``, or a ``synonyms`` key
    YES_NO = "yes_no"
    ZHIMA = "zhima"  # an integer in ZHIMA_RANGE


@dataclass(frozen=True)
class LeadField:
    name: str  # the Lead attribute (and the key in ``pii`` for a sealed one)
    label: Promise  # screens: the model field's verbose name, the admin, the form
    kind: Kind
    clean: Clean
    aliases: tuple[str, ...]  # headers a file may use, compared after ``header_key``
    header: Promise | None = None  # files (template, exports, import messages); ``label`` if None
    required: bool = False  # a file without it is refused; a lead without it is invalid
    validators: tuple[Callable, ...] = ()  # what the model checks (the import's cleaner does too)
    max_length: int | None = None
    choices: type[models.TextChoices] | None = None
    synonyms: Mapping[str, str] = field(default_factory=dict)  # other words a file may use
    mask: Callable[[str], str] | None = None  # personal data: masked on screens and exports
    identifier: bool = False  # long digits: written as text cells
    repeats: bool = False  # few distinct values (places, enumerations, names): clean each once
    listed: bool = False  # a column of the admin's lead list
    filtered: bool = False  # a filter of the admin's lead list
    hint: Promise | str = ""  # the import template's 填写要求

    def __post_init__(self):
        # What the cleaner and the model column need, checked when the module loads.
        if self.clean is Clean.TEXT and self.max_length is None:
            raise ValueError(f"{self.name}: a text field declares its max_length")
        if self.clean is Clean.CHOICE and self.choices is None:
            raise ValueError(f"{self.name}: a choice field declares its choices")
        if self.mask is not None and self.kind is not Kind.PII:
            raise ValueError(f"{self.name}: masked data is personal data, sealed in pii")

    @property
    def file_header(self) -> Promise:
        return self.header or self.label

    @property
    def is_sealed(self) -> bool:
        return self.kind is Kind.PII

    def column_options(self) -> dict:
        """A plain column's declared options, for its model field: ``verbose_name`` and, where
        declared, ``max_length``, ``choices`` and ``validators``."""
        options = {"verbose_name": self.label}
        if self.max_length is not None:
            options["max_length"] = self.max_length
        if self.choices is not None:
            options["choices"] = self.choices
        if self.validators:
            options["validators"] = list(self.validators)
        return options


EDU_SYNONYMS = {
    "硕士": EduLevel.MASTER_OR_ABOVE,
    "博士": EduLevel.MASTER_OR_ABOVE,
    "研究生": EduLevel.MASTER_OR_ABOVE,
    "研究生及以上": EduLevel.MASTER_OR_ABOVE,
    "大学本科": EduLevel.BACHELOR,
    "专科": EduLevel.COLLEGE,
    "大专及以下": EduLevel.HIGH_SCHOOL_OR_BELOW,
    "中专": EduLevel.HIGH_SCHOOL_OR_BELOW,
    "高中": EduLevel.HIGH_SCHOOL_OR_BELOW,
    "高中及以下": EduLevel.HIGH_SCHOOL_OR_BELOW,
    "中专及以下": EduLevel.HIGH_SCHOOL_OR_BELOW,
    "初中": EduLevel.HIGH_SCHOOL_OR_BELOW,
    "初中及以下": EduLevel.HIGH_SCHOOL_OR_BELOW,
}
RELATION_SYNONYMS = {
    "夫妻": EmergencyRelation.SPOUSE,
    "丈夫": EmergencyRelation.SPOUSE,
    "妻子": EmergencyRelation.SPOUSE,
    "父亲": EmergencyRelation.PARENT,
    "母亲": EmergencyRelation.PARENT,
    "父": EmergencyRelation.PARENT,
    "母": EmergencyRelation.PARENT,
    "兄弟": EmergencyRelation.SIBLING,
    "姐妹": EmergencyRelation.SIBLING,
    "哥哥": EmergencyRelation.SIBLING,
    "弟弟": EmergencyRelation.SIBLING,
    "姐姐": EmergencyRelation.SIBLING,
    "妹妹": EmergencyRelation.SIBLING,
    "儿子": EmergencyRelation.CHILD,
    "女儿": EmergencyRelation.CHILD,
}

PII, PLAIN = Kind.PII, Kind.PLAIN

# In the import template's order (exports follow it, so an unmasked export imports back as is).
LEAD_FIELDS = (
    LeadField("phone", _("手机号"), PII, Clean.PHONE, ("手机号", "手机", "手机号码", "电话", "电话号码", "联系电话", "phone", "mobile"), required=True, validators=(validate_mobile,), mask=mask_phone, identifier=True, listed=True, hint=_("11 位中国大陆手机号；可带 +86、空格或全角数字")),
    LeadField("id_number", _("身份证号"), PII, Clean.ID_NUMBER, ("身份证号", "身份证", "身份证号码", "idnum", "idno", "idnumber", "idcard"), required=True, validators=(validate_id_number,), mask=mask_id_number, identifier=True, listed=True, hint=_("18 位身份证号，请保持“文本”格式，否则 Excel 会把后 3 位变成 0")),
    LeadField("name", _("姓名"), PII, Clean.TEXT, ("姓名", "名字", "name"), required=True, max_length=50, mask=mask_name, repeats=True, listed=True),
    LeadField("wechat", _("微信"), PII, Clean.TEXT, ("微信", "微信号", "wechat", "weixin"), max_length=64, mask=mask_middle),
    LeadField("qq", _("QQ"), PII, Clean.QQ, ("qq", "qq号", "qq号码"), mask=mask_middle, identifier=True),
    LeadField("edu_level", _("学历"), PLAIN, Clean.CHOICE, ("学历", "edulevel", "education"), max_length=16, choices=EduLevel, synonyms=EDU_SYNONYMS, repeats=True, listed=True, filtered=True, hint="、".join(EduLevel.values)),
    LeadField("province", _("省份"), PLAIN, Clean.TEXT, ("省", "省份", "province"), max_length=32, repeats=True, filtered=True),
    LeadField("city", _("城市"), PLAIN, Clean.TEXT, ("市", "城市", "city"), max_length=32, repeats=True, listed=True),
    LeadField("district", _("区县"), PLAIN, Clean.TEXT, ("区", "区县", "县", "district", "county"), max_length=32, repeats=True),
    LeadField("address", _("详细地址"), PII, Clean.ADDRESS, ("地址", "详细地址", "住址", "address"), mask=mask_address),
    LeadField("social_insurance_paid", _("缴纳社保"), PLAIN, Clean.YES_NO, ("社保", "是否缴纳社保", "缴纳社保", "socialinsurancepayed", "socialinsurancepaid"), header=_("是否缴纳社保"), repeats=True, filtered=True, hint=_("1/0 或 是/否")),
    LeadField("emergency_contact_name", _("紧急联系人"), PII, Clean.TEXT, ("紧急联系人", "紧急联系人姓名", "emergencycontactname", "emergencycontact"), max_length=50, mask=mask_name, repeats=True),
    LeadField("emergency_relation", _("紧急联系人关系"), PLAIN, Clean.CHOICE, ("关系", "紧急联系人关系", "emergencyrelation"), max_length=8, choices=EmergencyRelation, synonyms=RELATION_SYNONYMS, repeats=True, hint="、".join(EmergencyRelation.values)),
    LeadField("emergency_contact_phone", _("紧急联系人电话"), PII, Clean.PHONE, ("紧急联系人电话", "紧急联系人手机", "紧急联系人手机号", "紧急联系电话", "emergencycontactphone"), validators=(validate_mobile,), mask=mask_phone, identifier=True, hint=_("11 位中国大陆手机号")),
    LeadField("zhima_score", _("芝麻分"), PLAIN, Clean.ZHIMA, ("芝麻分", "芝麻信用分", "zhimascore"), validators=(validate_zhima_score,), repeats=True, listed=True, hint=format_lazy(_("{low}–{high} 的整数"), low=ZHIMA_RANGE[0], high=ZHIMA_RANGE[1])),
)  # fmt: skip
FIELDS_BY_NAME = {f.name: f for f in LEAD_FIELDS}
SEALED_FIELDS = tuple(f.name for f in LEAD_FIELDS if f.is_sealed)
PLAIN_FIELDS = tuple(f.name for f in LEAD_FIELDS if not f.is_sealed)
