from pathlib import Path

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from leads.imports import rejected, services
from leads.models import ImportState, OnDuplicate


class Command(BaseCommand):
    help = (
        "Import a lead list (.xlsx, .xls or .csv) through the same steps as the admin: analyse, "
        "print the preview (personal data masked), then import all valid rows in one transaction."
    )

    def add_arguments(self, parser):
        parser.add_argument("file", type=Path)
        parser.add_argument(
            "--source", default="", help="source (channel) of new leads; default: the file name"
        )
        parser.add_argument("--on-duplicate", choices=OnDuplicate.values, default=OnDuplicate.SKIP)
        parser.add_argument("--dry-run", action="store_true", help="preview only, import nothing")
        parser.add_argument("--user", help="username recorded as uploader")
        parser.add_argument(
            "--rejected-out", type=Path, help="write the rejected rows (.xlsx) here"
        )

    def handle(self, *args, file, source, on_duplicate, dry_run, user, rejected_out, **options):
        if not file.is_file():
            raise CommandError(f"no such file: {file}")
        actor = self._user(user)
        batch = services.import_batch_create(
            file_name=file.name,
            data=file.read_bytes(),
            actor=actor,
            source=source,
            on_duplicate=on_duplicate,
        )
        services.import_batch_analyse(batch.pk)
        batch.refresh_from_db()
        if batch.state == ImportState.FAILED:
            raise CommandError(f"batch #{batch.pk}: {batch.error}")
        self._preview(batch)
        if rejected_out and batch.rows_rejected:
            rejected_out.write_bytes(rejected.rejected_rows_file(batch, actor=actor, channel="cli"))
            self.stdout.write(f"rejected rows written to {rejected_out}")
        if dry_run:
            services.import_batch_cancel(batch)
            self.stdout.write("dry run: nothing imported (batch cancelled, its data dropped)")
            return
        services.import_batch_confirm(batch, actor=actor)
        batch.refresh_from_db()
        if batch.state == ImportState.QUEUED:
            self.stdout.write(
                f"batch #{batch.pk} queued for the background worker (manage.py db_worker)"
            )
            return
        if batch.state != ImportState.DONE:
            raise CommandError(f"batch #{batch.pk}: {batch.error or batch.get_state_display()}")
        self.stdout.write(
            self.style.SUCCESS(
                f"batch #{batch.pk} imported: {batch.leads_created} created, {batch.leads_updated} updated, "
                f"{batch.leads_skipped} skipped, {batch.rows_rejected} rejected"
            )
        )

    def _user(self, username):
        if not username:
            return None
        try:
            return get_user_model().objects.get(username=username)
        except get_user_model().DoesNotExist:
            raise CommandError(f"no user {username!r}") from None

    def _preview(self, batch):
        self.stdout.write(
            f"batch #{batch.pk} {batch.file_name}: {batch.rows_total} rows, {batch.rows_new} new, "
            f"{batch.rows_update} update, {batch.rows_duplicate} duplicate "
            f"({batch.rows_duplicate_in_file} in file, {batch.rows_existing} already leads), "
            f"{batch.rows_invalid} invalid"
        )
        if batch.unknown_columns:
            self.stdout.write("unknown columns (not imported): " + ", ".join(batch.unknown_columns))
        for cell in rejected.rejected_preview(batch, reveal=False, limit=50):
            self.stdout.write(f"  row {cell.row} · {cell.column} · {cell.value} · {cell.reason}")
