"""Bulk writes of an import, and the only raw SQL of the package.

PostgreSQL: rows go in by COPY into a temporary staging table, then one INSERT ... SELECT ... ON
CONFLICT DO UPDATE (and one UPDATE ... FROM) moves them into place. SQLite: the same statements, with
the staging table filled by executemany. Apart from loading and id allocation the SQL is written
once for both; it needs SQLite 3.33+ for UPDATE ... FROM.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from typing import Any

from django.db import connection
from django.db.models import BooleanField, Model, Q
from django.db.models.expressions import RawSQL


def is_postgres() -> bool:
    return connection.vendor == "postgresql"


def qn(name: str) -> str:
    return connection.ops.quote_name(name)


def execute(sql: str, params: Sequence[Any] = ()) -> None:
    with connection.cursor() as cur:
        cur.execute(sql, params)


def fetch(sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
    with connection.cursor() as cur:
        cur.execute(sql, params)
        return list(cur.fetchall())


def column_in(model: type[Model], attname: str, values: Sequence[Any]) -> Q | RawSQL:
    """``attname IN values`` for a filter. On PostgreSQL one array parameter (``= ANY(%s)``):
    a 5,000-item IN list costs more to build, send and plan than the lookup itself."""
    if not is_postgres():
        return Q(**{f"{attname}__in": list(values)})
    field = model._meta.get_field(attname)
    column = f"{qn(model._meta.db_table)}.{qn(str(getattr(field, 'column', attname)))}"
    # Column names come from the model; the values travel as one bound parameter.
    return RawSQL(f"{column} = ANY(%s)", (list(values),), output_field=BooleanField())  # noqa: S611


def adapt_datetime(value: dt.datetime) -> Any:
    """A timezone-aware datetime as this backend stores it (naive UTC text on SQLite)."""
    if is_postgres():
        return value
    return connection.ops.adapt_datetimefield_value(value)


def _sqlite_value(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return connection.ops.adapt_datetimefield_value(value)
    if isinstance(value, dt.date):
        return value.isoformat()
    return value


_TYPES: dict[tuple[str, str, tuple[str, ...]], list[int]] = {}


def _column_types(table: str, columns: Sequence[str]) -> list[int]:
    """Type OIDs of ``columns`` of ``table`` (a temporary table too), looked up once."""
    key = (connection.alias, table, tuple(columns))
    if key not in _TYPES:
        found = dict(
            fetch(
                "SELECT attname, atttypid FROM pg_attribute"
                " WHERE attrelid = %s::regclass AND attnum > 0 AND NOT attisdropped",
                [qn(table)],
            )
        )
        _TYPES[key] = [int(found[c]) for c in columns]
    return _TYPES[key]


def load_rows(table: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
    """Append rows to a table as fast as the backend allows (COPY, or one executemany)."""
    cols = ", ".join(qn(c) for c in columns)
    connection.ensure_connection()
    if is_postgres():
        types = _column_types(table, columns)
        raw = connection.connection.cursor()
        # Binary COPY with the column types given up front: psycopg then skips guessing a dumper
        # per value and formatting dates and datetimes as text; the staging rows (40-odd columns)
        # load ~2x faster on the client side, which is on the import's critical path.
        with raw.copy(f"COPY {qn(table)} ({cols}) FROM STDIN (FORMAT BINARY)") as copy:
            copy.set_types(types)
            for row in rows:
                copy.write_row(row)
        return
    marks = ", ".join("?" * len(columns))
    converted = (tuple(_sqlite_value(v) for v in row) for row in rows)
    sql = f"INSERT INTO {qn(table)} ({cols}) VALUES ({marks})"  # noqa: S608 - names from the models
    connection.connection.executemany(sql, converted)


def bulk_transaction_settings() -> None:
    """Call at the start of a chunk's transaction.

    PostgreSQL: do not wait for the WAL flush at commit. A crash can lose the last chunks
    committed in the moment before it (never half a chunk); the import is idempotent, so running
    it again completes it. Without this, the fsync of each chunk's WAL dominated the commit.
    """
    if is_postgres():
        execute("SET LOCAL synchronous_commit TO OFF")


_SEQUENCES: dict[tuple[str, str], str] = {}


def _sequence(table: str) -> str:
    # Looked up once per table and database: evaluated per row inside the id query below, the
    # lookup made allocation ~6x slower.
    key = (connection.alias, table)
    if key not in _SEQUENCES:
        _SEQUENCES[key] = fetch("SELECT pg_get_serial_sequence(%s, 'id')", [table])[0][0]
    return _SEQUENCES[key]


def allocate_ids(table: str, count: int) -> list[int]:
    """Reserve ``count`` primary keys so that related rows can be written without a round trip.

    Called inside the chunk's transaction; on SQLite that transaction holds the write lock
    (transaction_mode IMMEDIATE), so MAX(id) cannot move under us.
    """
    if count == 0:
        return []
    if is_postgres():
        # One array rather than ``count`` result rows: 20,000 ids in ~20 ms instead of ~130 ms.
        rows = fetch(
            "SELECT array_agg(nextval(%s::regclass)) FROM generate_series(1, %s)", [_sequence(table), count]
        )
        return list(rows[0][0])
    (top,) = fetch(f"SELECT COALESCE(MAX(id), 0) FROM {qn(table)}")[0]  # noqa: S608
    seq = fetch("SELECT seq FROM sqlite_sequence WHERE name = %s", [table])
    start = max(int(top), int(seq[0][0]) if seq else 0) + 1
    return list(range(start, start + count))


def staging_create(name: str, like_table: str, extra: Sequence[tuple[str, str]] = ()) -> None:
    """A temporary table with the columns of ``like_table`` plus ``extra`` (name, SQL type)."""
    execute(f"DROP TABLE IF EXISTS {qn(name)}")
    execute(f"CREATE TEMPORARY TABLE {qn(name)} AS SELECT * FROM {qn(like_table)} WHERE 1 = 0")  # noqa: S608
    for col, sql_type in extra:
        execute(f"ALTER TABLE {qn(name)} ADD COLUMN {qn(col)} {sql_type}")


def staging_create_columns(name: str, columns: Sequence[tuple[str, str]]) -> None:
    execute(f"DROP TABLE IF EXISTS {qn(name)}")
    cols = ", ".join(f"{qn(c)} {t}" for c, t in columns)
    execute(f"CREATE TEMPORARY TABLE {qn(name)} ({cols})")


def staging_clear(name: str) -> None:
    # Temporary tables are never autovacuumed: TRUNCATE rather than leave dead rows to rescan.
    execute(f"{'TRUNCATE' if is_postgres() else 'DELETE FROM'} {qn(name)}")


def staging_drop(name: str) -> None:
    execute(f"DROP TABLE IF EXISTS {qn(name)}")


def upsert_from_staging(
    *,
    table: str,
    staging: str,
    insert_columns: Sequence[str],
    update_columns: Sequence[str],
    conflict: Sequence[str],
    version_column: str | None = None,
    has_updates: bool = True,
    order_by: str | None = None,
) -> None:
    """Move staged rows into ``table``: rows flagged ``is_new`` are inserted (an unexpected clash on
    ``conflict`` becomes an update), the others update the row with the same id. ``has_updates``
    False says no staged row has ``is_new`` false. ``order_by`` (a column) orders the inserts."""
    t, s = qn(table), qn(staging)
    sets = [f"{qn(c)} = s.{qn(c)}" for c in update_columns]
    if version_column:
        sets.append(f"{qn(version_column)} = {t}.{qn(version_column)} + 1")
    if sets and has_updates:  # a chunk of new rows only skips the pass over the staging table
        execute(
            f"UPDATE {t} SET {', '.join(sets)} FROM {s} AS s WHERE {t}.id = s.id AND s.is_new = %s",  # noqa: S608
            [False],
        )
    cols = ", ".join(qn(c) for c in insert_columns)
    order = f" ORDER BY {qn(order_by)}" if order_by else ""
    excluded = ", ".join(f"{qn(c)} = excluded.{qn(c)}" for c in update_columns) or "id = excluded.id"
    execute(
        f"INSERT INTO {t} ({cols}) SELECT {cols} FROM {s} WHERE is_new = %s{order} "  # noqa: S608
        f"ON CONFLICT ({', '.join(qn(c) for c in conflict)}) DO UPDATE SET {excluded}",
        [True],
    )


def history_from_staging(
    *,
    table: str,
    history_table: str,
    staging: str,
    tracked_columns: Sequence[str],
    at: dt.datetime,
    user_id: int | None,
    reason: str,
) -> None:
    """One audit row per staged row, copied from the row as it now is ('+' new, '~' changed)."""
    cols = ", ".join(qn(c) for c in tracked_columns)
    picked = ", ".join(f"c.{qn(c)}" for c in tracked_columns)
    execute(
        f"INSERT INTO {qn(history_table)} ({cols}, history_date, history_type, history_user_id,"  # noqa: S608
        f" history_change_reason) SELECT {picked}, %s, CASE WHEN s.is_new = %s THEN '+' ELSE '~' END,"
        f" %s, %s FROM {qn(table)} AS c JOIN {qn(staging)} AS s ON c.id = s.id",
        [adapt_datetime(at), True, user_id, reason[:100]],
    )


def consents_from_staging(
    *,
    consent_table: str,
    history_table: str,
    staging: str,
    at: dt.datetime,
    user_id: int | None,
    reason: str,
) -> None:
    """Staged (customer_id, channel, granted, op) become consent rows from source 'import', each with
    its ledger (history) row."""
    when = adapt_datetime(at)
    c, s = qn(consent_table), qn(staging)
    execute(
        f"INSERT INTO {c} (customer_id, channel, granted, source, recorded_at, recorded_by_id)"  # noqa: S608
        f" SELECT customer_id, channel, granted, 'import', %s, %s FROM {s} WHERE 1 = 1"
        " ON CONFLICT (customer_id, channel) DO UPDATE SET granted = excluded.granted,"
        " source = excluded.source, recorded_at = excluded.recorded_at,"
        " recorded_by_id = excluded.recorded_by_id",
        [when, user_id],
    )
    execute(
        f"INSERT INTO {qn(history_table)} (id, customer_id, channel, granted, source, recorded_at,"  # noqa: S608
        " recorded_by_id, history_date, history_type, history_user_id, history_change_reason)"
        " SELECT c.id, c.customer_id, c.channel, c.granted, c.source, c.recorded_at, c.recorded_by_id,"
        f" %s, s.op, %s, %s FROM {c} AS c JOIN {s} AS s"
        " ON c.customer_id = s.customer_id AND c.channel = s.channel",
        [when, user_id, reason[:100]],
    )


def delete_where_in(table: str, column: str, ids: Sequence[int]) -> None:
    if not ids:
        return
    if is_postgres():
        execute(f"DELETE FROM {qn(table)} WHERE {qn(column)} = ANY(%s)", [list(ids)])  # noqa: S608
        return
    for start in range(0, len(ids), 30_000):
        part = ids[start : start + 30_000]
        marks = ", ".join(["%s"] * len(part))
        execute(f"DELETE FROM {qn(table)} WHERE {qn(column)} IN ({marks})", part)  # noqa: S608
