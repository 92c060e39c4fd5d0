"""A partner refusing the call is not a partner rejecting the lead (issue 13, finding 9).

The push spec's status "0" is both "this lead is rejected" and, from some partners, "your headers
are missing or wrong". A refused call leaves its leads un-judged (the push failed, the check
failed), counts toward the partner's failures, and is never recorded as a rejection. Which
answers refuse the call: the protocol's defaults plus the partner's own codes and words."""

import pytest
from django.test import override_settings

from collision.models import CheckOutcome, CollisionResult
from collision.services import check_leads
from jobs.models import JobKind, JobState
from jobs.services import create_job
from leads.models import Lead
from partners.calls import NOT_PROCESSED
from partners.forms import PartnerForm
from partners.models import AuditLogEntry, CallOutcome, Operation, Partner
from partners.protocols import qunadai_push, yrxd_collision
from partners.protocols.base import CallRefusalRules, PartnerRefusal, UnexpectedAnswer
from pushes.models import Push, PushState
from pushes.services import push_leads
from sandbox.server import PUSH_PATH, Fault
from tests.conftest import run_job_to_end


def marketable_lead(partner, make_leads) -> Lead:
    check_leads(partner=partner, leads=make_leads(12))
    return Lead.objects.filter(collision_results__is_marketable=True).first()


def push_one(partner, lead):
    return push_leads(partner=partner, leads=Lead.objects.filter(pk=lead.pk))


def push_entry() -> AuditLogEntry:
    return AuditLogEntry.objects.filter(operation=Operation.PUSH).get()


# -- the push: status "0" that refuses the call ---------------------------------------------------


def test_a_missing_headers_answer_fails_the_push_and_the_partner_not_the_lead(
    partner, sandbox, make_leads
):
    lead = marketable_lead(partner, make_leads)
    sandbox.inject(Fault.HEADERS)  # {"status": "0", "msg": "请求头缺失或错误"}

    summary = push_one(partner, lead)

    assert (summary.failed, summary.rejected) == (1, 0)
    push = Push.objects.get(lead=lead)
    assert push.state == PushState.FAILED  # never looked at: may be pushed again
    assert push.message == "请求被拒（未处理）: 0 请求头缺失或错误"
    entry = push_entry()
    assert entry.outcome == CallOutcome.CALL_REFUSED and entry.error == "0 请求头缺失或错误"
    partner.refresh_from_db()
    assert partner.consecutive_failures == 1
    assert partner.last_error == "请求被拒（未处理）: 0 请求头缺失或错误"
    assert sandbox.accepted_pushes == []

    sandbox.inject(Fault.NONE)
    assert push_one(partner, lead).accepted == 1  # the lead was never judged: it goes now


def test_a_partners_own_refusal_words_turn_its_rejection_into_a_refused_call(
    partner, sandbox, make_leads
):
    check_leads(partner=partner, leads=make_leads(20))
    first, second = Lead.objects.filter(collision_results__is_marketable=True)[:2]
    sandbox.config.refusal_answers["push"] = ("0", "渠道未开通推送")
    sandbox.inject(Fault.HEADERS)

    # Unknown to the defaults: the partner's "0" reads as a verdict on the lead.
    assert push_one(partner, first).rejected == 1
    assert Push.objects.get(lead=first).state == PushState.REJECTED

    partner.call_refusal_words = "签约\n渠道未开通\n"
    partner.save()
    summary = push_one(partner, second)

    assert (summary.failed, summary.rejected) == (1, 0)
    assert Push.objects.get(lead=second).state == PushState.FAILED
    assert AuditLogEntry.objects.filter(outcome=CallOutcome.CALL_REFUSED).count() == 1


def test_a_partners_own_refusal_code_is_a_refused_call_not_an_unknown_push(
    partner, sandbox, make_leads
):
    check_leads(partner=partner, leads=make_leads(20))
    first, second = Lead.objects.filter(collision_results__is_marketable=True)[:2]
    sandbox.config.refusal_answers["push"] = ("401", "unauthorized")
    sandbox.inject(Fault.HEADERS)

    # A code the spec does not have: the push may have landed for all we know.
    push_one(partner, first)
    assert Push.objects.get(lead=first).state == PushState.UNKNOWN

    partner.call_refusal_codes = "401， 403"
    partner.save()
    push_one(partner, second)

    push = Push.objects.get(lead=second)
    assert push.state == PushState.FAILED and push.message == "请求被拒（未处理）: 401 unauthorized"
    assert sandbox.calls(PUSH_PATH) == 2


# -- the check ------------------------------------------------------------------------------------


