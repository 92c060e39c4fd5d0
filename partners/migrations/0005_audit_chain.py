# The audit log becomes append-only and tamper-evident: the actor's name is kept beside a foreign
# key that deleting a user no longer rewrites, and each row is chained by hash to the one before.
# Existing rows are settled once, here, before 0006 makes the table refuse every UPDATE: what a
# partner wrote in them is masked (as partners.calls now masks it before writing), the actor's
# name is copied, and the rows are chained in id order.

import django.db.models.deletion
import django.utils.timezone
from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import migrations, models

from core.masking import mask_document, mask_text
from partners.models import GENESIS_HASH, chain_values, link_hash

BATCH = 1000


def _known_values(apps) -> dict:
    """Audit row id → the values of the lead a push's latest call was about (its name cannot be
    recognised in a partner's text otherwise)."""
    Push = apps.get_model("pushes", "Push")
    Lead = apps.get_model("leads", "Lead")
    lead_of = dict(
        Push.objects.filter(audit_entry__isnull=False).values_list("audit_entry_id", "lead_id")
    )
    values = {}
    for lead in Lead.objects.filter(pk__in=set(lead_of.values())).iterator(chunk_size=BATCH):
        pii = lead.pii
        values[lead.pk] = {
            "names": [pii.get("name", ""), pii.get("emergency_contact_name", "")],
            "phones": [pii.get("phone", ""), pii.get("emergency_contact_phone", "")],
            "id_numbers": [pii.get("id_number", "")],
        }
    return {entry: values[lead] for entry, lead in lead_of.items() if lead in values}


def settle_existing_rows(apps, schema_editor):
    AuditLogEntry = apps.get_model("partners", "AuditLogEntry")
    User = apps.get_model(*settings.AUTH_USER_MODEL.split("."))
    known = _known_values(apps)
    username_field = get_user_model().USERNAME_FIELD  # not on the historical model
    usernames = dict(User.objects.values_list("pk", username_field))
    previous, last_id = GENESIS_HASH, 0
    while True:
        rows = list(AuditLogEntry.objects.filter(id__gt=last_id).order_by("id")[:BATCH])
        if not rows:
            return
        for row in rows:
            person = known.get(row.id, {})

            def mask(text, person=person):
                return mask_text(text, **person)

            row.response_body = mask_document(row.response_body, mask) if row.response_body else ""
            row.error = mask(row.error)
            row.actor_username = usernames.get(row.actor_id, "") if row.actor_id else ""
            row.chain_hash = previous = link_hash(previous, chain_values(row))
        AuditLogEntry.objects.bulk_update(
            rows, ["response_body", "error", "actor_username", "chain_hash"]
        )
        last_id = rows[-1].id


class Migration(migrations.Migration):
    dependencies = [
        ("jobs", "0001_initial"),
        ("leads", "0001_initial"),
        ("partners", "0004_secret_key_changed_at"),
        ("pushes", "0002_app_download_url_2048"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AddField(
            model_name="auditlogentry",
            name="actor_username",
            field=models.CharField(
                blank=True, default="", editable=False, max_length=150, verbose_name="操作人用户名"
            ),
        ),
        migrations.AddField(
            model_name="auditlogentry",
            name="chain_hash",
            field=models.CharField(
                default="", editable=False, max_length=64, verbose_name="链式哈希"
            ),
            preserve_default=False,
        ),
        migrations.AlterField(
            model_name="auditlogentry",
            name="actor",
            field=models.ForeignKey(
                blank=True,
                db_constraint=False,
                null=True,
                on_delete=django.db.models.deletion.DO_NOTHING,
                related_name="+",
                to=settings.AUTH_USER_MODEL,
                verbose_name="操作人",
            ),
        ),
        migrations.AlterField(
            model_name="auditlogentry",
            name="job",
            field=models.ForeignKey(
                blank=True,
                db_constraint=False,
                null=True,
                on_delete=django.db.models.deletion.DO_NOTHING,
                related_name="audit_entries",
                to="jobs.job",
                verbose_name="任务",
            ),
        ),
        migrations.AlterField(
            model_name="auditlogentry",
            name="created_at",
            field=models.DateTimeField(
                db_index=True, default=django.utils.timezone.now, verbose_name="时间"
            ),
        ),
        migrations.AlterField(
            model_name="auditlogentry",
            name="error",
            field=models.TextField(blank=True, default="", verbose_name="错误（打码）"),
        ),
        migrations.AlterField(
            model_name="auditlogentry",
            name="response_body",
            field=models.TextField(blank=True, default="", verbose_name="应答体（打码）"),
        ),
        migrations.RunPython(settle_existing_rows, migrations.RunPython.noop),
    ]
