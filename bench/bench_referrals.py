"""The referral system at scale: its list pages, queues, panels and reports against bare scans.

    python -m bench.bench_referrals --backend postgresql [--customers 1000000] [--purchases 10000000]
    python -m bench.bench_referrals --backend postgresql --reuse-db [--try-indexes]
    python -m bench.bench_referrals --backend sqlite --customers 100000 --purchases 1000000

The customers, purchases and the rest of the archive are ``bench_plan.build``'s (same organisation,
users ``owner``, ``manager0``..``manager9``, ``rep0``..``rep99``, ``dcrcS0``..), built here with
each purchase credited to its customer's store and, for sales, rep. On top of it, generated inside
the database (``INSERT ... SELECT``; pseudo-random columns from ``bench_plan.h``, so the set is the
same every time), with the referral tables' secondary indexes dropped during the load and rebuilt
after, then ``VACUUM ANALYZE``:

- referrals: from the sales delivered since the programme started (``PROGRAM_START``, 一拓五; 一拓一
  from ``ONE_TO_ONE``), about a fifth of the sales bring one to five referred people, submitted
  on the delivery day or in the days and months after it, in time order. Referrer = the sale's
  customer; store and rep = the referrer's. Stages depend on the age of the referral (recent ones
  are still submitted or verified; old ones were won, lost or rejected), with consistent
  timestamps (audit, verified, contacted, quoted, closed, each before the next and before the
  bench day). 5% are flagged (monthly cap, existing customer): those of the last 540 days wait
  for review (a few % of all referrals pending), older ones were approved or rejected. Every
  phone is unique except the ~1.5% duplicates, which point at the first claim
  (``duplicate_of``), so both partial unique constraints hold;
- the referred customer of a won referral is an existing customer (one per won referral) whose
  ``referred_by`` is the referrer; a planted tree of ``PLANT`` customers (the archive's last ids)
  gives one chain twelve generations deep;
- vouchers: one for the referrer and one for the referred per won referral issued after the
  7-day hold (redeemed, expired, void or still outstanding by age), their rewards, one ledger row
  (``VoucherEntry``) per state change; referrer profiles for ~5% of the customers (50,000 at 1M).

Then, best of three with the cache warm (Django's cache is cleared before each run, so the capped
counts of the lists are always paid), the functions the pages and the API call, as the owner,
``manager0``, ``rep0`` (and ``dcrcS0`` for the audit queue); every statement they issue is run
again under ``EXPLAIN (ANALYZE, BUFFERS)`` (SQLite: ``EXPLAIN QUERY PLAN``). ``--try-indexes``
adds the ``ref_bench_*`` indexes of ``EXPERIMENTS``, times the functions they are meant for again,
and drops them (the kept database always measures the models' own indexes); ``--try-rewrites``
times the hand-written SQL of the query changes proposed in ``bench/referrals_notes.md``.

The database is kept: PostgreSQL ``huitou_bench_referrals``, SQLite
``var/bench/referrals/referrals-<customers>.sqlite3``; ``--reuse-db`` runs against it again.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import os
import re
import resource
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import bench_plan as bp  # noqa: E402 - after the path is set

DB_NAME = "huitou_bench_referrals"
BENCH_DAY = bp.BENCH_DAY
BASE = dt.date(2019, 1, 1)  # bench_plan's first purchase day; times below are minutes since it (UTC)
PROGRAM_START = dt.date(2023, 1, 1)  # 一拓五
ONE_TO_ONE = dt.date(2025, 1, 1)  # 一拓一
UTC_OFFSET_MIN = 8 * 60  # Asia/Shanghai, the settings' zone: local days start at 16:00 UTC
PLANT = 300
RUNS = 3
PAGE = 50
# Twelve whole months before the bench day, for the reports.
PERIOD = (dt.date(2025, 3, 1), dt.date(2026, 2, 28))
SCORE_MONTH = dt.date(2026, 2, 1)
BIG_TABLES = {"customers_customer", "customers_purchase", "referrals_referral", "referrals_voucher"}
REF_TABLES = (
    "referrals_referral",
    "referrals_voucher",
    "referrals_voucherentry",
    "referrals_reward",
    "referrals_referrerprofile",
)
ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"  # huitou.referrals.vouchers.ALPHABET (checked at build)

TARGET_LIST_MS = 100
TARGET_PANEL_MS = 50
TARGET_REPORT_RATIO = 3

# Indexes tried with ``--try-indexes`` (created, timed, dropped): name -> (CREATE statement, labels
# of the measurements they are meant for). See bench/referrals_notes.md for why each one.
SALE_DAY = "COALESCE(promised_on, arrives_on, ordered_on)"
EXPERIMENTS: dict[str, tuple[list[str], list[str], list[str]]] = {
    # The delivery day of a sale, as insights.sale_day() and the plan compile it. Two parts, both
    # needed (measured one by one in bench/referrals_notes.md): statistics on the expression (without
    # them the planner guesses 0.5% of the rows for any range of it and picks nested loops), and an
    # index on it that also carries the columns it is computed from, so that PostgreSQL can answer
    # from the index alone (its planner allows an index-only scan only when every column the query
    # names, the expression's own columns included, is in the index).
    "ref_bench_sale_day": (
        [
            f"CREATE STATISTICS ref_bench_sale_day_stats ON ({SALE_DAY}) FROM customers_purchase",
            f"CREATE INDEX ref_bench_sale_day ON customers_purchase (organisation_id, ({SALE_DAY})) "
            "INCLUDE (customer_id, rep_id, store_id, ordered_on, promised_on, arrives_on) "
            "WHERE kind <> 'service'",
        ],
        [
            "scorecard",
            "viral_coefficient",
            # Not referral_curve: with this index its semi-join runs for minutes (see the notes).
            "quota_periods_compare",
            "referral_totals",
            "customer_quota",
            "plan_candidates",
        ],
        ["DROP INDEX IF EXISTS ref_bench_sale_day", "DROP STATISTICS IF EXISTS ref_bench_sale_day_stats"],
    ),
    # When a faked referral was found (insights.faked_found_at): one arm of the scorecard's OR.
    "ref_bench_found": (
        [
            "CREATE INDEX ref_bench_found ON referrals_referral (organisation_id, "
            "(CASE WHEN audit_outcome = 'fake' THEN audited_at ELSE reviewed_at END))"
        ],
        ["scorecard"],
        ["DROP INDEX IF EXISTS ref_bench_found"],
    ),
    # A manager's leads by the referral's own store, per stage (only with the rewritten scope).
    "ref_bench_store_stage": (
        ["CREATE INDEX ref_bench_store_stage ON referrals_referral (store_id, stage, submitted_at)"],
        [],
        ["DROP INDEX IF EXISTS ref_bench_store_stage"],
    ),
    # The referrals of a period with the columns the funnel, totals and comparison count.
    "ref_bench_period": (
        [
            "CREATE INDEX ref_bench_period ON referrals_referral (organisation_id, submitted_at) "
            "INCLUDE (referrer_id, rep_id, store_id, stage, review, verified_at, contacted_at, quoted_at)"
        ],
        ["referral_funnel", "referral_totals", "quota_periods_compare"],
        ["DROP INDEX IF EXISTS ref_bench_period"],
    ),
}

h = bp.h
log = bp.log


class Dialect(bp.Dialect):
    """bench_plan's spellings plus the column arithmetic the referral set needs."""

    def minutes_since(self, col: str) -> str:
        if self.pg:
            return (
                f"(EXTRACT(EPOCH FROM ({col} - TIMESTAMPTZ '{BASE.isoformat()} 00:00:00+00')) / 60)::bigint"
            )
        return f"CAST(round((julianday({col}) - julianday('{BASE.isoformat()}')) * 1440) AS INTEGER)"

    def days_since(self, col: str) -> str:
        if self.pg:
            return f"({col} - DATE '{BASE.isoformat()}')"
        return f"CAST(round(julianday({col}) - julianday('{BASE.isoformat()}')) AS INTEGER)"

    def at(self, minutes: str) -> str:
        return self.ts(BASE, minutes)

    def on(self, days: str) -> str:
        return self.day(BASE, days)

    def least(self, a: str, b: str) -> str:
        return f"LEAST({a}, {b})" if self.pg else f"min({a}, {b})"

    def char_at(self, text: str, index: str) -> str:
        """The character of the literal ``text`` at the 0-based integer expression ``index``."""
        pos = f"({index})::int + 1" if self.pg else f"({index}) + 1"
        return f"substr('{text}', {pos}, 1)"

    def json(self, literal: str) -> str:
        return f"'{literal}'::jsonb" if self.pg else f"'{literal}'"


def _ints(n: int) -> str:
    """A derived table ``(j)`` = 1..n, the same on both databases."""
    return "(" + " UNION ALL ".join(f"SELECT {i} AS j" for i in range(1, n + 1)) + ")"


def _pick(u: str, choices: list[tuple[str, float]]) -> str:
    """CASE over cumulative shares (percent) of ``u`` in 0..999: the first choice whose share covers it."""
    parts, acc = [], 0.0
    for value, share in choices[:-1]:
        acc += share
        parts.append(f"WHEN {u} < {round(acc * 10)} THEN {value}")
    return f"CASE {' '.join(parts)} ELSE {choices[-1][0]} END"