def test_a_refused_check_leaves_its_leads_unjudged_and_counts_as_a_failure(
    partner, sandbox, make_leads
):
    leads = make_leads(3)
    sandbox.config.refusal_answers["collision"] = ("4001", "header missing")
    sandbox.inject(Fault.HEADERS)
    partner.call_refusal_codes = "4001"
    partner.save()

    summary = check_leads(partner=partner, leads=leads)

    assert (summary.checked, summary.failed) == (0, 3)
    results = CollisionResult.objects.all()
    assert {r.outcome for r in results} == {CheckOutcome.CALL_FAILED}
    assert not any(r.is_marketable for r in results)
    entry = AuditLogEntry.objects.get()
    assert (entry.operation, entry.outcome) == (Operation.COLLISION_BATCH, CallOutcome.CALL_REFUSED)
    partner.refresh_from_db()
    assert partner.consecutive_failures == 1


# -- the rules ------------------------------------------------------------------------------------


def test_the_partners_rules_are_the_protocols_defaults_plus_its_own(partner):
    partner.call_refusal_codes = " 401,403，-1 ,"
    partner.call_refusal_words = "渠道未开通\n\n  IP 不在白名单 \n"

    push = partner.call_refusal_rules(Operation.PUSH)
    check = partner.call_refusal_rules(Operation.COLLISION_BATCH)

    assert push.codes == check.codes == frozenset({"401", "403", "-1"})
    assert push.words[: len(qunadai_push.CALL_REFUSAL.words)] == qunadai_push.CALL_REFUSAL.words
    assert push.words[-2:] == ("渠道未开通", "IP 不在白名单")
    assert check.words == ("渠道未开通", "IP 不在白名单")  # every failure envelope refuses already
    assert CallOutcome.CALL_REFUSED in NOT_PROCESSED


@pytest.mark.parametrize(
    ("msg", "refused"),
    [
        ("请求头缺失或错误", True),
        ("Missing header: clientTime", True),
        ("鉴权失败", True),
        ("IP 不在白名单", True),
        ("用户已存在", False),
        ("用户未实名认证", False),
        ("缺少字段：qq", False),
    ],
)
def test_the_push_protocol_tells_a_refused_call_from_a_rejected_lead(msg, refused):
    body = f'{{"status":"0","msg":"{msg}","data":null}}'.encode()
    if refused:
        with pytest.raises(PartnerRefusal):
            qunadai_push.parse_answer(body)
    else:
        answer = qunadai_push.parse_answer(body)
        assert not answer.accepted and answer.refusal() == ("0", msg)


def test_an_unknown_push_status_keeps_its_code_and_message():
    with pytest.raises(UnexpectedAnswer, match="unknown push status '401'") as unexpected:
        qunadai_push.parse_answer(b'{"status":"401","msg":"unauthorized"}')
    assert (unexpected.value.code, unexpected.value.message) == ("401", "unauthorized")
    rules = CallRefusalRules(codes=frozenset({"401"}))
    with pytest.raises(PartnerRefusal):
        qunadai_push.parse_answer(b'{"status":"401","msg":"unauthorized"}', refusal=rules)
    assert CallRefusalRules() == yrxd_collision.CALL_REFUSAL


def test_the_admin_form_takes_the_partners_codes_and_words(partner):
    data = {
        **{name: value for name, value in PartnerForm(instance=partner).initial.items()},
        "call_refusal_codes": "401,403",
        "call_refusal_words": "渠道未开通",
    }
    data = {name: value for name, value in data.items() if value is not None}
    form = PartnerForm(data=data, instance=partner)
    assert form.is_valid(), form.errors
    form.save()
    partner = Partner.objects.get(pk=partner.pk)
    assert partner.call_refusal_rules(Operation.PUSH).refuses("0", "该渠道未开通")


# -- a push job -----------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)  # a job's task is enqueued on commit
@override_settings(PUSH_RETRY_BASE_SECONDS=0.01)
def test_a_push_job_sends_again_what_a_refused_call_left_unjudged(partner, sandbox, make_leads):
    check_leads(partner=partner, leads=make_leads(12))
    marketable = list(
        Lead.objects.filter(collision_results__is_marketable=True).values_list("pk", flat=True)
    )
    sandbox.inject(Fault.HEADERS, times=1)  # the first push meets the gateway's refusal

    job = run_job_to_end(create_job(kind=JobKind.PUSH, partner=partner, lead_ids=marketable))

    assert job.state == JobState.FINISHED
    pushes = Push.objects.filter(job=job)
    assert {push.state for push in pushes} == {PushState.ACCEPTED}  # none judged "rejected"
    assert pushes.count() == len(marketable) and sandbox.calls(PUSH_PATH) == len(marketable) + 1
    assert AuditLogEntry.objects.filter(outcome=CallOutcome.CALL_REFUSED).count() == 1
