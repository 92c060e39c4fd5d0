"""The triggers that keep the daily counts (reporting.counts), and the counts of the rows
already there. The code is imported, not copied: the triggers must match the rows as they are
counted now (``manage.py rebuild_dashboard_counts`` installs the current version). The current
code writes DailyCount.amount, which 0003 adds: on a new database 0003 installs them."""

from django.db import migrations


def install(apps, schema_editor):
    """Nothing now: 0003 installs the triggers of today's code and counts the rows."""


def uninstall(apps, schema_editor):
    from reporting import counts

    counts.uninstall(schema_editor.connection)


class Migration(migrations.Migration):
    dependencies = [
        ("reporting", "0001_daily_counts"),
        ("leads", "0009_import_chunk_verbose_name"),
        ("collision", "0002_export_permission"),
        ("pushes", "0006_push_skips"),
        ("partners", "0010_call_refusal_rules_and_connection_test"),
    ]

    operations = [migrations.RunPython(install, uninstall)]
