"""The command-line twins (signature debugging, key rotation, check and push) and the demo data."""

import io
import json
import re
import socket

import pytest
from cryptography.fernet import Fernet
from django.conf import settings
from django.contrib.auth import authenticate
from django.core.management import CommandError, call_command
from django.test import RequestFactory, override_settings

from collision.models import CollisionResult
from collision.services import check_leads
from core.crypto import DecryptionError
from leads.imports import services
from leads.models import Lead
from partners.models import AuditLogEntry, Partner
from pushes.models import Push
from sandbox.management.commands.run_sandbox import Command as RunSandbox
from sandbox.server import SandboxConfig, SandboxPartner
from tests.import_files import CHINESE_HEADERS, csv_bytes, lead_rows
from tests.test_signing_vectors import COLLISION, PUSH


def run(*args) -> list[str]:
    out = io.StringIO()
    call_command(*args, stdout=out, stderr=io.StringIO())
    return out.getvalue().strip().splitlines()


@pytest.mark.parametrize("vector", COLLISION, ids=lambda v: v["name"])
def test_signature_command_reproduces_collision_vectors(vector):
    lines = run(
        "signature", "collision", "--key", vector["key"], "--params", json.dumps(vector["params"])
    )
    assert lines[-1] == vector["sign"]
    assert lines[0] == "canonical: " + vector["canonical"].removesuffix(vector["key"]) + "<key>"
    assert vector["key"] not in "\n".join(lines)


@pytest.mark.parametrize("vector", PUSH, ids=lambda v: v["name"])
def test_signature_command_reproduces_push_vectors(vector, tmp_path):
    body_file = tmp_path / "body.json"
    body_file.write_bytes(vector["body"].encode("utf-8"))
    lines = run(
        "signature",
        "push",
        "--key",
        vector["key"],
        "--client-id",
        vector["clientId"],
        "--client-time",
        vector["clientTime"],
        "--body-file",
        str(body_file),
    )
    assert lines[-1] == vector["s"]
    canonical = vector["canonical"].removesuffix(vector["key"]) + "<key>"
    assert "\n".join(lines[:-1]) == "canonical: " + canonical
    assert vector["key"] not in "\n".join(lines)


def test_rotation_reencrypts_under_the_new_key(make_leads):
    leads = make_leads(3)
    old_key = settings.FIELD_ENCRYPTION_KEYS[0]
    new_key = Fernet.generate_key().decode()

    with override_settings(FIELD_ENCRYPTION_KEYS=[new_key, old_key]):
        lines = run("rotate_pii_keys")
        assert "leads.Lead: re-encrypted 3 row(s)" in lines
    with override_settings(FIELD_ENCRYPTION_KEYS=[new_key]):
        assert sorted(lead.phone for lead in Lead.objects.all()) == sorted(
            lead.phone for lead in leads
        )
    with pytest.raises(DecryptionError):
        list(Lead.objects.all())  # the old key alone opens nothing now


def test_rotation_reencrypts_imports_waiting_for_analysis_or_confirmation(db):
    """An upload waits sealed as bytes, analysed rows as tokens: both must open under the new
    key alone, or an import in progress is lost once the old key is dropped."""
    uploaded = services.import_batch_create(
        file_name="a.csv", data=csv_bytes(CHINESE_HEADERS, lead_rows(3, seed=1))
    )
    analysed = services.import_batch_create(
        file_name="b.csv", data=csv_bytes(CHINESE_HEADERS, lead_rows(4, seed=2))
    )
    services.import_batch_analyse(analysed.pk)
    new_key = Fernet.generate_key().decode()

    with override_settings(FIELD_ENCRYPTION_KEYS=[new_key, *settings.FIELD_ENCRYPTION_KEYS]):
        assert "leads.ImportChunk: re-encrypted 2 row(s)" in run("rotate_pii_keys")
    with override_settings(FIELD_ENCRYPTION_KEYS=[new_key]):
        services.import_batch_analyse(uploaded.pk)
        for batch in (uploaded, analysed):
            batch.refresh_from_db()
            services.import_batch_confirm(batch)
    assert Lead.objects.count() == 7


def test_rotation_with_a_wrong_key_fails_and_changes_nothing(make_leads):
    make_leads(2)
    with (
        override_settings(FIELD_ENCRYPTION_KEYS=[Fernet.generate_key().decode()]),
        pytest.raises(DecryptionError),
    ):
        run("rotate_pii_keys")
    assert Lead.objects.count() == 2 and all(lead.phone for lead in Lead.objects.all())


def test_check_and_push_commands(partner, sandbox, make_leads):
    leads = make_leads(20)
    ids = [str(lead.pk) for lead in leads]

    checked = run("check_leads", "--partner", partner.slug, "--ids", *ids)
    assert checked[-1].startswith("checked=20 ")
    pushed = run("push_leads", "--partner", partner.slug, "--all")
    accepted = Push.objects.filter(state="accepted").count()
    assert f"accepted={accepted} " in pushed[-1] and accepted > 0
    assert AuditLogEntry.objects.count() == 1 + accepted

    with pytest.raises(CommandError, match="no partner 'nope'"):
        run("check_leads", "--partner", "nope", "--all")
    with pytest.raises(CommandError, match="no lead with id 999999"):
        run("check_leads", "--partner", partner.slug, "--ids", "999999")


def test_demo_data_is_repeatable_and_shows_every_status_against_the_sandbox(db):
    with socket.socket() as probe:  # a free port for the sandbox the demo points at
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    seed = ("seed_demo", "--sandbox-port", str(port), "--leads", "120", "--admin-port", "8123")
    first = run(*seed)
    keys = dict(Partner.objects.values_list("slug", "test_secret_key"))
    second = run(*seed)

    assert first[0].endswith(", 120 new leads") and second[0].endswith(", 0 new leads")
    assert Lead.objects.count() == 120
    # A re-run keeps keys.
    assert dict(Partner.objects.values_list("slug", "test_secret_key")) == keys
    login = second[-2]
    assert login.startswith("admin login: http://127.0.0.1:8123/admin/  user: admin  password: ")
    login_request = RequestFactory().post("/admin/login/")  # django-axes checks each attempt
    admin = authenticate(login_request, username="admin", password=login.rsplit(" ", 1)[-1])
    assert admin.is_superuser
    assert second[-1].startswith("second factor: ")  # tests/test_sign_in.py signs in with it
    # An operator and an auditor to try it as its users, each in their role's group only.
    team = re.findall(r"(\S+) (operator|auditor) / ([^\s,]+)", second[-3])
    assert [(role, name) for role, name, _ in team] == [("运营", "operator"), ("审计", "auditor")]
    for role, name, password in team:
        user = authenticate(
            RequestFactory().post("/admin/login/"), username=name, password=password
        )
        assert not user.is_superuser and [g.name for g in user.groups.all()] == [role]

    # The sandbox finds the demo partners' keys on its own, as `make run` starts it.
    sandbox = SandboxPartner(
        SandboxConfig(credentials=RunSandbox._partner_credentials("127.0.0.1", port))
    )
    sandbox.start(port=port)
    try:
        for partner in Partner.objects.all():
            summary = check_leads(partner=partner, leads=Lead.objects.all())
            assert (summary.checked, summary.failed) == (120, 0)
    finally:
        sandbox.stop()
    for slug in keys:
        statuses = CollisionResult.objects.filter(partner__slug=slug).values_list(
            "user_status", flat=True
        )
        assert set(statuses) == {0, 1, 2, 3}
