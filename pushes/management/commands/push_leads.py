from django.core.management.base import BaseCommand, CommandError

from jobs.models import JobKind
from leads.management.lead_selection import (
    add_selection_arguments,
    is_big,
    run_as_job,
    selected_leads,
    selected_partner,
)
from partners.calls import PartnerUnavailable
from pushes.services import ensure_pushable, push_leads


class Command(BaseCommand):
    help = "Push (推送) the marketable leads among the selection to a partner (big selections become a job)."

    def add_arguments(self, parser):
        add_selection_arguments(parser)

    def handle(self, *args, partner, all, ids, wait, **options):
        partner = selected_partner(partner)
        leads = selected_leads(all=all, ids=ids)
        self.stdout.write(f"pushing to {partner.name} ({partner.environment}: {partner.push_url})")
        try:
            if is_big(leads):
                ensure_pushable(partner)
                job = run_as_job(self, kind=JobKind.PUSH, partner=partner, leads=leads, wait=wait)
                if job.is_final:
                    self.stdout.write(
                        f"accepted={job.accepted} rejected={job.rejected} unknown={job.unknown} "
                        f"failed={job.failed} skipped={job.skipped}"
                    )
                return
            summary = push_leads(partner=partner, leads=leads)
        except PartnerUnavailable as exc:
            raise CommandError(str(exc)) from None
        skipped = " ".join(f"{reason}={count}" for reason, count in summary.skipped.items())
        self.stdout.write(
            f"selected={summary.selected} accepted={summary.accepted} rejected={summary.rejected} "
            f"unknown={summary.unknown} failed={summary.failed} {skipped}".rstrip()
        )
        for error in summary.errors:
            self.stderr.write(f"partner message: {error}")
