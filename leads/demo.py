"""Realistic, valid fake leads for the demo, the tests and the benchmarks (never real people)."""

import random
from datetime import date, timedelta

from stdnum.cn import ric

from leads.fields import EduLevel, EmergencyRelation
from leads.validators import ZHIMA_RANGE

SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗"
GIVEN = "伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超兰霞平刚桂"
PLACES = [
    ("广东省", "佛山市", "南海区", "440605"),
    ("广东省", "广州市", "天河区", "440106"),
    ("北京市", "北京市", "朝阳区", "110105"),
    ("上海市", "上海市", "浦东新区", "310115"),
    ("四川省", "成都市", "武侯区", "510107"),
    ("浙江省", "杭州市", "西湖区", "330106"),
    ("广西壮族自治区", "南宁市", "青秀区", "450103"),
]
MOBILE_PREFIXES = ["134", "135", "138", "139", "150", "151", "158", "186", "187", "188", "199"]


def fake_id_number(rng: random.Random, area_code: str) -> str:
    birthday = date(1970, 1, 1) + timedelta(days=rng.randrange(0, 365 * 33))
    body = f"{area_code}{birthday:%Y%m%d}{rng.randrange(0, 1000):03d}"
    return body + ric.calc_check_digit(body + "?")  # it expects (and ignores) a check digit slot


def fake_phone(rng: random.Random) -> str:
    return rng.choice(MOBILE_PREFIXES) + f"{rng.randrange(0, 10**8):08d}"


def fake_name(rng: random.Random) -> str:
    return rng.choice(SURNAMES) + "".join(rng.choice(GIVEN) for _ in range(rng.choice((1, 2))))


def fake_lead_fields(rng: random.Random) -> dict:
    province, city, district, area_code = rng.choice(PLACES)
    return {
        "phone": fake_phone(rng),
        "id_number": fake_id_number(rng, area_code),
        "name": fake_name(rng),
        "wechat": f"wx_{rng.randrange(10**6, 10**9)}",
        "qq": str(rng.randrange(10**5, 10**10)),
        "edu_level": rng.choice(EduLevel.values),
        "province": province,
        "city": city,
        "district": district,
        "address": f"{district}测试路{rng.randrange(1, 300)}号",
        "social_insurance_paid": rng.random() < 0.6,
        "emergency_contact_name": fake_name(rng),
        "emergency_relation": rng.choice(EmergencyRelation.values),
        "emergency_contact_phone": fake_phone(rng),
        "zhima_score": rng.randint(*ZHIMA_RANGE),
    }
