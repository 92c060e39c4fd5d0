"""What a push becomes when the partner is slow, gone or garbled: never lost, never doubled."""

import socket
from datetime import timedelta

import pytest
import requests
from django.utils import timezone

from collision.models import CheckOutcome, CollisionResult
from collision.services import check_leads
from leads.models import Lead
from partners.calls import PartnerUnavailable
from partners.models import AuditLogEntry, CallOutcome, Operation, Partner
from partners.protocols import qunadai_push
from partners.protocols.base import PartnerRefusal
from partners.protocols.yrxd_collision import id_number_md5, phone_md5
from pushes.models import Push, PushState, SkipReason
from pushes.services import push_leads, reconcile_unknown_pushes, retry_unknown_pushes
from sandbox.server import PUSH_PATH, Fault
from tests.conftest import CLIENT_ID, PARTNER_KEY


def checked_marketable_leads(partner, make_leads, count: int) -> list[Lead]:
    """``count`` new leads that a check with ``partner`` found marketable (about half are)."""
    check_leads(partner=partner, leads=make_leads(10 * count + 2))
    marketable = list(Lead.objects.filter(collision_results__is_marketable=True)[:count])
    assert len(marketable) == count
    return marketable


def checked_marketable_lead(partner, make_leads) -> Lead:
    return checked_marketable_leads(partner, make_leads, 1)[0]


def accepted(*leads: Lead) -> list[tuple[str, str, str]]:
    """What the sandbox records for these leads' accepted pushes, in order."""
    return [(CLIENT_ID, phone_md5(lead.phone), id_number_md5(lead.id_number)) for lead in leads]


def only(*leads: Lead):
    """These leads as the queryset the services take."""
    return Lead.objects.filter(pk__in=[lead.pk for lead in leads])


def test_timed_out_push_is_unknown_and_not_pushed_again(partner, sandbox, make_leads):
    lead = checked_marketable_lead(partner, make_leads)
    partner.read_timeout = 0.3
    partner.save()
    sandbox.config.fault = Fault.TIMEOUT
    sandbox.config.timeout_delay_s = 1.0

    first = push_leads(partner=partner, leads=Lead.objects.filter(pk=lead.pk))

    assert first.unknown == 1 and first.failed == 0
    push = Push.objects.get(lead=lead)
    assert push.state == PushState.UNKNOWN and push.attempts == 1
    assert AuditLogEntry.objects.get(operation=Operation.PUSH).outcome == CallOutcome.TIMEOUT

    sandbox.config.fault = Fault.NONE
    second = push_leads(partner=partner, leads=Lead.objects.filter(pk=lead.pk))

    assert second.skipped[SkipReason.ALREADY_PUSHED] == 1 and second.sent == 0
    assert Push.objects.filter(lead=lead).count() == 1
    assert sandbox.calls(PUSH_PATH) == 1
    assert AuditLogEntry.objects.filter(operation=Operation.PUSH).count() == 1


def test_push_that_never_left_is_failed_and_may_be_sent_again(partner, sandbox, make_leads):
    lead = checked_marketable_lead(partner, make_leads)
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        dead_port = closed.getsockname()[1]
    real_url = partner.push_url
    partner.push_url = f"http://127.0.0.1:{dead_port}/api/push/user"
    partner.save()

    first = push_leads(partner=partner, leads=Lead.objects.filter(pk=lead.pk))

    assert first.failed == 1
    assert Push.objects.get(lead=lead).state == PushState.FAILED
    assert (
        AuditLogEntry.objects.get(operation=Operation.PUSH).outcome == CallOutcome.CONNECTION_ERROR
    )

    partner.push_url = real_url
    partner.save()
    second = push_leads(partner=partner, leads=Lead.objects.filter(pk=lead.pk))

    assert second.accepted == 1
    states = sorted(Push.objects.filter(lead=lead).values_list("state", flat=True))
    assert states == [PushState.ACCEPTED, PushState.FAILED]
    assert AuditLogEntry.objects.filter(operation=Operation.PUSH).count() == 2


def test_garbled_answer_leaves_push_unknown(partner, sandbox, make_leads):
    lead = checked_marketable_lead(partner, make_leads)
    sandbox.config.fault = Fault.GARBAGE

    summary = push_leads(partner=partner, leads=Lead.objects.filter(pk=lead.pk))

    assert summary.unknown == 1
    entry = AuditLogEntry.objects.get(operation=Operation.PUSH)
    assert entry.outcome == CallOutcome.MALFORMED and entry.response_status == 200


