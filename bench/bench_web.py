"""Web benchmark: the customer list and search at scale on PostgreSQL, against a bare Django view.

Builds the demo organisation at ``customers`` size in its own database, serves it with gunicorn
(4 sync workers, DEBUG off) on a free loopback port, signs in as a rep, a store manager and the
owner, and drives each page with wrk (16 connections). Also records the PostgreSQL plan of every
query the list selector runs, so a sequential scan at scale is caught by name.

Run through ``python -m bench.run --only web``; ``python -m bench.bench_web explain`` is the
in-database half, started as a subprocess with DATABASE_URL set.
"""

from __future__ import annotations

import http.client
import json
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import threading
import time
import urllib.parse
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
DB_NAME = "huitou_bench_web"
USERS = {"owner": "owner", "manager": "manager_th", "rep": "rep_th1"}
WRK_SCRIPT = """
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "WRKJSON {\\"requests\\": %d, \\"duration_us\\": %d, \\"p50\\": %d, \\"p95\\": %d, \\"p99\\": %d,"
    .. " \\"socket_errors\\": %d, \\"bad_status\\": %d}\\n",
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(95),
    latency:percentile(99), e.connect + e.read + e.write + e.timeout, e.status))
end
"""


def database_url_for(server_url: str, name: str) -> str:
    parts = urllib.parse.urlsplit(server_url)
    return urllib.parse.urlunsplit(parts._replace(path="/" + name))


def _admin(server_url: str) -> Any:
    import psycopg

    return psycopg.connect(database_url_for(server_url, "postgres"), autocommit=True)


def fresh_database(server_url: str, name: str) -> str:
    with _admin(server_url) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    return database_url_for(server_url, name)


def drop_database(server_url: str, name: str) -> None:
    with _admin(server_url) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def server_env(database_url: str, workdir: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        DATABASE_URL=database_url,
        DJANGO_SETTINGS_MODULE="config.settings.base",
        HUITOU_ENV="benchmark",
        DEBUG="0",
        ALLOWED_HOSTS="127.0.0.1,localhost",
        HUITOU_BENCH="1",
        HUITOU_VAR_DIR=str(workdir / "var"),
        CONN_MAX_AGE="600",
        AXES_FAILURE_LIMIT="1000",
        LOG_LEVEL="ERROR",
        PYTHONPATH=str(ROOT),
    )
    return env


def _python(args: list[str], env: dict[str, str], timeout: float | None = None) -> str:
    proc = subprocess.run(
        [sys.executable, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout
    )
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(args[:3])} failed:\n{proc.stderr[-3000:]}")
    return proc.stdout


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# --- signing in ------------------------------------------------------------------------------------


def _cookies(resp: http.client.HTTPResponse) -> dict[str, str]:
    out = {}
    for header in resp.headers.get_all("Set-Cookie") or []:
        name, _, rest = header.partition("=")
        out[name.strip()] = rest.split(";", 1)[0]
    return out


