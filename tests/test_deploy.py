"""Finding 5: deployable safely. The production profile (.env.production.example) passes
`check --deploy --fail-level WARNING`; every security setting comes from the environment; a
session ends after a working day without a request; every page sends a Content-Security-Policy
that its own inline scripts carry the nonce of."""

import json
import os
import re
import subprocess
import sys
from datetime import timedelta

import pytest
from django.conf import settings
from django.contrib.sessions.models import Session
from django.urls import reverse
from django.utils import timezone

from jobs.models import Job, JobKind
from tests.servers import PASSED_THROUGH, fresh_keys
from tests.workers import ROOT

PROFILE = ".env.production.example"


def clean_env(**values: str) -> dict[str, str]:
    """An environment with nothing of the test run's settings in it."""
    env = {name: os.environ[name] for name in PASSED_THROUGH if name in os.environ}
    return {**env, "DJANGO_SETTINGS_MODULE": "config.settings", **values}


def manage(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


SHOWN = [
    "DEBUG",
    "SECURE_SSL_REDIRECT",
    "SECURE_HSTS_SECONDS",
    "SECURE_HSTS_INCLUDE_SUBDOMAINS",
    "SECURE_HSTS_PRELOAD",
    "SECURE_PROXY_SSL_HEADER",
    "SESSION_COOKIE_SECURE",
    "CSRF_COOKIE_SECURE",
    "CSRF_TRUSTED_ORIGINS",
    "SESSION_COOKIE_AGE",
    "SESSION_SAVE_EVERY_REQUEST",
    "SESSION_EXPIRE_AT_BROWSER_CLOSE",
    "SECURE_REFERRER_POLICY",
    "ALLOWED_HOSTS",
]


def settings_under(env: dict[str, str]) -> dict:
    code = (
        "import json, django; django.setup(); from django.conf import settings as s; "
        f"print(json.dumps({{n: getattr(s, n) for n in {SHOWN!r}}} | "
        "{'STATICFILES': s.STORAGES['staticfiles']['BACKEND']}))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_production_profile_passes_the_deploy_check():
    done = manage(
        "check",
        "--deploy",
        "--fail-level",
        "WARNING",
        env=clean_env(DJANGO_ENV_FILE=PROFILE, **fresh_keys()),
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "System check identified no issues" in done.stdout


def test_production_profile_turns_every_protection_on():
    shown = settings_under(clean_env(DJANGO_ENV_FILE=PROFILE, **fresh_keys()))
    assert shown["DEBUG"] is False
    assert shown["SECURE_SSL_REDIRECT"] is True
    assert shown["SECURE_HSTS_SECONDS"] >= 365 * 24 * 3600
    assert shown["SECURE_HSTS_INCLUDE_SUBDOMAINS"] and shown["SECURE_HSTS_PRELOAD"]
    assert shown["SESSION_COOKIE_SECURE"] and shown["CSRF_COOKIE_SECURE"]
    assert shown["CSRF_TRUSTED_ORIGINS"] == ["https://leaddesk.example.com"]
    assert shown["SESSION_COOKIE_AGE"] == 8 * 3600
    assert shown["SESSION_SAVE_EVERY_REQUEST"] and shown["SESSION_EXPIRE_AT_BROWSER_CLOSE"]
    assert shown["SECURE_PROXY_SSL_HEADER"] is None  # opt-in only
    assert shown["STATICFILES"] == "whitenoise.storage.CompressedManifestStaticFilesStorage"


def test_every_security_setting_comes_from_the_environment():
    """The real environment wins over the env file, setting by setting."""
    shown = settings_under(
        clean_env(
            DJANGO_ENV_FILE=PROFILE,
            **fresh_keys(),
            SECURE_SSL_REDIRECT="false",
            SECURE_HSTS_SECONDS="3600",
            SECURE_HSTS_INCLUDE_SUBDOMAINS="false",
            SECURE_HSTS_PRELOAD="false",
            SECURE_PROXY_SSL_HEADER="HTTP_X_FORWARDED_PROTO,https",
            SESSION_COOKIE_SECURE="false",
            CSRF_COOKIE_SECURE="false",
            CSRF_TRUSTED_ORIGINS="https://a.example,https://b.example",
            SESSION_COOKIE_AGE="36000",
            SESSION_SAVE_EVERY_REQUEST="false",
            SESSION_EXPIRE_AT_BROWSER_CLOSE="false",
            SECURE_REFERRER_POLICY="no-referrer",
            ALLOWED_HOSTS="a.example,b.example",
        )
    )
    assert shown == {
        "DEBUG": False,
        "SECURE_SSL_REDIRECT": False,
        "SECURE_HSTS_SECONDS": 3600,
        "SECURE_HSTS_INCLUDE_SUBDOMAINS": False,
        "SECURE_HSTS_PRELOAD": False,
        "SECURE_PROXY_SSL_HEADER": ["HTTP_X_FORWARDED_PROTO", "https"],
        "SESSION_COOKIE_SECURE": False,
        "CSRF_COOKIE_SECURE": False,
        "CSRF_TRUSTED_ORIGINS": ["https://a.example", "https://b.example"],
        "SESSION_COOKIE_AGE": 36000,
        "SESSION_SAVE_EVERY_REQUEST": False,
        "SESSION_EXPIRE_AT_BROWSER_CLOSE": False,
        "SECURE_REFERRER_POLICY": "no-referrer",
        "ALLOWED_HOSTS": ["a.example", "b.example"],
        "STATICFILES": "whitenoise.storage.CompressedManifestStaticFilesStorage",
    }


def test_demo_defaults_stay_usable_over_plain_http():
    """Without a profile (the demo on http://127.0.0.1) nothing redirects to https or hides the
    cookies from plain HTTP; sessions still end after a working day."""
    shown = settings_under(clean_env(DJANGO_ENV_FILE=".env.example", SECRET_KEY="demo"))
    assert shown["SECURE_SSL_REDIRECT"] is False and shown["SECURE_HSTS_SECONDS"] == 0
    assert shown["SESSION_COOKIE_SECURE"] is False and shown["CSRF_COOKIE_SECURE"] is False
    assert shown["SESSION_COOKIE_AGE"] == 8 * 3600


def test_an_env_file_that_does_not_exist_fails_loudly():
    done = manage("check", env=clean_env(DJANGO_ENV_FILE=".env.prodution", **fresh_keys()))
    assert done.returncode != 0
    assert "DJANGO_ENV_FILE names" in done.stderr and ".env.prodution" in done.stderr


# -- sessions ---------------------------------------------------------------------------------


def session_row(client) -> Session:
    return Session.objects.get(session_key=client.cookies[settings.SESSION_COOKIE_NAME].value)


@pytest.mark.django_db
def test_session_ends_after_a_working_day_without_a_request(admin_client):
    response = admin_client.get(reverse("admin:index"))
    assert response.status_code == 200
    cookie = response.cookies[settings.SESSION_COOKIE_NAME]
    assert cookie["max-age"] == "" and cookie["expires"] == ""  # gone with the browser
    row = session_row(admin_client)
    assert abs(row.expire_date - timezone.now() - timedelta(hours=8)) < timedelta(minutes=1)

    # Seven hours and 59 minutes idle: the next request starts the eight hours again.
    Session.objects.filter(pk=row.pk).update(expire_date=timezone.now() + timedelta(minutes=1))
    assert admin_client.get(reverse("admin:index")).status_code == 200
    row = session_row(admin_client)
    assert row.expire_date - timezone.now() > timedelta(hours=7, minutes=59)

    # Eight hours idle: signed out.
    Session.objects.filter(pk=row.pk).update(expire_date=timezone.now() - timedelta(seconds=1))
    response = admin_client.get(reverse("admin:index"))
    assert response.status_code == 302 and "/login/" in response["Location"]


# -- Content-Security-Policy ------------------------------------------------------------------


@pytest.mark.django_db
def test_pages_send_the_policy_and_their_inline_scripts_carry_its_nonce(admin_client, partner):
    job = Job.objects.create(kind=JobKind.CHECK, partner=partner, total=10)
    for url in [
        reverse("admin:jobs_job_change", args=[job.pk]),
        reverse("admin:leads_lead_changelist"),
        reverse("admin:partners_partner_change", args=[partner.pk]),
    ]:
        response = admin_client.get(url)
        assert response.status_code == 200, url
        policy = response["Content-Security-Policy"]
        assert "default-src 'self'" in policy and "object-src 'none'" in policy
        assert "unsafe-inline" not in policy and "unsafe-eval" not in policy
        nonce = re.search(r"script-src 'self' 'nonce-([^']+)'", policy).group(1)
        assert f"style-src 'self' 'nonce-{nonce}'" in policy
        page = response.content.decode()
        assert " style=" not in page, url  # style attributes: refused by style-src
        for script in re.findall(r"<script\b[^>]*>", page):
            assert "src=" in script or f'nonce="{nonce}"' in script, (url, script)
