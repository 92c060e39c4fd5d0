"""The sandbox partner is as strict as a real one would be, so our client is held to the spec."""

import dataclasses
import random
import time

import pytest
import requests

from leads.demo import fake_lead_fields
from leads.models import Lead
from partners.protocols import qunadai_push, yrxd_collision
from partners.protocols.signing import collision_sign
from tests.conftest import CLIENT_ID, PARTNER_KEY, UTM_SOURCE

MD5 = "0123456789abcdef0123456789abcdef"


def collision(sandbox, path: str, **params) -> dict:
    params = {"utmSource": UTM_SOURCE, **params}
    body = {**params, "sign": collision_sign(params, PARTNER_KEY)}
    return requests.post(sandbox.base_url + path, json=body, timeout=5).json()


def test_a_well_formed_check_is_answered(sandbox):
    answer = collision(sandbox, yrxd_collision.SINGLE_PATH, phoneMd5=MD5)
    assert answer["status"] == "0000" and answer["data"]["userMd5"] == MD5


@pytest.mark.parametrize(
    ("path", "params", "complaint"),
    [
        (
            yrxd_collision.SINGLE_PATH,
            {"phoneMd5": MD5, "idNoMd5": None},
            "null 或空字符串：idNoMd5",
        ),
        (yrxd_collision.SINGLE_PATH, {"phoneMd5": MD5, "idNoMd5": ""}, "null 或空字符串：idNoMd5"),
        (yrxd_collision.SINGLE_PATH, {"phoneMd5": MD5.upper()}, "不是小写 MD5"),
        (yrxd_collision.SINGLE_PATH, {}, "至少要有一个"),
        (yrxd_collision.BATCH_PATH, {"userMd5List": [MD5], "userMd5Type": 1}, "userMd5Type"),
        (yrxd_collision.BATCH_PATH, {"userMd5List": [MD5]}, "userMd5Type"),
        (yrxd_collision.BATCH_PATH, {"userMd5List": ["x"], "userMd5Type": 0}, "不是小写 MD5"),
        (yrxd_collision.BATCH_PATH, {"userMd5List": [], "userMd5Type": 0}, "1 到 1000"),
    ],
)
def test_a_check_outside_the_spec_is_refused_with_the_reason(sandbox, path, params, complaint):
    answer = collision(sandbox, path, **params)
    assert answer["status"] == "9999" and complaint in answer["msg"]


@pytest.mark.parametrize(
    ("field", "value", "accepted"),
    [
        (None, None, True),
        ("eduLevel", "博士", False),
        ("emergencyRelation", "", False),
        ("emergencyRelation", "邻居", False),
        ("socialInsurancePayed", 2, False),
        ("zhimaScore", "七百", False),
    ],
)
def test_a_push_is_held_to_the_specs_enumerations_and_integers(sandbox, field, value, accepted):
    profile = qunadai_push.profile_of(Lead(**fake_lead_fields(random.Random(7))))
    if field:
        profile = dataclasses.replace(profile, **{field: value})
    request = qunadai_push.build_request(
        url=sandbox.push_url,
        client_id=CLIENT_ID,
        key=PARTNER_KEY,
        client_time_ms=time.time_ns() // 1_000_000,
        profile=profile,
    )
    answer = requests.post(request.url, data=request.body, headers=request.headers, timeout=5)
    payload = answer.json()
    assert (payload["status"] == "1") is accepted
    if not accepted:
        assert payload["msg"] == f"字段取值无效：{field}"
