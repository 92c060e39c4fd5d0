# What a partner answered about a person (its message, the H5 link) is sealed at rest like the
# lead's own fields. The columns become Fernet tokens; existing rows are encrypted in place.

from django.db import migrations

import core.crypto
from core.crypto import DecryptionError, decrypt, encrypt

BATCH = 1000
COLUMNS = ("message", "app_download_url")


def _rewrite(schema_editor, convert) -> None:
    connection = schema_editor.connection
    quote = connection.ops.quote_name
    table = quote("pushes_push")
    select = (
        f"SELECT id, {', '.join(quote(c) for c in COLUMNS)} FROM {table} "  # noqa: S608
        f"WHERE id > %s ORDER BY id LIMIT {BATCH}"
    )
    update = f"UPDATE {table} SET {', '.join(f'{quote(c)} = %s' for c in COLUMNS)} WHERE id = %s"  # noqa: S608
    last_id = 0
    with connection.cursor() as cursor:
        while True:
            cursor.execute(select, [last_id])
            rows = cursor.fetchall()
            if not rows:
                return
            changes = [
                ([convert(value) if value else value for value in values], pk)
                for pk, *values in rows
            ]
            cursor.executemany(update, [[*values, pk] for values, pk in changes])
            last_id = rows[-1][0]


def _seal(value: str) -> str:
    try:
        decrypt(value)
    except DecryptionError:
        return encrypt(value)
    return value  # sealed already


def seal(apps, schema_editor):
    _rewrite(schema_editor, _seal)


def unseal(apps, schema_editor):
    _rewrite(schema_editor, decrypt)


class Migration(migrations.Migration):
    dependencies = [("pushes", "0002_app_download_url_2048")]

    operations = [
        migrations.AlterField(
            model_name="push",
            name="message",
            field=core.crypto.EncryptedTextField(
                blank=True, default="", verbose_name="平台返回信息"
            ),
        ),
        migrations.AlterField(
            model_name="push",
            name="app_download_url",
            field=core.crypto.EncryptedTextField(blank=True, default="", verbose_name="H5 地址"),
        ),
        migrations.RunPython(seal, unseal),
    ]
