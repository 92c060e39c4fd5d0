"""Distribution's use cases: start a run of a plan, plan each of its steps, cancel it, and say
where its leads went. Running the steps is ``distribution.runner``'s business.

Every decision is made from the database as it stands (results, pushes, skips), never from what
a process remembers, so a run taken up again after its worker died decides the same.
"""

from collections import defaultdict
from collections.abc import Iterable
from itertools import batched

from django.db import transaction
from django.db.models import Count, Exists, OuterRef, Q, QuerySet, Subquery, Sum
from django.utils import timezone
from django.utils.translation import gettext as _

from collision.models import CheckOutcome, CollisionResult
from core.errors import LeadDeskError, PartnerUnavailable
from distribution import waterfall
from distribution.models import Plan, Run, RunJob, RunLead, RunState
from jobs.models import Job, JobKind
from jobs.services import cancel_job, create_job
from leads.do_not_contact import listed_reason
from leads.models import Lead
from partners.models import Partner
from pushes.models import LIVE_STATES, Push, PushSkip, PushState
from pushes.planning import fresh_since

IDS_AT_ONCE = 10_000


class DistributionRefused(LeadDeskError):
    """A plan that cannot run (inactive, no partner): ``str(error)`` is for the operator."""


def start_run(
    *, plan: Plan, leads: QuerySet[Lead], actor=None, description: str = "", import_batch=None
) -> Run:
    """Record the run and its leads (erased ones left out: nothing to send), then hand it to
    the worker once the transaction commits. The leads are read from a cursor a batch at a
    time, never held whole."""
    if not plan.is_active:
        raise DistributionRefused(_("分发方案 %(name)s 未启用") % {"name": plan.name})
    if not plan.partners.exists():
        raise DistributionRefused(_("分发方案 %(name)s 没有合作平台") % {"name": plan.name})
    with transaction.atomic():
        run = Run.objects.create(
            plan=plan,
            mode=plan.mode,
            description=description[:200],
            created_by=actor if getattr(actor, "is_authenticated", False) else None,
            import_batch=import_batch,
            enqueued_at=timezone.now(),
        )
        ids = (
            leads.not_erased()
            .order_by("pk")
            .values_list("pk", flat=True)
            .distinct()
            .iterator(chunk_size=IDS_AT_ONCE)
        )
        for some in batched(ids, IDS_AT_ONCE, strict=False):
            RunLead.objects.bulk_create(RunLead(run=run, lead_id=pk) for pk in some)
            run.total += len(some)
        Run.objects.filter(pk=run.pk).update(total=run.total)
        schedule(run)
    return run


def schedule(run: Run) -> None:
    from distribution.tasks import run_distribution_task

    transaction.on_commit(lambda: run_distribution_task.enqueue(run.pk))


def run_leads(run: Run) -> QuerySet[Lead]:
    return Lead.objects.filter(pk__in=RunLead.objects.filter(run=run).values("lead"))


def step_jobs(run: Run) -> list[Job]:
    return [
        run_job.job
        for run_job in RunJob.objects.filter(run=run, step=run.step).select_related("job__partner")
    ]


def plan_step(run: Run) -> list[Job]:
    """The current step's jobs, created the first time it is asked (under the run's row lock,
    with the step marked planned in the same transaction: a step is planned once)."""
    with transaction.atomic():
        run = Run.objects.select_for_update().get(pk=run.pk)
        if run.step_planned:
            return step_jobs(run)
        if run.cancel_requested:  # cancel_run set it first: it will not see jobs made now
            return []
        notes = []
        for partner, kind, leads in _step_work(run, notes):
            try:
                job = create_job(
                    kind=kind,
                    partner=partner,
                    lead_ids=leads,
                    actor=run.created_by,
                    description=_("分发任务 #%(run)s：%(step)s")
                    % {"run": run.pk, "step": run.step_label},
                    exclusive=run.is_exclusive and kind == JobKind.PUSH,
                )
            except PartnerUnavailable as exc:
                notes.append(
                    _("%(step)s：%(error)s，未参与") % {"step": run.step_label, "error": exc}
                )
                continue
            if job.total:
                RunJob.objects.create(run=run, job=job, step=run.step)
            else:
                job.delete()  # nothing for this partner in this step
        Run.objects.filter(pk=run.pk).update(step_planned=True, notes=[*run.notes, *notes])
        return step_jobs(run)


