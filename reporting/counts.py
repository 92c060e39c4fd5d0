"""The dashboard's daily counts (reporting.models.DailyCount, DailyLatency), kept exact by
triggers in the database: every statement that inserts, updates or deletes leads, check results,
pushes or audit rows changes the counts in the same transaction, whoever runs it (the ORM, a
bulk insert, ``update()``, an import's COPY, a migration). A lead whose source changes moves its
checks and pushes to the new source. No Python path can forget them.

PostgreSQL: one statement-level trigger per table and operation, reading the statement's
transition tables (one GROUP BY per statement, however many rows), upserting in key order.
SQLite (the tests' and the demo's): row-level triggers doing the same one row at a time.

Revenue (kind ``revenue``): each accepted push once more, on the local day it was settled
(``finished_at``: a push reconciled from unknown to accepted counts the day it was), with its
``price`` in ``amount``; the same day rule as every other count, so the dashboard's revenue and
a partner's statement (reporting.statements) add up the same pushes.

Days are local days of ``settings.TIME_ZONE`` at the time the triggers were installed;
``rebuild()`` (``manage.py rebuild_dashboard_counts``) reinstalls them and recomputes every count
from the rows, after a change of time zone for instance."""

import datetime
import zoneinfo
from collections import Counter

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Count, Sum
from django.db.models.functions import TruncDate

from collision.models import CollisionResult
from leads.models import Lead
from partners.models import AuditLogEntry
from pushes.models import Push, PushState
from reporting.models import MARKETABLE, NOT_MARKETABLE, CountKind, DailyCount, DailyLatency

LEADS = Lead._meta.db_table
CHECKS = CollisionResult._meta.db_table
PUSHES = Push._meta.db_table
CALLS = AuditLogEntry._meta.db_table
COUNTS = DailyCount._meta.db_table
LATENCIES = DailyLatency._meta.db_table
KEY = "day, kind, partner_id, source, status"
TABLES = {"lead": LEADS, "check": CHECKS, "push": PUSHES, "calls": CALLS}
ACCEPTED = PushState.ACCEPTED.value


class Dialect:
    """What differs between PostgreSQL and SQLite: the local day of a timestamp."""

    def __init__(self, vendor: str, time_zone: str):
        self.vendor = vendor
        self.time_zone = time_zone

    def day(self, column: str) -> str:
        if self.vendor == "postgresql":
            return f"(({column}) AT TIME ZONE '{self.time_zone}')::date"
        # SQLite keeps UTC text; a fixed offset (zones with summer time: rebuild after a change).
        offset = zoneinfo.ZoneInfo(self.time_zone).utcoffset(datetime.datetime.now())
        return f"date({column}, '{int(offset.total_seconds() // 60):+d} minutes')"

    # One counted row of each table as (day, kind, partner_id, source, status); ``source``: the
    # SQL that reads the lead's source. Named columns: the first SELECT of a UNION names them.
    def lead_row(self, t: str) -> str:
        return f"{self.day(f'{t}.created_at')} AS day, 'lead' AS kind, 0 AS partner_id, {t}.source AS source, '' AS status"

    def check_row(self, t: str, source: str) -> str:
        status = (
            f"CASE WHEN {t}.is_marketable THEN '{MARKETABLE}' WHEN {t}.outcome = 'answered' "
            f"THEN '{NOT_MARKETABLE}' ELSE {t}.outcome END"
        )
        return (
            f"{self.day(f'{t}.checked_at')} AS day, 'check' AS kind, {t}.partner_id AS partner_id, "
            f"{source} AS source, {status} AS status"
        )

    def push_row(self, t: str, source: str) -> str:
        return (
            f"{self.day(f'{t}.created_at')} AS day, 'push' AS kind, {t}.partner_id AS partner_id, "
            f"{source} AS source, {t}.state AS status"
        )

    def revenue_row(self, t: str, source: str) -> str:
        """An accepted push on the day it was settled (only where ``revenue_when``)."""
        return (
            f"{self.day(f'{t}.finished_at')} AS day, 'revenue' AS kind, "
            f"{t}.partner_id AS partner_id, {source} AS source, {t}.state AS status"
        )

    @staticmethod
    def revenue_when(t: str) -> str:
        return f"{t}.state = '{ACCEPTED}' AND {t}.finished_at IS NOT NULL"

    def latency_row(self, t: str) -> str:
        ms = f"{t}.latency_ms"
        bucket = (
            f"CASE WHEN {ms} < 100 THEN {ms} WHEN {ms} < 1000 THEN {ms} / 10 * 10 "
            f"WHEN {ms} < 10000 THEN {ms} / 100 * 100 ELSE {ms} / 1000 * 1000 END"
        )
        return f"{self.day(f'{t}.created_at')} AS day, {t}.partner_id AS partner_id, {bucket} AS latency_ms"


