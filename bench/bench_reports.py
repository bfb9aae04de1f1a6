"""Account reports, dashboards and cost-to-serve at scale: the pages, per role, against bare scans.

    python -m bench.bench_reports --backend postgresql --reuse-db          # on huitou_bench_nightly
    python -m bench.bench_reports --backend postgresql --db-name huitou_helper_x --customers 20000 \
        --purchases 200000                                                  # a small set of its own
    python -m bench.bench_reports --backend sqlite --customers 100000 --purchases 1000000

The scale set is the nightly benchmark's (``bench/bench_nightly.py``, PostgreSQL database
``huitou_bench_nightly``): ``bench_plan.build()`` (organisation ``bench``, users ``owner``,
``manager0``.. (store S0..), ``rep0``..``rep99``), complaint tickets, survey answers, and the
nightly analytics snapshots (segments, value, risk) of the bench day. This module never rebuilds
that database: without ``--reuse-db`` or when it is missing, it stops. Any other database name
(or SQLite) is built here from scratch the same way (build, feedback rows, one nightly run).

What the report pages need and the nightly set lacks is added once, set-based (``INSERT ...
SELECT`` / ``UPDATE ... FROM`` over ``generate_series`` and the existing rows; pseudo-random columns
from ``bench_plan.h``), each step skipped when its rows are already there:

- purchases: credited to the customer's store and (sales) rep, a margin (8–24% of the amount),
  payment terms (due 30 days after the order) and payment: paid in full on due ± days for 99.5% of
  the purchases older than 120 days, 90% of those 30–120 days old, 30% of those not yet due; the
  rest open (a third of them half paid) — so the open purchases are the few percent the receivables
  index is built for. The purchases' secondary indexes are dropped for the update and rebuilt.
  A busy distributor account (a company of ``rep0`` in store S0) gets 3,000 orders over five years;
- visit and call tasks of the last 180 days and the next 20 (the plan's work: 1.2 per customer),
  assigned to the customer's rep, done / missed / cancelled / open by age;
- a promotion per month since 2021 (every other one limited to stores S0–S4) with 15% of the sales
  of its days tagged (a purchase takes part in one promotion at most);
- share-of-wallet estimates for every company account, 2022–2026;
- display and stock checks every other month of the last year for 30% of the company accounts
  (the latest flagged, 10% of them out of stock).

Then every page is measured through Django's test client signed in (``force_login``) as
``owner``, ``manager0`` and ``rep0``: the real URL, middleware, permission checks, selectors and
templates, the clock frozen at the bench day (``bench_feedback.freeze_clock``). Best of three after
a warm-up; Django's cache is cleared before every run, so the dashboard sections and the
cost-to-serve table are measured cold. Every statement is run again under ``EXPLAIN (ANALYZE,
BUFFERS)`` (SQLite: ``EXPLAIN QUERY PLAN``) and the big tables read by a sequential scan are listed.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import resource
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import bench_feedback as bf  # noqa: E402 - after the path is set
from bench import bench_nightly as bn  # noqa: E402
from bench import bench_plan as bp  # noqa: E402
from bench import bench_referrals as br  # noqa: E402
from bench.markdown import ms as _ms  # noqa: E402
from bench.markdown import plans_document  # noqa: E402

DB_NAME = bn.DB_NAME  # huitou_bench_nightly: reused, never rebuilt here
BENCH_DAY = bp.BENCH_DAY
BASE = br.BASE
BENCH_NOW = bf.BENCH_NOW
RUNS = 3
SLOW_S = 5.0  # a warm-up slower than this: one timed run instead of RUNS
ROLES = ("owner", "manager0", "rep0")
BUSY_ORDERS = 3000
BUSY_NOTE = "bench-reports-busy"
TASK_OCCURRENCE = "bench-reports"
TARGET_PAGE_MS = 100
TARGET_ACCOUNT_MS = 200
TARGET_REPORT_RATIO = 3
BIG_TABLES = {
    "customers_customer",
    "customers_purchase",
    "customers_activity",
    "followups_task",
    "feedback_ticket",
    "feedback_surveyresponse",
    "feedback_surveyinvitation",
    "referrals_referral",
    "analytics_customersegment",
    "analytics_customervalue",
    "analytics_customerrisk",
    "reports_promotionpurchase",
    "reports_walletestimate",
    "reports_stockcheck",
}
# What each whole-organisation report summarises: its bare scan (baselines below).
SECTION_BASELINE = {
    "retention": "purchases",
    "value": "value snapshot",
    "risk": "risk snapshot",
    # The referral figures read the purchases of the months shown (sold customers) besides referrals.
    "referrals": "purchases",
    "quota": "purchases",
    "compliance": "tasks",
    "tasks": "tasks",
    "cvp": "responses",
    "queues": "tasks",
    "tickets": "tickets",
}

h = bp.h
log = bp.log


# --------------------------------------------------------------------------------------------------
# The scale set


def _exists(sql: str) -> bool:
    return bool(bp._fetch(sql))


def _org_id() -> int:
    return int(bp._fetch("SELECT id FROM accounts_organisation WHERE slug = 'bench'")[0][0])


def _user_id(username: str) -> int:
    return int(bp._fetch(f"SELECT id FROM accounts_user WHERE username = '{username}'")[0][0])


def _store_ids() -> list[int]:
    o = _org_id()
    return [r[0] for r in bp._fetch(f"SELECT id FROM accounts_store WHERE organisation_id = {o} ORDER BY id")]


def busy_account() -> int:
    """The planted distributor: the first active company account of rep0 (store S0)."""
    rep0 = _user_id("rep0")
    return int(
        bp._fetch(
            f"SELECT min(id) FROM customers_customer WHERE owner_id = {rep0} AND kind = 'company' "
            "AND status = 'active'"
        )[0][0]
    )


def add_purchase_credit(phases: dict[str, float]) -> bool:
    """Credit, margin, payment terms and payments of every purchase, plus the busy account's
    orders; one transaction with the purchases' secondary indexes dropped and rebuilt."""
    from django.db import connection, transaction

    if _exists(f"SELECT 1 FROM customers_purchase WHERE note = '{BUSY_NOTE}' LIMIT 1"):
        return False
    d = bf.Dialect(connection.vendor)
    o = _org_id()
    busy = busy_account()
    bench_day = (BENCH_DAY - BASE).days
    first_busy = (dt.date(2021, 3, 10) - BASE).days
    with transaction.atomic():
        saved = bp._secondary_indexes("customers_purchase")
        t = time.perf_counter()
        for name, _sql in saved:
            bp._execute(f'DROP INDEX "{name}"')
        phases["purchase_indexes_dropped"] = round(time.perf_counter() - t, 1)
        top = bp._fetch("SELECT max(id) FROM customers_purchase")[0][0] or 0
        prefix, src = d.source(BUSY_ORDERS)
        day = f"{first_busy} + {h(2)} % {bench_day - first_busy}"
        br._run_sql(
            phases,
            "busy_account_orders",
            f"{prefix}INSERT INTO customers_purchase (id, created_at, updated_at, organisation_id, "
            "customer_id, ordered_on, kind, amount, margin, paid_amount, note) "
            f"SELECT {top} + g, {d.at('0')}, {d.at('0')}, {o}, {busy}, {d.on(day)}, "
            f"CASE WHEN {h(3)} % 10 < 6 THEN 'replacement' ELSE 'expansion' END, "
            f"500 + {h(4)} % 50000, 0, 0, '{BUSY_NOTE}' FROM {src}",
        )
        dd = d.days_since("p.ordered_on")
        u = f"({h(5, 'p.id')} % 1000)"
        age = f"({bench_day} - {dd})"
        paid = f"CASE WHEN {age} < 30 THEN {u} < 300 WHEN {age} < 120 THEN {u} < 900 ELSE {u} < 995 END"
        paid_on = d.on(d.least(f"{dd} + 20 + {u} % 40", str(bench_day - 1)))
        # Unqualified columns in SET (both databases); p and c in the expressions.
        br._run_sql(
            phases,
            "purchase_credit_payments",
            "UPDATE customers_purchase AS p SET store_id = c.store_id, "
            "rep_id = CASE WHEN p.kind <> 'service' THEN c.owner_id END, "
            f"margin = round(p.amount * (8 + {h(6, 'p.id')} % 17) / 100, 2), "
            f"payment_due_on = {d.on(f'{dd} + 30')}, "
            f"paid_amount = CASE WHEN {paid} THEN p.amount WHEN {u} % 3 = 0 THEN round(p.amount / 2, 2) "
            "ELSE 0 END, "
            f"paid_on = CASE WHEN {paid} THEN {paid_on} END "
            "FROM customers_customer AS c WHERE c.id = p.customer_id",
        )
        t = time.perf_counter()
        for _name, sql in saved:
            bp._execute(sql)
        phases["purchase_indexes_rebuilt"] = round(time.perf_counter() - t, 1)
        if d.pg:
            bp._execute(
                "SELECT setval(pg_get_serial_sequence('customers_purchase', 'id'), "
                "(SELECT max(id) FROM customers_purchase))"
            )
    return True


