"""Why a lead was not pushed: every selected lead is either pushed or recorded with its reason,
inline and in jobs, and the forecast shown before confirming is what then happens."""

from datetime import timedelta

import pytest
from django.utils import timezone

from collision.models import CollisionResult
from collision.services import check_leads
from jobs.models import ChunkState, JobChunk, JobKind
from jobs.services import create_job
from leads.models import Lead
from leads.selectors import lead_timeline
from partners.calls import PartnerUnavailable
from pushes.models import Push, PushSkip, PushState, SkipReason
from pushes.planning import plan_pushes
from pushes.services import push_job_chunk, push_leads
from sandbox.server import PUSH_PATH
from tests.conftest import run_job_to_end


def one_of_each(partner, make_leads) -> dict[str, Lead]:
    """A lead for every way a push can go or not go, all checked with ``partner``."""
    check_leads(partner=partner, leads=make_leads(40))
    marketable = list(Lead.objects.filter(collision_results__is_marketable=True)[:6])
    leads = {
        "pushable": marketable[0],
        "erased": marketable[1],
        "already_pushed": marketable[2],
        "rejected_since_check": marketable[3],
        "incomplete": marketable[4],
        "over_daily_cap": marketable[5],  # the oldest of the marketable ones: the cap keeps newest
        "not_marketable": Lead.objects.filter(collision_results__is_marketable=False).first(),
        "not_checked": make_leads(1)[0],
    }
    Lead.objects.filter(pk=leads["erased"].pk).update(erased_at=timezone.now())
    Push.objects.create(lead=leads["already_pushed"], partner=partner, state=PushState.ACCEPTED)
    Push.objects.create(
        lead=leads["rejected_since_check"], partner=partner, state=PushState.REJECTED
    )
    Lead.objects.filter(pk=leads["incomplete"].pk).update(zhima_score=None, edu_level="")
    return leads


def selection(leads: dict[str, Lead]):
    return Lead.objects.filter(pk__in=[lead.pk for lead in leads.values()])


def skips_by_lead(**filters) -> dict[int, str]:
    return dict(PushSkip.objects.filter(**filters).values_list("lead_id", "reason"))


def test_an_inline_push_records_every_lead_it_did_not_send_with_its_reason(
    partner, sandbox, make_leads, django_user_model
):
    leads = one_of_each(partner, make_leads)
    partner.daily_push_cap = 1
    partner.save()
    operator = django_user_model.objects.create_user("op")

    summary = push_leads(partner=partner, leads=selection(leads), actor=operator)

    expected = {lead.pk: key for key, lead in leads.items() if key != "pushable"}
    assert skips_by_lead() == expected
    assert summary.accepted == 1 == sandbox.calls(PUSH_PATH)
    assert summary.sent + summary.skipped.total() == summary.selected == len(leads)
    assert dict(summary.skipped) == {SkipReason(reason): 1 for reason in expected.values()}
    incomplete = PushSkip.objects.get(reason=SkipReason.INCOMPLETE)
    assert incomplete.detail == "缺少：学历、芝麻分"
    assert incomplete.actor == operator and incomplete.job is None
    not_marketable = PushSkip.objects.get(reason=SkipReason.NOT_MARKETABLE)
    status = CollisionResult.objects.get(lead=leads["not_marketable"]).get_user_status_display()
    assert not_marketable.detail == f"状态 {status}"
    assert PushSkip.objects.get(reason=SkipReason.ALREADY_PUSHED).detail == "已接收"


def test_the_forecast_is_what_the_push_then_does(partner, sandbox, make_leads):
    leads = one_of_each(partner, make_leads)
    partner.daily_push_cap = 1
    partner.save()

    plan = plan_pushes(partner=partner, leads=selection(leads), budget=1)
    push_leads(partner=partner, leads=selection(leads))

    assert {skip.lead_id: skip.reason for skip in plan.skips} == skips_by_lead()
    assert plan.to_push == list(Push.objects.filter(job=None, state=PushState.ACCEPTED)
                                .exclude(lead=leads["already_pushed"])
                                .values_list("lead_id", flat=True))  # fmt: skip


