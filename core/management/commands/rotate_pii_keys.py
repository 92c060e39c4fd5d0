from django.core.management.base import BaseCommand
from django.db import connection, transaction

from core.crypto import EncryptedTextField, reencrypt
from leads.models import Lead
from partners.models import Partner

BATCH = 1000


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
        for model in (Lead, Partner):
            count = rotate_table(model)
            self.stdout.write(f"{model._meta.label}: re-encrypted {count} row(s)")
        if reindex:
            for lead in Lead.objects.iterator(chunk_size=BATCH):
                lead.refresh_indexes()
                Lead.objects.filter(pk=lead.pk).update(
                    phone_index=lead.phone_index, id_number_index=lead.id_number_index
                )
            self.stdout.write("leads: blind indexes rebuilt")


def rotate_table(model) -> int:
    """Re-encrypt the raw tokens in place, batch by batch. A token no key opens stops it loudly
    (and rolls back the whole table): nothing is ever re-encrypted from a wrong plaintext."""
    quote = connection.ops.quote_name
    table = quote(model._meta.db_table)
    columns = [
        quote(f.column) for f in model._meta.concrete_fields if isinstance(f, EncryptedTextField)
    ]
    select = f"SELECT id, {', '.join(columns)} FROM {table} WHERE id > %s ORDER BY id LIMIT {BATCH}"  # noqa: S608
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
