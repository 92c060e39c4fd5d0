"""The push's enumerations, read from the partner's spec text rather than from our own code.

The sandbox validates pushes with the client's own tuples (qunadai_push.EDU_LEVELS and
EMERGENCY_RELATIONS), so a value mistyped in both would pass every other test: this pins the
client, the lead model's choices and the sandbox to the spec's table. The spec lives outside the
repository (../shared/specs); tests/specs holds a copy, kept equal to it while both exist."""

import re
from pathlib import Path

import pytest

from leads.models import EduLevel, EmergencyRelation
from partners.protocols import qunadai_push
from sandbox.server import _invalid_push_fields

SPEC_NAME = "push-user-api.md"
SPEC_FILE = Path(__file__).resolve().parent.parent.parent / "shared" / "specs" / SPEC_NAME
SPEC_COPY = Path(__file__).resolve().parent / "specs" / SPEC_NAME


def spec_text() -> str:
    for source in (SPEC_FILE, SPEC_COPY):
        if source.exists():
            return source.read_text(encoding="utf-8")
    pytest.skip(f"the push spec is in neither {SPEC_FILE} nor {SPEC_COPY}")


def spec_values(field: str) -> tuple[str, ...]:
    """The values listed in the field's row of the request table, e.g.
    ``| body | eduLevel | 是 | String | 教育程序: 硕士及以上、本科、大专、中专/高中及以下 |``."""
    rows = re.findall(rf"^\|\s*body\s*\|\s*{field}\s*\|(.*)\|\s*$", spec_text(), re.MULTILINE)
    assert len(rows) == 1, f"{field}: {len(rows)} rows in the spec's table"
    description = rows[0].split("|")[-1]
    listed = re.split(r"[:：]", description, maxsplit=1)[1]
    return tuple(value.strip() for value in listed.split("、"))


def test_the_copy_in_the_repository_is_the_spec():
    if not (SPEC_FILE.exists() and SPEC_COPY.exists()):
        pytest.skip(f"needs both {SPEC_FILE} and {SPEC_COPY}")
    assert SPEC_COPY.read_bytes() == SPEC_FILE.read_bytes()


def test_the_spec_lists_what_we_expect_to_read():
    """The parse itself: the spec's own example values are among those it lists."""
    assert spec_values("eduLevel") == ("硕士及以上", "本科", "大专", "中专/高中及以下")
    assert len(spec_values("emergencyRelation")) == 7
    assert '"eduLevel": "本科"' in spec_text() and '"emergencyRelation": "同学"' in spec_text()


@pytest.mark.parametrize(
    ("field", "client", "choices"),
    [
        ("eduLevel", qunadai_push.EDU_LEVELS, EduLevel),
        ("emergencyRelation", qunadai_push.EMERGENCY_RELATIONS, EmergencyRelation),
    ],
)
def test_client_model_and_sandbox_enumerations_are_the_specs(field, client, choices):
    listed = spec_values(field)

    assert tuple(client) == listed
    assert tuple(choices.values) == listed
    valid = {"eduLevel": "本科", "emergencyRelation": "同学"}
    other = {"socialInsurancePayed": 1, "zhimaScore": 650}
    for value in listed:
        assert _invalid_push_fields({**valid, **other, field: value}) == []
    for near_miss in ("", listed[0] + " ", listed[0][:-1], "其他"):
        assert _invalid_push_fields({**valid, **other, field: near_miss}) == [field]