def test_outside_working_hours_each_lead_is_recorded_as_waiting_for_the_window(
    partner, sandbox, make_leads
):
    leads = one_of_each(partner, make_leads)
    now = timezone.localtime()
    partner.working_hours_start = (now + timedelta(hours=1)).time()
    partner.working_hours_end = (now + timedelta(hours=2)).time()
    partner.save()

    with pytest.raises(PartnerUnavailable, match="不在工作时段"):
        push_leads(partner=partner, leads=selection(leads))

    assert sandbox.calls(PUSH_PATH) == 0
    assert set(skips_by_lead().values()) == {SkipReason.OUTSIDE_WORKING_HOURS}
    assert PushSkip.objects.count() == len(leads)


@pytest.mark.django_db(transaction=True)  # a job's task is enqueued on commit
def test_a_job_records_its_skips_once_and_its_counts_add_up(partner, sandbox, make_leads):
    leads = one_of_each(partner, make_leads)
    ids = [lead.pk for lead in leads.values()]

    job = run_job_to_end(create_job(kind=JobKind.PUSH, partner=partner, lead_ids=ids))

    expected = {
        lead.pk: key
        for key, lead in leads.items()
        if key not in ("pushable", "over_daily_cap")  # no cap set: both go out
    }
    assert skips_by_lead(job=job) == expected
    assert job.accepted == 2 and job.skipped == len(expected)
    assert Push.objects.filter(job=job).count() + PushSkip.objects.filter(job=job).count() == len(
        ids
    )
    # A chunk done again (as after a worker's death) records its skips once.
    for chunk in job.chunks.all():
        JobChunk.objects.filter(pk=chunk.pk).update(state=ChunkState.RUNNING, lease_owner="again")
        push_job_chunk(
            job=job,
            chunk=chunk,
            worker_id="again",
            final_attempt=False,
            before_request=lambda: True,
        )
    assert PushSkip.objects.filter(job=job).count() == len(expected)


def test_a_skip_is_on_the_leads_timeline(partner, sandbox, make_leads):
    leads = one_of_each(partner, make_leads)
    push_leads(partner=partner, leads=selection(leads))

    events = lead_timeline(leads["incomplete"])

    skipped = [event for event in events if event.kind == "未推送"]
    assert len(skipped) == 1
    assert skipped[0].outcome == "资料不全" and "缺少：学历、芝麻分" in skipped[0].detail
    assert skipped[0].partner == str(partner) and not skipped[0].good


def test_the_skips_list_filters_by_reason_finds_a_phone_and_exports_masked(
    partner, sandbox, make_leads
):
    from urllib.parse import unquote

    from django.test import Client
    from django.urls import reverse

    from leads.models import ExportKind, ExportRecord
    from tests.browser import operator_user
    from tests.conftest import log_in_verified
    from tests.import_files import read_xlsx

    leads = one_of_each(partner, make_leads)
    push_leads(partner=partner, leads=selection(leads))
    operator = log_in_verified(Client(), operator_user())
    skips = reverse("admin:pushes_pushskip_changelist")

    incomplete = operator.get(skips, {"reason__exact": "incomplete"})
    assert incomplete.status_code == 200 and incomplete.context["cl"].result_count == 1
    page = incomplete.content.decode()
    assert "资料不全" in page and "缺少：学历、芝麻分" in page
    assert leads["incomplete"].phone not in page  # masked for an operator
    found = operator.get(skips, {"q": leads["not_checked"].phone})
    assert [row.reason for row in found.context["cl"].result_list] == [SkipReason.NOT_CHECKED]

    response = operator.post(
        reverse("admin:pushes_pushskip_export") + "?reason__exact=incomplete",
        {"file_format": "xlsx"},
    )
    assert response.status_code == 200
    assert "未推送及原因-" in unquote(response["Content-Disposition"])
    header, row = read_xlsx(response.content)
    assert header[:7] == ["时间", "线索ID", "姓名", "手机号", "合作平台", "原因", "说明"]
    assert row[1] == leads["incomplete"].pk and row[5:7] == ["资料不全", "缺少：学历、芝麻分"]
    assert "*" in row[3] and row[3] != leads["incomplete"].phone
    record = ExportRecord.objects.get()
    assert (record.kind, record.row_count, record.unmasked) == (ExportKind.PUSH_SKIPS, 1, False)
