from django.core.management.base import BaseCommand, CommandError

from leads.selection import add_selection_arguments, selected_leads, selected_partner
from pushes.services import push_leads


class Command(BaseCommand):
    help = "Push (推送) the marketable leads among the selection to a partner."

    def add_arguments(self, parser):
        add_selection_arguments(parser)

    def handle(self, *args, partner, all, ids, **options):
        partner = selected_partner(partner)
        leads = selected_leads(all=all, ids=ids)
        self.stdout.write(f"pushing to {partner.name} ({partner.environment}: {partner.push_url})")
        try:
            summary = push_leads(partner=partner, leads=leads)
        except ValueError as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(
            f"selected={summary.selected} accepted={summary.accepted} rejected={summary.rejected} "
            f"unknown={summary.unknown} failed={summary.failed} already_pushed={summary.already_pushed} "
            f"not_marketable={summary.not_marketable} incomplete={summary.incomplete}"
        )
        for error in summary.errors:
            self.stderr.write(f"partner message: {error}")
