"""The CPU-heavy, database-free part of an analysis, one block of rows at a time: clean every
cell and compute the blind indexes. Pure, so that on a large file it runs on two cores: a forked
worker takes every other block.

The worker is forked before the sheet is loaded (while the process is small) and only when the
process has no other thread (forking a threaded process can deadlock); it never touches the
database connection it inherits, and exits with os._exit (multiprocessing's way), so that
connection is not closed under the parent.
"""

import multiprocessing
import os
import threading
from collections import deque
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from itertools import islice

from core.crypto import blind_indexer
from leads.importing import COLUMNS, COLUMNS_BY_FIELD, Layout, clean_row, is_blank
from leads.models import ID_NUMBER_INDEX, PHONE_INDEX
from leads.spreadsheets import cell_text

BLOCK_ROWS = 2000
PARALLEL_MIN_BYTES = 1024 * 1024  # ~10k rows of xlsx: below, a second process is not worth it

# A prepared row, as staged (encrypted) between preview and import: compact lists, since 100k
# of them are JSON-encoded and decoded. VALUES follow FIELDS, None where the file has no value.
FIELDS = [c.field for c in COLUMNS]
NUMBER, PHONE_INDEX_AT, ID_INDEX_AT, VALUES, OUTCOME, TARGET = range(6)


def prepare_block(block: list[tuple[int, list]], columns: list[tuple[int, str]]) -> dict:
    """Clean one block of ``(row number, cells)``. Returns the prepared rows and the rejected
    ones (``[number, cells as text, [[field, reason], ...]]``), in file order."""
    layout = Layout(0, [], {index: COLUMNS_BY_FIELD[name] for index, name in columns}, [])
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


def blocks(rows: Iterable[tuple[int, list]]) -> Iterator[list[tuple[int, list]]]:
    rows = iter(rows)
    while block := list(islice(rows, BLOCK_ROWS)):
        yield block


@contextmanager
def preparer(*, parallel: bool):
    """A function ``prepare(blocks, layout)`` yielding ``(block, result)`` in file order."""
    pool = None
    if parallel and (os.cpu_count() or 1) > 1 and threading.active_count() == 1:
        pool = multiprocessing.get_context("fork").Pool(1)
    try:
        yield lambda row_blocks, layout: _prepare(row_blocks, layout, pool)
    finally:
        if pool is not None:
            pool.terminate()
            pool.join()


def _prepare(row_blocks, layout: Layout, pool):
    columns = [(index, column.field) for index, column in sorted(layout.columns.items())]
    if pool is None:
        for block in row_blocks:
            yield block, prepare_block(block, columns)
        return
    queue = deque()
    for i, block in enumerate(row_blocks):
        if i % 2 == 0:  # the worker takes every other block, this process the ones between
            queue.append((block, pool.apply_async(prepare_block, (block, columns))))
        else:
            queue.append((block, prepare_block(block, columns)))
        while len(queue) > 2:
            yield _result(queue.popleft())
    while queue:
        yield _result(queue.popleft())


def _result(item):
    block, result = item
    return block, result if isinstance(result, dict) else result.get()
