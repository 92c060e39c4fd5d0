# On PostgreSQL the audit table refuses UPDATE and DELETE of any row, whoever asks: a bug, a
# shell, a migration. (TRUNCATE is a table operation a row trigger does not see: the test suite's
# flush uses it.) SQLite has no such guard: there the model's refusal and the hash chain remain.

from django.db import migrations

TABLE = "partners_auditlogentry"
INSTALL = f"""
CREATE FUNCTION partners_audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the audit log is append-only: % of row % refused', TG_OP, OLD.id
        USING HINT = 'audit rows are never changed or deleted';
END
$$;
CREATE TRIGGER partners_audit_log_append_only
    BEFORE UPDATE OR DELETE ON {TABLE}
    FOR EACH ROW EXECUTE FUNCTION partners_audit_log_append_only();
"""
REMOVE = f"""
DROP TRIGGER IF EXISTS partners_audit_log_append_only ON {TABLE};
DROP FUNCTION IF EXISTS partners_audit_log_append_only();
"""


def _on_postgresql(sql):
    def run(apps, schema_editor):
        if schema_editor.connection.vendor == "postgresql":
            schema_editor.execute(sql, params=None)  # "%" is plpgsql here, not a placeholder

    return run


class Migration(migrations.Migration):
    dependencies = [("partners", "0005_audit_chain")]

    operations = [migrations.RunPython(_on_postgresql(INSTALL), _on_postgresql(REMOVE))]
