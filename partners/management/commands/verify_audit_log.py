from django.core.management.base import BaseCommand, CommandError

from partners.models import verify_audit_chain


class Command(BaseCommand):
    help = (
        "Walk the audit log's hash chain in insertion order (streaming) and report the first "
        "broken link, with a non-zero exit; or 'intact, N rows' and the last row's hash (note it "
        "elsewhere: rows removed from the end leave no broken link)."
    )

    def handle(self, *args, **options):
        check = verify_audit_chain()
        if check.broken:
            raise CommandError(f"{check.broken} ({check.rows} row(s) before it verify)")
        last = f"; last row #{check.last_id}, chain_hash {check.last_hash}" if check.rows else ""
        self.stdout.write(f"intact, {check.rows} rows{last}")
