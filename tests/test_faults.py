"""Fault injection over real HTTP: whatever the sandbox partner does, every lead ends in a
definite state (or *unknown* where that is the truth), no lead is pushed twice, every call has
exactly one audit row, and the job's counts add up."""

import socket

import pytest

from collision.models import CheckOutcome, CollisionResult
from collision.services import check_leads
from jobs.models import JobKind, JobState
from jobs.services import create_job
from leads.models import Lead
from partners.models import AuditLogEntry, Operation, Partner
from pushes.models import Push, PushState
from sandbox.server import PUSH_PATH, Fault
from tests.conftest import run_job_to_end

pytestmark = pytest.mark.django_db(transaction=True)
LEADS = 24  # three check chunks, five push chunks in the test settings

# fault, how many requests it hits (None: all), what the leads must end as
CHECK_FAULTS = [
    ("slow", None, {CheckOutcome.ANSWERED}),
    (Fault.TIMEOUT, 2, {CheckOutcome.ANSWERED}),
    (Fault.HTTP_500, 2, {CheckOutcome.ANSWERED}),
    (Fault.RESET, 2, {CheckOutcome.ANSWERED}),
    (Fault.GARBAGE, 2, {CheckOutcome.ANSWERED}),
    (Fault.OVERSIZED, 2, {CheckOutcome.ANSWERED}),
    (Fault.HTTP_404, None, {CheckOutcome.CALL_FAILED}),
    (Fault.ODD_STATUS, None, {CheckOutcome.CALL_FAILED}),
    (Fault.REFUSE, None, {CheckOutcome.CALL_FAILED}),
    ("wrong_key", None, {CheckOutcome.SIGNATURE_REJECTED}),
    (Fault.DROP_HASHES, None, {CheckOutcome.ANSWERED, CheckOutcome.NO_ANSWER}),
    (Fault.RATE_LIMIT, 2, {CheckOutcome.ANSWERED}),
    (Fault.QUOTA, 1, {CheckOutcome.ANSWERED}),
]

PUSH_FAULTS = [
    ("slow", None, {PushState.ACCEPTED}),
    (Fault.TIMEOUT, None, {PushState.UNKNOWN}),
    (Fault.HTTP_500, None, {PushState.UNKNOWN}),
    (Fault.RESET, None, {PushState.UNKNOWN}),
    (Fault.GARBAGE, None, {PushState.UNKNOWN}),
    (Fault.OVERSIZED, None, {PushState.UNKNOWN}),
    (Fault.ODD_STATUS, None, {PushState.UNKNOWN}),
    (Fault.REFUSE, None, {PushState.REJECTED}),
    ("wrong_key", None, {PushState.FAILED}),
    (Fault.RATE_LIMIT, 3, {PushState.ACCEPTED}),
    (Fault.QUOTA, 1, {PushState.ACCEPTED}),
    (Fault.TIMEOUT, 2, {PushState.ACCEPTED, PushState.UNKNOWN}),
    ("connection_refused", None, {PushState.FAILED}),
]


@pytest.fixture
def faulty_partner(partner, sandbox, settings):
    # "slow" answers after 150 ms, a timeout after 2 s: a second's margin each side of the read
    # timeout, which a loaded machine keeps.
    Partner.objects.filter(pk=partner.pk).update(
        read_timeout=1.0, failure_threshold=1000, max_concurrency=3
    )
    sandbox.config.timeout_delay_s = 2.0
    partner.refresh_from_db()
    return partner


def apply_fault(fault: str, times, partner, sandbox) -> None:
    if fault == "slow":
        sandbox.config.latency_ms = 150
    elif fault == "wrong_key":
        partner.secret_key = "not-the-key"
        partner.save()
    elif fault == "connection_refused":
        with socket.socket() as closed:
            closed.bind(("127.0.0.1", 0))
            port = closed.getsockname()[1]
        Partner.objects.filter(pk=partner.pk).update(
            test_push_url=f"http://127.0.0.1:{port}/api/push/user"
        )
    else:
        sandbox.inject(fault, times=times)