def add_tasks(customers: int, phases: dict[str, float]) -> bool:
    from django.db import connection

    if _exists(f"SELECT 1 FROM followups_task WHERE occurrence LIKE '{TASK_OCCURRENCE}%' LIMIT 1"):
        return False
    d = bf.Dialect(connection.vendor)
    o = _org_id()
    bench_day = (BENCH_DAY - BASE).days
    n = customers * 6 // 5
    prefix, src = d.source(n)
    due = f"({bench_day - 180} + {h(2)} % 200)"
    kind = br._pick(f"({h(3)} % 1000)", bf._q(("call", 60), ("visit", 25), ("wechat", 15)))
    u = f"({h(4)} % 1000)"
    status = (
        f"CASE WHEN {due} >= {bench_day} THEN 'open' "
        f"WHEN {due} >= {bench_day - 3} THEN CASE WHEN {u} < 400 THEN 'done' ELSE 'open' END "
        f"WHEN {u} < 800 THEN 'done' WHEN {u} < 920 THEN 'missed' WHEN {u} < 970 THEN 'cancelled' "
        "ELSE 'open' END"
    )
    br._run_sql(
        phases,
        "tasks",
        f"{prefix}INSERT INTO followups_task (organisation_id, customer_id, rule_id, occurrence, kind, "
        "purpose, priority, title, script, due_on, assignee_id, status, outcome, note, completed_at, "
        "created_at, version) "
        f"SELECT {o}, c.id, NULL, '{TASK_OCCURRENCE}-' || x.g, x.kd, 'service', 50, '回访', '', "
        f"{d.on('x.due')}, c.owner_id, x.st, CASE WHEN x.st = 'done' THEN "
        "CASE WHEN x.kd = 'visit' THEN 'visit_done' ELSE 'reached' END ELSE '' END, '', "
        f"CASE WHEN x.st = 'done' THEN {d.at('x.due * 1440 + 120 + x.u % 600')} END, "
        f"{d.at('(x.due - 7) * 1440')}, 1 "
        f"FROM (SELECT g, 1 + {h(1)} % {customers} AS cid, {due} AS due, {kind} AS kd, {u} AS u, "
        f"{status} AS st FROM {src}) x JOIN customers_customer c ON c.id = x.cid",
    )
    return True


