"""Real worker processes for tests: the production entry point, configured like a deployment."""

import os
import subprocess
import sys
import time
from pathlib import Path

from django.conf import settings
from django.db import connection

ROOT = Path(__file__).resolve().parent.parent
WORKER_LOG = Path(os.environ.get("TMPDIR", "/tmp")) / f"leaddesk-test-worker-{os.getpid()}.log"
DB_TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend", "QUEUES": ["default"]}}


def database_url() -> str:
    db = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{db['NAME']}"
    return f"postgres://{db['USER']}:{db['PASSWORD']}@{db['HOST']}:{db['PORT']}/{db['NAME']}"


def start_worker() -> subprocess.Popen:
    """The production entry point, configured through the environment like a deployment."""
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "DATABASE_URL": database_url(),
        "SECRET_KEY": "crash-test",
        "FIELD_ENCRYPTION_KEYS": ",".join(settings.FIELD_ENCRYPTION_KEYS),
        "BLIND_INDEX_KEY": settings.BLIND_INDEX_KEY,
        "JOB_LEASE_SECONDS": "2",
        "JANITOR_INTERVAL_SECONDS": "0.5",
        "JOB_CHECK_CHUNK_SIZE": str(settings.JOB_CHECK_CHUNK_SIZE),
        "JOB_PUSH_CHUNK_SIZE": str(settings.JOB_PUSH_CHUNK_SIZE),
        "LOG_LEVEL": "WARNING",
    }
    return subprocess.Popen(
        [sys.executable, "manage.py", "run_worker", "--interval", "0.2"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=WORKER_LOG.open("ab"),
    )


def wait_for(condition, *, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            log = WORKER_LOG.read_text(errors="replace")[-3000:] if WORKER_LOG.exists() else ""
            raise AssertionError(f"timed out waiting for {what}; worker log:\n{log}")
        time.sleep(0.05)
