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
    quote = connection.ops.quote_name
    sql = "INSERT INTO {} ({}) VALUES ({})".format(  # noqa: S608 - names from the model
        quote(meta.db_table),
        ", ".join(quote(field.column) for field in fields),
        ", ".join(["%s"] * len(fields)),
    )
    with connection.cursor() as cursor:
        for batch in batched(rows, batch_size, strict=False):
            cursor.executemany(sql, [(*row, *shared_values) for row in batch])


def _raw(field, value):
    """A foreign key's value is its target's primary key."""
    if field.is_relation and isinstance(value, Model):
        return value.pk
    return value
