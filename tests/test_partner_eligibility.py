"""A partner's eligibility rules (接收条件) and commercial terms (商务条款): the pure rules of
partners.eligibility, the model's invariants and the partner page."""

import re
from datetime import date
from decimal import Decimal
from types import SimpleNamespace

import pytest
from django.contrib.auth.models import Group, User
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.test import Client
from django.urls import reverse

from core.roles import ROLES
from leads.fields import EduLevel
from leads.models import Lead
from partners.eligibility import EligibilityRules, age_on, normalise_region
from partners.models import Partner
from tests.conftest import log_in_verified

_OPERATOR, _AUDITOR, ADMINISTRATOR = ROLES
TODAY = date(2026, 12, 1)

NO_RULES = {
    "allowed_regions": "",
    "refused_regions": "",
    "min_age": None,
    "max_age": None,
    "min_zhima_score": None,
    "accepted_edu_levels": [],
    "requires_social_insurance": False,
    "allowed_sources": "",
    "refused_sources": "",
}


def rules(**partner_fields) -> EligibilityRules:
    """The rules of a partner with ``partner_fields`` set, every other rule empty (a stand-in
    with the Partner's field names: the rules are plain Python)."""
    return EligibilityRules.of(SimpleNamespace(**{**NO_RULES, **partner_fields}))


def lead(**columns) -> dict:
    """A lead as a ``.values()`` row gives it: one that passes any rule not about ``columns``."""
    row = {
        "province": "广东省",
        "city": "深圳市",
        "zhima_score": 700,
        "edu_level": EduLevel.BACHELOR,
        "social_insurance_paid": True,
        "source": "douyin",
    }
    return {**row, **columns}


# -- regions ------------------------------------------------------------------------------------


def test_an_allowed_region_matches_the_province_with_or_without_its_suffix():
    guangdong = rules(allowed_regions="广东\n")
    assert guangdong.refusal(lead(), age=None) is None
    assert guangdong.refusal(lead(province="广东"), age=None) is None
    assert rules(allowed_regions="广东省").refusal(lead(province="广东"), age=None) is None

    assert guangdong.refusal(lead(province="浙江省", city="杭州市"), age=None) == (
        "地区不在接收范围：浙江省 杭州市"
    )
    assert guangdong.refusal(lead(province="", city=""), age=None) == "地区不在接收范围：未填写"


def test_an_allowed_region_matches_the_city():
    hangzhou = rules(allowed_regions="  杭州市  \n\n上海")
    assert hangzhou.refusal(lead(province="浙江省", city="杭州"), age=None) is None
    assert hangzhou.refusal(lead(province="上海市", city="上海市"), age=None) is None
    assert hangzhou.refusal(lead(province="浙江省", city="宁波市"), age=None) == (
        "地区不在接收范围：浙江省 宁波市"
    )


def test_a_refused_region_refuses_by_province_or_city():
    refused = rules(refused_regions="深圳\n北京")
    assert refused.refusal(lead(), age=None) == "地区被拒收：深圳市"
    assert refused.refusal(lead(province="北京市", city="北京市"), age=None) == "地区被拒收：北京市"
    assert refused.refusal(lead(city="广州市"), age=None) is None
    # Refused wins over allowed.
    both = rules(allowed_regions="广东", refused_regions="深圳市")
    assert both.refusal(lead(), age=None) == "地区被拒收：深圳市"
    assert both.refusal(lead(city="广州市"), age=None) is None


def test_region_names_lose_one_administrative_suffix():
    assert normalise_region("广西壮族自治区") == normalise_region("广西") == "广西"
    assert normalise_region("新疆维吾尔自治区") == "新疆"
    assert normalise_region("香港特别行政区") == "香港"
    assert normalise_region(" 北京 市") == "北京"
    assert normalise_region("市") == "市"  # a suffix alone is left as it is


# -- age ----------------------------------------------------------------------------------------


def test_ages_between_the_bounds_pass_the_boundary_birthday_included():
    adults = rules(min_age=22, max_age=55)
    assert adults.needs_age
    assert adults.refusal(lead(), age=22) is None
    assert adults.refusal(lead(), age=55) is None
    assert adults.refusal(lead(), age=21) == "年龄 21 不在 22–55 岁"
    assert adults.refusal(lead(), age=56) == "年龄 56 不在 22–55 岁"

    # The day of the 22nd birthday the lead is 22, the day before 21.
    assert age_on("110101200412010011", TODAY) == 22
    assert age_on("110101200412020011", TODAY) == 21
    assert adults.refusal(lead(), age=age_on("110101200412010011", TODAY)) is None
    assert adults.refusal(lead(), age=age_on("110101200412020011", TODAY)) == (
        "年龄 21 不在 22–55 岁"
    )


