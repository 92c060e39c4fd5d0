"""Every signature computed by the partners' Java reference must be reproduced byte for byte."""

import json
from pathlib import Path

import pytest

from partners.protocols import qunadai_push, yrxd_collision
from partners.protocols.signing import (
    collision_canonical,
    collision_sign,
    push_canonical,
    push_sign,
)

VECTORS_FILE = Path(__file__).resolve().parent.parent.parent / "shared" / "vectors" / "signing.json"
VECTORS_COPY = Path(__file__).resolve().parent / "vectors" / "signing.json"


def load_vectors():
    source = VECTORS_FILE if VECTORS_FILE.exists() else VECTORS_COPY
    return json.loads(source.read_text(encoding="utf-8"))


VECTORS = load_vectors()
COLLISION = [v for v in VECTORS if "sign" in v]
PUSH = [v for v in VECTORS if "s" in v]


def test_every_vector_is_covered():
    assert len(COLLISION) + len(PUSH) == len(VECTORS) >= 5


@pytest.mark.parametrize("vector", COLLISION, ids=lambda v: v["name"])
def test_collision_vector(vector):
    assert collision_canonical(vector["params"], vector["key"]) == vector["canonical"]
    assert collision_sign(vector["params"], vector["key"]) == vector["sign"]


@pytest.mark.parametrize("vector", PUSH, ids=lambda v: v["name"])
def test_push_vector(vector):
    body = vector["body"].encode("utf-8")
    canonical = push_canonical(vector["clientId"], vector["clientTime"], body, vector["key"])
    assert canonical.decode("utf-8") == vector["canonical"]
    assert push_sign(vector["clientId"], vector["clientTime"], body, vector["key"]) == vector["s"]


@pytest.mark.parametrize("vector", PUSH, ids=lambda v: v["name"])
def test_push_adapter_builds_the_vector_body(vector):
    """The adapter's own serialisation yields the reference body, so the signature matches too."""
    body = json.loads(vector["body"])
    data = body["data"]
    as_string = isinstance(data, str)
    user = json.loads(data) if as_string else data
    profile = qunadai_push.PushProfile(
        **{
            name: int(value) if name in qunadai_push.INTEGER_FIELDS else value
            for name, value in user.items()
        }
    )
    request = qunadai_push.build_request(
        url="http://127.0.0.1/push",
        client_id=vector["clientId"],
        key=vector["key"],
        client_time_ms=int(vector["clientTime"]),
        profile=profile,
        data_as_string=as_string,
        integers_as_strings=True,
    )
    assert request.body == vector["body"].encode("utf-8")
    assert request.headers["s"] == vector["s"]
    assert request.headers["clientTime"] == vector["clientTime"]


def test_collision_adapter_signs_like_the_reference():
    vector = next(v for v in COLLISION if v["name"] == "single-phone-and-id")
    params = vector["params"]
    request = yrxd_collision.build_single_request(
        base_url="http://127.0.0.1:1",
        utm_source=params["utmSource"],
        key=vector["key"],
        phone_md5=params["phoneMd5"],
        id_md5=params["idNoMd5"],
    )
    assert json.loads(request.body)["sign"] == vector["sign"]
