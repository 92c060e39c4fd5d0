"""Multi-row INSERTs for the hot paths that write thousands of rows of one model at a time.

``bulk_create`` builds a model instance per row and compiles and prepares every field of every
row; for 1000 collision results that was most of a check chunk's CPU. Here the caller hands over
rows of plain values and the values shared by every row; each shared value is prepared once by
its field. The database still enforces every constraint of the table.
"""

from collections.abc import Iterable, Sequence
from itertools import batched

from django.db import connections, router
from django.db.models import Model


def insert_rows(
    model: type[Model],
    columns: Sequence[str],
    rows: Iterable[Sequence],
    *,
    shared: dict | None = None,
    batch_size: int = 1000,
) -> None:
    """INSERT ``rows`` into ``model``'s table. Each row holds the values of ``columns`` (field
    names) in the form the database takes as they are: ints, strings, booleans or None.
    ``shared`` maps further field names to a value every row gets, prepared by its field (dates,
    foreign keys as instances or ids). Fields named nowhere get no default: name them all."""
    meta = model._meta
    shared = shared or {}
    connection = connections[router.db_for_write(model)]
    fields = [meta.get_field(name) for name in (*columns, *shared)]
    shared_values = tuple(
        field.get_db_prep_save(_raw(field, value), connection)
        for field, value in zip(fields[len(columns) :], shared.values(), strict=True)
    )
    columns_sql = ", ".join(connection.ops.quote_name(field.column) for field in fields)
    table = connection.ops.quote_name(meta.db_table)
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            # COPY: one statement for all rows (an executemany is one INSERT per row, and a
            # multi-row INSERT with thousands of placeholders costs psycopg more to bind), on
            # the driver's own cursor, so Django's error classes are wrapped back in around it.
            sql = f"COPY {table} ({columns_sql}) FROM STDIN"
            with connection.wrap_database_errors, cursor.cursor.copy(sql) as copy:
                for row in rows:
                    copy.write_row((*row, *shared_values))
            return
        params_limit = connection.features.max_query_params or 65535
        per_statement = max(1, min(batch_size, params_limit // len(fields)))
        head = f"INSERT INTO {table} ({columns_sql}) VALUES "  # noqa: S608 - names from the model
        placeholders = "({})".format(", ".join(["%s"] * len(fields)))
        for batch in batched(rows, per_statement, strict=False):
            params = [value for row in batch for value in (*row, *shared_values)]
            cursor.execute(head + ", ".join([placeholders] * len(batch)), params)


def _raw(field, value):
    """A foreign key's value is its target's primary key."""
    if field.is_relation and isinstance(value, Model):
        return value.pk
    return value
