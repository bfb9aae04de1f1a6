"""Import benchmark: `huitou import customers` against PostgreSQL COPY of the same file.

    python bench/bench_import.py [--rows 1000000] [--database-url postgresql://postgres@127.0.0.1:5432/huitou_bench]
    python bench/bench_import.py --sqlite [--rows 200000]   # the same import into a fresh SQLite file

``run()`` writes a realistic customer CSV in the documented layout (docs/IMPORT.md), drops and
creates the database named in the URL, migrates it, loads an organisation with stores and reps,
then times the in-process import (every row validated; audit history, search keys, timeline,
consents and tags written) and a plain COPY of the same file into a table of text columns.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

SURNAMES = (
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何林罗高郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏"
    "吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤"
)
GIVEN = (
    "伟强磊军勇杰涛斌超明刚平辉鹏华飞鑫波宇浩凯健俊帆帅旭宁龙林峰建国志文东海亮成荣新锋晨阳"
    "芳娜敏静丽艳娟霞秀玲桂英红梅琳燕萍雪慧颖洁晶婷倩璐莹欣怡佳琪月玉兰丹薇蓉"
)
MOBILE_PREFIXES = (
    "138",
    "139",
    "137",
    "136",
    "135",
    "150",
    "151",
    "158",
    "159",
    "186",
    "187",
    "188",
    "189",
    "177",
    "199",
)
CITIES = (
    ("广东", "广州"),
    ("广东", "深圳"),
    ("广东", "佛山"),
    ("广东", "东莞"),
    ("湖南", "长沙"),
    ("广西", "南宁"),
)
SOURCES = ("walk_in", "referral", "campaign", "phone", "online", "event")
TIERS = ("", "", "gold", "silver", "bronze")
TAGS = ("", "", "", "老客户", "车主俱乐部", "家庭用户;老客户")
STORES = ("TH", "PY", "BY")
COLUMNS = (
    "external_id",
    "name",
    "phone",
    "gender",
    "birthday",
    "province",
    "city",
    "source",
    "owner_username",
    "store_code",
    "tier",
    "tags",
    "consent_sms",
)


def write_csv(path: Path, rows: int, seed: int = 7) -> None:
    rng = np.random.default_rng(seed)
    sur = rng.integers(0, len(SURNAMES), rows)
    g1 = rng.integers(0, len(GIVEN), rows)
    g2 = rng.integers(-len(GIVEN) // 2, len(GIVEN), rows)  # about a third have one given character
    # A dealer's customers live around its stores: their numbers come from the few thousand number
    # blocks (号段, first 7 digits) of one region, not from all of China's.
    blocks = [
        f"{MOBILE_PREFIXES[p]}{b:04d}"
        for p, b in zip(
            rng.integers(0, len(MOBILE_PREFIXES), 10_000), rng.integers(0, 10_000, 10_000), strict=True
        )
    ]
    block = rng.integers(0, len(blocks), rows)
    tail = rng.integers(0, 10_000, rows)
    gender = rng.integers(0, 2, rows)
    born = rng.integers(
        np.datetime64("1955-01-01").astype(int), np.datetime64("2003-12-31").astype(int), rows
    )
    has_birthday = rng.random(rows) < 0.7
    city = rng.integers(0, len(CITIES), rows)
    source = rng.integers(0, len(SOURCES), rows)
    rep = rng.integers(0, 20, rows)
    tier = rng.integers(0, len(TIERS), rows)
    tag = rng.integers(0, len(TAGS), rows)
    consent = rng.random(rows)
    dates = np.array(born, dtype="datetime64[D]").astype(str)
    with path.open("w", encoding="utf-8", newline="") as fh:
        out = csv.writer(fh)
        out.writerow(COLUMNS)
        for i in range(rows):
            given = GIVEN[g1[i]] + (GIVEN[g2[i]] if g2[i] >= 0 else "")
            prov, cty = CITIES[city[i]]
            r = int(rep[i])
            out.writerow(
                (
                    f"B{i:08d}",
                    SURNAMES[sur[i]] + given,
                    f"{blocks[block[i]]}{tail[i]:04d}",
                    "mf"[gender[i]],
                    dates[i] if has_birthday[i] else "",
                    prov,
                    cty,
                    SOURCES[source[i]],
                    f"rep{r:02d}",
                    STORES[r % 3],
                    TIERS[tier[i]],
                    TAGS[tag[i]],
                    "yes" if consent[i] < 0.6 else ("no" if consent[i] < 0.7 else ""),
                )
            )


def _admin_url(database_url: str) -> tuple[str, str]:
    base, name = database_url.rsplit("/", 1)
    return base + "/postgres", name


def _fresh_database(database_url: str) -> None:
    import psycopg

    admin, name = _admin_url(database_url)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')


def _django(database_url: str) -> None:
    """Point Django at the bench database, whether or not it was set up already."""
    os.environ["DATABASE_URL"] = database_url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.base")
    import dj_database_url
    import django
    from django.db import connections

    django.setup()
    # When the caller had Django set up on another database already, switch this connection over.
    conn = connections["default"]
    conn.close()
    conn.settings_dict.update(dj_database_url.parse(database_url))
    conn.settings_dict["OPTIONS"] = {}


def _load_people() -> None:
    from huitou.accounts.models import Organisation, Store, User

    org = Organisation.objects.create(name="基准测试集团", slug="bench")
    stores = [Store.objects.create(organisation=org, name=f"门店{c}", code=c) for c in STORES]
    User.objects.create(username="boss", role="owner", organisation=org)
    for r in range(20):
        User.objects.create(username=f"rep{r:02d}", role="rep", organisation=org, store=stores[r % 3])


def _copy_baseline(database_url: str, path: Path) -> float:
    import psycopg

    cols = ", ".join(f'"{c}" text' for c in COLUMNS)
    with psycopg.connect(database_url) as conn:
        conn.execute("DROP TABLE IF EXISTS bench_copy")
        conn.execute(f"CREATE TABLE bench_copy ({cols})")
        conn.commit()
        start = time.perf_counter()
        with (
            conn.cursor() as cur,
            path.open("rb") as fh,
            cur.copy("COPY bench_copy FROM STDIN WITH (FORMAT csv, HEADER true)") as copy,
        ):
            while block := fh.read(1 << 20):
                copy.write(block)
        conn.commit()
        elapsed = time.perf_counter() - start
        conn.execute("DROP TABLE bench_copy")
        conn.commit()
    return elapsed


def run(database_url: str, rows: int, workdir: Path, *, keep: bool = False) -> dict[str, Any]:
    """Time the customer import of ``rows`` rows and COPY of the same file; return the figures."""
    if not database_url.startswith(("postgres://", "postgresql://")):
        raise ValueError("the import benchmark compares against PostgreSQL COPY: give a postgresql:// URL")
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    path = workdir / f"customers-{rows}.csv"
    if not path.exists():
        write_csv(path, rows)
    _fresh_database(database_url)
    _django(database_url)
    from django.core.management import call_command
    from django.db import connections

    call_command("migrate", interactive=False, verbosity=0)
    _load_people()
    from huitou.customers.io import import_file
    from huitou.customers.models import Customer, CustomerSearchKey

    start = time.perf_counter()
    result = import_file(kind="customers", path=path, organisation_slug="bench", progress=False)
    import_s = time.perf_counter() - start
    figures = {
        "rows": rows,
        "created": result.created,
        "rejected": result.rejected_rows,
        "customers_in_db": Customer.objects.count(),
        "history_rows": Customer.history.count(),  # type: ignore[attr-defined]
        "search_keys": CustomerSearchKey.objects.count(),
    }
    connections["default"].close()
    copy_s = _copy_baseline(database_url, path)
    figures.update(
        import_seconds=round(import_s, 2),
        import_rows_per_s=round(rows / import_s),
        copy_seconds=round(copy_s, 2),
        copy_rows_per_s=round(rows / copy_s),
        ratio=round(import_s / copy_s, 1),
        target_rows_per_s=30_000,
        target_ratio=5,
    )
    if not keep:
        admin, name = _admin_url(database_url)
        import psycopg

        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    return figures


def run_sqlite(rows: int, workdir: Path) -> dict[str, Any]:
    """Time the same import into a fresh SQLite file (no COPY baseline there).

    A child process, so that Django reads DATABASE_URL at start-up and applies the project's
    SQLite settings (WAL, synchronous=NORMAL, IMMEDIATE transactions) as in production."""
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    path = workdir / f"customers-{rows}.csv"
    if not path.exists():
        write_csv(path, rows)
    db = workdir / "bench-import.sqlite3"
    for suffix in ("", "-wal", "-shm"):
        Path(f"{db}{suffix}").unlink(missing_ok=True)
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{db.resolve()}",
        "DJANGO_SETTINGS_MODULE": "config.settings.base",
    }
    child = [sys.executable, str(Path(__file__).resolve()), "--sqlite-child", str(path)]
    out = subprocess.run(child, env=env, capture_output=True, text=True, check=True)
    return dict(json.loads(out.stdout))


def _sqlite_child(path: Path) -> dict[str, Any]:
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", interactive=False, verbosity=0)
    _load_people()
    from huitou.customers.io import import_file
    from huitou.customers.models import Customer, CustomerSearchKey

    start = time.perf_counter()
    result = import_file(kind="customers", path=path, organisation_slug="bench", progress=False)
    import_s = time.perf_counter() - start
    rows = result.rows
    return {
        "database": "sqlite",
        "rows": rows,
        "created": result.created,
        "rejected": result.rejected_rows,
        "customers_in_db": Customer.objects.count(),
        "history_rows": Customer.history.count(),  # type: ignore[attr-defined]
        "search_keys": CustomerSearchKey.objects.count(),
        "import_seconds": round(import_s, 2),
        "import_rows_per_s": round(rows / import_s),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--database-url", default="postgresql://postgres@127.0.0.1:5432/huitou_bench")
    parser.add_argument("--workdir", default="var/bench")
    parser.add_argument("--keep", action="store_true", help="keep the bench database afterwards")
    parser.add_argument("--sqlite", action="store_true", help="import into a fresh SQLite file instead")
    parser.add_argument("--sqlite-child", metavar="CSV", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.sqlite_child:
        print(json.dumps(_sqlite_child(Path(args.sqlite_child))))
        return
    if args.sqlite:
        print(json.dumps(run_sqlite(args.rows, Path(args.workdir)), indent=2))
        return
    print(json.dumps(run(args.database_url, args.rows, Path(args.workdir), keep=args.keep), indent=2))


if __name__ == "__main__":
    main()
