from django.apps import AppConfig
from django.db import connections
from django.db.models.signals import post_migrate
from django.utils.translation import gettext_lazy as _


class ReportingConfig(AppConfig):
    """The morning view: what was imported, checked and pushed, and who is in trouble. It reads
    every app below it and nothing imports it."""

    name = "reporting"
    verbose_name = _("报表")

    def ready(self):
        post_migrate.connect(
            reinstall_sqlite_triggers, sender=self, dispatch_uid="reporting.sqlite"
        )


def reinstall_sqlite_triggers(*, using, **kwargs) -> None:
    """SQLite drops a table's triggers when a migration remakes the table (adding a column with
    a default does): after every migrate the counts' triggers are put back. Nothing is missed:
    a remake copies the rows into a table without triggers and drops the old one. PostgreSQL
    keeps triggers through ALTER TABLE."""
    from reporting import counts

    conn = connections[using]
    if conn.vendor != "sqlite":
        return
    with conn.cursor() as cursor:
        if counts.COUNTS not in conn.introspection.table_names(cursor):
            return
        columns = {c.name for c in conn.introspection.get_table_description(cursor, counts.COUNTS)}
    if "amount" in columns:  # the counts as the current triggers write them (migration 0003)
        counts.install(conn)
