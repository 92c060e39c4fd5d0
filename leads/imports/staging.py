"""Staging an analysis, one block of rows at a time: clean a block column by column (repeating
columns through a memo), keep the valid rows as ``StagedRows`` (what an import chunk stores), and
compute their blind indexes. The CPU-heavy, database-free part: plain values in and out.

Rows travel column by column: cleaning, selecting, staging as JSON and inserting then cost a few
C-level passes per column instead of Python work per cell.

Tried and dropped: running every other block in a forked worker (on this 2-core machine shared
with other work it saved ~0.5 s of ~7 s, not worth forking a process that holds a database
connection); computing the analysis' blind indexes in the import's helper process (the threads
feeding it cost more than the ~0.25 s it took); deflating the staged rows (a quarter of the
bytes, no faster overall).
"""

from collections.abc import Callable, Iterable, Iterator
from itertools import islice
from operator import itemgetter

from django.utils.translation import gettext as _

from core.crypto import blind_indexer
from leads.imports.cleaning import Problem
from leads.imports.columns import COLUMNS_BY_FIELD, ColumnPlan, Layout
from leads.imports.sizes import size
from leads.imports.spreadsheets import cell_text, lost_digits
from leads.models import ID_NUMBER_INDEX, PHONE_INDEX

MEMO_LIMIT = 50_000  # distinct values remembered per repeating column and analysis
_MISSING = object()


class _Failed(str):
    """A bad cell's outcome: the Problem's message only (an exception would pin its traceback's
    frames, and with them whole blocks of rows)."""


def _outcome(clean: Callable[[object], object], raw):
    try:
        return clean(raw)
    except Problem as problem:
        return _Failed(str(problem))


# --- a block of rows, column by column ------------------------------------------------------


def is_blank(cells: list) -> bool:
    for cell in cells:
        if cell is not None and not (isinstance(cell, str) and not cell.strip()):
            return False
    return True


def clean_columns(rows: list[list], layout: Layout) -> tuple[dict[str, list], dict[int, list]]:
    """Clean every known cell of a block of (non-blank) rows, one column at a time: a column of
    a repeating field is cleaned once per distinct value, the others cell by cell.

    Returns ``(values, problems)``: ``values`` maps each field of the file to its column of
    clean values (a bad cell holds a ``_Failed`` message), ``problems`` maps the position of
    each bad row to its ``(field, reason)`` pairs, in the file's column order."""
    width = layout.width
    if any(len(row) < width for row in rows):  # CSV rows may stop early
        rows = [row if len(row) >= width else [*row, *[""] * (width - len(row))] for row in rows]
    values, problems = {}, {}
    for plan in layout.plan:
        raw = list(map(itemgetter(plan.index), rows))
        if plan.memo is None:
            column, failed = _clean_each(raw, plan)
        else:
            column, failed = _clean_repeating(raw, plan)
        for position in failed:
            problems.setdefault(position, []).append((plan.field, str(column[position])))
        if plan.required and not all(column):
            empty = _("%(label)s不能为空") % {"label": COLUMNS_BY_FIELD[plan.field].label}
            for position, value in enumerate(column):
                if not value:
                    problems.setdefault(position, []).append((plan.field, empty))
        values[plan.field] = column
    return values, problems


def _clean_each(raw: list, plan: ColumnPlan) -> tuple[list, list[int]]:
    clean = plan.clean
    if not plan.had_problems:  # no bad cell in this column so far: clean it in one pass
        try:
            return list(map(clean, raw)), []
        except Problem:
            plan.had_problems = True  # from now on cell by cell, starting with this block
    column, failed = [], []
    append = column.append
    for position, value in enumerate(raw):
        try:
            append(clean(value))
        except Problem as problem:
            append(_Failed(str(problem)))
            failed.append(position)
    return column, failed


def _clean_repeating(raw: list, plan: ColumnPlan) -> tuple[list, list[int]]:
    """Each distinct value cleaned once per analysis (the memo), then looked up per cell."""
    try:
        try:
            column = list(map(plan.memo.__getitem__, raw))  # all seen before: the usual case
        except KeyError:
            column = _remember(raw, plan)
        if plan.failed.isdisjoint(raw):
            return column, []
    except TypeError:  # an unhashable cell value: clean the column cell by cell
        return _clean_each(raw, plan)
    return column, [i for i, outcome in enumerate(column) if outcome.__class__ is _Failed]


def _remember(raw: list, plan: ColumnPlan) -> list:
    memo, outcomes, new = plan.memo, {}, 0
    for value in set(raw):
        outcome = memo.get(value, _MISSING)
        if outcome is _MISSING:
            new += 1
            outcome = _outcome(plan.clean, value)
            if len(memo) < MEMO_LIMIT:
                memo[value] = outcome
            if outcome.__class__ is _Failed:
                plan.failed.add(value)
        outcomes[value] = outcome
    if new > len(raw) // 2 and len(memo) > size("MEMO_WARM_UP"):
        plan.memo = None  # mostly new values still (names, say): cleaning each cell is cheaper
    return list(map(outcomes.__getitem__, raw))


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
        # A number whose digits Excel already lost stays a number: the rejected-rows file
        # writes it back as one, so that it can never read back as a plausible identifier.
        cells = [c if lost_digits(c) else cell_text(c) for c in rows[position]]
        rejected.append([numbers[position], cells, [list(p) for p in problems[position]]])
    count = len(rows)
    _delete([numbers, *values.values()], bad)
    return count, StagedRows(numbers, None, None, values), rejected


def _delete(columns: list[list], positions: list[int]) -> None:
    for column in columns:
        for position in reversed(positions):
            del column[position]


def blocks(rows: Iterable[tuple[int, list]]) -> Iterator[list[tuple[int, list]]]:
    rows, block_rows = iter(rows), size("BLOCK_ROWS")
    while block := list(islice(rows, block_rows)):
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
