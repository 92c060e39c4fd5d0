"""`make serve` on loopback: scripts/serve with the production profile (.env.production.example)
against the test database, over plain HTTP (SECURE_SSL_REDIRECT off for this run: no TLS proxy
in front). It migrates, collects the static files, starts a job worker beside gunicorn; /healthz
turns ok once the worker beats; a browser logs in through it and the admin's static files come
from WhiteNoise, hashed and cached for good; stopping it stops the worker too."""

import json
import re
import sys
import time

import pytest
from django.contrib.auth.models import Permission, User
from django.test import override_settings

from jobs.models import WorkerHeartbeat
from tests.browser import browser_page, log_in, requires_chromium
from tests.servers import free_port, running, server_env
from tests.workers import ROOT

pytestmark = [pytest.mark.browser, requires_chromium, pytest.mark.django_db(transaction=True)]

PASSWORD = "correct-horse-battery"
PBKDF2 = "django.contrib.auth.hashers.PBKDF2PasswordHasher"


def serve_env(port: int, static_root) -> dict[str, str]:
    return server_env(
        DJANGO_ENV_FILE=".env.production.example",
        PYTHON=sys.executable,
        GUNICORN_BIND=f"127.0.0.1:{port}",
        WEB_CONCURRENCY="2",
        JOB_WORKERS="1",
        JANITOR_INTERVAL_SECONDS="0.5",
        STATIC_ROOT=str(static_root),
        # Loopback over plain HTTP, no proxy in front: what differs from the profile, and only
        # this. (Chromium keeps Secure cookies on http://127.0.0.1, so they stay Secure.)
        ALLOWED_HOSTS="127.0.0.1",
        SECURE_SSL_REDIRECT="false",
        TRUSTED_PROXY_COUNT="0",
    )


def wait_until_ok(server, *, timeout: float = 60.0) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        status, body = server.get("/healthz")
        health = json.loads(body)
        if status == 200 and health["status"] == "ok":
            return health
        if time.monotonic() > deadline:
            raise AssertionError(f"/healthz still says {status} {health}:\n{server.output()}")
        time.sleep(0.3)


def test_make_serve_runs_the_deployed_app_a_browser_logs_in_through_it(tmp_path):
    # Hashed as the server hashes (the test settings' MD5 hasher is not among its hashers).
    with override_settings(PASSWORD_HASHERS=[PBKDF2]):
        user = User.objects.create_user("viewer", password=PASSWORD, is_staff=True)
    user.user_permissions.add(Permission.objects.get(codename="view_lead"))
    port = free_port()
    command = [str(ROOT / "scripts" / "serve")]
    with running(
        command, serve_env(port, tmp_path / "static"), tmp_path / "serve.log", port=port
    ) as server:
        health = wait_until_ok(server)  # the worker beside it is alive
        assert health["migrations"] == {"ok": True, "pending": 0}

        static, pages = [], {}
        with browser_page() as page:
            page.on(
                "response",
                lambda response: (
                    static.append(response)
                    if "/static/" in response.url
                    else pages.__setitem__(response.url, response)
                ),
            )
            log_in(page, server.url, "viewer", PASSWORD)
            page.goto(f"{server.url}/admin/leads/lead/")
            assert page.locator("#changelist").count() == 1
            # The stylesheet applied: Django's admin CSS styles the header.
            assert (
                page.evaluate("() => getComputedStyle(document.getElementById('header')).display")
                == "flex"
            )
            lead_list = pages[f"{server.url}/admin/leads/lead/"]
            headers = lead_list.all_headers()
            cookies = page.context.cookies()
            page.goto("about:blank")

        css = [r for r in static if re.search(r"/static/admin/css/base\.[0-9a-f]{12}\.css$", r.url)]
        assert css, [r.url for r in static]  # hashed names: the manifest storage
        assert css[0].status == 200
        assert "immutable" in css[0].headers["cache-control"]  # WhiteNoise's for hashed files
        assert all(r.status == 200 for r in static), [(r.url, r.status) for r in static]
        assert "content-security-policy" in headers and headers["x-frame-options"] == "DENY"
        session = next(c for c in cookies if c["name"] == "sessionid")
        assert session["secure"] and session["httpOnly"] and session["expires"] == -1

    log = server.output()
    assert "Listening at: http://127.0.0.1" in log and "Booting worker" in log
    assert '"GET /admin/leads/lead/ HTTP/1.1" 200' in log  # gunicorn's access log
    # The worker stopped with it, cleanly: its heartbeat goes as it leaves. A busy machine may
    # let the script return a moment before the worker's last write lands.
    deadline = time.monotonic() + 15
    while WorkerHeartbeat.objects.exists() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not WorkerHeartbeat.objects.exists(), log
