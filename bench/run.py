"""Run the benchmarks and regenerate bench/REPORT.md.

    python -m bench.run [--customers N] [--only demo,import,web] [--database-url URL]

``--database-url`` names the PostgreSQL server (any database on it; the harness creates and drops
its own ``huitou_bench_*`` databases). Sections not run this time are kept from the previous
report, so ``--only web`` refreshes the web figures alone.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Collection
from pathlib import Path
from typing import Any

from bench import bench_web
from bench.markdown import ms as _ms

ROOT = Path(__file__).resolve().parent.parent
REPORT = ROOT / "bench" / "REPORT.md"
PLANS = ROOT / "bench" / "REPORT-referrals-plans.md"
SECTIONS = ("facts", "demo", "import", "web", "plan", "referrals", "clv", "nightly", "feedback", "reports")
P95_TARGET_MS = 100
BIG_TABLES = {
    "customers_customer",
    "customers_customersearchkey",
    "customers_ownedproduct",
    "customers_purchase",
    "customers_activity",
}


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


# --- sections --------------------------------------------------------------------------------------


def facts(server_url: str) -> str:
    import sqlite3

    import django
    import numpy

    try:
        import psycopg

        with psycopg.connect(bench_web.database_url_for(server_url, "postgres"), connect_timeout=5) as conn:
            pg = conn.execute("SHOW server_version").fetchone()[0]
            settings = {
                name: conn.execute(f"SHOW {name}").fetchone()[0]
                for name in (
                    "shared_buffers",
                    "work_mem",
                    "effective_cache_size",
                    "max_parallel_workers_per_gather",
                )
            }
    except Exception as exc:  # the report says why instead of failing
        pg, settings = f"not reachable ({exc.__class__.__name__})", {}
    wrk = shutil.which("wrk")
    wrk_version = (
        subprocess.run([wrk, "--version"], capture_output=True, text=True).stdout.split("\n")[0]
        if wrk
        else "—"
    )
    load = os.getloadavg()
    rows = [
        ("CPU cores", str(os.cpu_count())),
        ("CPU", _cpu_model()),
        ("Load average at start (1/5/15 min)", f"{load[0]:.2f} / {load[1]:.2f} / {load[2]:.2f}"),
        ("OS", platform.platform()),
        ("Python", platform.python_version()),
        ("Django", django.get_version()),
        ("PostgreSQL", pg),
        *((f"PostgreSQL {k}", v) for k, v in settings.items()),
        ("SQLite", sqlite3.sqlite_version),
        ("numpy", numpy.__version__),
        ("wrk", wrk_version.strip() or "—"),
    ]
    return _table(["fact", "value"], rows)


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def demo_sqlite(customers: int) -> str:
    """`make demo` on a fresh machine: migrate a new SQLite file and load the demo organisation."""
    with tempfile.TemporaryDirectory(prefix="huitou-demo-") as tmp:
        env = dict(os.environ)
        env.update(
            DATABASE_URL=f"sqlite:///{tmp}/demo.sqlite3",
            HUITOU_VAR_DIR=tmp,
            DJANGO_SETTINGS_MODULE="config.settings.base",
            PYTHONPATH=str(ROOT),
        )
        t = time.perf_counter()
        subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT, env=env, check=True)
        migrate_s = time.perf_counter() - t
        t = time.perf_counter()
        code = (
            "import django, json; django.setup(); from huitou.demo import demo_load; phases = {}; "
            f"demo_load(customers={customers}, seed=42, progress=False, "
            "on_phase=lambda n, s: phases.__setitem__(n, round(s, 1))); "
            "from huitou.customers.models import Customer, Purchase, Activity, CustomerSearchKey as K; "
            "print(json.dumps({'phases': phases, 'customers': Customer.objects.count(), "
            "'purchases': Purchase.objects.count(), 'activities': Activity.objects.count(), "
            "'search_keys': K.objects.count()}))"
        )
        out = subprocess.run(
            [sys.executable, "-c", code], cwd=ROOT, env=env, check=True, capture_output=True, text=True
        ).stdout
        load_s = time.perf_counter() - t
    data = json.loads(out.strip().splitlines()[-1])
    phases = ", ".join(f"{k} {v} s" for k, v in data.pop("phases").items())
    rows = [
        ("customers", f"{data['customers']:,}"),
        ("purchases", f"{data['purchases']:,}"),
        ("timeline activities", f"{data['activities']:,}"),
        ("search keys", f"{data['search_keys']:,}"),
        ("migrate (fresh SQLite)", f"{migrate_s:.1f} s"),
        ("`demo_load` (process start included)", f"{load_s:.1f} s ({phases})"),
        ("goal", "under ~60 s for `make demo`"),
    ]
    return f"`huitou demo --customers {customers}` on a fresh SQLite file.\n\n" + _table(["", ""], rows)


def import_bench(server_url: str, rows: int, workdir: Path) -> str:
    try:
        import bench.bench_import  # noqa: F401 - only checking that the other half exists
    except ImportError as exc:
        return f"Not available: `bench/bench_import.py` could not be imported ({exc})."
    url = bench_web.database_url_for(server_url, "huitou_bench_import")
    code = (
        "import json, sys; from pathlib import Path; from bench import bench_import; "
        f"print(json.dumps(bench_import.run({url!r}, {rows}, Path({str(workdir / 'import')!r}))))"
    )
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    if proc.returncode != 0:
        return f"Failed:\n\n```\n{proc.stderr[-2000:]}\n```"
    figures: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    lines = []
    ips, ratio = figures.get("import_rows_per_s"), figures.get("ratio")
    if ips is not None and ratio is not None:
        ok = ips >= figures.get("target_rows_per_s", 30_000) and ratio <= figures.get("target_ratio", 5)
        lines.append(
            f"**{ips:,} rows/s, {ratio}× the time of COPY** — targets ≥ 30,000 rows/s and ≤ 5×: "
            f"{'met' if ok else 'NOT met'}.\n"
        )
    table_rows = [(k, f"{v:,}" if isinstance(v, int) else str(v)) for k, v in figures.items()]
    return "\n".join(lines) + "\n" + _table(["figure", "value"], table_rows)


def web_bench(args: argparse.Namespace, workdir: Path) -> str:
    r = bench_web.run(
        server_url=args.database_url,
        customers=args.customers,
        workdir=workdir / "web",
        duration=args.duration,
        connections=args.connections,
        keep=args.keep_db,
        reuse=args.reuse_db,
        log=log,
    )
    r["reused_db"] = args.reuse_db
    (workdir / "web" / "result.json").write_text(json.dumps(r, ensure_ascii=False, indent=1))
    return render_web(r)


def render_web(r: dict[str, Any]) -> str:
    out = []
    phases = ", ".join(f"{k} {v} s" for k, v in r.get("load_phases", {}).items())
    sizes = ", ".join(f"{k.split('_', 1)[1]} {v:,}" for k, v in r["table_rows"].items())
    if r.get("reused_db"):
        out.append(
            f"Scale set of {r['customers']:,} customers reused from an earlier run (`--reuse-db`): its "
            f"build time is not measured here. Rows (planner estimates): {sizes}.\n"
        )
    else:
        out.append(
            f"Scale set: `demo_load(customers={r['customers']:,})` on PostgreSQL in **{r['load_s']} s** "
            f"({phases}; migrate {r.get('migrate_s', '—')} s). Rows (planner estimates): {sizes}.\n"
        )
    out.append(
        f"gunicorn, 4 sync workers, DEBUG off; wrk {r['connections']} connections × {r['duration_s']} s "
        "(after a 2 s warm-up) on the same machine. Signed in through the real login form.\n"
    )
    pages = r["pages"]
    bare = next((p["rps"] for p in pages if p["page"] == "bare view"), None)
    rows = []
    for p in pages:
        is_target = p["path"].startswith("/customers/")
        failed = p["requests"] == 0 or p["errors"] > 0
        verdict = ("✓" if p["p95_ms"] < P95_TARGET_MS and not failed else "✗") if is_target else ""
        timing = [f"{p[k]:.1f}" if p["requests"] else "—" for k in ("p50_ms", "p95_ms", "p99_ms")]
        rows.append(
            (
                p["page"],
                p["role"],
                str(p["status"]),
                f"{p['rps']:,.0f}",
                *timing,
                f"{bare / p['rps']:.1f}×" if bare and p["rps"] else "—",
                str(p["errors"]),
                verdict,
            )
        )
    out.append(
        _table(
            [
                "page",
                "as",
                "status",
                "req/s",
                "p50 ms",
                "p95 ms",
                "p99 ms",
                "cost vs bare",
                "errors",
                "p95<100",
            ],
            rows,
        )
    )
    non_ok = [p for p in pages if p["status"] != 200 or p["errors"]]
    if non_ok:
        out.append(
            "\n**Errors** (non-200 status, or wrk socket errors such as requests exceeding its 10 s "
            "timeout; timed-out requests are missing from the percentiles, so those rows fail the target): "
            + "; ".join(
                f"{p['page']} as {p['role']} → status {p['status']}, {p['errors']} errors, "
                f"{p['requests']} requests completed"
                for p in non_ok
            )
            + "."
        )
    out.append("\n### Query plans (EXPLAIN ANALYZE, PostgreSQL)\n")
    out.append(
        "Every query `selectors.customer_list` runs for the page, captured and explained on the scale set. "
        f"Search terms: {json.dumps(r['terms'], ensure_ascii=False)}.\n"
    )
    summary = []
    for plan in r["plans"]:
        bad = sorted(set(plan["seq_scans"]) & BIG_TABLES)
        summary.append(
            (
                plan["role"],
                plan["page"],
                str(plan["query_no"]),
                f"{plan['execution_ms']:.1f}" if plan["execution_ms"] is not None else "—",
                ", ".join(bad) or "none",
                str(plan["rows_on_page"]),
            )
        )
    out.append(
        _table(["as", "page", "query #", "execution ms", "seq scan on big table", "rows shown"], summary)
    )
    for plan in r["plans"]:
        out.append(
            f"\n<details><summary>{plan['role']} · {plan['page']} · query {plan['query_no']} · "
            f"{plan['execution_ms']} ms</summary>\n\n```sql\n{plan['sql']}\n```\n\n"
            f"```\n{plan['plan']}\n```\n</details>"
        )
    return "\n".join(out)


def _per_backend(
    section: str,
    workdir: Path,
    backends: str,
    customers_of: Callable[[str], int],
    *,
    reuse_db: bool,
    database_url: str,
    purchases_per_customer: int = 10,
) -> tuple[list[dict[str, Any]], list[str]]:
    """``python -m bench.bench_<section>`` once per backend of the comma list, each in its own
    process (Django binds one database per process), its progress in
    ``var/bench/<section>/run-<backend>.log``. Returns the results (each process's last stdout line,
    JSON) and the failures (each failed backend with the last line it logged); the results are
    also written to ``var/bench/<section>/result.json``."""
    out_dir = workdir / section
    out_dir.mkdir(parents=True, exist_ok=True)
    results: list[dict[str, Any]] = []
    failures: list[str] = []
    for backend in [b.strip() for b in backends.split(",") if b.strip()]:
        customers = customers_of(backend)
        cmd = [sys.executable, "-m", f"bench.bench_{section}", "--backend", backend]
        cmd += ["--database-url", database_url, "--customers", str(customers)]
        cmd += ["--purchases", str(customers * purchases_per_customer), "--workdir", str(out_dir)]
        cmd += ["--reuse-db"] if reuse_db else []
        progress = out_dir / f"run-{backend}.log"
        log(f"{section}: {backend} (progress in {progress})")
        with progress.open("w") as err:
            proc = subprocess.run(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=err, text=True)
        if proc.returncode != 0:
            tail = progress.read_text().strip()
            failures.append(f"{backend}: `{tail.splitlines()[-1] if tail else proc.returncode}`")
            continue
        results.append(json.loads(proc.stdout.strip().splitlines()[-1]))
    (out_dir / "result.json").write_text(json.dumps(results, ensure_ascii=False, indent=1))
    return results, failures


def plan_bench(args: argparse.Namespace, workdir: Path) -> str:
    """``bench/bench_plan.py`` once per backend."""
    results, failures = _per_backend(
        "plan",
        workdir,
        args.plan_backends,
        lambda _backend: args.plan_customers,
        purchases_per_customer=max(1, args.plan_purchases // max(1, args.plan_customers)),
        reuse_db=args.reuse_db,
        database_url=args.database_url,
    )
    return render_plan(results, failures)


def render_plan(results: list[dict[str, Any]], failures: list[str] | None = None) -> str:
    out = [
        "`plan_run` for one organisation and one day against a bare scan of the same tables "
        "(`SELECT count(*), sum(amount) FROM customers_purchase` plus `SELECT count(*), sum(owner_id) "
        "FROM customers_customer`, best of three, cache warm). The default rules are seeded. Days: the "
        "first run (the day before, which also plans the revisit backlog of a fresh archive), the bench "
        "day (steady state: the target is ≤ 3× the scan) and the same day again (idempotent rerun, "
        "nothing inserted). Module: `bench/bench_plan.py`.\n"
    ]
    for r in results:
        rows = r["table_rows"]
        sizes = ", ".join(f"{k.split('_', 1)[1]} {v:,}" for k, v in rows.items())
        phases = ", ".join(f"{k} {v} s" for k, v in r.get("build_phases", {}).items())
        build = (
            "reused from an earlier run (`--reuse-db`)"
            if r.get("reused_db")
            else f"built in {r.get('build_s')} s ({phases})"
        )
        out.append(f"### {r['backend']}: {r['customers']:,} customers, {r['purchases']:,} purchases\n")
        out.append(f"Scale set {build}. Rows: {sizes}.\n")
        ratio = r.get("ratio")
        verdict = "met" if ratio is not None and ratio <= r.get("target_ratio", 3) else "NOT met"
        out.append(
            f"**Bench day {r['day_run']['seconds']} s against a {r['scan_s']} s scan: {ratio}×** — "
            f"target ≤ {r.get('target_ratio', 3)}×: {verdict}. Load average at the end: "
            f"{' / '.join(str(x) for x in r.get('load_average', []))}; peak RSS {r.get('peak_rss_mb')} MB.\n"
        )
        table = []
        for label, key in (
            ("first run (backlog)", "first_run"),
            ("bench day", "day_run"),
            ("same day again", "rerun"),
        ):
            x = r[key]
            skipped = ", ".join(f"{k} {v:,}" for k, v in sorted(x["skipped"].items())) or "—"
            slow = ", ".join(f"{k} {v}" for k, v in x["candidates_s_by_trigger"].items())
            table.append(
                (
                    label,
                    x["day"],
                    f"{x['seconds']}",
                    f"{x['seconds'] / r['scan_s']:.1f}×" if r["scan_s"] else "—",
                    f"{x['tasks_created']:,}",
                    f"{x['messages_queued']:,}",
                    str(x["queries"]),
                    skipped,
                    slow,
                )
            )
        out.append(
            _table(
                [
                    "run",
                    "day",
                    "seconds",
                    "vs scan",
                    "tasks",
                    "messages",
                    "queries",
                    "skipped",
                    "slowest triggers (s)",
                ],
                table,
            )
        )
        out.append(
            "\nIndexes created for the run that the models do not have yet (proposed to the lead): "
            + "; ".join(f"`{i}`" for i in r.get("proposed_indexes", []))
            + ".\n"
        )
    for f in failures or []:
        out.append(f"Failed: {f}\n")
    # The analysis is written by hand (what was tried, what remains) and kept beside this script.
    notes = Path(__file__).with_name("plan_notes.md").read_text(encoding="utf-8")
    out.append("\n" + notes.split("-->", 1)[-1].strip() + "\n")
    return "\n".join(out)


def referrals_bench(args: argparse.Namespace, workdir: Path) -> str:
    """``bench/bench_referrals.py`` once per backend. The index experiments and hand-written
    rewrites of referrals_notes.md are in the code now; ``python -m bench.bench_referrals
    --try-indexes --try-rewrites`` still runs them."""
    results, failures = _per_backend(
        "referrals",
        workdir,
        args.referral_backends,
        lambda b: args.referral_customers if b == "postgresql" else args.referral_sqlite_customers,
        reuse_db=args.reuse_db,
        database_url=args.database_url,
    )
    return render_referrals(results, failures)


def _clip(text: str, limit: int) -> str:
    """Long statements (id lists) and plans cut for the report; result.json keeps them whole."""

    def ids(m: re.Match[str]) -> str:
        items = re.split(r",\s*", m.group(0))
        return ", ".join(items[:5]) + f", … ({len(items):,} ids)"

    text = re.sub(r"\d+(?:,\s*\d+){20,}", ids, text)
    if len(text) <= limit:
        return text
    return text[:limit] + f" … [{len(text) - limit:,} more characters in var/bench/referrals/result.json]"


_SCAN = re.compile(
    r"(?:Parallel )?(Seq Scan|Index Only Scan|Index Scan|Bitmap Heap Scan|Bitmap Index Scan)(?: Backward)?"
    r"(?: using (\w+))? on (\w+)"
)


_SQLITE_SCAN = re.compile(r"\b(SCAN|SEARCH) (\w+)(?: USING (?:COVERING )?INDEX (\w+))?")


def _scans(plan: str) -> list[str]:
    """The scan nodes of a plan, once each: "Index Scan ref_org_stage_idx", "Seq Scan customers_purchase"
    (SQLite: "SEARCH ref_org_stage_idx", "SCAN referrals_referral")."""
    seen: list[str] = []
    found = [(k, i, t) for k, i, t in _SCAN.findall(plan) if k != "Bitmap Heap Scan"]
    found += [(k, i, t) for k, t, i in _SQLITE_SCAN.findall(plan)]
    for kind, index, table in found:
        item = f"{kind} {index or table}"
        if item not in seen:
            seen.append(item)
    return seen


def statement_plans(
    plans: list[dict[str, Any]], big_tables: Collection[str], *, sql: int, plan: int
) -> list[str]:
    """One markdown block per measured statement: its execution time, the big tables it read by a
    sequential scan, its SQL and its plan (each clipped to ``sql`` / ``plan`` characters)."""
    out = []
    for i, p in enumerate(plans, 1):
        big = ", ".join(t for t in p["seq_scans"] if t in big_tables) or "none"
        out.append(
            f"Statement {i}: execution {_ms(p['execution_ms'])} ms; seq scan of a big table: {big}\n\n"
            f"```sql\n{_clip(p['sql'], sql)}\n```\n\n```\n{_clip(p['plan'], plan)}\n```\n"
        )
    return out


def _plans_markdown(r: dict[str, Any]) -> str:
    from bench import bench_referrals as br

    parts = [f"## {r['backend']}: {r['customers']:,} customers\n"]
    for x in r["rows"]:
        parts.append(f"### {x['label']} · {x['role']} · {_ms(x['ms'])} ms · {x['queries']} queries\n")
        parts += statement_plans(x["plans"], br.BIG_TABLES, sql=4000, plan=20000)
    for w in r.get("rewrites") or []:
        idx = f" + {w['with_index']}" if w.get("with_index") else ""
        parts.append(
            f"### Proposed change: {w['name']}{idx} · {w['role']} · {_ms(w['ms'])} ms\n\n"
            f"```sql\n{w['sql']}\n```\n\n```\n{w['plan']['plan']}\n```\n"
        )
    for e in r.get("index_experiments") or []:
        parts.append(f"### With `{e['index']}`: {e['label']} · {e['role']} · {_ms(e['after_ms'])} ms\n")
        for i, p in enumerate(e.get("after_plans", []), 1):
            plan = _clip(p["plan"], 20000)
            parts.append(f"Statement {i}: execution {_ms(p['execution_ms'])} ms\n\n```\n{plan}\n```\n")
    return "\n".join(parts)


def render_referrals(results: list[dict[str, Any]], failures: list[str] | None = None) -> str:
    from bench import bench_referrals as br

    plans_text: list[str] = []

    out = [
        "What the referral pages, the API and the contact plan call (`huitou/referrals/services.py`, "
        "`voucher_selectors.py`, `insights.py`, `plan_hooks.py` through `followups.plan`), called directly "
        "as "
        "the views call them, as `rep0`, `manager0` (store S0, team 0; sees the whole store), the `owner` "
        "and, for the audit queue, `dcrcS0`. Best of three after a warm-up run (database cache warm); "
        "Django's cache is cleared before each run, so the capped count of a list (cached for a minute "
        "by `paginate`) is always paid, as on a first visit. Times are server time without template "
        'rendering (LIMITS.md: a 50-row template costs ~5 ms more). "SQL ms" is the time spent in '
        "`cursor.execute` (the database and the transfer); the rest is Python. Every statement was run "
        "again under `EXPLAIN (ANALYZE, BUFFERS)`; sequential scans of `customers_customer`, "
        "`customers_purchase`, `referrals_referral` and `referrals_voucher` are flagged. "
        "Module: `bench/bench_referrals.py`.\n",
        f"**Targets**: list pages and queues ≤ {br.TARGET_LIST_MS} ms for the first page; per-customer "
        f"panels (quota, chain) ≤ {br.TARGET_PANEL_MS} ms; monthly and yearly reports (scorecard, "
        f"voucher statistics, viral coefficient, curve, funnel, comparison, totals) ≤ "
        f"{br.TARGET_REPORT_RATIO}× a full scan of the table(s) they summarise (baselines below: "
        "`purchases+referrals` is the sum of both scans, for the figures that read sales and referrals). "
        'The "vs baseline" column is given for every row; only reports are judged by it.\n',
    ]
    for r in results:
        rows = r["table_rows"]
        sizes = ", ".join(f"{k.split('_', 1)[1]} {v:,}" for k, v in rows.items())
        prev = r.get("previous_build") or {}
        if r.get("reused_db"):
            if prev:
                phases = ", ".join(f"{k} {v} s" for k, v in prev.get("build_phases", {}).items())
                build = (
                    f"reused (`--reuse-db`); it was built on {prev.get('built_at')} in "
                    f"{prev.get('build_s')} s ({phases})"
                )
            else:
                build = "reused from an earlier run (`--reuse-db`)"
        else:
            phases = ", ".join(f"{k} {v} s" for k, v in r.get("build_phases", {}).items())
            build = f"built in {r.get('build_s')} s ({phases})"
        out.append(
            f"### {r['backend']}: {r['customers']:,} customers, {r['purchases']:,} purchases, "
            f"{rows.get('referrals_referral', 0):,} referrals\n"
        )
        if r["backend"] == "sqlite":
            out.append(
                "The optional SQLite run, at a tenth of the scale (file under `var/bench/referrals/`, 256 MB "
                "page cache). Plans are `EXPLAIN QUERY PLAN` (no execution times); a `SCAN` of a big table "
                "is flagged as a full scan. The targets are the same, but 100,000 customers say little "
                "about 1,000,000: read the ratios.\n"
            )
        out.append(f"Scale set {build}. Rows: {sizes}.\n")
        sh = r.get("shape", {})
        if sh:
            stages = ", ".join(f"{k} {v:,}" for k, v in sh.get("stages", {}).items())
            review = ", ".join(f"{k} {v:,}" for k, v in sh.get("review", {}).items())
            vstat = ", ".join(f"{k} {v:,}" for k, v in sh.get("voucher_status", {}).items())
            out.append(
                f"Referrals submitted {sh['submitted'][0]} … {sh['submitted'][1]} "
                f"({sh.get('submitted_in_period', 0):,} in the 12-month report period "
                f"{r['period'][0]} … {r['period'][1]}); by stage: {stages}; review: {review}; "
                f"duplicates of a first claim {sh.get('duplicates', 0):,}; distinct referrers "
                f"{sh.get('referrers', 0):,}; customers with `referred_by` "
                f"{sh.get('referred_customers', 0):,}. "
                f"Vouchers: {vstat}. Bench day {r['bench_day']} (the reports' `today`); scorecard month "
                f"{r['score_month']}. Load average at the start / end: "
                f"{' / '.join(str(x) for x in r.get('load_average_start', []))} → "
                f"{' / '.join(str(x) for x in r.get('load_average', []))}.\n"
            )
        base = r["baselines"]
        out.append(
            _table(
                ["baseline", "statement", "best ms", "runs ms", "plan"],
                [
                    (
                        k,
                        b["sql"] if k == "purchases+referrals" else f"`{b['sql']}`",
                        _ms(b["ms"]),
                        ", ".join(_ms(x) for x in b.get("runs_ms", [])) or "—",
                        "; ".join(
                            (p["plan"].splitlines()[0].split("  (")[0].strip() if p["plan"] else "")
                            for p in b.get("plans", [])
                        )
                        or "—",
                    )
                    for k, b in base.items()
                ],
            )
        )
        out.append("")
        table = []
        for x in r["rows"]:
            verdict = {True: "✓", False: "✗ MISS", None: ""}[x.get("met")]
            table.append(
                (
                    x["label"],
                    x["role"],
                    _ms(x["ms"]),
                    ", ".join(_ms(v) for v in x["runs_ms"]),
                    _ms(x["sql_ms"]),
                    str(x["queries"]),
                    f"{x['ratio']}× {x['baseline']}" if x.get("ratio") is not None else "—",
                    x.get("target", "—"),
                    verdict,
                    ", ".join(x.get("seq_scans_big", [])) or "none",
                )
            )
        out.append(
            _table(
                [
                    "what",
                    "as",
                    "ms (best)",
                    "runs ms",
                    "SQL ms",
                    "queries",
                    "vs baseline",
                    "target",
                    "verdict",
                    "seq scan of a big table",
                ],
                table,
            )
        )
        misses = [x for x in r["rows"] if x.get("met") is False]
        judged = [x for x in r["rows"] if x.get("met") is not None]
        out.append(
            f"\n**{len(judged) - len(misses)} of {len(judged)} measurements meet their target.** "
            + (
                "Missed: "
                + "; ".join(f"{x['label']} as {x['role']} ({_ms(x['ms'])} ms)" for x in misses)
                + "."
                if misses
                else ""
            )
            + "\n"
        )
        plan = r.get("plan") or {}
        if plan.get("available") and plan.get("candidates"):
            c, pr = plan["candidates"], plan["plan_run"]
            out.append(
                f"**Contact plan, referral ask** (trigger `referral_ask`, rule `{plan['rule']}`, "
                f"`huitou/referrals/plan_hooks.py` inside `followups.plan`): its candidate query alone "
                f"(`plan_candidates`, {plan.get('candidate_count', 0):,} candidates for {r['bench_day']}) "
                f"{_ms(c['ms'])} ms best of three ({c['queries']} queries, SQL {_ms(c['sql_ms'])} ms; "
                f"seq scans of big tables: {', '.join(c.get('seq_scans_big', [])) or 'none'}). "
                "Inside one `plan_run` of "
                f"that day (the first on this archive, so it also plans the revisit backlog and builds the "
                f"maintenance state): {pr['seconds']} s in all, of which the referral ask "
                f"{pr['referral_ask_s']} s; {pr['referral_ask_tasks']:,} ask tasks created, "
                f"{pr['quota_met_skipped']:,} customers skipped as `quota_met`; slowest triggers "
                + ", ".join(f"{k} {v} s" for k, v in pr.get("slowest", {}).items())
                + ".\n"
            )
        elif plan:
            out.append("Contact plan: the `referral_ask` trigger has no rule in this organisation.\n")
        exps = r.get("index_experiments") or []
        if exps:
            out.append(
                "**Indexes tried** (created in the bench database only, the measurements they are meant for "
                "timed again, then dropped; one index at a time, the queries unchanged):\n"
            )
            seen: dict[str, str] = {}
            for e in exps:
                seen.setdefault(e["index"], f"- `{e['index']}` (built in {e['build_s']} s): `{e['create']}`")
            out.append("\n".join(seen.values()) + "\n")
            out.append(
                _table(
                    ["index", "what", "as", "before ms", "after ms", "seq scan of a big table after"],
                    [
                        (
                            f"`{e['index']}`",
                            e["label"],
                            e["role"],
                            _ms(e["before_ms"]),
                            _ms(e["after_ms"]) if not e.get("error") else f"failed: {e['error'][:80]}",
                            ", ".join(
                                sorted(
                                    {t for p in e.get("after_plans", []) for t in p["seq_scans"]}
                                    & br.BIG_TABLES
                                )
                            )
                            or "none",
                        )
                        for e in exps
                    ],
                )
            )
            out.append("")
        rws = r.get("rewrites") or []
        if rws:
            out.append(
                "**Proposed query changes, measured** (hand-written SQL equivalent to the change, run on the "
                "same database; best of three; `+ index` = with the `ref_bench_*` index above created for "
                "that run). The SQL and plans are under the statements below.\n"
            )
            before = {(x["label"], x["role"]): x["ms"] for x in r["rows"]}
            out.append(
                _table(
                    [
                        "change",
                        "as",
                        "replaces",
                        "page/report now ms",
                        "statement ms",
                        "seq scan of a big table",
                    ],
                    [
                        (
                            w["name"] + (f" + `{w['with_index']}`" if w.get("with_index") else ""),
                            w["role"],
                            w["replaces"],
                            _ms(
                                next(
                                    (
                                        v
                                        for (lb, ro), v in before.items()
                                        if lb.startswith(w["replaces"]) and ro == w["role"]
                                    ),
                                    None,
                                )
                            ),
                            _ms(w["ms"]),
                            ", ".join(t for t in w["plan"]["seq_scans"] if t in br.BIG_TABLES) or "none",
                        )
                        for w in rws
                    ],
                )
            )
            out.append("")
        out.append(f"#### Statements ({r['backend']})\n")
        out.append(
            "Every statement of every measurement, its execution time under `EXPLAIN (ANALYZE, BUFFERS)` "
            "and the scans of its plan; the full plans (with buffers) are in "
            f"[`{PLANS.name}`]({PLANS.name}), regenerated with this section.\n"
        )
        stmt_rows = []
        for x in r["rows"]:
            for i, p in enumerate(x["plans"], 1):
                big = [t for t in p["seq_scans"] if t in br.BIG_TABLES]
                stmt_rows.append(
                    (
                        x["label"],
                        x["role"],
                        str(i),
                        _ms(p["execution_ms"]),
                        ", ".join(f"**{t}**" for t in big) or "none",
                        "; ".join(_scans(p["plan"])),
                    )
                )
        out.append(
            _table(
                ["what", "as", "#", "execution ms", "seq scan of a big table", "scans in the plan"], stmt_rows
            )
        )
        out.append("")
        plans_text.append(_plans_markdown(r))
    for f in failures or []:
        out.append(f"Failed: {f}\n")
    if plans_text:
        PLANS.write_text(
            "# Referral benchmark: statements and plans\n\nWritten by `python -m bench.run --only referrals` "
            "with the referrals section of [REPORT.md](REPORT.md). Long id lists are shortened.\n\n"
            + "\n".join(plans_text)
            + "\n"
        )
    notes = Path(__file__).with_name("referrals_notes.md")
    if notes.exists():
        out.append("\n" + notes.read_text(encoding="utf-8").split("-->", 1)[-1].strip() + "\n")
    return "\n".join(out)


def clv_bench(args: argparse.Namespace, workdir: Path) -> str:
    """``bench/bench_clv.py`` in its own process (lifetimes in the interpreter of --lifetimes-python)."""
    from bench import bench_clv

    env = {**os.environ, "LIFETIMES_PYTHON": args.lifetimes_python} if args.lifetimes_python else None
    cmd = [sys.executable, "bench/bench_clv.py", "--customers", str(args.clv_customers)]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, env=env, check=True)
    result = json.loads(proc.stdout)
    (workdir / "clv").mkdir(parents=True, exist_ok=True)
    (workdir / "clv" / "result.json").write_text(json.dumps(result, indent=1))
    return bench_clv.render(result)


def nightly_bench(args: argparse.Namespace, workdir: Path) -> str:
    """``bench/bench_nightly.py`` once per backend (PostgreSQL at full scale, SQLite smaller)."""
    from bench import bench_nightly

    results, failures = _per_backend(
        "nightly",
        workdir,
        args.nightly_backends,
        lambda b: args.plan_customers if b == "postgresql" else args.nightly_sqlite_customers,
        purchases_per_customer=max(1, args.plan_purchases // max(1, args.plan_customers)),
        reuse_db=args.reuse_db,
        database_url=args.database_url,
    )
    return bench_nightly.render(results, failures)


def feedback_bench(args: argparse.Namespace, workdir: Path) -> str:
    """``bench/bench_feedback.py`` once per backend (PostgreSQL at 1M customers, SQLite smaller)."""
    from bench import bench_feedback

    results, failures = _per_backend(
        "feedback",
        workdir,
        args.feedback_backends,
        lambda b: args.referral_customers if b == "postgresql" else args.feedback_sqlite_customers,
        reuse_db=args.reuse_db,
        database_url=args.database_url,
    )
    return bench_feedback.render(results, failures)


def reports_bench(args: argparse.Namespace, workdir: Path) -> str:
    """``bench/bench_reports.py`` once per backend: PostgreSQL on the nightly set (1M customers),
    SQLite on a smaller set of its own."""
    from bench import bench_reports

    results, failures = _per_backend(
        "reports",
        workdir,
        args.reports_backends,
        lambda b: args.reports_customers if b == "postgresql" else min(args.reports_customers, 100_000),
        reuse_db=args.reuse_db,
        database_url=args.database_url,
    )
    return bench_reports.render(results, failures)


# --- the report ------------------------------------------------------------------------------------


def _table(header: list[str], rows: list[tuple[str, ...]] | list[Any]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c).replace("|", "\\|") for c in row) + " |" for row in rows]
    return "\n".join(lines)


TITLES = {
    "facts": "Machine",
    "demo": "Demo data set on SQLite (`make demo`)",
    "import": "Import: 1,000,000 customer rows against PostgreSQL COPY",
    "web": "Web: customer list and search at scale on PostgreSQL",
    "plan": "Daily contact plan at scale (SQLite and PostgreSQL)",
    "referrals": "Referral system at scale: pages, queues, panels and reports",
    "clv": "Lifetime-value models against lifetimes",
    "nightly": "Nightly analytics run at scale (segments, lifetime value, risk, cost-to-serve)",
    "feedback": "Satisfaction and complaints at scale",
    "reports": "Account reports, dashboards and cost-to-serve at scale",
}


def _previous_sections() -> dict[str, str]:
    if not REPORT.exists():
        return {}
    text = REPORT.read_text()
    return {
        m.group(1): m.group(2).strip()
        for m in re.finditer(r"<!-- section:(\w+) -->\n(.*?)\n<!-- /section:\1 -->", text, re.S)
    }


def write_report(sections: dict[str, str], command: str) -> None:
    now = dt.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z")
    parts = [
        "# huitou benchmark report",
        "",
        f"Generated {now} by `{command}`. Regenerate with `python -m bench.run` (or `make bench`).",
        "",
        "Figures vary ±10–20% between runs and much more when the machine is shared: compare ratios "
        "measured in one run (page vs bare view, import vs COPY), not absolute times across days. "
        "The load generator runs on the same cores as the server and the database.",
    ]
    for key in SECTIONS:
        if key not in sections:
            continue
        parts += [
            "",
            f"## {TITLES[key]}",
            "",
            f"<!-- section:{key} -->",
            sections[key],
            f"<!-- /section:{key} -->",
        ]
    REPORT.write_text("\n".join(parts) + "\n")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__.split("\n")[0])
    p.add_argument("--customers", type=int, default=1_000_000, help="size of the web scale set")
    p.add_argument("--import-rows", type=int, default=1_000_000)
    p.add_argument("--demo-customers", type=int, default=5_000)
    p.add_argument(
        "--only", default=",".join(SECTIONS[1:]), help="comma list of demo, import, web, plan, referrals"
    )
    p.add_argument(
        "--database-url",
        default=os.environ.get("BENCH_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres"),
        help="PostgreSQL server to use (the harness creates its own databases on it)",
    )
    p.add_argument("--duration", type=int, default=20, help="seconds per wrk run")
    p.add_argument("--connections", type=int, default=16)
    p.add_argument("--keep-db", action="store_true", help="keep huitou_bench_web for another run")
    p.add_argument("--reuse-db", action="store_true", help="reuse a kept huitou_bench_web (skips migrate)")
    p.add_argument("--workdir", type=Path, default=ROOT / "var" / "bench")
    p.add_argument("--plan-customers", type=int, default=1_000_000, help="size of the plan scale set")
    p.add_argument("--plan-purchases", type=int, default=10_000_000)
    p.add_argument("--plan-backends", default="sqlite,postgresql", help="comma list: sqlite, postgresql")
    p.add_argument("--referral-customers", type=int, default=1_000_000, help="PostgreSQL referral scale set")
    p.add_argument("--referral-sqlite-customers", type=int, default=100_000, help="SQLite referral scale set")
    p.add_argument(
        "--referral-backends", default="postgresql", help="comma list: postgresql, sqlite (optional, smaller)"
    )
    p.add_argument("--clv-customers", type=int, default=1_000_000, help="simulated customers (clv section)")
    p.add_argument(
        "--lifetimes-python",
        default=os.environ.get("LIFETIMES_PYTHON", ""),
        help="python with lifetimes 0.11.3 for the clv section (see bench/bench_clv.py)",
    )
    p.add_argument("--nightly-backends", default="postgresql,sqlite", help="comma list: postgresql, sqlite")
    p.add_argument("--nightly-sqlite-customers", type=int, default=100_000, help="SQLite nightly scale set")
    p.add_argument("--feedback-backends", default="postgresql", help="comma list: postgresql, sqlite")
    p.add_argument("--feedback-sqlite-customers", type=int, default=100_000, help="SQLite feedback scale set")
    p.add_argument("--reports-backends", default="postgresql", help="comma list: postgresql, sqlite (100k)")
    p.add_argument(
        "--reports-customers", type=int, default=1_000_000, help="customers of the nightly set (reports)"
    )
    args = p.parse_args(argv)
    only = {s.strip() for s in args.only.split(",") if s.strip()}
    unknown = only - set(SECTIONS)
    if unknown:
        p.error(f"unknown section(s): {', '.join(sorted(unknown))}")
    args.workdir.mkdir(parents=True, exist_ok=True)

    sections = _previous_sections()
    sections["facts"] = facts(args.database_url)
    runners = {
        "demo": lambda: demo_sqlite(args.demo_customers),
        "import": lambda: import_bench(args.database_url, args.import_rows, args.workdir),
        "web": lambda: web_bench(args, args.workdir),
        "plan": lambda: plan_bench(args, args.workdir),
        "referrals": lambda: referrals_bench(args, args.workdir),
        "clv": lambda: clv_bench(args, args.workdir),
        "nightly": lambda: nightly_bench(args, args.workdir),
        "feedback": lambda: feedback_bench(args, args.workdir),
        "reports": lambda: reports_bench(args, args.workdir),
    }
    for key in SECTIONS[1:]:
        if key not in only:
            continue
        log(f"running {key}")
        t = time.perf_counter()
        try:
            sections[key] = runners[key]()
        except Exception as exc:  # one failing section must not lose the others
            sections[key] = f"Failed: `{exc.__class__.__name__}: {str(exc)[:1500]}`"
        log(f"{key} done in {time.perf_counter() - t:.0f} s")
        write_report(sections, "python -m bench.run " + " ".join(argv if argv is not None else sys.argv[1:]))
    write_report(sections, "python -m bench.run " + " ".join(argv if argv is not None else sys.argv[1:]))
    log(f"wrote {REPORT.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