def add_counts(deltas: str) -> str:
    """Add ``deltas`` (a SELECT of KEY, n, amount) to the counts, one row per key, in key order."""
    return (
        f"INSERT INTO {COUNTS} ({KEY}, n, amount) SELECT {KEY}, SUM(n), SUM(amount) "
        f"FROM ({deltas}) AS d WHERE 1 = 1 GROUP BY {KEY} "
        f"HAVING SUM(n) <> 0 OR SUM(amount) <> 0 ORDER BY {KEY} "
        f"ON CONFLICT ({KEY}) DO UPDATE SET n = {COUNTS}.n + excluded.n, "
        f"amount = {COUNTS}.amount + excluded.amount"
    )


def add_latencies(rows: str) -> str:
    return (
        f"INSERT INTO {LATENCIES} (day, partner_id, latency_ms, n) "
        f"SELECT day, partner_id, latency_ms, COUNT(*) FROM ({rows}) AS d "
        f"WHERE 1 = 1 GROUP BY day, partner_id, latency_ms ORDER BY day, partner_id, latency_ms "
        f"ON CONFLICT (day, partner_id, latency_ms) DO UPDATE SET n = {LATENCIES}.n + excluded.n"
    )


def _columns(row: str) -> str:
    return f"SELECT {row}"


def _lead_source(t: str) -> str:
    # Never NULL: a test database's flush deletes leads before their checks (no constraints).
    return f"COALESCE((SELECT source FROM {LEADS} WHERE id = {t}.lead_id), '')"


def _facets(d: Dialect, table: str) -> list[tuple]:
    """What one row of ``table`` counts, as (row, amount, condition) per count it is in: a check
    once; a push once by its creation day, and once more as revenue while it is accepted."""
    if table == CHECKS:
        return [(d.check_row, None, None)]
    return [(d.push_row, None, None), (d.revenue_row, "price", d.revenue_when)]


def _deltas(facets, t: str, source: str, sign: int, tail: str = "", where: str = "") -> str:
    """A SELECT of KEY, n, amount: row ``t`` counted ``sign`` times in each of its ``facets``;
    ``tail``: its FROM clause, ``where``: a condition of its own."""
    selects = []
    for row, amount, when in facets:
        conditions = " AND ".join(c for c in (where, when(t) if when else "") if c)
        value = f"{'-' if sign < 0 else ''}{t}.{amount}" if amount else "0"
        selects.append(
            f"SELECT {row(t, source)}, {sign} AS n, {value} AS amount"
            f"{f' {tail}' if tail else ''}{f' WHERE {conditions}' if conditions else ''}"
        )
    return " UNION ALL ".join(selects)