def test_oversized_answer_is_not_read_and_leaves_push_unknown(partner, sandbox, make_leads):
    lead = checked_marketable_lead(partner, make_leads)
    sandbox.config.fault = Fault.OVERSIZED  # a valid answer, behind 2 MB of blanks

    summary = push_leads(partner=partner, leads=Lead.objects.filter(pk=lead.pk))

    assert summary.unknown == 1
    entry = AuditLogEntry.objects.get(operation=Operation.PUSH)
    assert entry.outcome == CallOutcome.MALFORMED and entry.response_status == 200
    assert "answer larger than 1000000 bytes" in entry.error and entry.response_body == ""
    # The partner registered this very person: only a reconcile can tell.
    assert sandbox.accepted_pushes == accepted(lead)
    assert sandbox.registered == {PARTNER_KEY: {phone_md5(lead.phone)}}


def test_partner_rejection_is_recorded_with_its_message(partner, sandbox, make_leads):
    lead = checked_marketable_lead(partner, make_leads)
    sandbox.inject(Fault.REFUSE)

    summary = push_leads(partner=partner, leads=Lead.objects.filter(pk=lead.pk))

    assert summary.rejected == 1
    push = Push.objects.get(lead=lead)
    assert push.state == PushState.REJECTED and push.message == "处理失败"
    # A rejection is final for this check: the next run does not resend until a new check.
    again = push_leads(partner=partner, leads=Lead.objects.filter(pk=lead.pk))
    assert again.sent == 0 and sandbox.calls(PUSH_PATH) == 1


def test_batch_answer_missing_hashes_are_recorded_as_no_answer(partner, sandbox, make_leads):
    leads = make_leads(9)
    sandbox.config.fault = Fault.DROP_HASHES

    summary = check_leads(partner=partner, leads=leads)

    assert summary.checked == 6 and summary.failed == 3
    assert CollisionResult.objects.filter(outcome=CheckOutcome.NO_ANSWER).count() == 3
    assert CollisionResult.objects.count() == 9


def test_reconcile_settles_an_unknown_push_that_landed(partner, sandbox, make_leads):
    """The sandbox processed the push, then answered too late: a new check says status 1."""
    lead = checked_marketable_lead(partner, make_leads)
    Partner.objects.filter(pk=partner.pk).update(read_timeout=1.0)  # the reconcile's check too
    partner.refresh_from_db()
    sandbox.inject(Fault.TIMEOUT, times=1)
    sandbox.config.timeout_delay_s = 2.0
    push_leads(partner=partner, leads=Lead.objects.filter(pk=lead.pk))
    push = Push.objects.get(lead=lead)
    assert push.state == PushState.UNKNOWN
    assert sandbox.accepted_pushes == accepted(lead)

    outcome = reconcile_unknown_pushes(pushes=Push.objects.all())

    push.refresh_from_db()
    assert outcome["accepted"] == 1 and push.state == PushState.ACCEPTED
    assert "状态 1" in push.message
    assert sandbox.calls(PUSH_PATH) == 1  # settled without sending it again


def test_unknown_push_that_never_landed_stays_unknown_until_retried(partner, sandbox, make_leads):
    """The connection broke before the sandbox read the push: a new check still says status 0."""
    lead = checked_marketable_lead(partner, make_leads)
    sandbox.inject(Fault.RESET, times=1)
    push_leads(partner=partner, leads=Lead.objects.filter(pk=lead.pk))
    push = Push.objects.get(lead=lead)
    assert push.state == PushState.UNKNOWN

    assert sandbox.accepted_pushes == [] and sandbox.registered == {}

    outcome = reconcile_unknown_pushes(pushes=Push.objects.all())
    push.refresh_from_db()
    assert outcome["still_unknown"] == 1 and push.state == PushState.UNKNOWN

    retried = retry_unknown_pushes(pushes=Push.objects.all())
    push.refresh_from_db()
    assert retried.accepted == 1 and push.state == PushState.ACCEPTED and push.attempts == 2
    assert Push.objects.filter(lead=lead).count() == 1
    assert sandbox.accepted_pushes == accepted(lead)


