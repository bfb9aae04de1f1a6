"""Daily contact plan at scale: ``plan_run`` for one day against a bare scan of the same tables.

    python -m bench.bench_plan --backend postgresql [--customers 1000000] [--purchases 10000000]
    python -m bench.bench_plan --backend sqlite --customers 100000 --purchases 1000000 --reuse-db

One backend per process (Django binds its database at start-up). The scale set is generated inside
the database (``INSERT ... SELECT`` over ``generate_series`` on PostgreSQL, over a recursive CTE on
SQLite; pseudo-random columns come from multiplicative hashes of the row number, so the set is
the same every time) with the big tables' secondary indexes dropped during the load and rebuilt
after, then ``ANALYZE``. The database is kept: ``--reuse-db`` runs against it again without
rebuilding (PostgreSQL ``huitou_bench_plan``; SQLite ``var/bench/plan/plan-<customers>.sqlite3``).

What is timed, after the plan's own tables are emptied:

- the baseline: ``SELECT count(*), sum(amount) FROM customers_purchase`` plus
  ``SELECT count(*), sum(owner_id) FROM customers_customer`` (best of three, cache warm);
- the first run, for the day before the bench day, which also plans the revisit backlog of a
  fresh archive (every gold and silver customer without a recent visit) and builds the
  maintenance fill state (``plan_state``);
- the bench day itself, the steady state the target is about (<= 3x the scan);
- the same day again (idempotent rerun: nothing new to insert).

Indexes the plan needs that the models do not have yet are created here, named ``plan_bench_*``,
and listed in the output: the lead adds them to the models (see the report).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import resource
import sys
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

DEFAULT_SERVER = os.environ.get("BENCH_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
DB_NAME = "huitou_bench_plan"
BENCH_DAY = dt.date(2026, 3, 10)  # a Tuesday, no festival
REPS, STORES, PRODUCTS = 100, 10, 50
M = 2147483647

# Indexes the plan's filters need (reported; the lead adds them to the models). The birthday one
# is on the expression ``plan.MonthDay`` compiles to, per backend (or on a stored month-day field).
_MD_PG = "(EXTRACT(MONTH FROM birthday) * 100 + EXTRACT(DAY FROM birthday))"
_MD_SQLITE = "CAST(replace(substr(birthday, 6, 5), '-', '') AS INTEGER)"
PROPOSED_INDEXES = {
    "plan_bench_message_org_sched": ("followups_message", "organisation_id, scheduled_for"),
    "plan_bench_customer_lunar": (
        "customers_customer",
        "organisation_id, birthday_lunar_month, birthday_lunar_day",
    ),
    "plan_bench_customer_md": ("customers_customer", "organisation_id, {md}"),
}
# Proposed earlier and now in the models (partial indexes, customers migrations 0002 and 0003):
# dropped from a kept database so that the run measures the models' own indexes.
RETIRED_INDEXES = (
    "plan_bench_purchase_shipped",  # purchase_shipped_idx
    "plan_bench_purchase_arrives",  # purchase_arrives_idx
    "plan_bench_purchase_kind_day",  # purchase_service_day_idx
    "plan_bench_owned_insurance",  # owned_insurance_idx
)


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


class Dialect:
    """The few SQL spellings that differ between PostgreSQL and SQLite."""

    def __init__(self, vendor: str) -> None:
        self.pg = vendor == "postgresql"

    def source(self, n: int) -> tuple[str, str]:
        """(prefix, FROM item) yielding column ``g`` = 1..n."""
        if self.pg:
            return "", f"generate_series(1::bigint, {n}::bigint) AS s(g)"
        return f"WITH RECURSIVE s(g) AS (SELECT 1 UNION ALL SELECT g + 1 FROM s WHERE g < {n}) ", "s"

    def day(self, base: dt.date, expr: str) -> str:
        if self.pg:
            return f"(DATE '{base.isoformat()}' + ({expr})::int)"
        return f"date('{base.isoformat()}', '+' || ({expr}) || ' days')"

    def ts(self, base: dt.date, minutes: str) -> str:
        if self.pg:
            return f"(TIMESTAMPTZ '{base.isoformat()} 00:00:00+00' + ({minutes}) * INTERVAL '1 minute')"
        return f"datetime('{base.isoformat()}', '+' || ({minutes}) || ' minutes')"

    def pad8(self, expr: str) -> str:
        return f"lpad(({expr})::text, 8, '0')" if self.pg else f"printf('%08d', {expr})"

    def true(self) -> str:
        return "true" if self.pg else "1"

    def false(self) -> str:
        return "false" if self.pg else "0"


def h(k: int, var: str = "g") -> str:
    """A pseudo-random non-negative integer per row ``g`` (k picks an independent-looking stream).

    ``var`` names another integer expression to hash instead (at most ~10^8, so that the products
    stay within 64 bits): e.g. a purchase's customer id, to recompute that customer's columns."""
    a = [48271, 69621, 16807, 39373, 40692, 40014, 53668, 12211, 3791, 2147, 7559, 9973][k % 12]
    b = [11, 101, 1009, 10007, 100003, 7, 13, 17, 19, 23, 29, 31][k % 12]
    return f"((({var} * {a} + {b}) * {a}) % {M})"


# --------------------------------------------------------------------------------------------------
# Database set-up (before Django starts)


def setup_django(backend: str, server_url: str, sqlite_path: Path, db_name: str = DB_NAME) -> None:
    if backend == "postgresql":
        from bench.bench_web import database_url_for

        os.environ["DATABASE_URL"] = database_url_for(server_url, db_name)
    else:
        os.environ["DATABASE_URL"] = f"sqlite:///{sqlite_path}"
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.base")
    os.environ["CONN_MAX_AGE"] = "0"
    # As in production: with DEBUG on every query goes through Django's debug cursor, which on
    # SQLite re-quotes each parameter of the plan's multi-row INSERTs (about 0.5 s of a run).
    os.environ["DEBUG"] = "0"
    import django

    django.setup()


def pg_database_exists(server_url: str, db_name: str = DB_NAME) -> bool:
    import psycopg

    from bench.bench_web import database_url_for

    with psycopg.connect(database_url_for(server_url, "postgres"), autocommit=True) as conn:
        return conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [db_name]).fetchone() is not None


def pg_recreate(server_url: str, db_name: str = DB_NAME) -> None:
    import psycopg

    from bench.bench_web import database_url_for

    with psycopg.connect(database_url_for(server_url, "postgres"), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{db_name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{db_name}"')


# --------------------------------------------------------------------------------------------------
# The scale set


def open_database(
    backend: str, server_url: str, sqlite_path: Path, *, reuse: bool, db_name: str = DB_NAME
) -> bool:
    """Connect Django to the bench database, kept when ``reuse`` and it exists, otherwise made
    anew (PostgreSQL: dropped and created; SQLite: the file and its journals removed). Returns
    whether it is fresh, i.e. the scale set still has to be built."""
    fresh = True
    if backend == "postgresql":
        if reuse and pg_database_exists(server_url, db_name):
            fresh = False
        else:
            pg_recreate(server_url, db_name)
    elif reuse and sqlite_path.exists():
        fresh = False
    else:
        for suffix in ("", "-wal", "-shm"):
            Path(f"{sqlite_path}{suffix}").unlink(missing_ok=True)
    setup_django(backend, server_url, sqlite_path, db_name=db_name)
    return fresh


def _execute(sql: str) -> None:
    """Run a statement without parameters (so '%' in the SQL is the modulo operator)."""
    from django.db import connection

    with connection.cursor() as cur:
        cur.execute(sql)


def _fetch(sql: str) -> list[tuple[Any, ...]]:
    from django.db import connection

    with connection.cursor() as cur:
        cur.execute(sql)
        return list(cur.fetchall())


BIG_TABLES = (
    "customers_customer",
    "customers_purchase",
    "customers_ownedproduct",
    "customers_consent",
    "customers_activity",
    "customers_personaldate",
)


def _secondary_indexes(table: str) -> list[tuple[str, str]]:
    """(name, CREATE statement) of a table's plain indexes (not primary keys, not constraints)."""
    from django.db import connection

    if connection.vendor == "postgresql":
        return _fetch(
            f"SELECT i.indexname, i.indexdef FROM pg_indexes i WHERE i.tablename = '{table}' AND NOT EXISTS "
            "(SELECT 1 FROM pg_constraint c WHERE c.conname = i.indexname)"
        )
    return [
        (name, sql)
        for name, sql in _fetch(
            f"SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = '{table}'"
        )
        if sql  # autoindexes of UNIQUE constraints have no SQL
    ]