def test_a_single_age_bound():
    assert rules(min_age=18).refusal(lead(), age=17) == "年龄 17 低于 18 岁"
    assert rules(min_age=18).refusal(lead(), age=80) is None
    assert rules(max_age=55).refusal(lead(), age=56) == "年龄 56 高于 55 岁"
    assert rules(max_age=55).refusal(lead(), age=0) is None


def test_a_lead_without_a_readable_id_number_fails_an_age_rule():
    assert rules(min_age=18).refusal(lead(), age=None) == "无法从身份证号得出年龄"


def test_only_an_age_rule_needs_the_age():
    assert not rules(min_zhima_score=600, allowed_regions="广东").needs_age
    assert rules(max_age=60).needs_age
    assert rules(min_age=0).needs_age  # 0 is a bound, not "no rule"


def test_age_on_reads_18_and_15_digit_numbers():
    assert age_on("11010119900307001X", TODAY) == 36
    assert age_on("11010119900307001x", TODAY) == 36
    assert age_on(" 110101199003070011 ", TODAY) == 36
    assert age_on("110101900307001", TODAY) == 36  # 15 digits: 19YYMMDD
    assert age_on("110101901201001", TODAY) == 36  # birthday today
    assert age_on("110101901202001", TODAY) == 35
    # Born on 29 February: a year older on 1 March in a common year.
    assert age_on("110101200002290011", date(2026, 2, 28)) == 25
    assert age_on("110101200002290011", date(2026, 3, 1)) == 26


@pytest.mark.parametrize(
    "garbage",
    [
        "",
        None,
        "not a number",
        "1101011990030700",  # 16 digits
        "110101199013070011",  # month 13
        "110101199002300011",  # 30 February
        "110101190002290011",  # 1900 was no leap year
        "11010119900307001Y",
        "11010190030700X",  # 15 digits end in a digit
        "110101203001010011",  # born after today
    ],
)
def test_age_on_gives_none_for_what_it_cannot_read(garbage):
    assert age_on(garbage, TODAY) is None


# -- score, education, social insurance ----------------------------------------------------------


def test_a_minimum_zhima_score():
    scored = rules(min_zhima_score=650)
    assert scored.refusal(lead(zhima_score=650), age=None) is None
    assert scored.refusal(lead(zhima_score=600), age=None) == "芝麻分 600 低于 650"
    assert scored.refusal(lead(zhima_score=None), age=None) == "没有芝麻分（要求不低于 650）"
    assert rules().refusal(lead(zhima_score=None), age=None) is None


def test_accepted_education_levels():
    graduates = rules(accepted_edu_levels=[EduLevel.BACHELOR, EduLevel.MASTER_OR_ABOVE])
    assert graduates.refusal(lead(edu_level="本科"), age=None) is None
    assert graduates.refusal(lead(edu_level="大专"), age=None) == "学历 大专 不在接收范围"
    assert graduates.refusal(lead(edu_level=""), age=None) == "学历 未填写 不在接收范围"
    assert rules().refusal(lead(edu_level=""), age=None) is None


def test_education_reasons_show_the_callers_labels():
    labelled = EligibilityRules.of(
        SimpleNamespace(**{**NO_RULES, "accepted_edu_levels": ["bachelor"]}),
        edu_labels={"college": "大专"},
    )
    assert labelled.refusal(lead(edu_level="college"), age=None) == "学历 大专 不在接收范围"
    assert labelled.refusal(lead(edu_level="bachelor"), age=None) is None


def test_required_social_insurance():
    insured = rules(requires_social_insurance=True)
    assert insured.refusal(lead(social_insurance_paid=True), age=None) is None
    assert insured.refusal(lead(social_insurance_paid=False), age=None) == "未缴社保"
    assert insured.refusal(lead(social_insurance_paid=None), age=None) == "社保缴纳情况未填写"
    assert rules().refusal(lead(social_insurance_paid=None), age=None) is None


# -- sources ------------------------------------------------------------------------------------


def test_allowed_sources_match_exactly_after_strip():
    allowed = rules(allowed_sources=" douyin \nkuaishou\n")
    assert allowed.refusal(lead(source="douyin"), age=None) is None
    assert allowed.refusal(lead(source=" kuaishou"), age=None) is None
    assert allowed.refusal(lead(source="Douyin"), age=None) == "渠道 Douyin 不在接收范围"
    assert allowed.refusal(lead(source="douyin2"), age=None) == "渠道 douyin2 不在接收范围"
    assert allowed.refusal(lead(source=""), age=None) == "渠道 未填写 不在接收范围"


