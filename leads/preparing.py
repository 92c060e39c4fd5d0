"""The CPU-heavy, database-free part of an analysis, one block of rows at a time: clean every
cell and compute the blind indexes. Pure (plain values in, plain values out).

Tried and dropped: running every other block in a forked worker. On this 2-core machine shared
with other work it saved ~0.5 s of ~7 s, not worth forking a process that holds a database
connection.
"""

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from functools import lru_cache
from itertools import islice

from core.crypto import blind_indexer
from leads.importing import COLUMNS, COLUMNS_BY_FIELD, Layout, clean_row, is_blank
from leads.models import ID_NUMBER_INDEX, PHONE_INDEX
from leads.spreadsheets import cell_text

BLOCK_ROWS = 2000

# A prepared row, as staged (encrypted) between preview and import: compact lists, since 100k
# of them are JSON-encoded and decoded. VALUES follow FIELDS, None where the file has no value.
FIELDS = [c.field for c in COLUMNS]
NUMBER, PHONE_INDEX_AT, ID_INDEX_AT, VALUES, OUTCOME, TARGET = range(6)


def prepare_block(block: list[tuple[int, list]], columns: list[tuple[int, str]]) -> dict:
    """Clean one block of ``(row number, cells)``. Returns the prepared rows and the rejected
    ones (``[number, cells as text, [[field, reason], ...]]``), in file order."""
    layout = _layout(tuple(columns))
    # Bound once: the digests of leads.models.phone_index / id_number_index (IDs are upper-case
    # by now) without the per-call key set-up.
    phone_index, id_index = blind_indexer(PHONE_INDEX), blind_indexer(ID_NUMBER_INDEX)
    prepared, rejected, total = [], [], 0
    for number, cells in block:
        if is_blank(cells):
            continue
        total += 1
        row = clean_row(number, cells, layout)
        if row.problems:
            problems = [[name, reason] for name, reason in row.problems]
            rejected.append([number, [cell_text(c) for c in cells], problems])
            continue
        values = [row.values.get(name) for name in FIELDS]
        prepared.append([number, phone_index(values[0]), id_index(values[1]), values, "", None])
    return {"total": total, "prepared": prepared, "rejected": rejected}


@lru_cache(maxsize=4)
def _layout(columns: tuple[tuple[int, str], ...]) -> Layout:
    """One per analysis and process, so the memos of repeating columns span the whole file (and
    are dropped with it: ``preparer`` clears this cache, no names linger in a worker)."""
    return Layout(0, [], {index: COLUMNS_BY_FIELD[name] for index, name in columns}, [])


def blocks(rows: Iterable[tuple[int, list]]) -> Iterator[list[tuple[int, list]]]:
    rows = iter(rows)
    while block := list(islice(rows, BLOCK_ROWS)):
        yield block


@contextmanager
def preparer():
    """``prepare(blocks, layout)`` yielding ``(block, result)`` in file order; the memos of
    repeating columns live for one analysis only (no names linger in a long-lived worker)."""
    _layout.cache_clear()
    try:
        yield _prepare
    finally:
        _layout.cache_clear()


def _prepare(row_blocks, layout: Layout):
    columns = [(index, column.field) for index, column in sorted(layout.columns.items())]
    for block in row_blocks:
        yield block, prepare_block(block, columns)