def postgresql_statements(d: Dialect) -> list[str]:
    def moved(table):
        """A lead whose source changed takes its checks or pushes to the new source."""
        changed = (
            "FROM old_rows o JOIN new_rows r ON r.id = o.id AND r.source IS DISTINCT FROM o.source "
            f"JOIN {table} x ON x.lead_id = o.id"
        )
        facets = _facets(d, table)
        return (
            f"{_deltas(facets, 'x', 'o.source', -1, changed)} "
            f"UNION ALL {_deltas(facets, 'x', 'r.source', 1, changed)}"
        )

    bodies = {
        (LEADS, "INSERT"): add_counts(
            f"SELECT {d.lead_row('r')}, 1 AS n, 0 AS amount FROM new_rows r"
        ),
        (LEADS, "UPDATE"): add_counts(
            f"SELECT {d.lead_row('o')}, -1 AS n, 0 AS amount FROM old_rows o "
            f"UNION ALL SELECT {d.lead_row('r')}, 1 AS n, 0 AS amount FROM new_rows r "
            f"UNION ALL {moved(CHECKS)} UNION ALL {moved(PUSHES)}"
        ),
        (LEADS, "DELETE"): add_counts(
            f"SELECT {d.lead_row('o')}, -1 AS n, 0 AS amount FROM old_rows o"
        ),
    }
    for table in (CHECKS, PUSHES):
        facets = _facets(d, table)
        new = _deltas(
            facets, "r", "l.source", 1, f"FROM new_rows r JOIN {LEADS} l ON l.id = r.lead_id"
        )
        old = _deltas(
            facets, "o", "l.source", -1, f"FROM old_rows o JOIN {LEADS} l ON l.id = o.lead_id"
        )
        bodies[table, "INSERT"] = add_counts(new)
        bodies[table, "UPDATE"] = add_counts(f"{old} UNION ALL {new}")
        bodies[table, "DELETE"] = add_counts(old)
    bodies[CALLS, "INSERT"] = add_latencies(f"SELECT {d.latency_row('r')} FROM new_rows r")

    statements = []
    for (table, operation), body in bodies.items():
        name = f"reporting_{table}_{operation.lower()}"
        transitions = {
            "INSERT": "NEW TABLE AS new_rows",
            "UPDATE": "OLD TABLE AS old_rows NEW TABLE AS new_rows",
            "DELETE": "OLD TABLE AS old_rows",
        }[operation]
        statements += [
            f"CREATE OR REPLACE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $$ "
            f"BEGIN {body}; RETURN NULL; END $$",
            f"DROP TRIGGER IF EXISTS {name} ON {table}",
            f"CREATE TRIGGER {name} AFTER {operation} ON {table} REFERENCING {transitions} "
            f"FOR EACH STATEMENT EXECUTE FUNCTION {name}()",
        ]
    return statements


def sqlite_statements(d: Dialect) -> list[str]:
    def one(row: str, sign: int) -> str:
        return f"SELECT {row}, {sign} AS n, 0 AS amount"

    def moved(table, sign, source):
        return _deltas(
            _facets(d, table), "x", source, sign, f"FROM {table} x",
            "x.lead_id = NEW.id AND OLD.source IS NOT NEW.source",
        )  # fmt: skip

    bodies = {
        (LEADS, "INSERT", ""): [add_counts(one(d.lead_row("NEW"), 1))],
        (LEADS, "UPDATE", "OLD.created_at IS NOT NEW.created_at OR OLD.source IS NOT NEW.source"): [
            add_counts(
                f"{one(d.lead_row('OLD'), -1)} UNION ALL {one(d.lead_row('NEW'), 1)} "
                f"UNION ALL {moved(CHECKS, -1, 'OLD.source')} "
                f"UNION ALL {moved(CHECKS, 1, 'NEW.source')} "
                f"UNION ALL {moved(PUSHES, -1, 'OLD.source')} "
                f"UNION ALL {moved(PUSHES, 1, 'NEW.source')}"
            )
        ],
        (LEADS, "DELETE", ""): [add_counts(one(d.lead_row("OLD"), -1))],
    }
    watched = {
        CHECKS: ("checked_at", "partner_id", "lead_id", "is_marketable", "outcome"),
        PUSHES: ("created_at", "partner_id", "lead_id", "state", "finished_at", "price"),
    }
    for table in (CHECKS, PUSHES):
        facets = _facets(d, table)
        new = _deltas(facets, "NEW", _lead_source("NEW"), 1)
        old = _deltas(facets, "OLD", _lead_source("OLD"), -1)
        changed = " OR ".join(f"OLD.{c} IS NOT NEW.{c}" for c in watched[table])
        bodies[table, "INSERT", ""] = [add_counts(new)]
        bodies[table, "UPDATE", changed] = [add_counts(f"{old} UNION ALL {new}")]
        bodies[table, "DELETE", ""] = [add_counts(old)]
    bodies[CALLS, "INSERT", ""] = [add_latencies(_columns(d.latency_row("NEW")))]

    statements = []
    for (table, operation, when), body in bodies.items():
        name = f"reporting_{table}_{operation.lower()}"
        condition = f" WHEN {when}" if when else ""
        statements += [
            f"DROP TRIGGER IF EXISTS {name}",
            f"CREATE TRIGGER {name} AFTER {operation} ON {table} FOR EACH ROW{condition} "
            f"BEGIN {'; '.join(body)}; END",
        ]
    return statements


def install(using_connection=None) -> None:
    """(Re)create the triggers for this database and time zone."""
    conn = using_connection or connection
    dialect = Dialect(conn.vendor, settings.TIME_ZONE)
    make = postgresql_statements if conn.vendor == "postgresql" else sqlite_statements
    with conn.cursor() as cursor:
        for statement in make(dialect):
            cursor.execute(statement)