def test_refused_sources():
    refused = rules(refused_sources="douyin")
    assert refused.refusal(lead(source="douyin"), age=None) == "渠道 douyin 被拒收"
    assert refused.refusal(lead(source="kuaishou"), age=None) is None
    assert refused.refusal(lead(source=""), age=None) is None


# -- all together -------------------------------------------------------------------------------


def test_no_rules_pass_every_lead():
    empty = rules()
    assert empty.is_empty and not empty.needs_age
    nothing_known = {key: None for key in lead()}
    assert empty.refusal(nothing_known, age=None) is None
    assert empty.refusal({}, age=None) is None
    assert empty.refusal(lead(), age=3) is None
    assert rules(allowed_regions="\n  \n").is_empty  # blank lines are no rule
    for name, value in [
        ("refused_regions", "深圳"),
        ("min_age", 18),
        ("min_zhima_score", 600),
        ("accepted_edu_levels", ["本科"]),
        ("requires_social_insurance", True),
        ("allowed_sources", "a"),
        ("refused_sources", "b"),
    ]:
        assert not rules(**{name: value}).is_empty, name


def test_a_real_partner_and_a_real_leads_values_row(make_leads):
    partner = Partner(
        allowed_regions="广东",
        min_age=22,
        max_age=55,
        min_zhima_score=650,
        accepted_edu_levels=[EduLevel.BACHELOR],
        requires_social_insurance=True,
        refused_sources="douyin",
    )
    (made,) = make_leads(
        1,
        province="广东省",
        city="广州市",
        id_number="110101199003070011",
        zhima_score=600,
        edu_level=EduLevel.BACHELOR,
        social_insurance_paid=True,
    )
    row = Lead.objects.values(
        "province", "city", "zhima_score", "edu_level", "social_insurance_paid", "source"
    ).get(pk=made.pk)
    checked = EligibilityRules.of(partner)
    age = age_on(Lead.objects.get(pk=made.pk).id_number, TODAY) if checked.needs_age else None
    assert age == 36
    assert checked.refusal(row, age=age) == "芝麻分 600 低于 650"
    assert "110101" not in checked.refusal(row, age=age)  # no personal data in a reason
    Lead.objects.filter(pk=made.pk).update(zhima_score=720)
    row["zhima_score"] = 720
    assert checked.refusal(row, age=age) is None


# -- the model ----------------------------------------------------------------------------------


def a_partner(**changes) -> Partner:
    fields = {
        "name": "条件平台",
        "slug": "terms",
        "utm_source": "terms_src",
        "test_base_url": "http://127.0.0.1:1",
        "test_push_url": "http://127.0.0.1:1/push",
        "test_client_id": "CLIENT",
        "test_secret_key": "k",
    }
    return Partner(**{**fields, **changes})


def test_the_terms_have_their_defaults(db):
    partner = a_partner()
    partner.save()
    partner.refresh_from_db()
    assert (partner.price_per_push, partner.priority, partner.weight) == (Decimal("0.00"), 0, 1)
    assert not partner.exclusive_only and partner.check_valid_days is None
    assert partner.accepted_edu_levels == []
    assert EligibilityRules.of(partner).is_empty


def test_min_age_above_max_age_and_weight_0_are_refused_in_chinese(db):
    partner = a_partner(min_age=60, max_age=20, weight=0)
    with pytest.raises(ValidationError) as invalid:
        partner.full_clean()
    assert invalid.value.message_dict == {
        "max_age": ["最小年龄不能大于最大年龄"],
        "weight": ["权重至少为 1"],
    }
    a_partner(min_age=30, max_age=30).full_clean()
    a_partner(min_age=30).full_clean()


@pytest.mark.parametrize(
    ("changes", "message"),
    [({"min_age": 60, "max_age": 20}, "最小年龄不能大于最大年龄"), ({"weight": 0}, "权重至少为 1")],
)
def test_the_database_refuses_them_too(db, changes, message):
    partner = a_partner(**changes)
    with pytest.raises(ValidationError) as invalid:
        partner.validate_constraints()
    assert invalid.value.messages == [message]
    with pytest.raises(IntegrityError), transaction.atomic():
        partner.save()


# -- the partner page ---------------------------------------------------------------------------


