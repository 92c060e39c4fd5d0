"""A job is created from its selection's query: the ids are read and written as chunk rows a
batch at a time, never held whole in the web process, and the chunks hold every selected lead
exactly once."""

import tracemalloc

import pytest
from django.urls import reverse

from jobs.models import Job, JobChunk, JobKind
from jobs.services import create_job
from leads.models import Lead
from tests.conftest import log_in_verified

LIST = reverse("admin:leads_lead_changelist")


def _leads(count: int, source: str = "bulk") -> None:
    first = Lead.objects.count()
    Lead.objects.bulk_create(
        [
            Lead(pii={}, source=source, phone_index=f"p{n}", id_number_index=f"i{n}")
            for n in range(first, first + count)
        ],
        batch_size=5000,
    )


def _chunked_ids(job: Job) -> list[int]:
    ids = []
    for lead_ids in job.chunks.order_by("number").values_list("lead_ids", flat=True):
        ids += lead_ids
    return ids


def _peak_of_creating(partner, leads) -> int:
    tracemalloc.start()
    try:
        create_job(kind=JobKind.CHECK, partner=partner, lead_ids=leads)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return peak


def test_a_job_is_created_in_memory_flat_in_the_size_of_its_selection(partner, settings):
    settings.JOB_CHECK_CHUNK_SIZE = 1000  # as in production
    _leads(20_000, source="small")
    _peak_of_creating(partner, Lead.objects.filter(source="small"))  # modules, compiled SQL
    small = _peak_of_creating(partner, Lead.objects.filter(source="small"))
    _leads(100_000, source="large")
    large = _peak_of_creating(partner, Lead.objects.filter(source="large"))

    assert large < 1.3 * small, (small, large)
    # A list of the ids would take at least a pointer and an int object (8 + 28 bytes) each.
    assert large < 100_000 * 36, large
    job = Job.objects.latest("pk")
    held = Lead.objects.filter(source="large").order_by("pk").values_list("pk", flat=True)
    assert _chunked_ids(job) == list(held) and job.total == 100_000
    assert job.chunks.count() == 100 and {len(ids) for ids in _sizes(job)} == {1000}


def _sizes(job: Job):
    return job.chunks.values_list("lead_ids", flat=True)


def test_the_chunks_hold_each_selected_lead_once_also_from_a_joined_selection(partner, make_leads):
    leads = make_leads(25)
    # A selection joined to a many-valued relation repeats a lead once per related row.
    from collision.models import CheckOutcome, CollisionResult

    for lead in leads[:5]:
        for _ in range(3):
            CollisionResult.objects.create(
                lead=lead, partner=partner, outcome=CheckOutcome.CALL_FAILED
            )
    joined = Lead.objects.filter(collision_results__partner=partner)
    assert joined.count() == 15

    job = create_job(kind=JobKind.PUSH, partner=partner, lead_ids=joined)

    assert _chunked_ids(job) == sorted(lead.pk for lead in leads[:5]) and job.total == 5
    everyone = create_job(kind=JobKind.CHECK, partner=partner, lead_ids=Lead.objects.all())
    assert _chunked_ids(everyone) == sorted(lead.pk for lead in leads) and everyone.total == 25
    assert [c.number for c in everyone.chunks.order_by("number")] == [0, 1, 2]  # chunks of 10


@pytest.mark.parametrize("select_across", [True, False])
def test_select_all_on_a_filtered_list_starts_a_job_of_exactly_the_filtered_leads(
    partner, admin_user, client, settings, select_across
):
    settings.JOB_INLINE_LIMIT = 2
    _leads(30, source="wanted")
    _leads(20, source="other")
    wanted = sorted(Lead.objects.filter(source="wanted").values_list("pk", flat=True))
    log_in_verified(client, admin_user)

    response = client.post(
        f"{LIST}?source=wanted",
        {
            "action": "collision_check",
            "apply": "1",
            "partner": partner.pk,
            "select_across": "1" if select_across else "0",
            "_selected_action": wanted[:12],
        },
        follow=True,
    )

    job = Job.objects.get()
    assert response.redirect_chain[-1][0] == reverse("admin:jobs_job_change", args=[job.pk])
    expected = wanted if select_across else wanted[:12]
    assert _chunked_ids(job) == expected and job.total == len(expected)
    assert JobChunk.objects.filter(job=job).count() == -(-len(expected) // 10)
    described = "筛选结果中的全部" if select_across else "选中的"
    assert job.description == f"{described} {len(expected)} 条线索"
    assert f"（{len(expected)} 条线索）" in response.content.decode()