def build(customers: int, purchases: int, *, purchase_credit: bool = False) -> dict[str, float]:
    """Migrate, then generate the organisation and the scale set. Returns phase timings.

    ``purchase_credit`` also credits each purchase to its customer's store and, for sales, to the
    customer's rep (``bench_referrals`` needs them: scorecards and per-store figures group sales by
    them); the plan benchmark leaves them empty as it always did."""
    from django.core.management import call_command
    from django.db import connection, transaction

    from huitou.accounts.models import Organisation, Store, Team, User
    from huitou.customers.models import Product
    from huitou.followups.models import ProductNotice
    from huitou.followups.rules import rules_seed

    phases: dict[str, float] = {}
    t = time.perf_counter()
    call_command("migrate", interactive=False, verbosity=0)
    phases["migrate"] = time.perf_counter() - t
    d = Dialect(connection.vendor)
    t = time.perf_counter()
    org = Organisation.objects.create(name="规模测试集团", slug="bench", kind=Organisation.Kind.DEALER)
    stores = [Store.objects.create(organisation=org, name=f"门店{i}", code=f"S{i}") for i in range(STORES)]
    managers = [
        User.objects.create(username=f"manager{i}", role="manager", organisation=org, store=s)
        for i, s in enumerate(stores)
    ]
    teams = [
        Team.objects.create(organisation=org, store=s, name=f"销售{i}组", manager=m)
        for i, (s, m) in enumerate(zip(stores, managers, strict=True))
    ]
    User.objects.create(username="owner", role="owner", organisation=org)
    reps = [
        User.objects.create(
            username=f"rep{i}", role="rep", organisation=org, store=stores[i % STORES], team=teams[i % STORES]
        )
        for i in range(REPS)
    ]
    for s in stores:
        User.objects.create(username=f"dcrc{s.code}", role="dcrc", organisation=org, store=s)
        User.objects.create(username=f"as{s.code}", role="aftersales", organisation=org, store=s)
    products = [
        Product.objects.create(
            organisation=org, sku=f"M{i:03d}", name=f"车型{i}", kind="vehicle", category="SUV"
        )
        for i in range(PRODUCTS)
    ]
    rep0, store0, product0 = reps[0].pk, stores[0].pk, products[0].pk
    assert [r.pk for r in reps] == list(range(rep0, rep0 + REPS)), "rep ids must be contiguous"
    assert [s.pk for s in stores] == list(range(store0, store0 + STORES))
    assert [p.pk for p in products] == list(range(product0, product0 + PRODUCTS))
    rules_seed(organisation=org)
    ProductNotice.objects.create(
        organisation=org,
        product=products[7],
        kind="price",
        title="价格调整",
        body="官方指导价下调",
        effective_on=BENCH_DAY,
    )
    phases["organisation"] = time.perf_counter() - t

    saved = {table: _secondary_indexes(table) for table in BIG_TABLES}
    for indexes in saved.values():
        for name, _sql in indexes:
            _execute(f'DROP INDEX "{name}"')
    if not d.pg:
        _execute("PRAGMA synchronous=OFF")
    start = dt.date(2019, 1, 1)
    span = (BENCH_DAY - start).days  # purchases up to the day before the bench day
    o = org.pk

    def gen(name: str, n: int, table: str, columns: str, select: str, where: str = "") -> None:
        t0 = time.perf_counter()
        prefix, src = d.source(n)
        sql = f"{prefix}INSERT INTO {table} ({columns}) SELECT {select} FROM {src} {where}"
        with transaction.atomic():
            _execute(sql)
        phases[name] = time.perf_counter() - t0
        log(f"  {name}: {n:,} source rows in {phases[name]:.1f} s")

    f, tr = d.false(), d.true()
    gen(
        "customers",
        customers,
        "customers_customer",
        "id, created_at, updated_at, organisation_id, kind, name, gender, company, title, phone, wechat, "
        "email, province, city, address, birthday, birthday_calendar, birthday_lunar_month, "
        "birthday_lunar_day, birthday_lunar_leap, personality, preferences, special_needs, form_family, "
        "form_occupation, form_recreation, form_money, source, source_detail, owner_id, store_id, status, "
        "tier, customer_type, lost_reason, version",
        f"g, {d.ts(start, h(10) + ' % 3600000')}, {d.ts(start, h(10) + ' % 3600000')}, {o}, "
        f"CASE WHEN {h(4)} % 10 = 0 THEN 'company' ELSE 'person' END, '客户' || g, '', '', '', "
        f"'+86138' || {d.pad8('g')}, '', "
        f"CASE WHEN {h(8)} % 10 < 3 THEN 'c' || g || '@example.com' ELSE '' END, "
        f"'广东省', '广州市', CASE WHEN {h(9)} % 10 < 6 THEN '天河路' || g || '号' ELSE '' END, "
        f"CASE WHEN {h(5)} % 10 < 7 THEN {d.day(dt.date(1950, 1, 1), h(6) + ' % 18262')} END, "
        f"CASE WHEN {h(5)} % 10 = 7 THEN 'lunar' ELSE 'solar' END, "
        f"CASE WHEN {h(5)} % 10 = 7 THEN 1 + {h(6)} % 12 END, "
        f"CASE WHEN {h(5)} % 10 = 7 THEN 1 + {h(7)} % 29 END, "
        f"{f}, '', '', '', '', '', '', '', 'walk_in', '', {rep0} + {h(1)} % {REPS}, "
        f"{store0} + ({h(1)} % {REPS}) % {STORES}, "
        f"CASE WHEN {h(2)} % 100 < 90 THEN 'active' WHEN {h(2)} % 100 < 95 THEN 'prospect' ELSE 'lost' END, "
        f"CASE WHEN {h(3)} % 100 < 5 THEN 'gold' WHEN {h(3)} % 100 < 20 THEN 'silver' "
        f"WHEN {h(3)} % 100 < 50 THEN 'bronze' ELSE '' END, '', '', 1",
    )
    sale = f"{h(3)} % 10 >= 4"
    credit_columns = credit_select = ""
    if purchase_credit:
        # The customer's owner and store as the customers phase drew them, from its id.
        owner_draw = f"{h(1, var=f'(1 + {h(1)} % {customers})')} % {REPS}"
        credit_columns = ", store_id, rep_id"
        credit_select = (
            f", {store0} + ({owner_draw}) % {STORES}, CASE WHEN {sale} THEN {rep0} + {owner_draw} END"
        )
    gen(
        "purchases",
        purchases,
        "customers_purchase",
        "id, created_at, updated_at, organisation_id, customer_id, ordered_on, promised_on, shipped_on, "
        "arrives_on, kind, amount, margin, paid_amount, note" + credit_columns,
        f"g, {d.ts(start, '0')}, {d.ts(start, '0')}, {o}, 1 + {h(1)} % {customers}, "
        f"{d.day(start, h(2) + f' % {span}')}, "
        f"CASE WHEN {sale} THEN {d.day(start, h(2) + f' % {span} + 10')} END, "
        f"CASE WHEN {sale} THEN {d.day(start, h(2) + f' % {span} + 3')} END, "
        f"CASE WHEN {sale} THEN {d.day(start, h(2) + f' % {span} + 6')} END, "
        f"CASE WHEN {h(3)} % 10 < 4 THEN 'service' WHEN {h(3)} % 10 < 7 THEN 'first' "
        f"WHEN {h(3)} % 10 < 9 THEN 'replacement' ELSE 'expansion' END, "
        f"1000 + {h(4)} % 300000, 0, 0, ''" + credit_select,
    )
    deliveries_from = dt.date(2010, 1, 1)
    gen(
        "owned_products",
        customers,
        "customers_ownedproduct",
        "id, created_at, updated_at, organisation_id, customer_id, product_id, description, plate, "
        "delivered_on, mileage_km, mileage_on, insurance_expires_on, usage, active",
        f"g, {d.ts(start, '0')}, {d.ts(start, '0')}, {o}, g, {product0} + {h(2)} % {PRODUCTS}, '', '', "
        f"{d.day(deliveries_from, h(3) + f' % {(BENCH_DAY - deliveries_from).days}')}, "
        f"CASE WHEN {h(5)} % 2 = 0 THEN 1000 + {h(6)} % 150000 END, "
        f"CASE WHEN {h(5)} % 2 = 0 THEN {d.day(dt.date(2026, 1, 1), '0')} END, "
        f"{d.day(dt.date(2026, 1, 1), h(4) + ' % 730')}, '', {tr}",
    )
    for k, (channel, share, granted_share) in enumerate(
        (("sms", 65, 60), ("letter", 45, 42), ("phone", 55, 52))
    ):
        gen(
            f"consents_{channel}",
            customers,
            "customers_consent",
            "customer_id, channel, granted, source, recorded_at",
            f"g, '{channel}', CASE WHEN {h(7 + k)} % 100 < {granted_share} THEN {tr} ELSE {f} END, 'import', "
            f"{d.ts(start, '0')}",
            f"WHERE {h(7 + k)} % 100 < {share}",
        )
    activity_from = dt.date(2024, 1, 1)
    minutes = (BENCH_DAY - activity_from).days * 1440
    gen(
        "activities",
        2 * customers,
        "customers_activity",
        "organisation_id, customer_id, kind, occurred_at, subject, body, gift_name, created_at",
        f"{o}, 1 + {h(1)} % {customers}, CASE WHEN {h(2)} % 3 = 0 THEN 'visit' ELSE 'call' END, "
        f"{d.ts(activity_from, h(3) + f' % {minutes}')}, '', '', '', {d.ts(activity_from, '0')}",
    )
    gen(
        "personal_dates",
        customers // 5,
        "customers_personaldate",
        "customer_id, kind, label, calendar, date, lunar_leap",
        f"1 + {h(1)} % {customers}, CASE WHEN {h(2)} % 2 = 0 THEN 'wedding' ELSE 'child_birthday' END, '', "
        f"'solar', {d.day(dt.date(1990, 1, 1), h(3) + ' % 12000')}, {f}",
    )
    t = time.perf_counter()
    for indexes in saved.values():
        for _name, sql in indexes:
            _execute(sql)
    phases["indexes"] = time.perf_counter() - t
    if d.pg:
        for table in ("customers_customer", "customers_purchase", "customers_ownedproduct"):
            _execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))")
    t = time.perf_counter()
    _execute("ANALYZE")
    phases["analyze"] = time.perf_counter() - t
    return {k: round(v, 1) for k, v in phases.items()}


