"""The seams between apps that replace imports against the direction of the layers
(pyproject's importlinter contracts): what the lower app calls is what the higher one
registered, and the numbers a model keeps are the protocol's. And the settings split: the
sandbox partner is not in the production configuration. And the domain exceptions: what a
view shows the operator is a business rule's message (core.errors), never a bug's."""

import subprocess
import sys

import pytest
from django.contrib.messages import get_messages
from django.urls import reverse

from collision.models import UserStatusChoice
from core.errors import StateConflict
from jobs.handlers import handler_for
from jobs.models import JobKind
from leads.imports import services as import_services
from leads.models import ImportBatch, ImportState
from partners.protocols.yrxd_collision import UserStatus
from tests.import_files import CHINESE_HEADERS, lead_rows, xlsx_bytes
from tests.servers import server_env
from tests.test_import_export_admin import staff, upload
from tests.workers import ROOT


def test_check_statuses_are_the_protocols_numbers():
    assert {s.name: s.value for s in UserStatusChoice} == {s.name: s.value for s in UserStatus}


def test_checks_and_pushes_register_their_chunk_handlers_with_jobs():
    from collision.services import check_job_chunk
    from pushes.services import push_job_chunk, pushes_left_today

    assert handler_for(JobKind.CHECK).work is check_job_chunk
    assert handler_for(JobKind.CHECK).requests_left_today is None
    assert handler_for(JobKind.PUSH).work is push_job_chunk
    assert handler_for(JobKind.PUSH).requests_left_today is pushes_left_today
    with pytest.raises(LookupError):
        handler_for("no-such-kind")


def test_production_settings_install_no_sandbox():
    """The sandbox partner (it answers as any partner, with any key) is the demo's and the
    tests' only: config.settings, what manage.py, gunicorn and `make serve` load, leaves it out."""
    import config.dev_settings as demo
    import config.settings as production

    assert [app for app in production.INSTALLED_APPS if app.split(".")[0] == "sandbox"] == []
    assert "sandbox" in demo.INSTALLED_APPS


def manage_commands(settings_module: str) -> list[str]:
    answer = subprocess.run(
        [sys.executable, "manage.py", "help", "--commands"],
        cwd=ROOT,
        env=server_env(DJANGO_SETTINGS_MODULE=settings_module),
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return answer.stdout.split()


def test_only_the_demo_settings_offer_the_sandbox_command():
    assert "run_sandbox" not in manage_commands("config.settings")
    assert "run_sandbox" in manage_commands("config.dev_settings")


# -- domain exceptions: the operator sees business rule violations, never a bug's message ----


def confirm(client, batch):
    response = client.post(reverse("admin:leads_importbatch_confirm", args=[batch.pk]))
    shown = [str(message) for message in get_messages(response.wsgi_request)]
    return response, shown


@pytest.mark.django_db
def test_a_business_rule_violation_is_the_operators_message():
    _, client = staff("leads.view_lead", "leads.import_lead")
    upload(client, xlsx_bytes(CHINESE_HEADERS, lead_rows(2)))
    batch = ImportBatch.objects.get()
    confirm(client, batch)
    batch.refresh_from_db()
    assert batch.state == ImportState.DONE
    with pytest.raises(StateConflict, match="不能确认"):  # a LeadDeskError, not a ValueError
        import_services.import_batch_confirm(batch)
    assert not issubclass(StateConflict, ValueError)

    response, shown = confirm(client, batch)  # confirmed twice: the second one is refused
    assert response.status_code == 302
    assert any("这个批次当前不能确认导入" in message for message in shown), shown


@pytest.mark.django_db
def test_a_plain_bug_is_not_shown_to_the_operator_as_a_message(monkeypatch):
    _, client = staff("leads.view_lead", "leads.import_lead")
    upload(client, xlsx_bytes(CHINESE_HEADERS, lead_rows(2)))
    batch = ImportBatch.objects.get()

    def bug(batch, *, actor=None):
        raise ValueError("invalid literal for int() with base 10: '13712345678'")

    monkeypatch.setattr(import_services, "import_batch_confirm", bug)
    with pytest.raises(ValueError, match="invalid literal"):  # the error page and the log
        confirm(client, batch)
    client.raise_request_exception = False
    response, shown = confirm(client, batch)
    assert response.status_code == 500
    assert not any("invalid literal" in message for message in shown)
    assert "13712345678" not in response.content.decode()


@pytest.mark.django_db(transaction=True)
def test_export_rights_moved_to_the_models_they_export_and_their_holders_keep_them():
    """collision.export_collisionresult and pushes.export_push were declared on leads'
    ExportRecord; the migration gives their holders the new ones and removes the old."""
    from django.contrib.auth.models import Group, Permission, User
    from django.contrib.contenttypes.models import ContentType
    from django.db import connection
    from django.db.migrations.executor import MigrationExecutor

    before = [("pushes", "0003_seal_partner_answers")]
    executor = MigrationExecutor(connection)
    latest = executor.loader.graph.leaf_nodes()
    try:
        executor.migrate(before)
        export_record = ContentType.objects.get(app_label="leads", model="exportrecord")
        old_push = Permission.objects.create(
            content_type=export_record, codename="export_push", name="可导出推送记录"
        )
        old_check = Permission.objects.create(
            content_type=export_record, codename="export_collisionresult", name="可导出撞库结果"
        )
        user = User.objects.create_user("exporter")
        user.user_permissions.add(old_push)
        group = Group.objects.create(name="撞库导出")
        group.permissions.add(old_check)
    finally:
        MigrationExecutor(connection).migrate(latest)

    user = User.objects.get(username="exporter")
    assert user.has_perm("pushes.export_push") and not user.has_perm(
        "collision.export_collisionresult"
    )
    group_user = User.objects.create_user("grouped")
    group_user.groups.add(Group.objects.get(name="撞库导出"))
    assert group_user.has_perm("collision.export_collisionresult")
    moved = ["export_push", "export_collisionresult"]
    assert not Permission.objects.filter(content_type=export_record, codename__in=moved).exists()