# Final stage by age of the referral (days before the bench day): S submitted, V verified,
# C contacted, Q quoted, W won, L lost after contact, LA lost at the audit (not interested),
# R rejected by the audit (fake). Shares in percent.
STAGES_BY_AGE: list[tuple[int | None, list[tuple[str, float]]]] = [
    (3, [("'S'", 70), ("'V'", 20), ("'R'", 4), ("'LA'", 6)]),
    (
        30,
        [("'S'", 8), ("'R'", 6), ("'LA'", 12), ("'V'", 35), ("'C'", 25), ("'Q'", 8), ("'W'", 3), ("'L'", 3)],
    ),
    (
        120,
        [
            ("'S'", 2),
            ("'R'", 6),
            ("'LA'", 12),
            ("'V'", 15),
            ("'C'", 18),
            ("'Q'", 14),
            ("'W'", 13),
            ("'L'", 20),
        ],
    ),
    (
        None,
        [
            ("'S'", 0.5),
            ("'R'", 6),
            ("'LA'", 12),
            ("'V'", 10),
            ("'C'", 12),
            ("'Q'", 8),
            ("'W'", 17),
            ("'L'", 34.5),
        ],
    ),
]
REFERRALS_PER_REFERRING_SALE = 1.65  # 1 + extra below: 60% one, 25% two, 8% three, 4% four, 3% five
FLAGGED_PER_MILLE = 50
PENDING_DAYS = 540


# --------------------------------------------------------------------------------------------------
# The scale set


def _contiguous(usernames: list[str]) -> int:
    """The id of the first of ``usernames``, checking that the others follow it one by one."""
    from huitou.accounts.models import User

    ids = dict(User.objects.filter(username__in=usernames).values_list("username", "pk"))
    first = ids[usernames[0]]
    assert [ids[u] for u in usernames] == list(range(first, first + len(usernames))), usernames
    return first


def _ids() -> dict[str, int]:
    """The organisation's ids the generator computes with (contiguous by construction, checked)."""
    from huitou.accounts.models import Organisation, Store, User
    from huitou.customers.models import Product

    org = Organisation.objects.get(slug="bench")
    stores = list(Store.objects.filter(organisation=org).order_by("pk").values_list("pk", flat=True))
    assert stores == list(range(stores[0], stores[0] + len(stores)))
    products = list(Product.objects.filter(organisation=org).order_by("pk").values_list("pk", flat=True))
    assert products == list(range(products[0], products[0] + len(products)))
    managers = _contiguous([f"manager{i}" for i in range(len(stores))])
    dcrc = dict(User.objects.filter(username__startswith="dcrcS").values_list("username", "pk"))
    dcrc_ids = [dcrc[f"dcrcS{i}"] for i in range(len(stores))]
    step = dcrc_ids[1] - dcrc_ids[0]
    assert dcrc_ids == [dcrc_ids[0] + step * i for i in range(len(stores))], "dcrc ids must be evenly spaced"
    return {
        "org": org.pk,
        "store0": stores[0],
        "stores": len(stores),
        "product0": products[0],
        "products": len(products),
        "manager0": managers,
        "dcrc0": dcrc_ids[0],
        "dcrc_step": step,
    }


def _run_sql(phases: dict[str, float], name: str, sql: str) -> int:
    from django.db import connection, transaction

    t = time.perf_counter()
    with transaction.atomic(), connection.cursor() as cur:
        cur.execute(sql)
        n = cur.rowcount
    phases[name] = round(time.perf_counter() - t, 1)
    log(f"  {name}: {n:,} rows in {phases[name]:.1f} s")
    return n


