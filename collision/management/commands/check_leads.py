from django.core.management.base import BaseCommand

from collision.services import check_leads
from leads.selection import add_selection_arguments, selected_leads, selected_partner


class Command(BaseCommand):
    help = "Run a collision check (撞库) of leads against a partner."

    def add_arguments(self, parser):
        add_selection_arguments(parser)

    def handle(self, *args, partner, all, ids, **options):
        partner = selected_partner(partner)
        leads = selected_leads(all=all, ids=ids)
        self.stdout.write(
            f"checking {leads.count()} lead(s) against {partner.name} ({partner.environment}: {partner.base_url})"
        )
        summary = check_leads(partner=partner, leads=leads)
        self.stdout.write(
            f"checked={summary.checked} marketable={summary.marketable} failed={summary.failed} requests={summary.requests}"
        )
        for error in summary.errors:
            self.stderr.write(f"partner error: {error}")
