from django.apps import apps
from django.core.management.base import BaseCommand
from django.db import connection, transaction

from core.crypto import EncryptedTextField, reencrypt
from leads.models import ImportChunk, Lead

BATCH = 1000
# Fernet tokens kept as bytes (an upload waiting for its analysis), and tables whose rows are
# big (a chunk holds 1 MiB of a file or 10,000 analysed rows): read them a few at a time.
SEALED_BYTES = {ImportChunk: ["data"]}
ROWS_PER_READ = {ImportChunk: 4}


class Command(BaseCommand):
    help = (
        "Re-encrypt every encrypted column under the first key of FIELD_ENCRYPTION_KEYS (after putting "
        "a new key in front), and with --reindex rebuild the blind indexes (after changing BLIND_INDEX_KEY)."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--reindex", action="store_true", help="also rebuild leads' blind indexes"
        )

    def handle(self, *args, reindex, **options):
        for model in apps.get_models():
            columns = [
                field.column
                for field in model._meta.concrete_fields
                if isinstance(field, EncryptedTextField)
                or field.name in SEALED_BYTES.get(model, ())
            ]
            if columns:
                count = rotate_table(model, columns, batch=ROWS_PER_READ.get(model, BATCH))
                self.stdout.write(f"{model._meta.label}: re-encrypted {count} row(s)")
        if reindex:
            for lead in Lead.objects.iterator(chunk_size=BATCH):
                lead.refresh_indexes()
                Lead.objects.filter(pk=lead.pk).update(
                    phone_index=lead.phone_index, id_number_index=lead.id_number_index
                )
            self.stdout.write("leads: blind indexes rebuilt")


def rotate_table(model, columns: list[str], *, batch: int) -> int:
    """Re-encrypt the raw tokens in place, batch by batch. A token no key opens stops it loudly
    (and rolls back the whole table): nothing is ever re-encrypted from a wrong plaintext."""
    quote = connection.ops.quote_name
    table = quote(model._meta.db_table)
    columns = [quote(column) for column in columns]
    select = f"SELECT id, {', '.join(columns)} FROM {table} WHERE id > %s ORDER BY id LIMIT {batch}"  # noqa: S608
    update = f"UPDATE {table} SET {', '.join(f'{c} = %s' for c in columns)} WHERE id = %s"  # noqa: S608
    count, last_id = 0, 0
    with transaction.atomic(), connection.cursor() as cursor:
        while True:
            cursor.execute(select, [last_id])
            rows = cursor.fetchall()
            if not rows:
                return count
            for pk, *tokens in rows:
                cursor.execute(update, [*(reencrypt(t) if t else t for t in tokens), pk])
            count += len(rows)
            last_id = rows[-1][0]