def add_proposed_indexes() -> list[str]:
    from django.db import connection

    md = _MD_PG if connection.vendor == "postgresql" else _MD_SQLITE
    for name in RETIRED_INDEXES:
        _execute(f"DROP INDEX IF EXISTS {name}")
    made = []
    for name, (table, cols) in PROPOSED_INDEXES.items():
        cols = cols.format(md=md)
        _execute(f"CREATE INDEX IF NOT EXISTS {name} ON {table} ({cols})")
        made.append(f"{table}({cols})")
    # VACUUM sets the visibility map that index-only scans need (autovacuum does it in production).
    _execute("VACUUM ANALYZE" if connection.vendor == "postgresql" else "ANALYZE")
    return made


def table_rows() -> dict[str, int]:
    return {t: _fetch(f"SELECT count(*) FROM {t}")[0][0] for t in BIG_TABLES}


# --------------------------------------------------------------------------------------------------
# Timing


def scan_seconds() -> float:
    """Best of three: the bare scan of customers and purchases the plan is compared with."""
    best = float("inf")
    for _ in range(4):  # the first warms the cache
        t = time.perf_counter()
        _fetch("SELECT count(*), sum(amount) FROM customers_purchase")
        _fetch("SELECT count(*), sum(owner_id) FROM customers_customer")
        best = min(best, time.perf_counter() - t)
    return best


