"""Which leads a partner accepts (its 接收条件, on Partner), as a pure rule set.

``EligibilityRules.of(partner)`` reads the partner's fields once; ``refusal(lead, age=...)``
judges one lead, given as a plain mapping (a ``.values()`` row of Lead's columns: province, city,
zhima_score, edu_level, social_insurance_paid, source), and answers ``None`` (eligible) or a
short Chinese reason naming the rule and the lead's value. Reasons never carry personal data:
the age is given, never the ID number or the birth date.

The age comes from the caller (``age_on``): it decrypts the ID number only when
``rules.needs_age``, so a partner without an age rule never costs a decryption.

Region names are normalised on both sides so that 广东 == 广东省, 杭州 == 杭州市, 北京 == 北京市,
广西 == 广西壮族自治区: one administrative suffix (``REGION_SUFFIXES``) is removed from the end.
Deliberately simple: a line matches the lead's province or its city, so 吉林 (or 吉林市, or
吉林省) matches both the province 吉林省 and the city 吉林市.

partners sits below leads (import-linter layers), so education levels are plain codes here.
Lead.edu_level's codes are its Chinese labels (leads.fields.EduLevel), so reasons show them as
they are; a caller with other labels passes ``edu_labels`` (code → label) to ``of``.
"""

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from django.utils.translation import gettext as _

# Longest first: 新疆维吾尔自治区 loses 维吾尔自治区, not just 自治区.
REGION_SUFFIXES = (
    "维吾尔自治区",
    "壮族自治区",
    "回族自治区",
    "特别行政区",
    "自治区",
    "省",
    "市",
)


def normalise_region(name: str) -> str:
    """``name`` without blanks and without one trailing administrative suffix (kept when the
    suffix is all there is)."""
    name = "".join(name.split())
    for suffix in REGION_SUFFIXES:
        if name.endswith(suffix) and len(name) > len(suffix):
            return name[: -len(suffix)]
    return name


def _lines(text: str) -> list[str]:
    """One entry a line, stripped, blank lines dropped."""
    return [line.strip() for line in (text or "").splitlines() if line.strip()]


_ID_18 = re.compile(r"^\d{17}[\dX]$")
_ID_15 = re.compile(r"^\d{15}$")


def age_on(id_number: str, today: date) -> int | None:
    """Age in whole years on ``today`` from a mainland ID number's birth date: 18 digits
    (YYYYMMDD at positions 7–14, last character a digit or X) or the legacy 15 (YYMMDD at 7–12,
    always 19YY). ``None`` when the number or its date cannot be read, or the birth is after
    ``today``. The check digit is not verified here (leads.validators does that on import).
    Someone born on 29 February turns a year older on 1 March in common years."""
    number = (id_number or "").strip().upper()
    if _ID_18.match(number):
        year, month, day = int(number[6:10]), int(number[10:12]), int(number[12:14])
    elif _ID_15.match(number):
        year, month, day = 1900 + int(number[6:8]), int(number[8:10]), int(number[10:12])
    else:
        return None
    try:
        birth = date(year, month, day)
    except ValueError:
        return None
    if birth > today:
        return None
    return today.year - birth.year - ((today.month, today.day) < (birth.month, birth.day))


def _shown(value: Any) -> str:
    text = "" if value is None else str(value).strip()
    return text or _("未填写")


# The lead's columns the rules read (besides the age): the caller selects these.
REGION_COLUMNS = ("province", "city")
LEAD_COLUMNS = (*REGION_COLUMNS, "zhima_score", "edu_level", "social_insurance_paid", "source")


