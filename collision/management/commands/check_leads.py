from django.core.management.base import BaseCommand, CommandError

from collision.services import check_leads
from jobs.models import JobKind
from leads.management.lead_selection import (
    add_selection_arguments,
    is_big,
    run_as_job,
    selected_leads,
    selected_partner,
)
from partners.calls import PartnerUnavailable


class Command(BaseCommand):
    help = "Run a collision check (撞库) of leads against a partner (big selections become a job)."

    def add_arguments(self, parser):
        add_selection_arguments(parser)

    def handle(self, *args, partner, all, ids, wait, **options):
        partner = selected_partner(partner)
        leads = selected_leads(all=all, ids=ids)
        self.stdout.write(
            f"checking {leads.count()} lead(s) against {partner.name} ({partner.environment}: {partner.base_url})"
        )
        try:
            if is_big(leads):
                job = run_as_job(self, kind=JobKind.CHECK, partner=partner, leads=leads, wait=wait)
                if job.is_final:
                    self.stdout.write(
                        f"checked={job.processed - job.errors} marketable={job.marketable} failed={job.errors}"
                    )
                return
            summary = check_leads(partner=partner, leads=leads)
        except PartnerUnavailable as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(
            f"checked={summary.checked} marketable={summary.marketable} failed={summary.failed}"
            f" skipped={summary.skipped} requests={summary.requests}"
        )
        for error in summary.errors:
            self.stderr.write(f"partner error: {error}")
