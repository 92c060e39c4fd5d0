"""How the command-line twins of the admin actions pick leads and a partner, and run big
selections as jobs."""

import time

from django.conf import settings
from django.core.management.base import CommandError

from jobs.models import Job
from jobs.runner import run_job
from jobs.services import create_job, requeue_due_jobs
from leads.models import Lead
from partners.models import Partner


def add_selection_arguments(parser) -> None:
    parser.add_argument("--partner", required=True, metavar="SLUG")
    which = parser.add_mutually_exclusive_group(required=True)
    which.add_argument("--all", action="store_true", help="every lead")
    which.add_argument("--ids", nargs="+", type=int, metavar="ID", help="these lead ids")
    parser.add_argument(
        "--wait",
        action="store_true",
        help=f"for more than {settings.JOB_INLINE_LIMIT} leads: run the job in this process and wait for it",
    )


def selected_partner(slug: str) -> Partner:
    try:
        partner = Partner.objects.get(slug=slug)
    except Partner.DoesNotExist:
        known = ", ".join(Partner.objects.values_list("slug", flat=True)) or "none"
        raise CommandError(f"no partner {slug!r} (known: {known})") from None
    if not partner.is_active:
        raise CommandError(f"partner {slug!r} is not active")
    return partner


def selected_leads(*, all: bool, ids: list[int] | None):
    if all:
        return Lead.objects.order_by("pk")
    leads = Lead.objects.filter(pk__in=ids).order_by("pk")
    missing = sorted(set(ids) - set(leads.values_list("pk", flat=True)))
    if missing:
        raise CommandError(f"no lead with id {', '.join(map(str, missing))}")
    return leads


def is_big(leads) -> bool:
    return leads.count() > settings.JOB_INLINE_LIMIT


def run_as_job(command, *, kind: str, partner: Partner, leads, wait: bool) -> Job:
    """Queue a job for a worker, or with ``wait`` run it here until it ends (pauses included)."""
    job = create_job(kind=kind, partner=partner, lead_ids=leads, description="CLI")
    command.stdout.write(
        f"job #{job.pk} queued: {job.total} leads in {job.chunks.count()} chunk(s)"
    )
    if not wait:
        command.stdout.write("a worker runs it (make run starts one; or: manage.py run_worker)")
        return job
    while True:
        run_job(job.pk)
        job.refresh_from_db()
        command.stdout.write(f"job #{job.pk} {job.state}: {job.processed}/{job.total}")
        if job.is_final:
            return job
        if job.pause_reason:
            command.stdout.write(f"  paused: {job.pause_reason}")
        time.sleep(1)
        requeue_due_jobs()