@pytest.fixture
def administrator(db) -> Client:
    user = User.objects.create_user("li.admin", is_staff=True)
    user.groups.add(Group.objects.get(name=ADMINISTRATOR))
    return log_in_verified(Client(), user)


def change_form(client: Client, partner: Partner) -> tuple[str, dict]:
    """The change page's URL and its form as the browser would post it unchanged."""
    url = reverse("admin:partners_partner_change", args=[partner.pk])
    form = client.get(url).context["adminform"].form
    data = {
        name: value
        for name, value in form.initial.items()
        if value is not None and name in form.fields
    }
    return url, data


def test_an_administrator_sets_the_rules_and_terms(administrator, partner):
    url = reverse("admin:partners_partner_change", args=[partner.pk])
    html = administrator.get(url).content.decode()
    headings = re.findall(r"<h2[^>]*>([^<]+)</h2>", html)
    assert "接收条件" in headings and "商务条款" in headings
    for level in EduLevel.values:  # education as checkboxes
        assert re.search(
            rf'<input type="checkbox" name="accepted_edu_levels" value="{level}"', html
        )
    assert "数字越大越优先" in html

    _, data = change_form(administrator, partner)
    data.update(
        test_secret_key="",
        working_hours_start="",
        working_hours_end="",
        allowed_regions="广东\r\n杭州市",
        refused_regions="深圳",
        min_age="22",
        max_age="55",
        min_zhima_score="650",
        accepted_edu_levels=[EduLevel.BACHELOR, EduLevel.COLLEGE],
        requires_social_insurance="on",
        allowed_sources="douyin",
        refused_sources="spam",
        price_per_push="12.50",
        priority="5",
        weight="3",
        exclusive_only="on",
        check_valid_days="7",
    )
    data.pop("daily_push_cap", None)
    response = administrator.post(url, data)
    assert response.status_code == 302, response.context["adminform"].form.errors

    partner.refresh_from_db()
    assert partner.accepted_edu_levels == [EduLevel.BACHELOR, EduLevel.COLLEGE]
    assert (partner.min_age, partner.max_age, partner.min_zhima_score) == (22, 55, 650)
    assert partner.requires_social_insurance and partner.exclusive_only
    assert (partner.price_per_push, partner.priority, partner.weight) == (Decimal("12.50"), 5, 3)
    assert partner.check_valid_days == 7
    checked = EligibilityRules.of(partner)
    assert checked.allowed_regions == {"广东", "杭州"}
    assert checked.refusal(lead(), age=30) == "地区被拒收：深圳市"
    assert checked.refusal(lead(city="广州市", source="douyin"), age=30) is None

    listing = administrator.get(reverse("admin:partners_partner_changelist")).content.decode()
    assert "每条接收价格（元）" in listing and "12.50" in listing and "优先级" in listing

    # The page shows the saved choices checked.
    html = administrator.get(url).content.decode()
    assert re.search(rf'value="{EduLevel.BACHELOR}"[^>]*checked', html)
    assert not re.search(rf'value="{EduLevel.MASTER_OR_ABOVE}"[^>]*checked', html)


def test_the_page_says_in_chinese_what_is_wrong(administrator, partner):
    url, data = change_form(administrator, partner)
    data.update(test_secret_key="", working_hours_start="", working_hours_end="")
    data.pop("daily_push_cap", None)
    data.update(min_age="60", max_age="20", weight="0")

    response = administrator.post(url, data)

    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert errors["max_age"] == ["最小年龄不能大于最大年龄"]
    assert errors["weight"] == ["权重至少为 1"]
    html = response.content.decode()
    assert "最小年龄不能大于最大年龄" in html and "权重至少为 1" in html
    partner.refresh_from_db()
    assert (partner.min_age, partner.max_age, partner.weight) == (None, None, 1)


def test_terms_left_out_of_a_post_keep_their_values(administrator, partner):
    """A client posting the form without the commercial terms (one written before them) or
    with them blank leaves them as they are."""
    Partner.objects.filter(pk=partner.pk).update(price_per_push="8.00", priority=2, weight=4)
    url, data = change_form(administrator, partner)
    data.update(test_secret_key="", working_hours_start="", working_hours_end="", name="改名")
    data.pop("daily_push_cap", None)
    for name in ("price_per_push", "priority"):
        data.pop(name)
    data["weight"] = ""

    response = administrator.post(url, data)

    assert response.status_code == 302, response.context["adminform"].form.errors
    partner.refresh_from_db()
    assert partner.name == "改名"
    assert (partner.price_per_push, partner.priority, partner.weight) == (Decimal("8.00"), 2, 4)
