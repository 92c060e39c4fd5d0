"""The seams between apps that replace imports against the direction of the layers
(pyproject's importlinter contracts): what the lower app calls is what the higher one
registered, and the numbers a model keeps are the protocol's. And the settings split: the
sandbox partner is not in the production configuration."""

import subprocess
import sys

import pytest

from collision.models import UserStatusChoice
from jobs.handlers import handler_for
from jobs.models import JobKind
from partners.protocols.yrxd_collision import UserStatus
from tests.servers import server_env
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
