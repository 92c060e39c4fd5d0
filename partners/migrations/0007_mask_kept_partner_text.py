# Text a partner wrote that was kept outside the audit log before partners.calls masked it: the
# partner's last error (circuit breaker), a job's and its chunks' last error and pause reason, a
# check result's failure message. Masked once here (phones, ID numbers, hash-like tokens), as
# every new one is when it is written.

from django.db import migrations

from core.masking import mask_text

BATCH = 1000
COLUMNS = {
    "partners_partner": ["last_error"],
    "jobs_job": ["last_error", "pause_reason"],
    "jobs_jobchunk": ["last_error"],
    "collision_collisionresult": ["message"],
}


def mask_kept_text(apps, schema_editor):
    connection = schema_editor.connection
    quote = connection.ops.quote_name
    with connection.cursor() as cursor:
        for table, columns in COLUMNS.items():
            for column in map(quote, columns):
                select = (
                    f"SELECT id, {column} FROM {quote(table)} "  # noqa: S608
                    f"WHERE id > %s AND {column} <> '' ORDER BY id LIMIT {BATCH}"
                )
                update = f"UPDATE {quote(table)} SET {column} = %s WHERE id = %s"  # noqa: S608
                last_id = 0
                while True:
                    cursor.execute(select, [last_id])
                    rows = cursor.fetchall()
                    if not rows:
                        break
                    changed = []
                    for pk, text in rows:
                        if (masked := mask_text(text)) != text:
                            changed.append((masked, pk))
                    if changed:
                        cursor.executemany(update, changed)
                    last_id = rows[-1][0]


class Migration(migrations.Migration):
    dependencies = [
        ("collision", "0001_initial"),
        ("jobs", "0001_initial"),
        ("partners", "0006_audit_append_only_trigger"),
    ]

    operations = [migrations.RunPython(mask_kept_text, migrations.RunPython.noop)]