@dataclass(frozen=True)
class EligibilityRules:
    """A partner's eligibility rules. Empty collections and ``None`` bounds mean "no rule"."""

    allowed_regions: frozenset[str] = frozenset()  # normalised (normalise_region)
    refused_regions: frozenset[str] = frozenset()
    min_age: int | None = None
    max_age: int | None = None
    min_zhima_score: int | None = None
    accepted_edu_levels: frozenset[str] = frozenset()
    requires_social_insurance: bool = False
    allowed_sources: frozenset[str] = frozenset()
    refused_sources: frozenset[str] = frozenset()
    edu_labels: Mapping[str, str] = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def of(cls, partner, *, edu_labels: Mapping[str, str] | None = None) -> "EligibilityRules":
        """The rules ``partner`` states (a Partner, or anything with its field names)."""
        return cls(
            allowed_regions=_regions(_lines(partner.allowed_regions)),
            refused_regions=_regions(_lines(partner.refused_regions)),
            min_age=partner.min_age,
            max_age=partner.max_age,
            min_zhima_score=partner.min_zhima_score,
            accepted_edu_levels=frozenset(
                str(code).strip() for code in partner.accepted_edu_levels or () if code
            ),
            requires_social_insurance=bool(partner.requires_social_insurance),
            allowed_sources=frozenset(_lines(partner.allowed_sources)),
            refused_sources=frozenset(_lines(partner.refused_sources)),
            edu_labels=dict(edu_labels or {}),
        )

    @property
    def needs_age(self) -> bool:
        """Whether ``refusal`` needs the lead's age (then, and only then, the caller decrypts the
        ID number)."""
        return self.min_age is not None or self.max_age is not None

    @property
    def is_empty(self) -> bool:
        """No rule at all: every lead is eligible."""
        return not (
            self.allowed_regions
            or self.refused_regions
            or self.needs_age
            or self.min_zhima_score is not None
            or self.accepted_edu_levels
            or self.requires_social_insurance
            or self.allowed_sources
            or self.refused_sources
        )

    def refusal(self, lead: Mapping[str, Any], *, age: int | None) -> str | None:
        """``None`` when ``lead`` is eligible, else why not (the first rule it fails, in the
        order of the partner page). ``age`` is ``age_on(...)`` of the lead's ID number, or
        ``None`` when it has none or it cannot be read (which fails an age rule)."""
        return (
            self._region_refusal(lead)
            or self._age_refusal(age)
            or self._zhima_refusal(lead.get("zhima_score"))
            or self._edu_refusal(lead.get("edu_level"))
            or self._social_insurance_refusal(lead.get("social_insurance_paid"))
            or self._source_refusal(lead.get("source"))
        )

    # -- one rule each ----------------------------------------------------------------------

    def _region_refusal(self, lead: Mapping[str, Any]) -> str | None:
        if not (self.allowed_regions or self.refused_regions):
            return None
        names = [(lead.get(key) or "").strip() for key in REGION_COLUMNS]
        names = [name for name in names if name]
        for name in names:
            if normalise_region(name) in self.refused_regions:
                return _("地区被拒收：%(region)s") % {"region": name}
        if self.allowed_regions and not any(
            normalise_region(name) in self.allowed_regions for name in names
        ):
            return _("地区不在接收范围：%(region)s") % {"region": " ".join(names) or _("未填写")}
        return None

    def _age_refusal(self, age: int | None) -> str | None:
        if not self.needs_age:
            return None
        if age is None:
            return _("无法从身份证号得出年龄")
        low, high = self.min_age, self.max_age
        if (low is None or age >= low) and (high is None or age <= high):
            return None
        if low is not None and high is not None:
            return _("年龄 %(age)s 不在 %(min)s–%(max)s 岁") % {"age": age, "min": low, "max": high}
        if low is not None:
            return _("年龄 %(age)s 低于 %(min)s 岁") % {"age": age, "min": low}
        return _("年龄 %(age)s 高于 %(max)s 岁") % {"age": age, "max": high}

    def _zhima_refusal(self, score: int | None) -> str | None:
        if self.min_zhima_score is None:
            return None
        if score is None:
            return _("没有芝麻分（要求不低于 %(min)s）") % {"min": self.min_zhima_score}
        if score < self.min_zhima_score:
            return _("芝麻分 %(score)s 低于 %(min)s") % {
                "score": score,
                "min": self.min_zhima_score,
            }
        return None

    def _edu_refusal(self, edu_level: str | None) -> str | None:
        if not self.accepted_edu_levels:
            return None
        code = (edu_level or "").strip()
        if code in self.accepted_edu_levels:
            return None
        label = self.edu_labels.get(code, code) if code else ""
        return _("学历 %(edu)s 不在接收范围") % {"edu": _shown(label)}

    def _social_insurance_refusal(self, paid: bool | None) -> str | None:
        if not self.requires_social_insurance or paid is True:
            return None
        return _("未缴社保") if paid is False else _("社保缴纳情况未填写")

    def _source_refusal(self, source: str | None) -> str | None:
        source = (source or "").strip()
        if source and source in self.refused_sources:
            return _("渠道 %(source)s 被拒收") % {"source": source}
        if self.allowed_sources and source not in self.allowed_sources:
            return _("渠道 %(source)s 不在接收范围") % {"source": _shown(source)}
        return None


def _regions(names: Iterable[str]) -> frozenset[str]:
    return frozenset(filter(None, (normalise_region(name) for name in names)))