def add_promotions(phases: dict[str, float]) -> bool:
    from django.db import connection

    from huitou.accounts.models import Organisation, Store
    from huitou.reports.models import Promotion

    org = Organisation.objects.get(slug="bench")
    if Promotion.objects.filter(organisation=org).exists():
        return False
    d = bf.Dialect(connection.vendor)
    stores = list(Store.objects.filter(organisation=org).order_by("pk"))
    t = time.perf_counter()
    month = dt.date(2021, 1, 1)
    made: list[Any] = []
    while month <= BENCH_DAY:
        nxt = (month + dt.timedelta(days=32)).replace(day=1)
        p = Promotion.objects.create(
            organisation=org,
            name=f"{month:%Y-%m} 月度促销",
            starts_on=month + dt.timedelta(days=4),
            ends_on=min(nxt - dt.timedelta(days=5), BENCH_DAY + dt.timedelta(days=20)),
        )
        if len(made) % 2:
            p.stores.set(stores[:5])
        made.append(p)
        month = nxt
    phases["promotions"] = round(time.perf_counter() - t, 1)
    o = org.pk
    br._run_sql(
        phases,
        "promotion_tags",
        "INSERT INTO reports_promotionpurchase (organisation_id, promotion_id, purchase_id, customer_id, "
        "tagged_by_id, tagged_at) "
        f"SELECT {o}, pr.id, p.id, p.customer_id, p.rep_id, {d.at('0')} "
        "FROM reports_promotion pr JOIN customers_purchase p ON p.organisation_id = pr.organisation_id "
        "AND p.ordered_on >= pr.starts_on AND p.ordered_on <= pr.ends_on "
        f"WHERE pr.organisation_id = {o} AND p.kind <> 'service' AND {h(7, 'p.id')} % 100 < 15 "
        "AND (NOT EXISTS (SELECT 1 FROM reports_promotion_stores s WHERE s.promotion_id = pr.id) "
        "OR p.store_id IN (SELECT s.store_id FROM reports_promotion_stores s WHERE s.promotion_id = pr.id))",
    )
    return True


def add_wallets(phases: dict[str, float]) -> bool:
    from django.db import connection

    if _exists("SELECT 1 FROM reports_walletestimate LIMIT 1"):
        return False
    d = bf.Dialect(connection.vendor)
    o = _org_id()
    union = " UNION ALL ".join(f"SELECT {y} AS y" for y in range(2022, 2027))
    br._run_sql(
        phases,
        "wallet_estimates",
        "INSERT INTO reports_walletestimate (created_at, updated_at, organisation_id, customer_id, year, "
        "category, amount, source, estimated_on, entered_by_id, note) "
        f"SELECT {d.at('0')}, {d.at('0')}, {o}, c.id, yy.y, '', 200000 + {h(8, 'c.id')} % 3000000, 'rep', "
        f"{d.on('0')}, c.owner_id, '' FROM customers_customer c CROSS JOIN ({union}) yy "
        "WHERE c.kind = 'company'",
    )
    return True


def add_stock_checks(phases: dict[str, float]) -> bool:
    from django.db import connection

    if _exists("SELECT 1 FROM reports_stockcheck LIMIT 1"):
        return False
    d = bf.Dialect(connection.vendor)
    o = _org_id()
    bench_day = (BENCH_DAY - BASE).days
    union = " UNION ALL ".join(f"SELECT {k} AS k" for k in range(6))  # every other month, latest k=0
    day = f"({bench_day} - 3 - k.k * 61 - {h(9, 'c.id')} % 20)"
    stock = f"CASE WHEN ({h(10, 'c.id')} + k.k) % 10 = 0 THEN 'out' WHEN ({h(10, 'c.id')} + k.k) % 10 < 3 "
    stock += "THEN 'low' ELSE 'enough' END"
    br._run_sql(
        phases,
        "stock_checks",
        "INSERT INTO reports_stockcheck (created_at, updated_at, organisation_id, customer_id, checked_on, "
        "checked_by_id, display, facings, stock, out_of_stock, note, is_latest) "
        f"SELECT {d.at('0')}, {d.at('0')}, {o}, c.id, {d.on(day)}, c.owner_id, "
        f"CASE WHEN {h(11, 'c.id')} % 4 = 0 THEN 'partial' ELSE 'good' END, 1 + {h(11, 'c.id')} % 8, "
        f"{stock}, '', '', CASE WHEN k.k = 0 THEN {d.true()} ELSE {d.false()} END "
        f"FROM customers_customer c CROSS JOIN ({union}) k "
        f"WHERE c.kind = 'company' AND {h(12, 'c.id')} % 10 < 3",
    )
    return True