def uninstall(using_connection=None) -> None:
    conn = using_connection or connection
    with conn.cursor() as cursor:
        for table in TABLES.values():
            for operation in ("insert", "update", "delete"):
                name = f"reporting_{table}_{operation}"
                if conn.vendor == "postgresql":
                    cursor.execute(f"DROP TRIGGER IF EXISTS {name} ON {table}")
                    cursor.execute(f"DROP FUNCTION IF EXISTS {name}()")
                else:
                    cursor.execute(f"DROP TRIGGER IF EXISTS {name}")


def recompute(using_connection=None) -> None:
    """Every count again from the rows (in one transaction: readers see old or new counts)."""
    conn = using_connection or connection
    d = Dialect(conn.vendor, settings.TIME_ZONE)
    everything = (
        f"SELECT {d.lead_row('l')}, 1 AS n, 0 AS amount FROM {LEADS} l UNION ALL "
        f"{_deltas(_facets(d, CHECKS), 'c', 'l.source', 1, f'FROM {CHECKS} c JOIN {LEADS} l ON l.id = c.lead_id')} "
        f"UNION ALL "
        f"{_deltas(_facets(d, PUSHES), 'p', 'l.source', 1, f'FROM {PUSHES} p JOIN {LEADS} l ON l.id = p.lead_id')}"
    )
    with transaction.atomic(using=conn.alias), conn.cursor() as cursor:
        cursor.execute(f"DELETE FROM {COUNTS}")
        cursor.execute(add_counts(everything))
        cursor.execute(f"DELETE FROM {LATENCIES}")
        cursor.execute(add_latencies(f"SELECT {d.latency_row('a')} FROM {CALLS} a"))


def rebuild(using_connection=None) -> None:
    install(using_connection)
    recompute(using_connection)


# --- for tests and checks: the counts as stored, and as the rows say (through the ORM) ------


def stored() -> Counter:
    rows = DailyCount.objects.exclude(n=0).values_list(
        "day", "kind", "partner_id", "source", "status", "n"
    )
    return Counter({tuple(row[:5]): row[5] for row in rows})


def stored_amounts() -> dict:
    """The revenue as stored: the amount of each count that has one."""
    rows = DailyCount.objects.exclude(amount=0).values_list(
        "day", "kind", "partner_id", "source", "status", "amount"
    )
    return {tuple(row[:5]): row[5] for row in rows}


def amounts_from_rows() -> dict:
    """What the revenue must be, from the accepted pushes with the ORM: their prices summed per
    local day of ``finished_at``, partner and source."""
    accepted = (
        Push.objects.filter(state=PushState.ACCEPTED, finished_at__isnull=False)
        .values_list(TruncDate("finished_at"), "partner_id", "lead__source")
        .annotate(amount=Sum("price"))
        .order_by()
    )
    return {
        (day, CountKind.REVENUE, partner_id, source, PushState.ACCEPTED): amount
        for day, partner_id, source, amount in accepted
        if amount
    }


def from_rows() -> Counter:
    """What the counts must be, counted from the rows with the ORM (not with the triggers' SQL)."""
    found = Counter()
    leads = Lead.objects.values_list(TruncDate("created_at"), "source").annotate(n=Count("pk"))
    for day, source, n in leads.order_by():
        found[day, CountKind.LEAD, 0, source, ""] += n
    checks = (
        CollisionResult.objects.values_list(
            TruncDate("checked_at"), "partner_id", "lead__source", "is_marketable", "outcome"
        )
        .annotate(n=Count("pk"))
        .order_by()
    )
    for day, partner_id, source, marketable, outcome, n in checks:
        status = MARKETABLE if marketable else NOT_MARKETABLE if outcome == "answered" else outcome
        found[day, CountKind.CHECK, partner_id, source, status] += n
    pushes = (
        Push.objects.values_list(TruncDate("created_at"), "partner_id", "lead__source", "state")
        .annotate(n=Count("pk"))
        .order_by()
    )
    for day, partner_id, source, state, n in pushes:
        found[day, CountKind.PUSH, partner_id, source, state] += n
    accepted = (
        Push.objects.filter(state=PushState.ACCEPTED, finished_at__isnull=False)
        .values_list(TruncDate("finished_at"), "partner_id", "lead__source")
        .annotate(n=Count("pk"))
        .order_by()
    )
    for day, partner_id, source, n in accepted:
        found[day, CountKind.REVENUE, partner_id, source, PushState.ACCEPTED] += n
    return +found