def build_referrals(customers: int, target: int, phases: dict[str, float]) -> dict[str, Any]:
    """Generate the referral tables on top of ``bench_plan.build``'s archive."""
    from django.db import connection

    from huitou.accounts.models import Organisation
    from huitou.referrals import vouchers

    assert vouchers.ALPHABET == ALPHABET and vouchers.CODE_LENGTH == 10
    d = Dialect(connection.vendor)
    ids = _ids()
    o, store0 = ids["org"], ids["store0"]
    manager_of = f"({ids['manager0']} + ({{s}} - {store0}))"
    dcrc_of = f"({ids['dcrc0']} + ({{s}} - {store0}) * {ids['dcrc_step']})"
    bench_day = (BENCH_DAY - BASE).days
    bench_min = bench_day * 1440 - UTC_OFFSET_MIN  # local midnight starting the bench day
    start_day = (PROGRAM_START - BASE).days
    tr, fa = d.true(), d.false()
    no_flags, cap_flag = d.json("[]"), d.json('["monthly_cap"]')
    customer_flag, duplicate_flag = d.json('["existing_customer"]'), d.json('["duplicate"]')

    org = Organisation.objects.get(pk=o)
    policy = dict(org.policy_data or {})
    policy["referrals"] = {
        **policy.get("referrals", {}),
        "quota_periods": [
            {"starts_on": PROGRAM_START.isoformat(), "quota": 5, "label": "一拓五"},
            {"starts_on": ONE_TO_ONE.isoformat(), "quota": 1, "label": "一拓一"},
        ],
    }
    org.policy_data = policy
    org.save(update_fields=["policy_data"])

    saved = {t: bp._secondary_indexes(t) for t in REF_TABLES}
    for indexes in saved.values():
        for name, _sql in indexes:
            bp._execute(f'DROP INDEX "{name}"')

    # --- referrals from sales -------------------------------------------------------------------
    delivered = "COALESCE(p.promised_on, p.arrives_on, p.ordered_on)"
    window = (
        f"p.organisation_id = {o} AND p.kind <> 'service' "
        f"AND {delivered} >= {d.on(str(start_day - 60))} AND {delivered} < {d.on(str(bench_day))}"
    )
    eligible = bp._fetch(f"SELECT count(*) FROM customers_purchase p WHERE {window}")[0][0]
    # A few percent of the drawn referrals fall before the programme or after the bench day.
    per_100k = min(100_000, round(target / (eligible * REFERRALS_PER_REFERRING_SALE * 0.94) * 100_000))
    log(f"  {eligible:,} sales in the window; {per_100k / 1000:.1f}% of them bring referrals")
    sale_hash = h(11, var="p.id")
    extra = _pick(f"(({sale_hash} / 100000) % 1000)", [("0", 60), ("1", 25), ("2", 8), ("3", 4), ("4", 3)])
    s0 = (
        f"SELECT p.id * 8 + k.j AS g, p.customer_id AS referrer, c.store_id AS store, c.owner_id AS rep, "
        f"{d.days_since(delivered)} AS dd "
        f"FROM customers_purchase p JOIN customers_customer c ON c.id = p.customer_id, {_ints(5)} k "
        f"WHERE {window} AND {sale_hash} % 100000 < {per_100k} AND k.j <= 1 + {extra}"
    )
    offset = (
        f"CASE WHEN {h(0)} % 100 < 40 THEN 0 WHEN {h(0)} % 100 < 70 THEN 1 + {h(1)} % 14 "
        f"WHEN {h(0)} % 100 < 90 THEN 15 + {h(1)} % 76 ELSE 91 + {h(1)} % 275 END"
    )
    s1 = f"SELECT s0.*, dd + {offset} AS sd FROM ({s0}) s0"
    # Submitted between 09:00 and 20:00 local time.
    s2 = (
        f"SELECT s1.*, sd * 1440 - {UTC_OFFSET_MIN} + 540 + {h(2)} % 660 AS sub, {bench_day} - sd AS age "
        f"FROM ({s1}) s1 WHERE sd >= {start_day} AND sd < {bench_day}"
    )
    stage_case = "CASE " + " ".join(
        (f"WHEN age < {limit} THEN {_pick(f'({h(3)} % 1000)', shares)}" if limit is not None else "")
        for limit, shares in STAGES_BY_AGE
    )
    stage_case += f" ELSE {_pick(f'({h(3)} % 1000)', STAGES_BY_AGE[-1][1])} END"
    flagged = f"({h(4)} % 1000 < {FLAGGED_PER_MILLE})"
    review_rejects = f"(({h(4)} / 1000) % 4 = 0)"
    s3 = (
        f"SELECT s2.*, {stage_case} AS st0, "
        f"CASE WHEN {flagged} THEN CASE WHEN age < {PENDING_DAYS} THEN 'P' "
        f"WHEN {review_rejects} THEN 'X' ELSE 'A' END ELSE '' END AS rv "
        f"FROM ({s2}) s2"
    )
    # Pending: not audited yet or confirmed, waiting for the manager; rejected by review: closed then.
    s4 = (
        "SELECT s3.*, CASE WHEN rv = 'P' AND st0 <> 'S' THEN 'V' WHEN rv = 'X' THEN 'R2' ELSE st0 END AS st "
        "FROM (" + s3 + ") s3"
    )
    has_con = f"(st IN ('C', 'Q', 'W') OR (st = 'L' AND {h(11)} % 10 < 7))"
    has_quo = f"(st IN ('Q', 'W') OR (st = 'L' AND {h(11)} % 10 < 3))"
    s5 = (
        f"SELECT s4.*, sub + {d.least(f'60 + {h(9)} % 4320', f'({bench_min} - sub) / 10')} AS aud, "
        f"sub + {d.least(f'720 + {h(5)} % 2880', f'({bench_min} - sub) / 10')} AS rev "
        f"FROM ({s4}) s4"
    )
    s6 = (
        f"SELECT s5.*, aud + {d.least(f'1440 + {h(10)} % 12960', f'({bench_min} - aud) * 3 / 10')} AS con "
        f"FROM ({s5}) s5"
    )
    s7 = (
        f"SELECT s6.*, con + {d.least(f'1440 + ({h(9)} / 4321) % 28800', f'({bench_min} - con) * 3 / 10')} "
        "AS quo "
        f"FROM ({s6}) s6"
    )
    prev = f"CASE WHEN {has_quo} THEN quo WHEN {has_con} THEN con ELSE aud END"
    s8 = (
        f"SELECT s7.*, {prev} + "
        f"{d.least(f'1440 + ({h(10)} / 12961) % 64800', f'({bench_min} - {prev}) / 2')} "
        f"AS clo, {h(11)} / 10 % 3 AS tries FROM ({s7}) s7"
    )
    stage_name = (
        "CASE st WHEN 'S' THEN 'submitted' WHEN 'V' THEN 'verified' WHEN 'C' THEN 'contacted' "
        "WHEN 'Q' THEN 'quoted' WHEN 'W' THEN 'won' WHEN 'L' THEN 'lost' WHEN 'LA' THEN 'lost' "
        "ELSE 'rejected' END"
    )
    audited = "(st NOT IN ('S', 'R2') OR (st = 'S' AND tries > 0))"
    surnames = "张王李赵刘陈杨黄周吴徐孙胡朱高林何郭马罗"
    relation = _pick(
        f"({h(7)} % 1000)",
        [("'friend'", 45), ("'family'", 20), ("'colleague'", 20), ("'business'", 10), ("'other'", 5)],
    )
    channel = _pick(
        f"({h(6)} % 1000)",
        [("'delivery'", 45), ("'call'", 25), ("'self'", 15), ("'event'", 8), ("'club'", 5), ("'other'", 2)],
    )
    columns = (
        "organisation_id, referrer_id, name, phone, wechat, city, relation, interest, product_id, note, "
        "channel, event_name, customer_id, stage, store_id, rep_id, submitted_at, submitted_by_id, "
        "audit_outcome, audit_note, audit_attempts, audited_at, audited_by_id, verified_at, contacted_at, "
        "quoted_at, closed_at, won_purchase_id, lost_reason, flags, duplicate_of_id, review, reviewed_at, "
        "reviewed_by_id, review_note, faked, version"
    )
    select = (
        f"{o}, referrer, {d.char_at(surnames, f'{h(7)} / 1000 % 20')} || "
        f"CASE WHEN {h(8)} % 2 = 0 THEN '先生' ELSE '女士' END, "
        f"'+86139' || {d.pad8('g')}, '', '广州市', {relation}, "
        f"CASE WHEN {h(8)} % 3 = 0 THEN '' ELSE '意向' || (1 + {h(8)} % 50) || '号车型' END, "
        f"CASE WHEN {h(8)} % 2 = 0 THEN {ids['product0']} + ({h(8)} / 2) % {ids['products']} END, '', "
        f"ch, CASE WHEN ch = 'event' THEN '车主品鉴会' ELSE '' END, NULL, {stage_name}, store, rep, "
        f"{d.at('sub')}, CASE WHEN ch = 'self' THEN NULL ELSE rep END, "
        f"CASE WHEN st IN ('V', 'C', 'Q', 'W', 'L') THEN 'confirmed' WHEN st = 'LA' THEN 'not_interested' "
        f"WHEN st = 'R' THEN 'fake' WHEN st = 'S' AND tries > 0 THEN 'no_answer' ELSE '' END, '', "
        f"CASE WHEN st = 'R2' THEN 0 WHEN st = 'S' THEN tries ELSE 1 + tries % 2 END, "
        f"CASE WHEN {audited} THEN {d.at('aud')} END, "
        f"CASE WHEN {audited} THEN {dcrc_of.format(s='store')} END, "
        f"CASE WHEN st IN ('V', 'C', 'Q', 'W', 'L') THEN {d.at('aud')} END, "
        f"CASE WHEN {has_con} THEN {d.at('con')} END, CASE WHEN {has_quo} THEN {d.at('quo')} END, "
        f"CASE WHEN st IN ('W', 'L') THEN {d.at('clo')} WHEN st IN ('LA', 'R') THEN {d.at('aud')} "
        f"WHEN st = 'R2' THEN {d.at('rev')} END, NULL, "
        f"CASE WHEN st = 'L' THEN '买了别家' WHEN st = 'LA' THEN '电话稽核：没有兴趣' ELSE '' END, "
        f"CASE WHEN rv = '' THEN {no_flags} WHEN {h(4)} % 10 < 6 THEN {cap_flag} "
        f"ELSE {customer_flag} END, NULL, "
        f"CASE rv WHEN 'P' THEN 'pending' WHEN 'A' THEN 'approved' WHEN 'X' THEN 'rejected' ELSE '' END, "
        f"CASE WHEN rv IN ('A', 'X') THEN {d.at('rev')} END, "
        f"CASE WHEN rv IN ('A', 'X') THEN {manager_of.format(s='store')} END, '', "
        f"CASE WHEN st = 'R' OR (st = 'R2' AND {h(5)} % 10 < 3) THEN {tr} ELSE {fa} END, "
        f"CASE st WHEN 'S' THEN 1 + tries WHEN 'V' THEN 2 WHEN 'C' THEN 3 WHEN 'Q' THEN 4 ELSE 5 END"
    )
    n_ref = _run_sql(
        phases,
        "referrals",
        f"INSERT INTO referrals_referral ({columns}) SELECT {select} "
        f"FROM (SELECT s8.*, {channel} AS ch FROM ({s8}) s8) s ORDER BY sub, g",
    )

    # --- duplicates: a second referrer names a person already claimed (the first claim wins) -----
    dup_sub = f"{d.minutes_since('r.submitted_at')} + 1440 + {h(1, var='r.id')} % 41760"
    dup = (
        f"SELECT r.id AS g, r.id AS original, r.phone, r.name, r.relation, c.id AS referrer, "
        f"c.store_id AS store, c.owner_id AS rep, {dup_sub} AS sub "
        f"FROM referrals_referral r JOIN customers_customer c ON c.id = 1 + r.referrer_id % {customers} "
        f"WHERE r.organisation_id = {o} AND r.id % 67 = 0 AND r.stage <> 'rejected'"
    )
    pending = f"({bench_min} - sub < {PENDING_DAYS * 1440})"
    decided = f"sub + {d.least(f'1440 + {h(5)} % 2880', f'({bench_min} - sub) / 10')}"
    n_dup = _run_sql(
        phases,
        "duplicates",
        f"INSERT INTO referrals_referral ({columns}) SELECT {o}, referrer, name, phone, '', '广州市', "
        f"relation, '', NULL, '', 'call', '', NULL, "
        f"CASE WHEN {pending} THEN 'submitted' ELSE 'rejected' END, store, rep, "
        f"{d.at('sub')}, rep, '', '', 0, NULL, NULL, NULL, NULL, NULL, "
        f"CASE WHEN {pending} THEN NULL ELSE {d.at(decided)} END, NULL, '', {duplicate_flag}, "
        f"original, CASE WHEN {pending} THEN 'pending' ELSE 'rejected' END, "
        f"CASE WHEN {pending} THEN NULL ELSE {d.at(decided)} END, "
        f"CASE WHEN {pending} THEN NULL ELSE {manager_of.format(s='store')} END, '', {fa}, "
        f"CASE WHEN {pending} THEN 1 ELSE 2 END "
        f"FROM ({dup}) x WHERE sub < {bench_min} ORDER BY sub, g",
    )

    # --- a planted referral tree: PLANT customers, about twelve generations --------------------
    root = customers - PLANT + 1
    prefix, src = d.source(PLANT - 1)
    plant_sub = f"({start_day} + 40 + g) * 1440 - {UTC_OFFSET_MIN} + 600"
    _run_sql(
        phases,
        "plant",
        f"{prefix}INSERT INTO referrals_referral ({columns}) SELECT {o}, c.id, '树' || g, "
        f"'+86137' || {d.pad8('g')}, '', '广州市', 'friend', '', NULL, '', 'delivery', '', "
        f"{root} + g, 'won', "
        f"c.store_id, c.owner_id, {d.at(plant_sub)}, c.owner_id, 'confirmed', '', 1, "
        f"{d.at(plant_sub + ' + 1440')}, {dcrc_of.format(s='c.store_id')}, {d.at(plant_sub + ' + 1440')}, "
        f"{d.at(plant_sub + ' + 4320')}, {d.at(plant_sub + ' + 14400')}, "
        f"{d.at(plant_sub + ' + 28800')}, NULL, "
        f"'', {d.json('[]')}, NULL, '', NULL, NULL, '', {fa}, 5 "
        f"FROM {src} JOIN customers_customer c ON c.id = {root} + (g - 1) * 5 / 8",
    )

    # --- won referrals get their customer (one each, outside the planted ids) ------------------
    span = customers - PLANT
    step = next(p for p in (7919, 7927, 7933, 7937) if math.gcd(p, span) == 1)
    _run_sql(
        phases,
        "won_customers",
        f"UPDATE referrals_referral SET customer_id = m.cid FROM (SELECT id, "
        f"1 + (ROW_NUMBER() OVER (ORDER BY id)) * {step} % {span} AS cid FROM referrals_referral "
        f"WHERE stage = 'won' AND customer_id IS NULL) m WHERE referrals_referral.id = m.id",
    )

    # --- vouchers: referrer (maintenance) and referred (offer) per won referral, after the hold ---
    v0 = (
        f"SELECT r.id * 2 + b.j AS g, b.j AS b, r.id AS referral, r.store_id AS store, r.rep_id AS rep, "
        f"CASE WHEN b.j = 1 THEN r.referrer_id ELSE r.customer_id END AS holder, "
        f"{d.minutes_since('r.closed_at')} + 10080 + {h(0, var='(r.id * 2 + b.j)')} % 600 AS iss "
        f"FROM referrals_referral r, {_ints(2)} b WHERE r.organisation_id = {o} AND r.stage = 'won'"
    )
    v1 = (
        f"SELECT v0.*, (iss + {UTC_OFFSET_MIN}) / 1440 + 365 AS exp, "
        f"{bench_day} - (iss + {UTC_OFFSET_MIN}) / 1440 AS age, {h(1)} % 100 AS u, "
        f"(g * 1000000007) % {31**9} AS n FROM ({v0}) v0 WHERE iss < {bench_min}"
    )
    young_redeemed = f"3 + 45 * {d.least('age', '180')} / 180"
    status = (
        f"CASE WHEN exp + 1 < {bench_day} THEN CASE WHEN u < 55 THEN 'redeemed' WHEN u < 95 THEN 'expired' "
        f"ELSE 'void' END WHEN u < 3 THEN 'void' WHEN u < {young_redeemed} THEN 'redeemed' ELSE 'issued' END"
    )
    v2 = f"SELECT v1.*, {status} AS status FROM ({v1}) v1"
    end_of_validity = d.least(f"(exp + 1) * 1440 - {UTC_OFFSET_MIN}", str(bench_min))
    redeemed = f"iss + {d.least(f'1440 + {h(2)} % 432000', f'({end_of_validity} - iss) * 8 / 10')}"
    voided = f"iss + {d.least(f'1440 + {h(3)} % 43200', f'({bench_min} - iss) / 2')}"
    expired = f"(exp + 1) * 1440 - {UTC_OFFSET_MIN} + 120"
    digits = [f"(n / {31**i}) % 31" for i in range(9)]
    code = " || ".join(
        [d.char_at(ALPHABET, x) for x in digits]
        + [d.char_at(ALPHABET, f"({' + '.join(f'{i + 1} * {x}' for i, x in enumerate(digits))}) % 31")]
    )
    n_v = _run_sql(
        phases,
        "vouchers",
        "INSERT INTO referrals_voucher (organisation_id, code, kind, value, customer_id, referral_id, "
        "store_id, rep_id, status, issued_at, issued_by_id, expires_on, redeemed_at, redeemed_by_id, "
        "redeemed_store_id, "
        f"closed_at, void_reason) SELECT {o}, {code}, "
        "CASE WHEN b = 1 THEN 'maintenance_voucher' ELSE 'offer' END, CASE WHEN b = 1 THEN 300 ELSE 200 END, "
        f"holder, referral, store, rep, status, {d.at('iss')}, NULL, {d.on('exp')}, "
        f"CASE WHEN status = 'redeemed' THEN {d.at(redeemed)} END, "
        f"CASE WHEN status = 'redeemed' THEN {dcrc_of.format(s='store')} END, "
        "CASE WHEN status = 'redeemed' THEN store END, "
        f"CASE WHEN status = 'expired' THEN {d.at(expired)} WHEN status = 'void' THEN {d.at(voided)} END, "
        "CASE WHEN status = 'void' THEN '客户退车' ELSE '' END "
        f"FROM ({v2}) v2 ORDER BY iss, g",
    )
    _run_sql(
        phases,
        "voucher_entries",
        "INSERT INTO referrals_voucherentry (action, at, note, actor_id, store_id, voucher_id) "
        "SELECT action, at, note, actor, store, voucher FROM ("
        "SELECT 'issue' AS action, issued_at AS at, '' AS note, NULL AS actor, NULL AS store, id AS voucher "
        "FROM referrals_voucher UNION ALL "
        "SELECT 'redeem', redeemed_at, '', redeemed_by_id, redeemed_store_id, id FROM referrals_voucher "
        "WHERE status = 'redeemed' UNION ALL "
        "SELECT 'expire', closed_at, '', NULL, NULL, id FROM referrals_voucher WHERE status = 'expired' "
        "UNION ALL "
        f"SELECT 'void', closed_at, void_reason, {manager_of.format(s='store_id')}, store_id, id "
        "FROM referrals_voucher WHERE status = 'void') e ORDER BY at, voucher",
    )
    _run_sql(
        phases,
        "rewards",
        "INSERT INTO referrals_reward (organisation_id, referral_id, beneficiary, customer_id, kind, value, "
        "status, release_on, created_at, voucher_id) "
        f"SELECT {o}, v.referral_id, CASE WHEN v.kind = 'offer' THEN 'referred' ELSE 'referrer' END, "
        f"v.customer_id, v.kind, v.value, 'issued', {d.on(d.minutes_since('v.issued_at') + ' / 1440')}, "
        "r.closed_at, v.id FROM referrals_voucher v JOIN referrals_referral r ON r.id = v.referral_id "
        "UNION ALL "
        f"SELECT {o}, r.id, CASE WHEN b.j = 1 THEN 'referrer' ELSE 'referred' END, "
        "CASE WHEN b.j = 1 THEN r.referrer_id ELSE r.customer_id END, "
        "CASE WHEN b.j = 1 THEN 'maintenance_voucher' ELSE 'offer' END, "
        "CASE WHEN b.j = 1 THEN 300 ELSE 200 END, "
        f"'held', {d.on(str(bench_day + 7))}, r.closed_at, NULL "
        # NOT IN, not NOT EXISTS: SQLite hashes the list but runs a correlated subquery per row.
        f"FROM referrals_referral r, {_ints(2)} b WHERE r.stage = 'won' AND r.id NOT IN "
        "(SELECT referral_id FROM referrals_voucher WHERE referral_id IS NOT NULL)",
    )

    # --- referrer profiles: ~5% of the customers, among the referrers ---------------------------
    profiles = max(1, customers // 20)
    rtype = _pick(
        f"({h(1)} % 1000)",
        [("''", 40), ("'honour'", 10), ("'reward'", 25), ("'favour'", 10), ("'friend'", 15)],
    )
    _run_sql(
        phases,
        "referrer_profiles",
        "INSERT INTO referrals_referrerprofile (created_at, updated_at, organisation_id, customer_id, "
        "referrer_type, refuses_rewards, asked_for_help, note, set_by_id, version) "
        f"SELECT {d.at(f'{bench_min} - 1440 - {h(2)} % 500000')}, {d.at(f'{bench_min} - 1440')}, {o}, g, t, "
        f"CASE WHEN t = 'honour' AND {h(3)} % 2 = 0 THEN {tr} ELSE {fa} END, "
        "CASE WHEN t = 'favour' THEN '孩子入学' ELSE '' END, '', owner, 1 FROM ("
        f"SELECT g, owner, {rtype} AS t FROM (SELECT x.referrer_id AS g, c.owner_id AS owner FROM "
        "(SELECT DISTINCT referrer_id FROM referrals_referral) x "
        "JOIN customers_customer c ON c.id = x.referrer_id "
        f"ORDER BY (x.referrer_id * 7919) % 1000003, x.referrer_id LIMIT {profiles}) y) z",
    )

    t = time.perf_counter()
    for indexes in saved.values():
        for _name, sql in indexes:
            bp._execute(sql)
    phases["referral_indexes"] = round(time.perf_counter() - t, 1)

    # The referred customers know who brought them (customers' indexes are in place: 5% of rows).
    _run_sql(
        phases,
        "referred_by",
        "UPDATE customers_customer SET referred_by_id = r.referrer_id, source = 'referral' "
        "FROM referrals_referral r WHERE r.customer_id = customers_customer.id AND r.stage = 'won' "
        "AND r.referrer_id <> customers_customer.id",
    )
    # What the services keep as they go: each referral's sale (``Referral.sale_day``) and the
    # per-referrer summary (``ReferrerStats``), set-based as the migration fills them.
    from huitou.referrals import stats

    t = time.perf_counter()
    stats.referral_sale_days_refresh(organisation_id=o)
    phases["referral_sale_days"] = round(time.perf_counter() - t, 1)
    t = time.perf_counter()
    stats.referrer_stats_rebuild(organisation_id=o)
    phases["referrer_stats"] = round(time.perf_counter() - t, 1)
    if d.pg:
        # The sale-day UPDATE rewrote every referral: give the table back its size (a database
        # migrated in place keeps the bloat until its next VACUUM FULL; see the notes).
        t = time.perf_counter()
        bp._execute("VACUUM FULL referrals_referral")
        phases["referral_repack"] = round(time.perf_counter() - t, 1)
    t = time.perf_counter()
    # VACUUM too: the visibility map for index-only scans, and no autovacuum during the timings.
    bp._execute("VACUUM ANALYZE" if d.pg else "ANALYZE")
    phases["vacuum_analyze"] = round(time.perf_counter() - t, 1)
    return {"referrals_main": n_ref, "duplicates": n_dup, "vouchers": n_v, "plant_root": root}


def check_codes(sample: int = 200) -> int:
    """Generated codes must be ones the desk accepts (the check character)."""
    from huitou.referrals.models import Voucher
    from huitou.referrals.vouchers import code_is_wellformed

    codes = list(Voucher.objects.order_by("pk").values_list("code", flat=True)[:sample])
    bad = [c for c in codes if not code_is_wellformed(c)]
    assert not bad, f"malformed generated codes: {bad[:5]}"
    return len(codes)


def shape() -> dict[str, Any]:
    """What the generated set looks like (reported beside the figures)."""
    out: dict[str, Any] = {}
    out["stages"] = dict(
        bp._fetch("SELECT stage, count(*) FROM referrals_referral GROUP BY stage ORDER BY 2 DESC")
    )
    out["review"] = dict(
        bp._fetch(
            "SELECT review, count(*) FROM referrals_referral WHERE review <> '' "
            "GROUP BY review ORDER BY 2 DESC"
        )
    )
    out["duplicates"] = bp._fetch(
        "SELECT count(*) FROM referrals_referral WHERE duplicate_of_id IS NOT NULL"
    )[0][0]
    out["referrers"] = bp._fetch("SELECT count(DISTINCT referrer_id) FROM referrals_referral")[0][0]
    out["voucher_status"] = dict(
        bp._fetch("SELECT status, count(*) FROM referrals_voucher GROUP BY status ORDER BY 2 DESC")
    )
    out["referred_customers"] = bp._fetch(
        "SELECT count(*) FROM customers_customer WHERE referred_by_id IS NOT NULL"
    )[0][0]
    span = bp._fetch("SELECT min(submitted_at), max(submitted_at) FROM referrals_referral")[0]
    out["submitted"] = [str(span[0])[:10], str(span[1])[:10]]
    last12 = bp._fetch(
        "SELECT count(*) FROM referrals_referral "
        f"WHERE submitted_at >= '{PERIOD[0]}' AND submitted_at < '{PERIOD[1] + dt.timedelta(days=1)}'"
    )[0][0]
    out["submitted_in_period"] = last12
    return out


def table_rows() -> dict[str, int]:
    tables = (
        "customers_customer",
        "customers_purchase",
        "referrals_referral",
        "referrals_voucher",
        "referrals_voucherentry",
        "referrals_reward",
        "referrals_referrerprofile",
    )
    return {t: bp._fetch(f"SELECT count(*) FROM {t}")[0][0] for t in tables}


# --------------------------------------------------------------------------------------------------
# Measuring


class Recorder:
    """Counts and times every statement (an execute wrapper: no debug cursor)."""

    def __init__(self, keep: bool = False) -> None:
        self.keep = keep
        self.statements: list[tuple[str, Any]] = []
        self.count = 0
        self.seconds = 0.0

    def __call__(self, execute: Callable[..., Any], sql: str, params: Any, many: bool, context: Any) -> Any:
        self.count += 1
        if self.keep and not many:
            self.statements.append((sql, params))
        t = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            self.seconds += time.perf_counter() - t


def _recorded(fn: Callable[[], Any], keep: bool = False) -> tuple[float, Recorder]:
    from django.core.cache import cache
    from django.db import connection

    cache.clear()  # the capped counts of the lists are cached for a minute: pay them every time
    rec = Recorder(keep)
    with connection.execute_wrapper(rec):
        t = time.perf_counter()
        fn()
        seconds = time.perf_counter() - t
    return seconds, rec


def explain(sql: str, params: Any) -> dict[str, Any]:
    from django.db import connection

    with connection.cursor() as cur:
        if connection.vendor == "postgresql":
            cur.execute("EXPLAIN (ANALYZE, BUFFERS) " + sql, params)
            plan = "\n".join(r[0] for r in cur.fetchall())
            seq = sorted(set(re.findall(r"Seq Scan on (\w+)", plan)))
            m = re.search(r"Execution Time: ([\d.]+) ms", plan)
            ms = float(m.group(1)) if m else None
        else:
            cur.execute("EXPLAIN QUERY PLAN " + sql, params)
            plan = "\n".join(" ".join(str(c) for c in r[1:]) for r in cur.fetchall())
            seq = sorted(set(re.findall(r"\bSCAN (\w+)\b(?! USING)", plan)))
            ms = None
    return {"sql": _inline(sql, params), "plan": plan, "execution_ms": ms, "seq_scans": seq}


def _inline(sql: str, params: Any) -> str:
    """The statement with its parameters written in, for the report (not for running)."""
    if not params:
        return sql
    out, it = [], iter(params)
    for i, part in enumerate(sql.split("%s")):
        if i:
            v = next(it, None)
            out.append("NULL" if v is None else str(v) if isinstance(v, int | float) else f"'{v}'")
        out.append(part)
    return "".join(out)


def measure(
    label: str, role: str, fn: Callable[[], Any], *, kind: str, baseline: str, plans: bool = True
) -> dict[str, Any]:
    _warm, rec = _recorded(fn, keep=True)
    runs = [_recorded(fn) for _ in range(RUNS)]
    best_s, best_rec = min(runs, key=lambda r: r[0])
    row = {
        "label": label,
        "role": role,
        "kind": kind,
        "baseline": baseline,
        "ms": round(best_s * 1000, 1),
        "runs_ms": [round(s * 1000, 1) for s, _r in runs],
        "sql_ms": round(best_rec.seconds * 1000, 1),
        "queries": best_rec.count,
        "plans": [],
    }
    if plans:
        for sql, params in rec.statements:
            if sql.lstrip().upper().startswith(("SELECT", "WITH")):
                row["plans"].append(explain(sql, params))
    big = sorted({t for p in row["plans"] for t in p["seq_scans"]} & BIG_TABLES)
    row["seq_scans_big"] = big
    log(f"  {label} as {role}: {row['ms']} ms ({row['queries']} queries, SQL {row['sql_ms']} ms) {big or ''}")
    return row


def baselines() -> dict[str, dict[str, Any]]:
    out = {}
    for key, sql in (
        ("referrals", "SELECT count(*) FROM referrals_referral"),
        ("purchases", "SELECT count(*), sum(amount) FROM customers_purchase"),
        ("vouchers", "SELECT count(*), sum(value) FROM referrals_voucher"),
        # count(*) alone is served index-only from the smallest index; this one reads the heap.
        ("referrals (heap)", "SELECT count(*), sum(version) FROM referrals_referral"),
    ):
        row = measure(f"`{sql}`", "—", lambda sql=sql: bp._fetch(sql), kind="baseline", baseline="")
        out[key] = {"sql": sql, "ms": row["ms"], "runs_ms": row["runs_ms"], "plans": row["plans"]}
    out["purchases+referrals"] = {
        "sql": "the two scans above, summed",
        "ms": round(out["purchases"]["ms"] + out["referrals"]["ms"], 1),
        "runs_ms": [],
        "plans": [],
    }
    return out


def viewers() -> dict[str, Any]:
    from huitou.accounts.models import User

    return {
        u.username: u
        for u in User.objects.select_related("organisation").filter(
            username__in=["owner", "manager0", "rep0", "dcrcS0"]
        )
    }


def targets_for(row: dict[str, Any], base: dict[str, dict[str, Any]]) -> dict[str, Any]:
    kind = row["kind"]
    if row["baseline"] == "referrals" and (base.get("referrals", {}).get("ms") or 0) < 1:
        # SQLite answers count(*) from the b-tree without reading the rows: no baseline at all.
        row["baseline"] = "referrals (heap)"
    b = base.get(row["baseline"], {}).get("ms")
    row["ratio"] = round(row["ms"] / b, 2) if b else None
    if kind == "list":
        row["target"] = f"≤ {TARGET_LIST_MS} ms"
        row["met"] = row["ms"] <= TARGET_LIST_MS
    elif kind == "panel":
        row["target"] = f"≤ {TARGET_PANEL_MS} ms"
        row["met"] = row["ms"] <= TARGET_PANEL_MS
    elif kind == "report":
        row["target"] = f"≤ {TARGET_REPORT_RATIO}× scan"
        row["met"] = row["ratio"] is not None and row["ratio"] <= TARGET_REPORT_RATIO
    else:
        row["target"], row["met"] = "—", None
    return row


def workload() -> list[tuple[str, str, str, str, Callable[[], Any]]]:
    """(label, viewer, kind, baseline, call): what the pages and the API call, as they call it."""
    from huitou.accounts.models import Store
    from huitou.core.pagination import paginate
    from huitou.referrals import insights, services
    from huitou.referrals import voucher_selectors as vsel
    from huitou.referrals.models import Referral
    from huitou.referrals.services import LeadFilters

    v = viewers()
    store0 = Store.objects.get(code="S0").pk
    today = BENCH_DAY
    start, end = PERIOD
    root = int(bp._fetch("SELECT min(referrer_id) FROM referrals_referral WHERE phone LIKE '+86137%'")[0][0])
    # A customer whose latest sale is recent and who referred: the quota panel's usual case.
    quota_customer = (
        Referral.objects.filter(stage="verified", submitted_at__lt=dt.datetime(2026, 3, 1, tzinfo=dt.UTC))
        .order_by("-submitted_at")
        .values_list("referrer_id", flat=True)
        .first()
    )
    quota_rep = bp._fetch(
        f"SELECT u.username FROM customers_customer c JOIN accounts_user u ON u.id = c.owner_id "
        f"WHERE c.id = {quota_customer}"
    )[0][0]
    root_rep = bp._fetch(
        "SELECT u.username FROM customers_customer c JOIN accounts_user u ON u.id = c.owner_id "
        f"WHERE c.id = {root}"
    )[0][0]
    extra = {
        u.username: u
        for u in type(v["owner"])
        .objects.select_related("organisation")
        .filter(username__in=[quota_rep, root_rep])
    }

    def pipeline(viewer: Any, filters: LeadFilters) -> Callable[[], Any]:
        # the page: the list only; the stage tabs' counts come in a second request (htmx)
        def call() -> Any:
            return services.referral_list(viewer, filters, page=1, size=PAGE)

        return call

    def stage_tabs(viewer: Any, filters: LeadFilters) -> Callable[[], Any]:
        # the tab fragment the page loads after the list (uncached here: the bench's cache is a dummy)
        def call() -> Any:
            return services.referral_stage_counts(viewer, filters)

        return call

    def vouchers_page(viewer: Any) -> Callable[[], Any]:
        def call() -> Any:
            filters = vsel.VoucherFilters()
            page = paginate(
                vsel.voucher_list(viewer, filters), page=1, size=PAGE, count_cache_key=f"vouchers:{viewer.pk}"
            )
            return [(x.customer.phone, x.store, x.rep) for x in page.items]

        return call

    def base_customers(viewer: Any) -> Callable[[], Any]:
        def call() -> Any:
            page = paginate(insights.base_customer_queryset(viewer), page=1, size=PAGE)
            return insights.base_customer_rows(viewer, page.items)

        return call

    submitted_s0 = LeadFilters(stage="submitted", store_id=store0)
    out: list[tuple[str, str, str, str, Callable[[], Any]]] = []
    for role in ("rep0", "manager0", "owner"):
        out.append(
            (
                "pipeline page 1 (list; tabs load after)",
                role,
                "list",
                "referrals",
                pipeline(v[role], LeadFilters()),
            )
        )
    for role in ("rep0", "manager0", "owner"):
        out.append(
            (
                "pipeline stage tabs (htmx fragment)",
                role,
                "list",
                "referrals",
                stage_tabs(v[role], LeadFilters()),
            )
        )
    for role in ("rep0", "manager0", "owner"):
        out.append(
            (
                "pipeline, stage=submitted, store S0 (list)",
                role,
                "list",
                "referrals",
                pipeline(v[role], submitted_s0),
            )
        )
    for role in ("rep0", "manager0", "owner"):
        out.append(
            (
                "pipeline stage tabs, store S0 (htmx fragment)",
                role,
                "list",
                "referrals",
                stage_tabs(v[role], submitted_s0),
            )
        )
    for role in ("dcrcS0", "manager0", "owner"):
        out.append(
            (
                "DCRC audit queue page 1",
                role,
                "list",
                "referrals",
                lambda u=v[role]: services.referral_audit_queue(u, page=1, size=PAGE),
            )
        )
    for role in ("manager0", "owner"):
        out.append(
            (
                "review queue page 1",
                role,
                "list",
                "referrals",
                lambda u=v[role]: services.referral_review_queue(u, page=1, size=PAGE),
            )
        )
    for role in ("rep0", "manager0", "owner"):
        out.append(("voucher list page 1", role, "list", "vouchers", vouchers_page(v[role])))
    for role in ("manager0", "owner"):
        out.append(
            (
                f"voucher_stats {start:%Y-%m}..{end:%Y-%m}",
                role,
                "report",
                "vouchers",
                lambda u=v[role]: vsel.voucher_stats(u, start=start, end=end, today=today),
            )
        )
    for role in ("rep0", "manager0", "owner"):
        out.append(
            (
                f"scorecard {SCORE_MONTH:%Y-%m}",
                role,
                "report",
                "purchases+referrals",
                lambda u=v[role]: insights.scorecard(u, month=SCORE_MONTH, today=today),
            )
        )
    o = v["owner"]
    period = f"{start:%Y-%m}..{end:%Y-%m}"
    out += [
        (
            f"viral_coefficient {period}",
            "owner",
            "report",
            "purchases+referrals",
            lambda: insights.viral_coefficient(o, start=start, end=end),
        ),
        (
            f"referral_curve {period}",
            "owner",
            "report",
            "purchases+referrals",
            lambda: insights.referral_curve(o, start=start, end=end, today=today),
        ),
        (
            f"referral_funnel {period}",
            "owner",
            "report",
            "referrals",
            lambda: insights.referral_funnel(o, start=start, end=end),
        ),
        (
            "quota_periods_compare (2023-01..bench day)",
            "owner",
            "report",
            "purchases+referrals",
            lambda: insights.quota_periods_compare(o, today=today),
        ),
        (
            f"referral_totals {period}",
            "owner",
            "report",
            "purchases+referrals",
            lambda: insights.referral_totals(o, start=start, end=end),
        ),
    ]
    for role in ("rep0", "manager0", "owner"):
        out.append(("base customers page 1 (+ rows)", role, "list", "referrals", base_customers(v[role])))
    out.append(
        (
            f"referral_chain (customer {root}, planted tree)",
            "owner",
            "panel",
            "referrals",
            lambda: insights.referral_chain(o, root),
        )
    )
    out.append(
        (
            f"referral_chain (customer {root}, planted tree)",
            root_rep,
            "panel",
            "referrals",
            lambda u=extra[root_rep]: insights.referral_chain(u, root),
        )
    )
    from huitou.accounts.models import Organisation
    from huitou.followups import plan
    from huitou.followups.models import ContactRule

    org = Organisation.objects.get(slug="bench")
    rule = ContactRule.objects.filter(organisation=org, trigger="referral_ask").first()
    if rule is not None:
        out.append(
            (
                f"plan_candidates(rule {rule.code}, {BENCH_DAY})",
                "—",
                "plan",
                "purchases+referrals",
                lambda: plan.plan_candidates(organisation=org, rule=rule, day=BENCH_DAY),
            )
        )
    for name, u in (("owner", o), (quota_rep, extra[quota_rep])):
        out.append(
            (
                f"customer_quota (customer {quota_customer})",
                name,
                "panel",
                "purchases+referrals",
                lambda u=u: insights.customer_quota(u, quota_customer, today=today),
            )
        )
    return out


def measure_plan(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """The referral ask of the contact plan: its candidates alone, then inside one ``plan_run``."""
    from django.utils import timezone

    from huitou.accounts.models import Organisation
    from huitou.followups import plan
    from huitou.followups.models import ContactRule

    org = Organisation.objects.get(slug="bench")
    rule = ContactRule.objects.filter(organisation=org, trigger="referral_ask").first()
    if rule is None:
        return {"available": False}
    out: dict[str, Any] = {"available": True, "rule": rule.code}
    out["candidates"] = next((r for r in rows if r["label"].startswith("plan_candidates")), None)
    out["candidate_count"] = len(plan.plan_candidates(organisation=org, rule=rule, day=BENCH_DAY))
    bp.reset_plan_tables()
    spent, restore = bp._instrument()
    now = dt.datetime.combine(BENCH_DAY, dt.time(5, 30), tzinfo=timezone.get_default_timezone())
    try:
        t = time.perf_counter()
        result = plan.plan_run(organisation=org, day=BENCH_DAY, now=now)
        seconds = time.perf_counter() - t
    finally:
        restore()
    from huitou.followups.models import Task

    out["plan_run"] = {
        "day": BENCH_DAY.isoformat(),
        "seconds": round(seconds, 2),
        "referral_ask_s": round(spent.get("referral_ask", 0.0), 3),
        "tasks_created": result.tasks_created,
        "messages_queued": result.messages_queued,
        "referral_ask_tasks": Task.objects.filter(rule=rule).count(),
        "quota_met_skipped": result.skipped.get("quota_met", 0),
        "slowest": dict(sorted(((k, round(v, 2)) for k, v in spent.items()), key=lambda kv: -kv[1])[:5]),
    }
    log(f"  plan_run {BENCH_DAY}: {out['plan_run']}")
    return out


def try_indexes(
    rows: list[dict[str, Any]], work: list[tuple[str, str, str, str, Callable[[], Any]]]
) -> list[dict[str, Any]]:

    results = []
    for name, (_create, labels, _drop) in EXPERIMENTS.items():
        if not labels:
            continue  # only for the rewritten queries (try_rewrites)
        build_s = experiment_create(name)
        create = "; ".join(EXPERIMENTS[name][0])
        for label, role, kind, baseline, fn in work:
            if not any(label.startswith(x) for x in labels):
                continue
            before = next(r for r in rows if r["label"] == label and r["role"] == role)
            try:
                # A plan that goes wrong with the index must not stall the run: two minutes a statement.
                bp._execute("SET statement_timeout = '120s'")
                after = measure(label, role, fn, kind=kind, baseline=baseline)
            except Exception as exc:  # reported instead
                log(f"  {label} as {role}: failed with {name}: {exc}")
                after = {"ms": None, "plans": [], "error": str(exc)[:300]}
            finally:
                bp._execute("SET statement_timeout = 0")
            results.append(
                {
                    "index": name,
                    "create": create,
                    "build_s": build_s,
                    "label": label,
                    "role": role,
                    "before_ms": before["ms"],
                    "after_ms": after["ms"],
                    "after_plans": after["plans"],
                    "error": after.get("error", ""),
                }
            )
        experiment_drop(name)
    return results


def experiment_create(name: str) -> float:
    """Create one experiment's statistics and indexes, then refresh the table's statistics."""
    from django.db import connection

    creates = EXPERIMENTS[name][0]
    experiment_drop(name)  # left over by an interrupted run
    t = time.perf_counter()
    for sql in creates:
        bp._execute(sql)
    build_s = round(time.perf_counter() - t, 1)
    table = creates[-1].split(" ON ", 1)[1].split()[0]
    bp._execute(f"VACUUM ANALYZE {table}" if connection.vendor == "postgresql" else "ANALYZE")
    return build_s


def experiment_drop(name: str) -> None:
    for sql in EXPERIMENTS[name][2]:
        bp._execute(sql)


# Hand-written SQL for the query changes proposed in bench/referrals_notes.md, each beside the
# measurement it would replace: (name, viewer, replaces, SQL, setup, teardown, index). ``index``
# names an EXPERIMENTS index to create first. Ids are those of the bench organisation.
STAGE_VALUES = (
    "(VALUES ('submitted'), ('verified'), ('contacted'), ('quoted'), ('won'), ('lost'), ('rejected'))"
)


def rewrites(ids: dict[str, Any]) -> list[dict[str, Any]]:
    start, end = PERIOD
    f = {
        **ids,
        "p0": f"'{start} 00:00:00+08'",
        "p1": f"'{end + dt.timedelta(days=1)} 00:00:00+08'",
        "d0": f"'{start}'",
        "d1": f"'{end}'",
        "look": f"'{start - dt.timedelta(days=366)}'",
        "team": "(SELECT u.id FROM accounts_user u JOIN accounts_team t ON t.id = u.team_id "
        f"WHERE t.manager_id = {ids['manager']})",
        "day": SALE_DAY,
    }
    rep_scope = (
        "(r.rep_id = {rep} OR r.referrer_id IN (SELECT c.id FROM customers_customer c "
        "WHERE c.organisation_id = {org} AND c.owner_id = {rep}))"
    ).format(**f)
    # The manager's scope on the referral's own columns: the store the lead belongs to and the
    # reps of the manager's team (see the notes: needs the lead's store to follow the customer's).
    own_mgr = "(r.store_id = {store} OR r.rep_id IN {team})".format(**f)

    def capped(cond: str) -> str:
        return (
            f"SELECT s.stage, (SELECT count(*) FROM (SELECT 1 FROM referrals_referral r WHERE "
            f"r.organisation_id = {f['org']} AND r.stage = s.stage AND {cond} LIMIT 1001) x) "
            f"FROM {STAGE_VALUES} s(stage)"
        )

    sold = (
        "FROM customers_purchase WHERE organisation_id = {org} AND kind <> 'service' "
        "AND {day} >= {d0} AND {day} <= {d1} AND ordered_on >= {look} AND ordered_on <= {d1}"
    ).format(**f)
    out = [
        {
            "name": "stage tabs scoped on the referral's own organisation (no join to customers), exact",
            "role": "owner",
            "replaces": "pipeline stage tabs (htmx fragment)",
            "sql": f"SELECT stage, count(*) FROM referrals_referral WHERE organisation_id = {ids['org']} "
            "GROUP BY stage",
        },
        {
            "name": "stage tabs capped at 1,000 per stage (one statement, index ref_org_stage_idx)",
            "role": "owner",
            "replaces": "pipeline stage tabs (htmx fragment)",
            "sql": capped("true"),
        },
        {
            "name": "stage tabs of one store (the store filter), exact, on the referral's store",
            "role": "owner",
            "replaces": "pipeline stage tabs, store S0 (htmx fragment)",
            "sql": f"SELECT stage, count(*) FROM referrals_referral WHERE store_id = {ids['store']} "
            "GROUP BY stage",
            "index": "ref_bench_store_stage",
        },
        {
            "name": "rep scope as rep_id OR referrer IN (the rep's customers), no join: the list's "
            "capped count",
            "role": "rep0",
            "replaces": "pipeline stage tabs (htmx fragment)",
            "sql": "SELECT count(*) FROM (SELECT 1 FROM referrals_referral r WHERE r.organisation_id = {org} "
            "AND {scope} LIMIT 1001) x".format(scope=rep_scope, **f),
        },
        {
            "name": "the same scope: exact stage tabs (seq scan + hashed subplan)",
            "role": "rep0",
            "replaces": "pipeline stage tabs (htmx fragment)",
            "sql": "SELECT stage, count(*) FROM referrals_referral r WHERE r.organisation_id = {org} "
            "AND {scope} GROUP BY stage".format(scope=rep_scope, **f),
        },
        {
            "name": "rep scope on the referral's own rep_id only: exact stage tabs (ref_rep_stage_idx)",
            "role": "rep0",
            "replaces": "pipeline stage tabs (htmx fragment)",
            "sql": f"SELECT stage, count(*) FROM referrals_referral WHERE rep_id = {ids['rep']} "
            "GROUP BY stage",
        },
        {
            "name": "manager scope on the referral's own store and rep: exact stage tabs",
            "role": "manager0",
            "replaces": "pipeline stage tabs (htmx fragment)",
            "sql": f"SELECT stage, count(*) FROM referrals_referral r WHERE {own_mgr} GROUP BY stage",
            "index": "ref_bench_store_stage",
        },
        {
            "name": "manager scope on the referral's own store and rep: audit queue count",
            "role": "manager0",
            "replaces": "DCRC audit queue page 1",
            "sql": "SELECT count(*) FROM (SELECT 1 FROM referrals_referral r WHERE r.organisation_id = {org} "
            "AND r.stage = 'submitted' AND r.rep_id <> {manager} AND {scope} LIMIT 1001) x".format(
                scope=own_mgr, **f
            ),
            "index": "ref_bench_store_stage",
        },
        {
            "name": "manager scope on the referral's own store and rep: review queue count",
            "role": "manager0",
            "replaces": "review queue page 1",
            "sql": "SELECT count(*) FROM (SELECT 1 FROM referrals_referral r WHERE r.organisation_id = {org} "
            "AND r.review = 'pending' AND {scope} LIMIT 1001) x".format(scope=own_mgr, **f),
        },
        {
            "name": "funnel: one GROUP BY (rep, store) without the customer join, rolled up in Python",
            "role": "owner",
            "replaces": "referral_funnel",
            "sql": (
                "SELECT rep_id, store_id, count(*), "
                "count(*) FILTER (WHERE verified_at IS NOT NULL OR contacted_at IS NOT NULL "
                "OR quoted_at IS NOT NULL OR stage = 'won'), "
                "count(*) FILTER (WHERE contacted_at IS NOT NULL OR quoted_at IS NOT NULL OR stage = 'won'), "
                "count(*) FILTER (WHERE quoted_at IS NOT NULL OR stage = 'won'), "
                "count(*) FILTER (WHERE stage = 'won') FROM referrals_referral "
                "WHERE organisation_id = {org} AND submitted_at >= {p0} AND submitted_at < {p1} "
                "GROUP BY rep_id, store_id"
            ).format(**f),
        },
        {
            "name": "viral coefficient, customers sold per store and month without the customer join",
            "role": "owner",
            "replaces": "viral_coefficient",
            "sql": f"SELECT store_id, date_trunc('month', {SALE_DAY}), count(DISTINCT customer_id) {sold} "
            "GROUP BY 1, 2",
            "index": "ref_bench_sale_day",
        },
        {
            "name": "totals, customers sold without the customer join",
            "role": "owner",
            "replaces": "referral_totals",
            "sql": f"SELECT count(DISTINCT customer_id) {sold}",
            "index": "ref_bench_sale_day",
        },
        {
            "name": "comparison, customers sold per period in one pass (GROUP BY customer, bool_or per "
            "period), no customer join",
            "role": "owner",
            "replaces": "quota_periods_compare",
            "sql": (
                "SELECT count(*) FILTER (WHERE p0), count(*) FILTER (WHERE p1) FROM (SELECT customer_id, "
                "bool_or({day} < '{one}') AS p0, bool_or({day} >= '{one}') AS p1 FROM customers_purchase "
                "WHERE organisation_id = {org} AND kind <> 'service' AND {day} >= '{first}' "
                "AND {day} <= '{today}' AND ordered_on >= '{look}' AND ordered_on <= '{today}' "
                "GROUP BY customer_id) g"
            ).format(
                one=ONE_TO_ONE,
                first=PROGRAM_START,
                today=BENCH_DAY,
                look=PROGRAM_START - dt.timedelta(days=366),
                **{k: v for k, v in f.items() if k not in ("look",)},
            ),
            "index": "ref_bench_sale_day",
        },
        {
            "name": "voucher statistics grouped by ids only (names joined from two small dicts in Python)",
            "role": "owner",
            "replaces": "voucher_stats",
            "sql": (
                "SELECT date_trunc('month', issued_at AT TIME ZONE 'Asia/Shanghai'), store_id, rep_id, "
                "count(*), sum(value), count(*) FILTER (WHERE status = 'redeemed'), "
                "sum(value) FILTER (WHERE status = 'redeemed'), count(*) FILTER (WHERE status = 'expired' "
                "OR (status = 'issued' AND expires_on < '{today}')), "
                "count(*) FILTER (WHERE status = 'void'), "
                "count(*) FILTER (WHERE status = 'issued' AND expires_on >= '{today}') "
                "FROM referrals_voucher WHERE organisation_id = {org} AND issued_at >= {p0} "
                "AND issued_at < {p1} GROUP BY 1, 2, 3"
            ).format(today=BENCH_DAY, **f),
        },
    ]
    stats = (
        "CREATE TABLE ref_bench_referrer_stats AS SELECT organisation_id, referrer_id, "
        "count(*) FILTER (WHERE stage = 'won' AND review IN ('', 'approved')) AS won, "
        "count(*) FILTER (WHERE stage IN ('verified', 'contacted', 'quoted', 'won', 'lost') "
        "AND review IN ('', 'approved')) AS counted, count(*) AS made, max(submitted_at) AS last_at "
        "FROM referrals_referral GROUP BY organisation_id, referrer_id"
    )
    setup = [
        "DROP TABLE IF EXISTS ref_bench_referrer_stats",
        stats,
        "CREATE INDEX ref_bench_referrer_rank ON ref_bench_referrer_stats "
        "(organisation_id, won DESC, counted DESC, last_at DESC, referrer_id) WHERE counted > 0",
        "ANALYZE ref_bench_referrer_stats",
    ]
    page = (
        "SELECT s.referrer_id, s.won, s.counted, s.made, s.last_at FROM ref_bench_referrer_stats s {join} "
        "WHERE s.organisation_id = {org} AND s.counted > 0 {cond} "
        "ORDER BY s.won DESC, s.counted DESC, s.last_at DESC, s.referrer_id LIMIT 51"
    )
    out += [
        {
            "name": "base customers from a per-referrer summary row kept by the services (simulated "
            "with a table built from the referrals)",
            "role": "owner",
            "replaces": "base customers page 1 (+ rows)",
            "sql": page.format(join="", cond="", **f),
            "setup": setup,
        },
        {
            "name": "the same summary, a rep's page (the scope by a join to the customer)",
            "role": "rep0",
            "replaces": "base customers page 1 (+ rows)",
            "sql": page.format(
                join="JOIN customers_customer c ON c.id = s.referrer_id",
                cond=f"AND c.owner_id = {ids['rep']}",
                **f,
            ),
            "teardown": ["DROP TABLE IF EXISTS ref_bench_referrer_stats"],
        },
    ]
    return out


def _timed(sql: str) -> float:
    best = float("inf")
    for _ in range(RUNS + 1):  # the first warms the cache
        t = time.perf_counter()
        bp._fetch(sql)
        best = min(best, time.perf_counter() - t)
    return round(best * 1000, 1)


def try_rewrites() -> list[dict[str, Any]]:
    from huitou.accounts.models import Store, User

    ids = {
        "org": _ids()["org"],
        "rep": User.objects.get(username="rep0").pk,
        "manager": User.objects.get(username="manager0").pk,
        "store": Store.objects.get(code="S0").pk,
    }
    results = []
    for rw in rewrites(ids):
        for sql in rw.get("setup", []):
            bp._execute(sql)
        variants = [None] + ([rw["index"]] if rw.get("index") else [])
        for index in variants:
            if index:
                experiment_create(index)
            try:
                # A rewrite that goes wrong must not lose the run: at most two minutes each.
                bp._execute("SET statement_timeout = '120s'")
                ms: float | None = _timed(rw["sql"])
                plan = explain(rw["sql"], None)
            except Exception as exc:  # reported instead
                ms, plan = (
                    None,
                    {"plan": f"failed: {exc}", "seq_scans": [], "execution_ms": None, "sql": rw["sql"]},
                )
            finally:
                bp._execute("SET statement_timeout = 0")
                if index:
                    experiment_drop(index)
            results.append(
                {
                    **{k: v for k, v in rw.items() if k not in ("setup", "teardown")},
                    "with_index": index,
                    "ms": ms,
                    "plan": plan,
                }
            )
            log(f"  rewrite {rw['name'][:60]} as {rw['role']}{' + ' + index if index else ''}: {ms} ms")
        for sql in rw.get("teardown", []):
            bp._execute(sql)
    return results


# --------------------------------------------------------------------------------------------------


def run(
    *,
    backend: str,
    server_url: str,
    customers: int,
    purchases: int,
    referrals: int,
    reuse: bool,
    workdir: Path,
    indexes: bool,
    rewrites_too: bool = False,
    only: str = "",
    db_name: str = DB_NAME,
) -> dict[str, Any]:
    workdir.mkdir(parents=True, exist_ok=True)
    sqlite_path = workdir / f"referrals-{customers}.sqlite3"
    build_file = workdir / f"build-{backend}-{customers}.json"
    fresh = bp.open_database(backend, server_url, sqlite_path, reuse=reuse, db_name=db_name)
    from django.db import connection

    out: dict[str, Any] = {
        "backend": backend,
        "customers": customers,
        "purchases": purchases,
        "referrals_target": referrals,
        "reused_db": not fresh,
        "bench_day": BENCH_DAY.isoformat(),
        "period": [PERIOD[0].isoformat(), PERIOD[1].isoformat()],
        "score_month": SCORE_MONTH.strftime("%Y-%m"),
        "load_average_start": [round(x, 2) for x in os.getloadavg()],
    }
    if fresh:
        log(f"{backend}: building {customers:,} customers, {purchases:,} purchases, ~{referrals:,} referrals")
        t = time.perf_counter()
        phases = bp.build(customers, purchases, purchase_credit=True)
        out["build_info"] = build_referrals(customers, referrals, phases)
        out["build_phases"] = phases
        out["build_s"] = round(time.perf_counter() - t, 1)
        out["built_at"] = time.strftime("%Y-%m-%d %H:%M")
        log(f"{backend}: built in {out['build_s']} s")
        # A later --reuse-db run reports how its database was built.
        kept = ("build_info", "build_phases", "build_s", "built_at", "load_average_start")
        keep = {k: out[k] for k in kept}
        build_file.write_text(json.dumps(keep, ensure_ascii=False, indent=1))
    else:
        from django.core.management import call_command

        if build_file.exists():
            out["previous_build"] = json.loads(build_file.read_text())
        from django.db.migrations.executor import MigrationExecutor

        executor = MigrationExecutor(connection)
        pending = [m.name for m, _back in executor.migration_plan(executor.loader.graph.leaf_nodes())]
        t = time.perf_counter()
        call_command("migrate", interactive=False, verbosity=0)
        out["migrate_s"] = round(time.perf_counter() - t, 1)
        if pending:
            out["migrations_applied"] = pending
            # A migration that rewrote a big table (a stored column) leaves it without statistics
            # and visibility map: what autovacuum would restore before long, done now.
            t = time.perf_counter()
            bp._execute("VACUUM ANALYZE" if connection.vendor == "postgresql" else "ANALYZE")
            out["vacuum_after_migrate_s"] = round(time.perf_counter() - t, 1)
        for name in EXPERIMENTS:  # left over by an interrupted run
            experiment_drop(name)
        bp._execute("DROP TABLE IF EXISTS ref_bench_referrer_stats")
    if connection.vendor != "postgresql":
        bp._execute("PRAGMA cache_size = -262144")  # 256 MB page cache, as a server would have
    out["codes_checked"] = check_codes()
    out["table_rows"] = table_rows()
    if out["table_rows"]["customers_customer"] != customers:
        raise SystemExit(
            f"the kept database has {out['table_rows']['customers_customer']:,} customers, not {customers:,}"
        )
    out["shape"] = shape()
    log(f"{backend}: {out['shape']}")
    log(f"{backend}: baselines")
    out["baselines"] = baselines()
    work = workload()
    if only:
        work = [w for w in work if only in w[0]]
    rows = []
    for label, role, kind, baseline, fn in work:
        rows.append(targets_for(measure(label, role, fn, kind=kind, baseline=baseline), out["baselines"]))
    out["rows"] = rows
    if not only:
        log(f"{backend}: the contact plan's referral ask")
        out["plan"] = measure_plan(rows)
    if indexes and EXPERIMENTS:
        log(f"{backend}: trying ref_bench_* indexes")
        out["index_experiments"] = try_indexes(rows, work)
    if rewrites_too and connection.vendor == "postgresql":
        log(f"{backend}: trying the proposed query changes (hand-written SQL)")
        out["rewrites"] = try_rewrites()
    out["load_average"] = [round(x, 2) for x in os.getloadavg()]
    out["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    return out


def main(argv: list[str] | None = None) -> int:
    p = bp.section_parser("referrals", __doc__)
    p.add_argument("--referrals", type=int, default=None, help="about this many (default: one per customer)")
    p.add_argument("--try-indexes", action="store_true", help="time the ref_bench_* index experiments too")
    p.add_argument("--try-rewrites", action="store_true", help="time the proposed query changes (SQL) too")
    p.add_argument("--only", default="", help="time only the measurements whose label contains this")
    p.add_argument("--db-name", default=DB_NAME, help="PostgreSQL database to build or reuse")
    args = p.parse_args(argv)
    result = run(
        backend=args.backend,
        server_url=args.database_url,
        customers=args.customers,
        purchases=args.purchases,
        referrals=args.referrals or args.customers,
        reuse=args.reuse_db,
        workdir=args.workdir,
        indexes=args.try_indexes,
        rewrites_too=args.try_rewrites,
        only=args.only,
        db_name=args.db_name,
    )
    print(json.dumps(result, ensure_ascii=False, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