def add_reports_rows(customers: int) -> dict[str, Any]:
    """The additions above, each skipped when present; returns what was done and how long it took."""
    from django.db import connection

    phases: dict[str, float] = {}
    pg = connection.vendor == "postgresql"
    if pg:
        # The rows are consistent by construction: skip the deferred foreign-key checks (millions
        # of trigger events queued in memory until the commit), as bench_feedback does.
        bp._execute("SET session_replication_role = replica")
    try:
        done = {
            "purchases": add_purchase_credit(phases),
            "tasks": add_tasks(customers, phases),
            "promotions": add_promotions(phases),
            "wallets": add_wallets(phases),
            "stock_checks": add_stock_checks(phases),
        }
    finally:
        if pg:
            bp._execute("SET session_replication_role = DEFAULT")
    if any(done.values()):
        t = time.perf_counter()
        if connection.vendor == "postgresql":
            for table in (
                "customers_purchase",
                "followups_task",
                "reports_promotionpurchase",
                "reports_walletestimate",
                "reports_stockcheck",
            ):
                bp._execute(f"VACUUM (ANALYZE) {table}")
        else:
            bp._execute("ANALYZE")
        phases["vacuum_analyze"] = round(time.perf_counter() - t, 1)
    return {"added": done, "phases": phases}


def ensure_snapshots() -> dict[str, Any]:
    """The nightly snapshots of the bench day (the nightly benchmark leaves them; otherwise one run)."""
    from huitou.analytics import nightly

    org = bn._org()
    counts = nightly.snapshot_counts(organisation_id=org.pk, as_of=BENCH_DAY)
    if all(counts.values()):
        return {"snapshot_rows": counts, "nightly_run_s": None}
    log("no nightly snapshot of the bench day: running nightly_run once")
    t = time.perf_counter()
    nightly.nightly_run(organisation=org, as_of=BENCH_DAY)
    return {
        "snapshot_rows": nightly.snapshot_counts(organisation_id=org.pk, as_of=BENCH_DAY),
        "nightly_run_s": round(time.perf_counter() - t, 1),
    }


TABLES = (
    "customers_customer",
    "customers_purchase",
    "customers_activity",
    "followups_task",
    "feedback_ticket",
    "feedback_surveyresponse",
    "referrals_referral",
    "analytics_customersegment",
    "analytics_customervalue",
    "analytics_customerrisk",
    "reports_promotion",
    "reports_promotionpurchase",
    "reports_walletestimate",
    "reports_stockcheck",
)


def table_rows() -> dict[str, int]:
    return {t: bp._fetch(f"SELECT count(*) FROM {t}")[0][0] for t in TABLES}


def shape() -> dict[str, Any]:
    q = bp._fetch
    busy = busy_account()
    return {
        "open_purchases": q("SELECT count(*) FROM customers_purchase WHERE paid_amount < amount")[0][0],
        "credited_purchases": q("SELECT count(*) FROM customers_purchase WHERE store_id IS NOT NULL")[0][0],
        "busy_account": busy,
        "busy_account_purchases": q(f"SELECT count(*) FROM customers_purchase WHERE customer_id = {busy}")[0][
            0
        ],
        "tasks_by_status": dict(q("SELECT status, count(*) FROM followups_task GROUP BY status")),
        "snapshot_days": {
            t: [str(r[0]) for r in q(f"SELECT DISTINCT as_of FROM {t} ORDER BY 1")]
            for t in ("analytics_customersegment", "analytics_customervalue", "analytics_customerrisk")
        },
    }


# --------------------------------------------------------------------------------------------------
# Measuring


def _latest(table: str) -> str:
    row = bp._fetch(f"SELECT max(as_of) FROM {table} WHERE as_of <= '{BENCH_DAY.isoformat()}'")
    return str(row[0][0] or BENCH_DAY)