@pytest.mark.parametrize("refusal", ["wrong key", "stale clientTime"])
def test_push_refused_for_its_credentials_is_failed_and_sent_again_once_fixed(
    refusal, partner, sandbox, make_leads
):
    lead = checked_marketable_lead(partner, make_leads)
    if refusal == "wrong key":
        partner.secret_key = "not-the-right-key"
        partner.save()
    else:
        sandbox.config.max_clock_skew_s = -1  # every clientTime is too old

    first = push_leads(partner=partner, leads=Lead.objects.filter(pk=lead.pk))

    # Not "rejected": the partner looked at our credentials, never at the lead.
    assert first.failed == 1 and first.rejected == 0
    push = Push.objects.get(lead=lead)
    assert push.state == PushState.FAILED and "签名被拒" in push.message
    entry = AuditLogEntry.objects.get(operation=Operation.PUSH)
    assert entry.outcome == CallOutcome.SIGNATURE_REJECTED
    assert ("签名" if refusal == "wrong key" else "clientTime") in entry.error

    partner.secret_key = PARTNER_KEY
    partner.save()
    sandbox.config.max_clock_skew_s = 300
    second = push_leads(partner=partner, leads=Lead.objects.filter(pk=lead.pk))

    assert second.accepted == 1
    assert list(Push.objects.filter(lead=lead).values_list("state", flat=True).order_by("pk")) == [
        PushState.FAILED,
        PushState.ACCEPTED,
    ]


def test_sandbox_refuses_a_push_without_its_signature_headers(sandbox):
    body = b'{"data":"{}"}'
    answer = requests.post(sandbox.push_url, data=body, timeout=5)

    with pytest.raises(PartnerRefusal) as refused:
        qunadai_push.parse_answer(answer.content)
    assert refused.value.is_signature_error and "clientTime" in refused.value.message


def test_pushes_whose_process_died_are_settled_when_their_leads_are_pushed_again(
    partner, sandbox, make_leads
):
    never_left, was_sending, still_running = checked_marketable_leads(partner, make_leads, 3)
    hour_ago = timezone.now() - timedelta(hours=1)
    Push.objects.create(lead=never_left, partner=partner, created_at=hour_ago)
    Push.objects.create(
        lead=was_sending, partner=partner, state=PushState.SENDING, attempts=1, created_at=hour_ago
    )
    Push.objects.create(lead=still_running, partner=partner, state=PushState.SENDING, attempts=1)

    summary = push_leads(partner=partner, leads=only(never_left, was_sending, still_running))

    def states(lead):
        return list(Push.objects.filter(lead=lead).order_by("pk").values_list("state", flat=True))

    assert states(never_left) == [PushState.FAILED, PushState.ACCEPTED]  # sent again
    assert states(was_sending) == [PushState.UNKNOWN]  # may have landed: left to reconcile
    assert states(still_running) == [PushState.SENDING]  # its process may still be at it
    assert (summary.accepted, summary.skipped[SkipReason.ALREADY_PUSHED]) == (1, 2)
    assert sandbox.calls(PUSH_PATH) == 1


def test_a_lead_without_a_required_enumeration_is_not_pushed_but_counted(
    partner, sandbox, make_leads
):
    no_education, no_relation, complete = checked_marketable_leads(partner, make_leads, 3)
    Lead.objects.filter(pk=no_education.pk).update(edu_level="")
    Lead.objects.filter(pk=no_relation.pk).update(emergency_relation="")

    summary = push_leads(partner=partner, leads=only(no_education, no_relation, complete))

    assert (summary.skipped[SkipReason.INCOMPLETE], summary.accepted) == (2, 1)
    assert list(Push.objects.values_list("lead_id", flat=True)) == [complete.pk]
    assert sandbox.calls(PUSH_PATH) == 1


def test_pushes_outside_a_job_keep_the_daily_cap_and_the_working_hours(
    partner, sandbox, make_leads
):
    first, second, third = checked_marketable_leads(partner, make_leads, 3)
    partner.daily_push_cap = 2
    partner.save()

    one = push_leads(partner=partner, leads=only(first))
    two = push_leads(partner=partner, leads=only(second, third))

    assert one.accepted == 1 and (two.accepted, two.skipped[SkipReason.OVER_DAILY_CAP]) == (1, 1)
    assert sandbox.calls(PUSH_PATH) == 2 and not Push.objects.filter(lead=third).exists()

    now = timezone.localtime()
    partner.daily_push_cap = None
    partner.working_hours_start = (now + timedelta(hours=1)).time()
    partner.working_hours_end = (now + timedelta(hours=2)).time()
    partner.save()
    with pytest.raises(PartnerUnavailable, match="不在工作时段"):
        push_leads(partner=partner, leads=only(third))
    assert sandbox.calls(PUSH_PATH) == 2 and not Push.objects.filter(lead=third).exists()