def advance(run: Run) -> None:
    Run.objects.filter(pk=run.pk, step=run.step).update(step=run.step + 1, step_planned=False)


def _step_work(run: Run, notes: list[str]) -> Iterable[tuple[Partner, str, QuerySet | list]]:
    partners = list(run.plan.partners.filter(is_active=True).order_by("name"))
    if run.step == 0:
        for partner in partners:
            yield partner, JobKind.CHECK, _needing_check(run, partner)
        return
    takers = []
    for partner in partners:
        if partner.is_paused:  # the waterfall goes on to the next partner, and says so
            notes.append(
                _("%(step)s：%(name)s 已暂停，未参与")
                % {"step": run.step_label, "name": partner.name}
            )
        elif partner.receives_pushes:
            takers.append(partner)
    if not run.is_exclusive:
        for partner in takers:
            if partner.exclusive_only:
                notes.append(
                    _("%(name)s 只买独家线索，多家分发不推送给它") % {"name": partner.name}
                )
                continue
            yield partner, JobKind.PUSH, run_leads(run)
        return
    for partner, lead_ids in exclusive_round(run, takers).items():
        yield partner, JobKind.PUSH, lead_ids


def _needing_check(run: Run, partner: Partner) -> QuerySet[Lead]:
    """The run's leads whose newest check with ``partner`` is missing, failed or stale."""
    newest = CollisionResult.objects.filter(lead=OuterRef("pk"), partner=partner).order_by(
        "-checked_at", "-id"
    )
    leads = (
        run_leads(run)
        .not_erased()
        .annotate(
            newest_outcome=Subquery(newest.values("outcome")[:1]),
            newest_at=Subquery(newest.values("checked_at")[:1]),
        )
    )
    needing = Q(newest_outcome__isnull=True) | ~Q(newest_outcome=CheckOutcome.ANSWERED)
    if since := fresh_since(partner):
        needing |= Q(newest_at__lt=since)
    return leads.filter(needing)


def exclusive_round(run: Run, partners: list[Partner]) -> dict[Partner, list[int]]:
    """Each lead not placed yet (no live push at any partner: none accepted, none on its way,
    none unknown) to the best partner whose fresh check says it is marketable and that this run
    has not offered it to yet (pushed, refused, or skipped there)."""
    open_leads = (
        run_leads(run)
        .not_erased()
        .exclude(Exists(Push.objects.filter(lead=OuterRef("pk"), state__in=LIVE_STATES)))
        .annotate(do_not_contact=listed_reason())
        .filter(do_not_contact__isnull=True)
    )
    offered = _offered(run)
    terms = {partner.pk: waterfall.Terms.of(partner) for partner in partners}
    candidates: dict[int, list[waterfall.Terms]] = defaultdict(list)
    for partner in partners:
        newest = CollisionResult.objects.filter(lead=OuterRef("pk"), partner=partner).order_by(
            "-checked_at", "-id"
        )
        marketable = open_leads.annotate(
            newest_marketable=Subquery(newest.values("is_marketable")[:1]),
            newest_at=Subquery(newest.values("checked_at")[:1]),
        ).filter(newest_marketable=True)
        if since := fresh_since(partner):
            marketable = marketable.filter(newest_at__gte=since)
        for lead_id in marketable.values_list("pk", flat=True).iterator(chunk_size=IDS_AT_ONCE):
            if (lead_id, partner.pk) not in offered:
                candidates[lead_id].append(terms[partner.pk])
    by_id = {partner.pk: partner for partner in partners}
    assigned: dict[Partner, list[int]] = defaultdict(list)
    for lead_id, their_terms in candidates.items():
        assigned[by_id[waterfall.best(lead_id, their_terms).partner_id]].append(lead_id)
    return assigned