def baselines() -> dict[str, dict[str, Any]]:
    scans = {
        "purchases": "SELECT count(*), sum(amount) FROM customers_purchase",
        "customers": "SELECT count(*), sum(owner_id) FROM customers_customer",
        "activities": "SELECT count(*), max(occurred_at) FROM customers_activity",
        "tasks": "SELECT count(*), sum(priority) FROM followups_task",
        "tickets": "SELECT count(*), sum(version) FROM feedback_ticket",
        "responses": "SELECT count(*), sum(overall) FROM feedback_surveyresponse",
        "referrals": "SELECT count(*), sum(version) FROM referrals_referral",
        "segment snapshot": "SELECT count(*), sum(monetary) FROM analytics_customersegment WHERE as_of = "
        f"'{_latest('analytics_customersegment')}'",
        "value snapshot": "SELECT count(*), sum(monetary) FROM analytics_customervalue WHERE as_of = "
        f"'{_latest('analytics_customervalue')}'",
        "risk snapshot": "SELECT count(*), sum(days_since_last) FROM analytics_customerrisk WHERE as_of = "
        f"'{_latest('analytics_customerrisk')}'",
    }
    out: dict[str, dict[str, Any]] = {}
    for key, sql in scans.items():

        def scan(sql: str = sql) -> Any:
            return bp._fetch(sql)

        row = measure(f"`{sql}`", "—", scan, kind="baseline", baseline="")
        out[key] = {"sql": sql, "ms": row["ms"], "runs_ms": row["runs_ms"], "plans": row["plans"]}
    for key, parts in (
        ("funnel sources", ("customers", "purchases", "referrals")),
        ("cost sources", ("purchases", "activities", "tasks", "tickets")),
        ("scorecard sources", ("tasks", "referrals", "responses", "risk snapshot")),
    ):
        out[key] = {
            "sql": "the scans of " + ", ".join(parts) + ", summed",
            "ms": round(sum(out[p]["ms"] for p in parts), 1),
            "runs_ms": [],
            "plans": [],
        }
    return out


def measure(label: str, role: str, fn: Callable[[], Any], *, kind: str, baseline: str) -> dict[str, Any]:
    """Warm-up (statements kept and explained), then best of ``RUNS`` with CPU and SQL time."""
    warm, _c, rec = bf._timed_run(fn, keep=True)
    # A page that takes seconds is timed once more, not three times (the report says so).
    runs = [bf._timed_run(fn) for _ in range(RUNS if warm < SLOW_S else 1)]
    best_s, best_cpu, best_rec = min(runs, key=lambda r: r[0])
    row: dict[str, Any] = {
        "label": label,
        "role": role,
        "kind": kind,
        "baseline": baseline,
        "ms": round(best_s * 1000, 1),
        "cpu_ms": round(best_cpu * 1000, 1),
        "runs_ms": [round(s * 1000, 1) for s, _c, _r in runs],
        "sql_ms": round(best_rec.seconds * 1000, 1),
        "queries": best_rec.count,
        "plans": [],
    }
    seen: set[str] = set()
    for sql, params in rec.statements:
        if sql.lstrip().upper().startswith(("SELECT", "WITH")) and sql not in seen:
            seen.add(sql)
            row["plans"].append(br.explain(sql, params))
    row["seq_scans_big"] = sorted({t for p in row["plans"] for t in p["seq_scans"]} & BIG_TABLES)
    log(
        f"  {label} as {role}: {row['ms']} ms (CPU {row['cpu_ms']}, {row['queries']} queries, "
        f"SQL {row['sql_ms']} ms) {row['seq_scans_big'] or ''}"
    )
    return row


def targets_for(row: dict[str, Any], base: dict[str, dict[str, Any]]) -> dict[str, Any]:
    b = base.get(row["baseline"], {}).get("ms")
    row["ratio"] = round(row["ms"] / b, 2) if b and row["ms"] is not None else None
    if row.get("status", 200) != 200:
        row["target"], row["met"] = "—", None
    elif row["kind"] == "page":
        row["target"] = f"≤ {TARGET_PAGE_MS} ms"
        row["met"] = row["ms"] <= TARGET_PAGE_MS
    elif row["kind"] == "account":
        row["target"] = f"≤ {TARGET_ACCOUNT_MS} ms"
        row["met"] = row["ms"] <= TARGET_ACCOUNT_MS
    elif row["kind"] == "report":
        row["target"] = f"≤ {TARGET_REPORT_RATIO}× scan"
        row["met"] = row["ratio"] is not None and row["ratio"] <= TARGET_REPORT_RATIO
    else:
        row["target"], row["met"] = "—", None
    return row