def _instrument() -> tuple[dict[str, float], Callable[[], None]]:
    """Time each trigger's candidate generation (queries included)."""
    from huitou.followups import plan

    spent: dict[str, float] = defaultdict(float)
    original = dict(plan._GENERATORS)

    def wrap(trigger: str, gen: Callable[..., Iterator[Any]]) -> Callable[..., Iterator[Any]]:
        def timed(*args: Any) -> Iterator[Any]:
            it = gen(*args)
            while True:
                t = time.perf_counter()
                try:
                    item = next(it)
                except StopIteration:
                    spent[trigger] += time.perf_counter() - t
                    return
                spent[trigger] += time.perf_counter() - t
                yield item

        return timed

    for trigger, gen in original.items():
        plan._GENERATORS[trigger] = wrap(trigger, gen)

    def restore() -> None:
        plan._GENERATORS.update(original)

    return spent, restore


def time_plan(day: dt.date) -> dict[str, Any]:
    from django.db import connection
    from django.utils import timezone

    from huitou.accounts.models import Organisation
    from huitou.followups.plan import plan_run

    org = Organisation.objects.get(slug="bench")
    now = dt.datetime.combine(day, dt.time(5, 30), tzinfo=timezone.get_default_timezone())
    spent, restore = _instrument()
    queries = 0

    def count(execute: Callable[..., Any], sql: str, params: Any, many: bool, context: Any) -> Any:
        nonlocal queries
        queries += 1
        return execute(sql, params, many, context)

    try:
        # Counted with a wrapper, not CaptureQueriesContext: that forces the debug cursor.
        with connection.execute_wrapper(count):
            t = time.perf_counter()
            result = plan_run(organisation=org, day=day, now=now)
            seconds = time.perf_counter() - t
    finally:
        restore()
    top = sorted(spent.items(), key=lambda kv: -kv[1])[:6]
    return {
        "day": day.isoformat(),
        "seconds": round(seconds, 2),
        "tasks_created": result.tasks_created,
        "messages_queued": result.messages_queued,
        "skipped": result.skipped,
        "queries": queries,
        "candidates_s_by_trigger": {k: round(v, 2) for k, v in top},
    }