def login(port: int, username: str, password: str) -> str:
    """Session cookie from the real login form: GET for the CSRF token, then POST."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    conn.request("GET", "/accounts/login/")
    resp = conn.getresponse()
    html = resp.read().decode("utf-8", "replace")
    if resp.status != 200:
        raise RuntimeError(f"GET /accounts/login/ answered {resp.status}")
    cookies = _cookies(resp)
    match = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', html)
    if not match or "csrftoken" not in cookies:
        raise RuntimeError("login page has no CSRF token")
    body = urllib.parse.urlencode(
        {"csrfmiddlewaretoken": match.group(1), "username": username, "password": password}
    )
    conn.request(
        "POST",
        "/accounts/login/",
        body=body,
        headers={
            "Content-Type": "application/x-www-form-urlencoded",
            "Cookie": f"csrftoken={cookies['csrftoken']}",
            "Referer": f"http://127.0.0.1:{port}/accounts/login/",
        },
    )
    resp = conn.getresponse()
    resp.read()
    session = _cookies(resp).get("sessionid")
    conn.close()
    if resp.status not in (302, 303) or not session:
        raise RuntimeError(f"login of {username} failed (status {resp.status})")
    return session


def get_status(port: int, path: str, session: str | None) -> tuple[int, int]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    headers = {"Cookie": f"sessionid={session}"} if session else {}
    conn.request("GET", path, headers=headers)
    resp = conn.getresponse()
    body = resp.read()
    conn.close()
    return resp.status, len(body)


# --- load generation -------------------------------------------------------------------------------


def ensure_wrk() -> str | None:
    """wrk from Debian when it is missing and apt is usable; None means the Python fallback."""
    found = shutil.which("wrk")
    if found:
        return found
    if shutil.which("apt-get") and os.geteuid() == 0:
        subprocess.run(
            "apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk",
            shell=True,
            capture_output=True,
            check=False,
        )
    return shutil.which("wrk")


def run_wrk(wrk: str, url: str, session: str | None, connections: int, duration: int, workdir: Path) -> dict:
    script = workdir / "report.lua"
    script.write_text(WRK_SCRIPT)
    cmd = [
        wrk,
        "-t2",
        f"-c{connections}",
        f"-d{duration}s",
        "--latency",
        "--timeout",
        "10s",
        "-s",
        str(script),
    ]
    if session:
        cmd += ["-H", f"Cookie: sessionid={session}"]
    out = subprocess.run([*cmd, url], capture_output=True, text=True, check=True).stdout
    line = next(x for x in out.splitlines() if x.startswith("WRKJSON "))
    raw = json.loads(line[len("WRKJSON ") :])
    seconds = raw["duration_us"] / 1e6
    return {
        "requests": raw["requests"],
        "rps": raw["requests"] / seconds,
        "p50_ms": raw["p50"] / 1000,
        "p95_ms": raw["p95"] / 1000,
        "p99_ms": raw["p99"] / 1000,
        "errors": raw["socket_errors"] + raw["bad_status"],
        "tool": "wrk",
    }


def run_python_load(port: int, path: str, session: str | None, connections: int, duration: int) -> dict:
    """Keep-alive HTTP/1.1 clients in threads; the GIL makes it weaker than wrk, so it says so."""
    latencies: list[float] = []
    errors = [0]
    lock = threading.Lock()
    stop = time.perf_counter() + duration
    headers = {"Cookie": f"sessionid={session}"} if session else {}

    def worker() -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        mine: list[float] = []
        while time.perf_counter() < stop:
            t = time.perf_counter()
            try:
                conn.request("GET", path, headers=headers)
                resp = conn.getresponse()
                resp.read()
                ok = resp.status == 200
            except (OSError, http.client.HTTPException):
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
                ok = False
            mine.append(time.perf_counter() - t)
            if not ok:
                with lock:
                    errors[0] += 1
        with lock:
            latencies.extend(mine)

    start = time.perf_counter()
    threads = [threading.Thread(target=worker) for _ in range(connections)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - start
    q = statistics.quantiles(latencies, n=100) if len(latencies) > 1 else [0.0] * 99
    return {
        "requests": len(latencies),
        "rps": len(latencies) / elapsed,
        "p50_ms": q[49] * 1000,
        "p95_ms": q[94] * 1000,
        "p99_ms": q[98] * 1000,
        "errors": errors[0],
        "tool": "python threads",
    }


# --- the in-database half: sample search terms and EXPLAIN the selector's queries -------------------


def explain_main() -> None:
    """Runs inside Django (DATABASE_URL set); prints one JSON object."""
    import django

    django.setup()
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from huitou.accounts.models import User
    from huitou.customers import selectors
    from huitou.customers.models import Customer, OwnedProduct

    users = {role: User.objects.get(username=name) for role, name in USERS.items()}
    rep = users["rep"]
    rep_customer = Customer.objects.filter(owner=rep, status="active").order_by("pk").first()
    plate = OwnedProduct.objects.filter(customer=rep_customer).values_list("plate", flat=True).first()
    # The commonest two-character name start among the rep's customers: the hardest name search.
    names = Customer.objects.filter(owner=rep, kind="person").values_list("name", flat=True)[:20000]
    starts = Counter(n[:2] for n in names if len(n) >= 2)
    terms = {
        "name": starts.most_common(1)[0][0] if starts else "张伟",
        "phone4": rep_customer.phone[-4:] if rep_customer else "5678",
        "plate": plate or "粤A12345",
    }
    plans = []
    for role in ("rep", "owner"):
        for label, q in (("list", ""), *terms.items()):
            with CaptureQueriesContext(connection) as ctx:
                page = selectors.customer_list(users[role], selectors.CustomerFilters(q=q))
            for i, query in enumerate(ctx.captured_queries):
                sql = query["sql"]
                if "customers_customer" not in sql or not sql.lstrip().upper().startswith("SELECT"):
                    continue
                with connection.cursor() as cur:
                    cur.execute("EXPLAIN (ANALYZE, BUFFERS) " + sql)
                    plan = "\n".join(r[0] for r in cur.fetchall())
                seq = sorted(set(re.findall(r"Seq Scan on (\w+)", plan)))
                plans.append(
                    {
                        "role": role,
                        "page": label,
                        "q": q,
                        "query_no": i + 1,
                        "rows_on_page": len(page.items),
                        "total": page.total,
                        "sql": sql,
                        "plan": plan,
                        "seq_scans": seq,
                        "execution_ms": float(m.group(1))
                        if (m := re.search(r"Execution Time: ([\d.]+) ms", plan))
                        else None,
                    }
                )
    sizes = {}
    with connection.cursor() as cur:
        for table in (
            "customers_customer",
            "customers_customersearchkey",
            "customers_ownedproduct",
            "customers_purchase",
            "customers_activity",
        ):
            cur.execute("SELECT reltuples::bigint FROM pg_class WHERE relname = %s", [table])
            sizes[table] = int(cur.fetchone()[0])
    print(json.dumps({"terms": terms, "plans": plans, "table_rows": sizes}, ensure_ascii=False))


# --- orchestration ---------------------------------------------------------------------------------


def run(
    *,
    server_url: str,
    customers: int,
    workdir: Path,
    duration: int = 20,
    connections: int = 16,
    keep: bool = False,
    reuse: bool = False,
    log: Any = print,
) -> dict[str, Any]:
    workdir.mkdir(parents=True, exist_ok=True)
    result: dict[str, Any] = {"customers": customers, "duration_s": duration, "connections": connections}
    # reuse: the database of an earlier run with --keep-db (migrated and loaded already).
    database_url = database_url_for(server_url, DB_NAME) if reuse else fresh_database(server_url, DB_NAME)
    env = server_env(database_url, workdir)
    if not reuse:
        log("web: migrating")
        t = time.perf_counter()
        _python(["manage.py", "migrate", "-v0"], env)
        result["migrate_s"] = round(time.perf_counter() - t, 1)
    log(f"web: loading the demo organisation with {customers:,} customers")
    t = time.perf_counter()
    out = _python(
        [
            "-c",
            "import django, json; django.setup(); from huitou.demo import demo_load; phases = {}; "
            f"logins = demo_load(customers={customers}, seed=42, progress=False, "
            "on_phase=lambda n, s: phases.__setitem__(n, round(s, 1))); "
            "print(json.dumps({'logins': logins, 'phases': phases}))",
        ],
        env,
    )
    loaded = json.loads(out.strip().splitlines()[-1])
    result["load_s"] = round(time.perf_counter() - t, 1)
    result["load_phases"] = loaded["phases"]
    passwords = {row["role"]: row["password"] for row in loaded["logins"]}

    log("web: EXPLAIN of the list and search queries")
    explained = json.loads(_python(["-m", "bench.bench_web", "explain"], env).strip().splitlines()[-1])
    result.update(explained)
    terms = explained["terms"]

    port = free_port()
    gunicorn = str(Path(sys.executable).parent / "gunicorn")
    server = subprocess.Popen(
        [
            gunicorn,
            "config.wsgi:application",
            "--workers",
            "4",
            "--bind",
            f"127.0.0.1:{port}",
            "--chdir",
            str(ROOT),
            "--access-logfile",
            "/dev/null",
            "--error-logfile",
            str(workdir / "gunicorn.log"),
        ],
        cwd=ROOT,
        env=env,
    )
    try:
        deadline = time.time() + 60
        while True:
            try:
                if get_status(port, "/bench/bare/", None)[0] == 200:
                    break
            except OSError:
                pass
            if time.time() > deadline or server.poll() is not None:
                raise RuntimeError("gunicorn did not come up; see " + str(workdir / "gunicorn.log"))
            time.sleep(0.5)
        sessions: dict[str, str] = {}
        for role, username in USERS.items():
            sessions[role] = login(port, username, passwords[role])
        result["login"] = "POST /accounts/login/ with CSRF token"

        q = urllib.parse.quote
        targets = [
            ("bare view", "/bench/bare/", None),
            ("bare view, signed in", "/bench/bare-authed/", "rep"),
            ("list /customers/", "/customers/", "owner"),
            ("list /customers/", "/customers/", "manager"),
            ("list /customers/", "/customers/", "rep"),
        ]
        for role in ("owner", "rep"):
            targets += [
                (f"search name '{terms['name']}'", f"/customers/?q={q(terms['name'])}", role),
                (f"search phone last 4 '{terms['phone4']}'", f"/customers/?q={terms['phone4']}", role),
                (f"search plate '{terms['plate']}'", f"/customers/?q={q(terms['plate'])}", role),
            ]
        wrk = ensure_wrk()
        rows = []
        for label, path, role in targets:
            session = sessions.get(role) if role else None
            status, size = get_status(port, path, session)
            log(f"web: {label} as {role or 'anonymous'} → {status}")
            if wrk:
                run_wrk(wrk, f"http://127.0.0.1:{port}{path}", session, connections, 2, workdir)  # warm-up
                figures = run_wrk(
                    wrk, f"http://127.0.0.1:{port}{path}", session, connections, duration, workdir
                )
            else:
                run_python_load(port, path, session, connections, 2)
                figures = run_python_load(port, path, session, connections, duration)
            rows.append(
                {"page": label, "role": role or "-", "path": path, "status": status, "bytes": size, **figures}
            )
        result["pages"] = rows
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
        if not keep:
            drop_database(server_url, DB_NAME)
    return result


if __name__ == "__main__":
    if sys.argv[1:] == ["explain"]:
        explain_main()
    else:
        print("usage: python -m bench.run --only web   (or: python -m bench.bench_web explain)")