def workload() -> list[tuple[str, str, str, str, str]]:
    """(label, username, kind, baseline, url)."""
    from django.contrib.auth import get_user_model

    from huitou.dashboards import selectors as dash

    store0 = _store_ids()[0]
    busy = busy_account()
    # An ordinary account of rep0 for comparison: the median number of purchases (about ten).
    ordinary = bp._fetch(
        f"SELECT c.id FROM customers_customer c WHERE c.owner_id = {_user_id('rep0')} "
        "AND c.status = 'active' "
        f"AND c.id <> {busy} ORDER BY c.id LIMIT 1"
    )[0][0]
    out: list[tuple[str, str, str, str, str]] = []

    def page(label: str, url: str, who: tuple[str, ...], kind: str = "page", baseline: str = "") -> None:
        out.extend((label, r, kind, baseline, url) for r in who)

    page("reference: signed-in bare view", "/bench/bare-authed/", ("owner",), kind="reference")
    page("accounts, page 1", "/reports/accounts/", ROLES)
    page("accounts, store S0, page 1", f"/reports/accounts/?store={store0}", ("owner", "manager0"))
    page(
        f"account report, busy account #{busy} ({BUSY_ORDERS:,} orders)",
        f"/reports/accounts/{busy}/",
        ROLES,
        kind="account",
    )
    page(
        f"account report, ordinary account #{ordinary}",
        f"/reports/accounts/{ordinary}/",
        ("owner",),
        "account",
    )
    page("receivables (by store)", "/reports/receivables/", ROLES, kind="report", baseline="purchases")
    page(
        "receivables by rep",
        "/reports/receivables/?group=rep",
        ("owner",),
        kind="report",
        baseline="purchases",
    )
    page("sales funnel (last 12 months)", "/reports/funnel/", ROLES, kind="report", baseline="funnel sources")
    users = {u.username: u for u in get_user_model().objects.filter(username__in=ROLES)}
    for role in ROLES:
        page("home page /", "/", (role,))
        for key, lazy in dash.sections_for(users[role]):
            whole = role == "owner"
            page(
                f"home section {key}" + (" (htmx)" if lazy else " (in the page)"),
                f"/home/{key}/",
                (role,),
                kind="report" if whole else "page",
                baseline=SECTION_BASELINE.get(key, "") if whole else "",
            )
    page("rep scorecard (this month)", "/scorecard/", ROLES, kind="report", baseline="scorecard sources")
    page(
        "cost-to-serve (last 365 days, cold)",
        "/analytics/costs/",
        ROLES,
        kind="report",
        baseline="cost sources",
    )
    page("lifetime value report", "/analytics/value/", ROLES, kind="report", baseline="value snapshot")
    page("risk list", "/analytics/risk/", ROLES)
    page("segments", "/analytics/segments/", ROLES, kind="report", baseline="segment snapshot")
    return out


class _Refused(RuntimeError):
    def __init__(self, status: int) -> None:
        super().__init__(f"status {status}")
        self.status = status


def measure_pages(base: dict[str, dict[str, Any]], only: str = "") -> list[dict[str, Any]]:
    from django.conf import settings
    from django.contrib.auth import get_user_model
    from django.test import Client

    settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "testserver"]
    clients: dict[str, Any] = {}
    for u in get_user_model().objects.select_related("organisation").filter(username__in=ROLES):
        c = Client()
        c.force_login(u)
        clients[u.username] = c
    rows = []
    for label, role, kind, baseline, url in workload():
        if only and only not in label:
            continue

        def call(c: Any = clients[role], url: str = url) -> Any:
            r = c.get(url)
            if r.status_code != 200:
                raise _Refused(r.status_code)
            return r

        try:
            row = measure(label, role, call, kind=kind, baseline=baseline)
        except _Refused as exc:  # a role the page refuses: said so, not measured
            log(f"  {label} as {role}: status {exc.status}, not measured")
            row = {
                "label": label,
                "role": role,
                "kind": kind,
                "baseline": baseline,
                "status": exc.status,
                "ms": None,
                "cpu_ms": None,
                "runs_ms": [],
                "sql_ms": None,
                "queries": 0,
                "plans": [],
                "seq_scans_big": [],
            }
        row["url"] = url
        row.setdefault("status", 200)
        rows.append(targets_for(row, base))
    return rows


# --------------------------------------------------------------------------------------------------