def reset_plan_tables() -> None:
    from django.db import connection

    # The maintenance fill state too: the first run builds it, as on a fresh archive.
    tables = ("followups_task", "followups_message", "followups_planrun")
    for table in (*tables, "followups_servicedue", "followups_serviceduefill"):
        _execute(f"DELETE FROM {table}")
    if connection.vendor == "postgresql":
        _execute("VACUUM ANALYZE followups_task")
        _execute("VACUUM ANALYZE followups_message")


def run(
    *, backend: str, server_url: str, customers: int, purchases: int, reuse: bool, workdir: Path
) -> dict[str, Any]:
    workdir.mkdir(parents=True, exist_ok=True)
    sqlite_path = workdir / f"plan-{customers}.sqlite3"
    fresh = open_database(backend, server_url, sqlite_path, reuse=reuse)
    out: dict[str, Any] = {
        "backend": backend,
        "customers": customers,
        "purchases": purchases,
        "reused_db": not fresh,
    }
    if fresh:
        log(f"{backend}: building {customers:,} customers and {purchases:,} purchases")
        t = time.perf_counter()
        out["build_phases"] = build(customers, purchases)
        out["build_s"] = round(time.perf_counter() - t, 1)
    else:
        # A kept database may predate the latest migrations (new indexes of the models).
        from django.core.management import call_command

        t = time.perf_counter()
        call_command("migrate", interactive=False, verbosity=0)
        out["migrate_s"] = round(time.perf_counter() - t, 1)
    out["proposed_indexes"] = add_proposed_indexes()
    out["table_rows"] = table_rows()
    if out["table_rows"]["customers_customer"] != customers:
        raise SystemExit(
            f"the kept database has {out['table_rows']['customers_customer']:,} customers, not {customers:,}"
        )
    reset_plan_tables()
    log(f"{backend}: timing the scan")
    out["scan_s"] = round(scan_seconds(), 3)
    log(f"{backend}: first run ({BENCH_DAY - dt.timedelta(days=1)}, with the revisit backlog)")
    out["first_run"] = time_plan(BENCH_DAY - dt.timedelta(days=1))
    log(f"{backend}: the bench day {BENCH_DAY}")
    out["day_run"] = time_plan(BENCH_DAY)
    log(f"{backend}: the same day again")
    out["rerun"] = time_plan(BENCH_DAY)
    out["ratio"] = round(out["day_run"]["seconds"] / out["scan_s"], 2) if out["scan_s"] else None
    out["target_ratio"] = 3
    out["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    out["load_average"] = [round(x, 2) for x in os.getloadavg()]
    return out


def section_parser(section: str, doc: str | None) -> argparse.ArgumentParser:
    """The command line every ``bench.bench_<section>`` module takes, as ``bench.run._per_backend``
    calls it: backend, server, scale, reuse of the kept database and the work folder. Each module
    adds its own options."""
    p = argparse.ArgumentParser(
        prog=f"python -m bench.bench_{section}", description=(doc or "").split("\n")[0]
    )
    p.add_argument("--backend", choices=["sqlite", "postgresql"], required=True)
    p.add_argument("--database-url", default=DEFAULT_SERVER, help="PostgreSQL server (any database on it)")
    p.add_argument("--customers", type=int, default=1_000_000)
    p.add_argument("--purchases", type=int, default=10_000_000)
    p.add_argument("--reuse-db", action="store_true", help="run against the database kept by an earlier run")
    p.add_argument("--workdir", type=Path, default=ROOT / "var" / "bench" / section)
    return p


def main(argv: list[str] | None = None) -> int:
    p = section_parser("plan", __doc__)
    args = p.parse_args(argv)
    result = run(
        backend=args.backend,
        server_url=args.database_url,
        customers=args.customers,
        purchases=args.purchases,
        reuse=args.reuse_db,
        workdir=args.workdir,
    )
    print(json.dumps(result, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
