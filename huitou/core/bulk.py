"""Writing many rows at once, the same way on SQLite and PostgreSQL.

PostgreSQL takes the rows through COPY (building and parsing a 1,000-row ``VALUES`` statement costs
more than running it); SQLite takes multi-row ``VALUES`` in batches within its variable limit.
Rows are plain tuples in the order of ``columns``; no model instances are built.
"""

from __future__ import annotations

import json
import re
import sqlite3
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from django.db import connection, models

_INSERT_ROWS = 1000


def chunks(seq: Sequence[Any], size: int = 5000) -> Iterator[Sequence[Any]]:
    """Slices of ``seq``; the default keeps an ``IN`` list of ids well within every limit."""
    for i in range(0, len(seq), size):
        yield seq[i : i + size]


def max_params() -> int:
    if connection.vendor == "sqlite":
        raw = connection.connection
        try:
            return int(raw.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER)) if raw is not None else 999
        except AttributeError:  # Python < 3.11
            return 999
    return 60000


_COPY_SPECIAL = re.compile(r"[\\\n\r\t]")


def _copy_text(s: str) -> str:
    if _COPY_SPECIAL.search(s):
        s = s.replace("\\", "\\\\").replace("\n", "\\n").replace("\r", "\\r").replace("\t", "\\t")
    return s


def copy_writer(fields: Sequence[Any]) -> Callable[[Sequence[Any]], str]:
    """A row -> one line of COPY's text format (what ``copy.write_row`` does, without its per-value
    dispatch): one converter per column, chosen once."""
    convert: list[Callable[[Any], str]] = []
    for f in fields:
        if isinstance(f, models.JSONField):
            convert.append(lambda v: "\\N" if v is None else _copy_text(json.dumps(v)))
        elif isinstance(f, models.DateField):  # and DateTimeField: ISO 8601, with the offset
            memo: dict[Any, str] = {}

            def iso(v: Any, memo: dict[Any, str] = memo) -> str:
                if v not in memo:
                    memo[v] = "\\N" if v is None else v.isoformat()
                return memo[v]

            convert.append(iso)
        elif isinstance(f, models.BooleanField):
            convert.append(lambda v: "\\N" if v is None else ("t" if v else "f"))
        elif isinstance(f, models.CharField | models.TextField):
            convert.append(lambda v: "\\N" if v is None else _copy_text(str(v)))
        elif isinstance(f, models.DecimalField):
            convert.append(lambda v: "\\N" if v is None else str(v))
        elif isinstance(f, models.FloatField):
            convert.append(lambda v: "\\N" if v is None else repr(float(v)))
        else:  # integers and foreign keys
            convert.append(lambda v: "\\N" if v is None else str(int(v)))

    def line(row: Sequence[Any]) -> str:
        return "\t".join([c(v) for c, v in zip(convert, row, strict=True)]) + "\n"

    return line


def insert_ignore(
    model: type[models.Model],
    columns: Sequence[str],
    rows: Sequence[Sequence[Any]],
    *,
    order_by: Sequence[str] = (),
) -> int:
    """``INSERT ... ON CONFLICT DO NOTHING``; returns how many rows were really inserted
    (``bulk_create(ignore_conflicts=True)`` cannot tell). Call it inside a transaction.

    On PostgreSQL the rows are COPied into a temporary staging table first (COPY itself cannot skip
    conflicts). Rows go in ordered by the ``order_by`` columns, so two writers at once take their
    row locks in the same order.
    """
    return _insert(model, columns, rows, ignore_conflicts=True, order_by=order_by)


def insert_rows(model: type[models.Model], columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> int:
    """Plain insert of rows that cannot conflict (COPY straight into the table on PostgreSQL)."""
    return _insert(model, columns, rows, ignore_conflicts=False, order_by=())


def _insert(
    model: type[models.Model],
    columns: Sequence[str],
    rows: Sequence[Sequence[Any]],
    *,
    ignore_conflicts: bool,
    order_by: Sequence[str],
) -> int:
    if not rows:
        return 0
    meta = model._meta
    fields = [meta.get_field(c) for c in columns]
    adapt: list[Callable[[Any], Any] | None] = []
    for f in fields:
        if isinstance(f, models.JSONField):
            adapt.append(lambda v, f=f: f.get_db_prep_save(v, connection))  # type: ignore[misc]
        elif isinstance(f, models.DateField):  # DateTimeField is a DateField; few distinct values
            memo: dict[Any, Any] = {}

            def adapt_date(v: Any, f: models.Field[Any, Any] = f, memo: dict[Any, Any] = memo) -> Any:
                if v not in memo:
                    memo[v] = f.get_db_prep_save(v, connection)
                return memo[v]

            adapt.append(adapt_date)
        else:
            adapt.append(None)
    qn = connection.ops.quote_name
    table = qn(meta.db_table)
    cols = ", ".join(qn(str(getattr(f, "column", f.name))) for f in fields)
    keys = [columns.index(c) for c in order_by]
    order = ", ".join(qn(str(getattr(fields[i], "column", ""))) for i in keys) or "1"

    def prepared(row: Sequence[Any]) -> list[Any]:
        return [v if a is None else a(v) for a, v in zip(adapt, row, strict=True)]

    connection.ensure_connection()
    with connection.cursor() as cur:
        if connection.vendor == "postgresql":
            target = table
            if ignore_conflicts:
                target = qn(f"stage_{meta.db_table}")
                empty = f"SELECT {cols} FROM {table} WITH NO DATA"  # noqa: S608 - names from the model
                cur.execute(f"CREATE TEMPORARY TABLE IF NOT EXISTS {target} AS {empty}")
                cur.execute(f"TRUNCATE {target}")
            with cur.cursor.copy(f"COPY {target} ({cols}) FROM STDIN") as copy:
                line = copy_writer(fields)
                for chunk in chunks(rows, _INSERT_ROWS):
                    copy.write("".join([line(row) for row in chunk]))
            if not ignore_conflicts:
                return len(rows)
            staged = f"SELECT {cols} FROM {target} ORDER BY {order}"  # noqa: S608 - names from the model
            cur.execute(f"INSERT INTO {table} ({cols}) {staged} ON CONFLICT DO NOTHING")
            return max(cur.rowcount, 0)
        on_conflict = " ON CONFLICT DO NOTHING" if ignore_conflicts else ""
        inserted = 0
        one = "(" + ", ".join(["%s"] * len(fields)) + ")"
        batch = max(1, min(_INSERT_ROWS, max_params() // len(fields)))
        ordered = sorted(rows, key=lambda r: tuple(r[i] for i in keys))
        for chunk in chunks(ordered, batch):
            params: list[Any] = []
            for row in chunk:
                params.extend(prepared(row))
            values = ", ".join([one] * len(chunk))
            sql = f"INSERT INTO {table} ({cols}) VALUES {values}{on_conflict}"  # noqa: S608 - model names
            cur.execute(sql, params)
            inserted += max(cur.rowcount, 0)
        return inserted