def run(
    *,
    backend: str,
    server_url: str,
    customers: int,
    purchases: int,
    reuse: bool,
    workdir: Path,
    db_name: str = DB_NAME,
    only: str = "",
    build_only: bool = False,
) -> dict[str, Any]:
    workdir.mkdir(parents=True, exist_ok=True)
    sqlite_path = workdir / f"reports-{customers}.sqlite3"
    os.environ["HUITOU_BENCH"] = "1"  # mounts bench/views.py: the signed-in bare view, for reference
    if (
        backend == "postgresql"
        and db_name == DB_NAME
        and not (reuse and bp.pg_database_exists(server_url, DB_NAME))
    ):
        raise SystemExit(
            f"{DB_NAME} is the nightly benchmark's set: run that benchmark first and pass --reuse-db "
            "(this module never rebuilds it)"
        )
    fresh = bp.open_database(backend, server_url, sqlite_path, reuse=reuse, db_name=db_name)
    out: dict[str, Any] = {
        "backend": backend,
        "database": db_name if backend == "postgresql" else str(sqlite_path),
        "customers": customers,
        "purchases": purchases,
        "reused_db": not fresh,
        "bench_now": BENCH_NOW.isoformat(),
        "load_average_start": [round(x, 2) for x in os.getloadavg()],
    }
    t = time.perf_counter()
    if fresh:
        log(f"{backend}: building {customers:,} customers and {purchases:,} purchases")
        phases = bp.build(customers, purchases)
        phases.update(bn.add_feedback(customers))
        out["build_phases"] = phases
    else:
        bn._migrate_kept()
    out["snapshots"] = ensure_snapshots()
    # Statistics of the night's snapshots, as autovacuum would have them by the morning.
    for table in ("analytics_customersegment", "analytics_customervalue", "analytics_customerrisk"):
        bp._execute(f"ANALYZE {table}")
    log(f"{backend}: adding what the report pages need (skipped when present)")
    out["additions"] = add_reports_rows(customers)
    out["setup_s"] = round(time.perf_counter() - t, 1)
    if backend != "postgresql":
        bp._execute("PRAGMA cache_size = -262144")
    out["table_rows"] = table_rows()
    if out["table_rows"]["customers_customer"] != customers:
        raise SystemExit(
            f"the database has {out['table_rows']['customers_customer']:,} customers, not {customers:,}"
        )
    out["shape"] = shape()
    log(f"{backend}: {json.dumps(out['shape'], default=str)}")
    if build_only:
        return out
    bf.freeze_clock(BENCH_NOW)
    out["baselines"] = baselines()
    out["rows"] = measure_pages(out["baselines"], only=only)
    out["load_average"] = [round(x, 2) for x in os.getloadavg()]
    out["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    return out


def main(argv: list[str] | None = None) -> int:
    p = bp.section_parser("reports", __doc__)
    p.add_argument("--db-name", default=DB_NAME, help="PostgreSQL database (default: the nightly set)")
    p.add_argument("--only", default="", help="measure only the rows whose label contains this")
    p.add_argument("--build-only", action="store_true")
    args = p.parse_args(argv)
    result = run(
        backend=args.backend,
        server_url=args.database_url,
        customers=args.customers,
        purchases=args.purchases,
        reuse=args.reuse_db,
        workdir=args.workdir,
        db_name=args.db_name,
        only=args.only,
        build_only=args.build_only,
    )
    print(json.dumps(result, ensure_ascii=False, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())


# --------------------------------------------------------------------------------------------------
# The report (``python -m bench.run --only reports`` calls ``render``)

PLANS = ROOT / "bench" / "REPORT-reports-plans.md"
NOTES = ROOT / "bench" / "reports_notes.md"


def _plans_markdown(results: list[dict[str, Any]]) -> str:
    return plans_document(
        title="Account reports, dashboards and cost-to-serve at scale: the statements and their plans",
        intro="Generated with the reports section of [REPORT.md](REPORT.md) by `python -m bench.run "
        "--only reports`. Every statement a page issued (its first, warm-up request), run again under "
        "`EXPLAIN (ANALYZE, BUFFERS)` (SQLite: `EXPLAIN QUERY PLAN`). Module: `bench/bench_reports.py`.\n",
        results=results,
        measured=lambda r: [x for x in r["rows"] if x.get("status", 200) == 200],
        heading=lambda x: (
            f"{x['label']} · {x['role']} · `{x.get('url', '')}` · {_ms(x['ms'])} ms · {x['queries']} queries"
        ),
        big_tables=BIG_TABLES,
    )


def render(results: list[dict[str, Any]], failures: list[str] | None = None) -> str:
    """The "Account reports, dashboards and cost-to-serve at scale" section of bench/REPORT.md."""
    from bench.run import _scans

    out = [
        "The account reports (`/reports/...`), each role's home page and its htmx sections "
        "(`/`, `/home/<key>/`), the rep scorecard and the analytics pages (cost-to-serve, lifetime value, "
        "risk, segments) through Django's test client signed in (`force_login`) as `owner`, `manager0` "
        "(store S0, team 0) and `rep0`: the real URL, middleware, permission checks, selectors and "
        f"templates, with the clock frozen at the bench day ({BENCH_NOW:%Y-%m-%d %H:%M} Asia/Shanghai). "
        f"Best of three after a warm-up (one timed run when the warm-up took over {SLOW_S:.0f} s); "
        "Django's cache is cleared before every request, so the dashboard "
        "sections and the cost-to-serve table (`huitou.analytics.costs.cost_table`) are measured **cold**. "
        "In production `dashboards_warm` (06:45 every morning) pre-fills the owner's organisation-wide "
        "sections `retention` and `value` (`ORG_WIDE`); the other sections are cached for 60–120 s after "
        'the first viewer (`CACHE_TTL`), a rep\'s own never. "SQL ms" is the time inside '
        "`cursor.execute`; the rest is Python and templates. Every statement was run again under "
        "`EXPLAIN (ANALYZE, BUFFERS)` (SQLite: `EXPLAIN QUERY PLAN`, without timings): plans in "
        "[REPORT-reports-plans.md](REPORT-reports-plans.md); the "
        "last column names the big tables a statement read by a sequential scan. Module: "
        "`bench/bench_reports.py`; diagnosis: [reports_notes.md](reports_notes.md).\n",
        f"**Targets.** Pages and lists (the accounts list, the home page, the risk list, a manager's or "
        f"rep's own dashboard sections) ≤ {TARGET_PAGE_MS} ms; one account's report ≤ "
        f"{TARGET_ACCOUNT_MS} ms; reports that summarise the organisation (receivables, the funnel, "
        "cost-to-serve, the scorecard, the value and segment reports, the owner's dashboard sections) ≤ "
        f"{TARGET_REPORT_RATIO}× the bare scan of what they summarise (baselines below). The same "
        "reports opened by a manager or a rep are judged by the same ratio: a narrower scope must not be "
        "slower.\n",
    ]
    for r in results:
        sizes = ", ".join(f"{k.split('_', 1)[1]} {v:,}" for k, v in r["table_rows"].items())
        out.append(f"### {r['backend']}: {r['customers']:,} customers, {r['purchases']:,} purchases\n")
        add = r.get("additions", {})
        added = [k for k, v in add.get("added", {}).items() if v]
        phases = ", ".join(f"{k} {v} s" for k, v in add.get("phases", {}).items())
        built = ", ".join(f"{k} {v} s" for k, v in r.get("build_phases", {}).items())
        source = (
            f"the nightly set `{r['database']}` reused (`--reuse-db`)"
            if r.get("reused_db")
            else f"`{r['database']}` built for this run ({built})"
        )
        out.append(
            f"Scale set: {source}; report rows "
            + (
                f"added now: {', '.join(added)} ({phases})"
                if added
                else "already present (added by an earlier run)"
            )
            + ". Nightly snapshots of the bench day: "
            + ", ".join(f"{k} {v:,}" for k, v in r["snapshots"]["snapshot_rows"].items())
            + (
                f" (computed now, {r['snapshots']['nightly_run_s']} s)"
                if r["snapshots"].get("nightly_run_s")
                else " (left by the nightly benchmark)"
            )
            + f". Rows: {sizes}.\n"
        )
        sh = r.get("shape", {})
        if sh:
            out.append(
                f"Shape: {sh['open_purchases']:,} open purchases (paid less than the amount) of "
                f"{r['table_rows']['customers_purchase']:,}; busy account #{sh['busy_account']} with "
                f"{sh['busy_account_purchases']:,} purchases; tasks by status "
                + ", ".join(f"{k} {v:,}" for k, v in sh["tasks_by_status"].items())
                + "; snapshot days "
                + "; ".join(f"{k.split('_', 1)[1]} {', '.join(v)}" for k, v in sh["snapshot_days"].items())
                + ".\n"
            )
        out.append(
            f"Load average {r['load_average_start']} at the start, {r.get('load_average')} at the end "
            "(2 cores shared with the other benchmarks' database servers: read the ratios).\n"
        )
        out.append(
            _md_table(
                ["baseline", "ms", "runs"],
                [
                    (
                        b["sql"] if not b["sql"].startswith("SELECT") else f"`{b['sql']}`",
                        _ms(b["ms"]),
                        ", ".join(_ms(x) for x in b["runs_ms"]),
                    )
                    for b in r["baselines"].values()
                ],
            )
        )
        out.append("")
        table = []
        for x in r["rows"]:
            if x.get("status", 200) != 200:
                table.append(
                    (
                        x["label"],
                        x["role"],
                        x["kind"],
                        f"status {x['status']}",
                        "",
                        "",
                        "",
                        "",
                        "",
                        "",
                        "—",
                        "",
                    )
                )
                continue
            seq = "; ".join(f"**{t}**" for t in x["seq_scans_big"]) or "none"
            met = "—" if x["met"] is None else ("met" if x["met"] else "**MISS**")
            table.append(
                (
                    x["label"],
                    x["role"],
                    x["kind"],
                    _ms(x["ms"]),
                    ", ".join(_ms(v) for v in x["runs_ms"]),
                    _ms(x["cpu_ms"]),
                    _ms(x["sql_ms"]),
                    str(x["queries"]),
                    x["target"],
                    f"{x['ratio']:.2f}× {x['baseline']}" if x.get("ratio") is not None else "—",
                    met,
                    seq,
                )
            )
        out.append(
            _md_table(
                [
                    "what",
                    "as",
                    "kind",
                    "best ms",
                    "runs ms",
                    "CPU ms",
                    "SQL ms",
                    "queries",
                    "target",
                    "vs baseline",
                    "met",
                    "seq scan of a big table",
                ],
                table,
            )
        )
        out.append("")
        scans = []
        for x in r["rows"]:
            if x.get("status", 200) == 200 and x["plans"]:
                s = sorted({s for p in x["plans"] for s in _scans(p["plan"])})
                scans.append((x["label"], x["role"], "; ".join(s)[:400]))
        out.append("<details><summary>Scans per measurement</summary>\n")
        out.append(_md_table(["what", "as", "scans"], scans))
        out.append("</details>\n")
        missed = [f"{x['label']} as {x['role']}" for x in r["rows"] if x["met"] is False]
        n_met = sum(1 for x in r["rows"] if x["met"])
        judged = sum(1 for x in r["rows"] if x["met"] is not None)
        tail = f" Missed: {'; '.join(missed)}." if missed else ""
        out.append(f"**{n_met} of {judged} measurements meet their target.**{tail}\n")
    for f in failures or []:
        out.append(f"Failed: {f}\n")
    if results:
        PLANS.write_text(_plans_markdown(results))
    if NOTES.exists():
        out.append("\n" + NOTES.read_text(encoding="utf-8").split("-->", 1)[-1].strip() + "\n")
    return "\n".join(out).strip()


def _md_table(header: list[str], rows: Sequence[tuple[Any, ...]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c).replace("|", "\\|") for c in row) + " |" for row in rows]
    return "\n".join(lines)
