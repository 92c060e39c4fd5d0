"""A person on the do-not-contact list is never checked or pushed, whatever the path: the admin's
inline check and push, a check job, a push job, the commands, a distribution run, a
reconciliation. Each path records why, and the partner never sees the person's hashes."""

import pytest
from django.core.management import call_command

from collision.models import CheckSkip, CollisionResult
from collision.services import check_leads
from distribution.models import Plan
from distribution.services import start_run
from jobs.models import JobKind
from jobs.services import create_job
from leads import do_not_contact
from leads.models import Lead
from partners.models import AuditLogEntry
from partners.protocols import yrxd_collision
from pushes.models import Push, PushSkip, PushState, SkipReason
from pushes.services import push_leads, reconcile_unknown_pushes
from tests.conftest import run_job_to_end

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def listed_and_free(make_leads, partner, sandbox):
    """Two marketable leads (checked before the listing); the first then listed by phone."""
    leads = make_leads(16)
    check_leads(partner=partner, leads=leads)
    marketable = CollisionResult.objects.filter(is_marketable=True).values_list("lead", flat=True)
    listed, free = Lead.objects.filter(pk__in=marketable).order_by("pk")[:2]
    do_not_contact.add_numbers(phone=listed.phone, reason="complaint")
    sandbox.asked_hashes.clear()  # from here on, what the paths under test sent
    CollisionResult.objects.exclude(lead__in=[listed, free]).delete()
    Lead.objects.exclude(pk__in=[listed.pk, free.pk]).delete()
    return listed, free


def partner_saw(lead, sandbox) -> bool:
    """Asked about in a check, or pushed (the sandbox's own record)."""
    phone_md5 = yrxd_collision.phone_md5(lead.phone)
    pushed = {phone for _client, phone, _id in sandbox.accepted_pushes}
    return phone_md5 in sandbox.asked_hashes or phone_md5 in pushed


def last_audit_id() -> int:
    return AuditLogEntry.objects.order_by("-pk").values_list("pk", flat=True).first() or 0


def test_inline_check_skips_the_listed_person(listed_and_free, partner, sandbox):
    listed, free = listed_and_free
    earlier = set(CollisionResult.objects.values_list("pk", flat=True))

    summary = check_leads(partner=partner, leads=Lead.objects.all())

    assert summary.skipped == 1 and summary.checked == 1
    new = CollisionResult.objects.exclude(pk__in=earlier)
    assert list(new.values_list("lead", flat=True)) == [free.pk]
    skip = CheckSkip.objects.get()
    assert (skip.lead, skip.reason, skip.detail) == (listed, "do_not_contact", "投诉")
    assert not partner_saw(listed, sandbox) and partner_saw(free, sandbox)


def test_check_job_and_command_skip_the_listed_person(listed_and_free, partner, sandbox):
    listed, free = listed_and_free

    job = run_job_to_end(
        create_job(kind=JobKind.CHECK, partner=partner, lead_ids=[listed.pk, free.pk])
    )
    call_command("check_leads", "--partner", partner.slug, "--all")

    assert job.skipped == 1 and job.processed == 2
    assert CheckSkip.objects.filter(lead=listed, job=job, reason="do_not_contact").exists()
    assert CheckSkip.objects.filter(lead=listed, job=None).count() == 1  # the command's
    assert not partner_saw(listed, sandbox) and partner_saw(free, sandbox)


def test_inline_push_push_job_and_command_skip_the_listed_person(listed_and_free, partner, sandbox):
    listed, free = listed_and_free

    inline = push_leads(partner=partner, leads=Lead.objects.filter(pk=listed.pk))
    job = run_job_to_end(create_job(kind=JobKind.PUSH, partner=partner, lead_ids=[listed.pk]))
    call_command("push_leads", "--partner", partner.slug, "--all")

    assert inline.skipped == {SkipReason.DO_NOT_CONTACT: 1}
    assert job.skipped == 1
    reasons = set(PushSkip.objects.filter(lead=listed).values_list("reason", "detail"))
    assert reasons == {(SkipReason.DO_NOT_CONTACT, "投诉")}
    assert PushSkip.objects.filter(lead=listed).count() == 3  # inline, job, command
    assert not Push.objects.filter(lead=listed).exists()
    assert Push.objects.filter(lead=free, state=PushState.ACCEPTED).exists()
    assert not partner_saw(listed, sandbox)


def test_a_distribution_run_neither_checks_nor_pushes_the_listed_person(
    listed_and_free, partner, sandbox
):
    listed, free = listed_and_free
    CollisionResult.objects.all().delete()  # the run checks both again
    plan = Plan.objects.create(name="方案")
    plan.partners.add(partner)

    start_run(plan=plan, leads=Lead.objects.all())

    assert CheckSkip.objects.filter(lead=listed, reason="do_not_contact").exists()
    assert not CollisionResult.objects.filter(lead=listed).exists()
    assert not Push.objects.filter(lead=listed).exists()
    assert Push.objects.filter(lead=free, state=PushState.ACCEPTED).exists()
    assert not partner_saw(listed, sandbox)


def test_reconciling_an_unknown_push_never_checks_a_listed_person(listed_and_free, partner):
    listed, _free = listed_and_free
    Push.objects.create(lead=listed, partner=partner, state=PushState.UNKNOWN)
    before = last_audit_id()

    outcome = reconcile_unknown_pushes(pushes=Push.objects.all())

    assert outcome["do_not_contact"] == 1
    assert Push.objects.get(lead=listed).state == PushState.UNKNOWN
    assert last_audit_id() == before
