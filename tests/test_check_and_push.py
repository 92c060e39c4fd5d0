"""Check → push through the services against the sandbox partner over real HTTP."""

from collision.models import CheckOutcome, CollisionResult
from collision.services import check_leads
from leads.models import Lead
from partners.models import AuditLogEntry, CallOutcome, Operation
from partners.protocols.yrxd_collision import phone_md5
from pushes.models import Push, PushState, SkipReason
from pushes.services import push_leads
from sandbox.server import PUSH_PATH, user_status_for


def test_check_then_push_records_results_pushes_and_one_audit_row_per_call(
    partner, sandbox, make_leads
):
    leads = make_leads(1500)

    summary = check_leads(partner=partner, leads=Lead.objects.order_by("pk"))

    assert summary.requests == 2  # 1000 + 500 through the batch endpoint
    assert summary.checked == 1500 and summary.failed == 0
    assert sandbox.calls("/api/collision/v1/advert/check/access/batch") == 2
    results = {r.lead_id: r for r in CollisionResult.objects.all()}
    assert len(results) == 1500
    # The sandbox answers sorted by hash, not in the order asked: mapped back by hash.
    for lead in leads:
        status, marketable = user_status_for(phone_md5(lead.phone))
        assert (results[lead.pk].user_status, results[lead.pk].marketable) == (
            status,
            bool(marketable),
        )
        assert results[lead.pk].is_marketable == (status == 0 and marketable == 1)
    marketable_ids = {pk for pk, r in results.items() if r.is_marketable}
    assert summary.marketable == len(marketable_ids) > 0
    assert {r.user_status for r in results.values()} == {0, 1, 2, 3}

    pushed = push_leads(
        partner=partner, leads=Lead.objects.filter(pk__in=[lead.pk for lead in leads[:200]])
    )

    expected = {lead.pk for lead in leads[:200]} & marketable_ids
    assert pushed.accepted == len(expected)
    assert pushed.skipped[SkipReason.NOT_MARKETABLE] == 200 - len(expected)
    assert (
        set(Push.objects.filter(state=PushState.ACCEPTED).values_list("lead_id", flat=True))
        == expected
    )
    assert sandbox.calls(PUSH_PATH) == len(expected)
    assert AuditLogEntry.objects.filter(operation=Operation.COLLISION_BATCH).count() == 2
    assert AuditLogEntry.objects.filter(operation=Operation.PUSH).count() == len(expected)
    assert not AuditLogEntry.objects.exclude(outcome=CallOutcome.OK).exists()

    again = push_leads(
        partner=partner, leads=Lead.objects.filter(pk__in=[lead.pk for lead in leads[:200]])
    )
    assert again.accepted == 0 and again.skipped[SkipReason.ALREADY_PUSHED] == len(expected)
    assert sandbox.calls(PUSH_PATH) == len(expected)

    # A lead the partner now knows as ours checks as status 1 through the single endpoint.
    landed = Lead.objects.get(pk=min(expected))
    single = check_leads(partner=partner, leads=[landed])
    assert single.checked == 1 and single.marketable == 0
    newest = CollisionResult.objects.filter(lead=landed).first()
    assert newest.user_status == 1
    assert AuditLogEntry.objects.filter(operation=Operation.COLLISION_SINGLE).count() == 1


def test_wrong_key_is_rejected_by_the_sandbox_and_recorded(partner, sandbox, make_leads):
    leads = make_leads(3)
    partner.secret_key = "not-the-right-key"
    partner.save()

    summary = check_leads(partner=partner, leads=Lead.objects.all())

    assert summary.checked == 0 and summary.failed == 3
    outcomes = set(CollisionResult.objects.values_list("outcome", flat=True))
    assert outcomes == {CheckOutcome.SIGNATURE_REJECTED}
    entry = AuditLogEntry.objects.get()
    assert entry.outcome == CallOutcome.SIGNATURE_REJECTED
    assert "签名" in entry.error
    assert len(leads) == CollisionResult.objects.count()
