import random

import pytest
from django.test import Client
from django_otp import DEVICE_ID_SESSION_KEY
from django_otp.oath import TOTP
from django_otp.plugins.otp_totp.models import TOTPDevice

from leads.demo import fake_lead_fields
from leads.models import Lead
from partners.models import Partner
from sandbox.server import SandboxConfig, SandboxPartner

PARTNER_KEY = "sandbox-secret-key-0123"
UTM_SOURCE = "leaddesk_test"
CLIENT_ID = "THIRDPARTY_QUNADAI"


def totp_device(user) -> TOTPDevice:
    """The user's authenticator, created as the setup page does if there is none."""
    device, _ = TOTPDevice.objects.get_or_create(user=user, name="default")
    return device


def totp_code(device: TOTPDevice) -> str:
    """The code the authenticator app shows now; if that one was used already (a code is good
    once), the next one, which the device accepts too (one step of tolerance)."""
    device.refresh_from_db()
    totp = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift)
    if totp.t() <= device.last_t:
        totp.drift += device.last_t + 1 - totp.t()
    return f"{totp.token():0{device.digits}d}"


def log_in_verified(client: Client, user) -> Client:
    """``client`` signed in as ``user`` past both factors, as the login's code step leaves a
    session: the user's authenticator (created if need be) recorded as the verified device."""
    device = totp_device(user)
    client.force_login(user)
    session = client.session
    session[DEVICE_ID_SESSION_KEY] = device.persistent_id
    session.save()
    return client


@pytest.fixture
def admin_client(client, admin_user):
    """pytest-django's, past the second factor every superuser must pass."""
    return log_in_verified(client, admin_user)


@pytest.fixture
def sandbox():
    server = SandboxPartner(
        SandboxConfig(credentials={UTM_SOURCE: PARTNER_KEY, CLIENT_ID: PARTNER_KEY})
    )
    server.start()
    yield server
    server.stop()


@pytest.fixture
def partner(db, sandbox):
    return Partner.objects.create(
        name="沙箱平台",
        slug="sandbox",
        test_base_url=sandbox.base_url,
        push_url=sandbox.push_url,
        utm_source=UTM_SOURCE,
        client_id=CLIENT_ID,
        secret_key=PARTNER_KEY,
        connect_timeout=1,
        read_timeout=1,
    )


@pytest.fixture
def make_leads(db):
    rng = random.Random(20261123)

    def make(count: int, **overrides) -> list[Lead]:
        leads = []
        for _ in range(count):
            lead = Lead(**{**fake_lead_fields(rng), **overrides})
            lead.save()
            leads.append(lead)
        return leads

    return make


def run_job_to_end(job, *, timeout: float = 30.0):
    """Drive a job the way workers do (the test settings run tasks inline): requeue it whenever
    the janitor would, until it ends. Fails loudly if it gets stuck."""
    import time

    from jobs.services import requeue_due_jobs

    deadline = time.monotonic() + timeout
    while True:
        job.refresh_from_db()
        if job.is_final:
            return job
        if time.monotonic() > deadline:
            raise AssertionError(
                f"job #{job.pk} stuck in {job.state}: {job.pause_reason} {job.last_error}"
            )
        requeue_due_jobs()
        time.sleep(0.05)


@pytest.fixture
def bulk_leads(db):
    """Many leads at once (bulk_create), for jobs and browser tests."""
    rng = random.Random(7)

    def make(count: int) -> None:
        leads = []
        seen = set()
        while len(leads) < count:
            lead = Lead(**fake_lead_fields(rng))
            if lead.phone in seen or lead.id_number in seen:
                continue
            seen.update((lead.phone, lead.id_number))
            lead.refresh_indexes()
            leads.append(lead)
        Lead.objects.bulk_create(leads, batch_size=500)

    return make