def _offered(run: Run) -> set[tuple[int, int]]:
    """(lead, partner) pairs this run's push jobs have had: pushed or skipped."""
    jobs = RunJob.objects.filter(run=run, step__gte=1).values("job")
    pushed = Push.objects.filter(job__in=jobs).values_list("lead_id", "partner_id")
    skipped = PushSkip.objects.filter(job__in=jobs).values_list("lead_id", "partner_id")
    return {*pushed.iterator(chunk_size=IDS_AT_ONCE), *skipped.iterator(chunk_size=IDS_AT_ONCE)}


def cancel_run(run: Run) -> None:
    """A waiting or queued run stops at once; a running one when its runner next looks. Its
    jobs are cancelled the way jobs are (a running one at its next request)."""
    Run.objects.filter(pk=run.pk).update(cancel_requested=True)
    for run_job in RunJob.objects.filter(run=run).select_related("job"):
        if not run_job.job.is_final:
            cancel_job(run_job.job)
    Run.objects.filter(pk=run.pk, state__in=[RunState.QUEUED, RunState.WAITING]).update(
        state=RunState.CANCELLED, finished_at=timezone.now()
    )


# -- where the leads went ---------------------------------------------------------------------


def run_pushes(run: Run) -> QuerySet[Push]:
    return Push.objects.filter(job__in=RunJob.objects.filter(run=run).values("job"))


def placement(run: Run) -> dict:
    """The run's outcome per lead, counted: sold (accepted) per partner with the amount owed,
    held (a push still live but not accepted: on its way, or unknown until reconciled), and
    not placed. In an exclusive run a lead counts once; in a multi run ``sold_leads`` counts
    leads sold at least once and the partners' rows count each sale."""
    pushes = run_pushes(run)
    per_partner = list(
        pushes.filter(state=PushState.ACCEPTED)
        .values("partner_id", "partner__name")
        .annotate(count=Count("pk"), amount=Sum("price"))
        .order_by("partner__name")
    )
    sold = run_leads(run).filter(Exists(sold_in(run))).count()
    held = run_leads(run).filter(Exists(held_in(run))).exclude(Exists(sold_in(run))).count()
    return {
        "per_partner": per_partner,
        "sold_leads": sold,
        "held_leads": held,
        "unplaced_leads": run.total - sold - held,
        "amount": sum((row["amount"] or 0) for row in per_partner),
    }


def sold_in(run: Run, partner_id: int | None = None) -> QuerySet[Push]:
    """For ``Exists``: the lead (OuterRef pk) was accepted by a push of this run."""
    pushes = run_pushes(run).filter(lead=OuterRef("pk"), state=PushState.ACCEPTED)
    return pushes.filter(partner_id=partner_id) if partner_id else pushes


def held_in(run: Run) -> QuerySet[Push]:
    return run_pushes(run).filter(
        lead=OuterRef("pk"),
        state__in=[PushState.PENDING, PushState.SENDING, PushState.UNKNOWN],
    )


def run_plans_on_import(batch) -> list[Run]:
    """The plans marked to run on every import, over the batch's leads, started by whoever
    confirmed the import."""
    runs = []
    for plan in Plan.objects.filter(is_active=True, run_on_import=True):
        try:
            runs.append(
                start_run(
                    plan=plan,
                    leads=Lead.objects.filter(import_batch=batch),
                    actor=batch.confirmed_by,
                    description=_("导入批次 #%(batch)s 导入完成后自动分发") % {"batch": batch.pk},
                    import_batch=batch,
                )
            )
        except DistributionRefused:
            continue  # a plan without partners: nothing to run
    return runs
