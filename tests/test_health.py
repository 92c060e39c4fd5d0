"""GET /healthz: the database, the migrations and the newest worker heartbeat, for anyone (no
login), with nothing else in it and no cookie; 503 when this server cannot serve."""

import json
import os
import signal
from datetime import timedelta

import pytest
from django.db import connection
from django.db.migrations.loader import MigrationLoader
from django.db.migrations.recorder import MigrationRecorder
from django.utils import timezone

from jobs.models import WorkerHeartbeat
from tests.servers import free_port, gunicorn, server_env
from tests.workers import start_worker, wait_for

pytestmark = pytest.mark.django_db

KEYS = {"status", "database", "migrations", "worker"}
WORKER_KEYS = {"ok", "last_heartbeat", "age_seconds", "alive"}


def healthz(client):
    response = client.get("/healthz")
    assert response["Content-Type"] == "application/json"
    assert not response.cookies  # no session, no CSRF cookie: a probe is nobody
    assert "no-store" in response["Cache-Control"]
    return response.status_code, json.loads(response.content)


def test_healthy_with_a_live_worker(client):
    WorkerHeartbeat.beat("host:1:abc")
    status, body = healthz(client)
    assert status == 200
    assert set(body) == KEYS and set(body["worker"]) == WORKER_KEYS  # nothing else exposed
    assert body["status"] == "ok"
    assert body["database"] == {"ok": True}
    assert body["migrations"] == {"ok": True, "pending": 0}
    assert body["worker"]["ok"] is True and body["worker"]["alive"] == 1
    assert 0 <= body["worker"]["age_seconds"] < 5


def test_a_stale_or_missing_worker_is_degraded_not_down(client, settings):
    """Pages still work without workers: 200 (a load balancer keeps the server), but the status
    says "degraded" and how old the newest heartbeat is, for monitoring to alert on."""
    status, body = healthz(client)
    assert (status, body["status"]) == (200, "degraded")
    assert body["worker"] == {"ok": False, "last_heartbeat": None, "age_seconds": None, "alive": 0}

    WorkerHeartbeat.beat("host:1:abc")
    five_minutes_ago = timezone.now() - timedelta(minutes=5)
    WorkerHeartbeat.objects.update(seen_at=five_minutes_ago)
    status, body = healthz(client)
    assert (status, body["status"]) == (200, "degraded")
    assert body["worker"]["ok"] is False and body["worker"]["alive"] == 0
    assert body["worker"]["last_heartbeat"] == five_minutes_ago.isoformat()
    assert 300 <= body["worker"]["age_seconds"] < 310


def test_pending_migrations_make_it_unhealthy(client):
    WorkerHeartbeat.beat("host:1:abc")
    # The newest of an app's migrations: an older one unrecorded under an applied one is not
    # pending (its dependant is in place), and a fixed name goes stale with the next migration.
    [newest] = MigrationLoader(connection).graph.leaf_nodes("jobs")
    MigrationRecorder(connection).record_unapplied(*newest)
    status, body = healthz(client)
    assert status == 503
    assert body["status"] == "error"
    assert body["migrations"] == {"ok": False, "pending": 1}


def test_no_login_needed_and_only_get(client, django_user_model):
    assert client.get("/healthz").status_code == 200
    assert client.post("/healthz").status_code == 405


def test_a_beat_prunes_workers_gone_for_a_day():
    WorkerHeartbeat.beat("gone:1:abc")
    WorkerHeartbeat.objects.update(seen_at=timezone.now() - timedelta(days=1, seconds=1))
    WorkerHeartbeat.beat("here:2:def")
    assert list(WorkerHeartbeat.objects.values_list("worker", flat=True)) == ["here:2:def"]


@pytest.mark.django_db(transaction=True)
def test_run_worker_beats_while_it_runs_and_goes_when_it_stops(client):
    """The real worker process: its janitor writes the heartbeat, /healthz turns ok; a clean
    stop (SIGTERM) removes it."""
    worker = start_worker()
    try:
        wait_for(lambda: WorkerHeartbeat.objects.exists(), timeout=30, what="a heartbeat")
        first = WorkerHeartbeat.objects.get().seen_at
        wait_for(
            lambda: WorkerHeartbeat.objects.get().seen_at > first, timeout=10, what="a second beat"
        )
        status, body = healthz(client)
        assert (status, body["status"], body["worker"]["alive"]) == (200, "ok", 1)
    finally:
        os.kill(worker.pid, signal.SIGTERM)
        worker.wait(timeout=30)
    assert not WorkerHeartbeat.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_a_worker_stopped_by_two_signals_still_removes_its_heartbeat():
    """Ctrl-C under `make serve` reaches the worker from the terminal and again from the script
    that started it: the second signal must not cut the clean stop short."""
    worker = start_worker()
    try:
        wait_for(lambda: WorkerHeartbeat.objects.exists(), timeout=30, what="a heartbeat")
    finally:
        os.kill(worker.pid, signal.SIGINT)
        os.kill(worker.pid, signal.SIGTERM)
        worker.wait(timeout=30)
    assert not WorkerHeartbeat.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_database_down_is_503_without_details(tmp_path):
    """The deployed server pointed at a database it cannot open: 503, and not a word of why
    (host, user and path are for the log)."""
    missing = tmp_path / "no-such-dir" / "db.sqlite3"
    env = server_env(DATABASE_URL=f"sqlite:///{missing}")
    port = free_port()
    with gunicorn(port, env, tmp_path / "gunicorn.log") as server:
        status, body = server.get("/healthz")
    assert status == 503
    assert json.loads(body) == {"status": "error", "database": {"ok": False}}
    assert "healthz: database unavailable" in server.output()
