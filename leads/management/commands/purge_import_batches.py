from django.core.management.base import BaseCommand

from leads.imports.services import import_batches_purge


class Command(BaseCommand):
    help = (
        "Drop import data kept past LEAD_IMPORT_RETENTION_DAYS: rejected rows of finished batches "
        "and previews nobody confirmed. Run daily (uploads also trigger it)."
    )

    def handle(self, *args, **options):
        self.stdout.write(f"purged {import_batches_purge()} batch(es)")