def assert_one_audit_row_per_call(
    sandbox, *, path_prefix: str, operations, refused_connections: int = 0
) -> None:
    calls = sum(1 for path, _ in sandbox.request_times if path.startswith(path_prefix))
    assert (
        AuditLogEntry.objects.filter(operation__in=operations).count()
        == calls + refused_connections
    )


def assert_counts_add_up(job) -> None:
    assert job.processed == job.total == LEADS
    if job.kind == JobKind.CHECK:
        results = CollisionResult.objects.filter(job=job)
        assert job.marketable == results.filter(is_marketable=True).count()
        assert job.errors == results.exclude(outcome=CheckOutcome.ANSWERED).count()
    else:
        assert job.accepted + job.rejected + job.unknown + job.failed + job.skipped == job.processed
        for state in ("accepted", "rejected", "unknown", "failed"):
            assert getattr(job, state) == Push.objects.filter(job=job, state=state).count()


@pytest.mark.parametrize(
    ("fault", "times", "expected"), CHECK_FAULTS, ids=[f[0] for f in CHECK_FAULTS]
)
def test_check_job_under_fault(fault, times, expected, faulty_partner, sandbox, make_leads):
    make_leads(LEADS)
    apply_fault(fault, times, faulty_partner, sandbox)

    job = run_job_to_end(
        create_job(
            kind=JobKind.CHECK,
            partner=faulty_partner,
            lead_ids=Lead.objects.values_list("pk", flat=True),
        )
    )

    assert job.state == JobState.FINISHED
    results = CollisionResult.objects.filter(job=job)
    assert (
        results.count() == LEADS and results.values("lead").distinct().count() == LEADS
    )  # each lead exactly once
    assert set(results.values_list("outcome", flat=True)) == expected
    assert_counts_add_up(job)
    assert_one_audit_row_per_call(
        sandbox,
        path_prefix="/api/collision/",
        operations=[Operation.COLLISION_BATCH, Operation.COLLISION_SINGLE],
    )


@pytest.mark.parametrize(
    ("fault", "times", "expected"), PUSH_FAULTS, ids=[f"{f[0]}-{f[1]}" for f in PUSH_FAULTS]
)
def test_push_job_under_fault(fault, times, expected, faulty_partner, sandbox, make_leads):
    make_leads(LEADS)
    check_leads(partner=faulty_partner, leads=Lead.objects.all())
    marketable = set(
        CollisionResult.objects.filter(is_marketable=True).values_list("lead_id", flat=True)
    )
    assert marketable
    apply_fault(fault, times, faulty_partner, sandbox)

    job = run_job_to_end(
        create_job(
            kind=JobKind.PUSH,
            partner=faulty_partner,
            lead_ids=Lead.objects.values_list("pk", flat=True),
        )
    )

    assert job.state == JobState.FINISHED
    pushes = Push.objects.filter(job=job)
    assert (
        set(pushes.values_list("lead_id", flat=True)) == marketable
    )  # every marketable lead, once
    assert pushes.count() == len(marketable)
    assert set(pushes.values_list("state", flat=True)) <= expected
    assert PushState.ACCEPTED not in expected or pushes.filter(state=PushState.ACCEPTED).exists()
    # The sandbox never saw a lead twice (the message is sealed: compared once decrypted).
    assert "用户已存在" not in {push.message for push in pushes}
    accepted_by_sandbox = sum(len(phones) for phones in sandbox.registered.values())
    assert accepted_by_sandbox == pushes.filter(
        state=PushState.ACCEPTED
    ).count() + _landed_but_unknown(pushes, fault)
    assert_counts_add_up(job)
    refused = (
        pushes.filter(state=PushState.FAILED).count() * 3 if fault == "connection_refused" else 0
    )
    assert_one_audit_row_per_call(
        sandbox, path_prefix=PUSH_PATH, operations=[Operation.PUSH], refused_connections=refused
    )


def _landed_but_unknown(pushes, fault) -> int:
    """A push that timed out, or whose answer was too large to read, was processed by the
    sandbox all the same: it landed."""
    landed = fault in (Fault.TIMEOUT, Fault.OVERSIZED)
    return pushes.filter(state=PushState.UNKNOWN).count() if landed else 0
