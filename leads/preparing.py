"""The CPU-heavy, database-free part of an analysis, one block of rows at a time: clean every
cell; and the blind indexes of clean values. Pure: plain values in, plain values out.

Rows travel column by column (``StagedRows``): cleaning, selecting, staging as JSON and
inserting then cost a few C-level passes per column instead of Python work per cell.

Tried and dropped: running every other block in a forked worker (on this 2-core machine shared
with other work it saved ~0.5 s of ~7 s, not worth forking a process that holds a database
connection); computing the analysis' blind indexes in the import's helper process (the threads
feeding it cost more than the ~0.25 s it took); deflating the staged rows (a quarter of the
bytes, no faster overall).
"""

from collections.abc import Iterable, Iterator
from itertools import islice

from core.crypto import blind_indexer
from leads.importing import Layout, clean_columns, is_blank
from leads.models import ID_NUMBER_INDEX, PHONE_INDEX
from leads.spreadsheets import cell_text

BLOCK_ROWS = 2000


class StagedRows:
    """Analysed rows, column by column: what the import needs of each valid row.

    ``values`` maps each field the file has to its column of clean values (a field the file
    lacks has no column); ``outcome`` is "", "new", "existing" or "update", ``target`` the
    existing lead a row updates (or skips). ``phone_index`` and ``id_index`` (the blind
    indexes) are None until computed."""

    __slots__ = ("number", "phone_index", "id_index", "values", "outcome", "target")

    def __init__(self, number, phone_index, id_index, values, outcome=None, target=None):
        self.number: list[int] = number
        self.phone_index: list[str] | None = phone_index
        self.id_index: list[str] | None = id_index
        self.values: dict[str, list] = values
        self.outcome: list[str] = [""] * len(number) if outcome is None else outcome
        self.target: list[int | None] = [None] * len(number) if target is None else target

    def __len__(self) -> int:
        return len(self.number)

    @classmethod
    def empty(cls, fields: Iterable[str]) -> "StagedRows":
        return cls([], [], [], {name: [] for name in fields})

    def take(self, positions: list[int]) -> "StagedRows":
        """The rows at ``positions``, in that order."""
        if len(positions) == len(self):
            return self  # positions are always ascending and distinct: all of them

        def pick(column):
            return None if column is None else [column[i] for i in positions]

        return StagedRows(
            pick(self.number),
            pick(self.phone_index),
            pick(self.id_index),
            {name: pick(column) for name, column in self.values.items()},
            pick(self.outcome),
            pick(self.target),
        )

    def part(self, start: int, stop: int) -> "StagedRows":
        """The rows from ``start`` up to ``stop``."""
        return StagedRows(
            self.number[start:stop],
            None if self.phone_index is None else self.phone_index[start:stop],
            None if self.id_index is None else self.id_index[start:stop],
            {name: column[start:stop] for name, column in self.values.items()},
            self.outcome[start:stop],
            self.target[start:stop],
        )

    def drop(self, positions: list[int]) -> None:
        """Remove the rows at ``positions`` (ascending), in place: a few deletions per column
        instead of a copy of every kept value."""
        columns = [self.number, self.phone_index, self.id_index, self.outcome, self.target]
        _delete([c for c in [*columns, *self.values.values()] if c is not None], positions)

    def extend(self, other: "StagedRows") -> None:
        """Append ``other``'s rows (both with their blind indexes computed)."""
        self.number += other.number
        self.phone_index += other.phone_index
        self.id_index += other.id_index
        for name, column in self.values.items():
            column += other.values[name]
        self.outcome += other.outcome
        self.target += other.target

    def index(self) -> None:
        """Compute the rows' blind indexes (``blind_indexes``)."""
        self.phone_index, self.id_index = blind_indexes(
            self.values["phone"], self.values["id_number"]
        )

    def row_values(self, position: int) -> dict:
        """One row as ``{field: value}``, without the fields it has no value for (None)."""
        found = {}
        for name, column in self.values.items():
            value = column[position]
            if value is not None:
                found[name] = value
        return found

    def to_payload(self) -> dict:
        """JSON-ready, a list per column (staged encrypted between preview and import). The
        blind indexes are left out: computing them again costs less than a third of staging
        them (they would be 38% of the bytes to encode, encrypt, write, read, decrypt and
        decode), and at import they are computed with the current ``BLIND_INDEX_KEY``."""
        return {
            "number": self.number,
            "values": self.values,
            "outcome": self.outcome,
            "target": self.target,
        }

    @classmethod
    def from_payload(cls, payload: dict) -> "StagedRows":
        values = payload["values"]
        return cls(payload["number"], None, None, values, payload["outcome"], payload["target"])


def prepare_block(block: list[tuple[int, list]], layout: Layout) -> tuple:
    """Clean one block of ``(row number, cells)``: returns ``(rows counted, StagedRows of the
    valid ones (no blind indexes yet), rejected rows)``, a rejected row being ``[number, cells
    as text, [[field, reason], ...]]``, in file order."""
    numbers, rows = [], []
    for number, cells in block:
        if not is_blank(cells):
            numbers.append(number)
            rows.append(cells)
    values, problems = clean_columns(rows, layout)
    rejected, bad = [], sorted(problems)
    for position in bad:
        cells = [cell_text(c) for c in rows[position]]
        rejected.append([numbers[position], cells, [list(p) for p in problems[position]]])
    count = len(rows)
    _delete([numbers, *values.values()], bad)
    return count, StagedRows(numbers, None, None, values), rejected


def _delete(columns: list[list], positions: list[int]) -> None:
    for column in columns:
        for position in reversed(positions):
            del column[position]


def blocks(rows: Iterable[tuple[int, list]]) -> Iterator[list[tuple[int, list]]]:
    rows = iter(rows)
    while block := list(islice(rows, BLOCK_ROWS)):
        yield block


def prepare(row_blocks, layout: Layout):
    """``(block, prepared)`` in file order. The memos of repeating columns live on ``layout``,
    so for one analysis only (no names linger in a long-lived worker)."""
    for block in row_blocks:
        yield block, prepare_block(block, layout)


def blind_indexes(phones: list[str], id_numbers: list[str]) -> tuple[list[str], list[str]]:
    """leads.models.phone_index and id_number_index of clean values (ID numbers are upper-case
    by now), with the key set up once instead of per call."""
    phone_index, id_index = blind_indexer(PHONE_INDEX), blind_indexer(ID_NUMBER_INDEX)
    return list(map(phone_index, phones)), list(map(id_index, id_numbers))
