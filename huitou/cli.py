"""The ``huitou`` command. Thin: parses arguments and calls services; all work lives in the apps."""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import signal
import subprocess
import sys
from pathlib import Path


def _setup_django() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.base")
    import django

    django.setup()


def _migrate(verbosity: int = 0) -> None:
    from django.core.management import call_command

    call_command("migrate", interactive=False, verbosity=verbosity)


def cmd_serve(args: argparse.Namespace) -> int:
    """Web server plus one task worker (the embedded mode needs nothing else running)."""
    _setup_django()
    _migrate()
    from django.conf import settings

    bin_dir = Path(sys.executable).parent
    worker = subprocess.Popen([sys.executable, "-m", "huitou.cli", "worker"])
    web_cmd = [
        str(bin_dir / "gunicorn"),
        "config.wsgi:application",
        "--bind",
        f"{args.host}:{args.port}",
        "--workers",
        str(args.workers),
        "--access-logfile",
        "-" if args.access_log else "/dev/null",
        "--graceful-timeout",
        "5",
    ]
    db_name = settings.DATABASES["default"]["NAME"]
    print(f"huitou serving on http://{args.host}:{args.port}/  (database: {db_name})")
    web = subprocess.Popen(web_cmd)

    def stop(*_: object) -> None:
        for proc in (web, worker):
            proc.terminate()

    signal.signal(signal.SIGTERM, stop)
    try:
        return web.wait()
    except KeyboardInterrupt:
        return 0
    finally:
        stop()
        worker.wait(timeout=10)


def cmd_worker(args: argparse.Namespace) -> int:
    _setup_django()
    from django.core.management import call_command

    call_command("run_huey", workers=args.workers)
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    _setup_django()
    _migrate()
    from huitou.demo import demo_load

    logins = demo_load(customers=args.customers, seed=args.seed, progress=True)
    print("\nDemo logins (username / password — role):")
    for row in logins:
        print(f"  {row['username']:<16} {row['password']:<14} {row['role']}  {row.get('note', '')}")
    if args.no_serve:
        return 0
    ns = argparse.Namespace(host="127.0.0.1", port=args.port, workers=2, access_log=False)
    return cmd_serve(ns)


def cmd_createuser(args: argparse.Namespace) -> int:
    _setup_django()
    from huitou.accounts.services import user_create
    from huitou.core.errors import HuitouError

    try:
        user, password = user_create(
            username=args.name,
            role=args.role,
            store_code=args.store,
            password=args.password,
            organisation_slug=args.org,
        )
    except HuitouError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"created {user.username} ({user.role}) password: {password}")
    return 0


def cmd_import(args: argparse.Namespace) -> int:
    _setup_django()
    from huitou.customers.io import ImportFileError, import_file

    try:
        result = import_file(
            kind=args.kind,
            path=Path(args.path),
            dry_run=args.dry_run,
            progress=not args.json,
            organisation_slug=args.org,
        )
    except ImportFileError as exc:
        if args.json:
            print(json.dumps({"error": str(exc)}, ensure_ascii=False))
        else:
            print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(result.as_dict(), ensure_ascii=False))
    else:
        print(result.summary())
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    _setup_django()
    from huitou.customers.io import ImportFileError, export_file

    try:
        count = export_file(kind=args.kind, path=Path(args.path), progress=True, organisation_slug=args.org)
    except ImportFileError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"exported {count} {args.kind} to {args.path}")
    return 0


def _parse_day(text: str | None, option: str) -> dt.date | None:
    if text is None:
        return None
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise ValueError(f"{option} must be a date as YYYY-MM-DD, got {text!r}") from None


def cmd_plan(args: argparse.Namespace) -> int:
    """Run the daily contact plan (what the morning job does), for a day, a range or catching up."""
    try:
        day = _parse_day(args.date, "--date")
        through = _parse_day(args.through, "--through")
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if day and through and through < day:
        print(f"error: --through {through} is before --date {day}", file=sys.stderr)
        return 2
    _setup_django()
    from django.utils import timezone
    from tqdm import tqdm

    from huitou.accounts.models import Organisation
    from huitou.followups.plan import PlanResult, plan_days_pending, plan_run

    orgs = Organisation.objects.order_by("id")
    if args.org:
        orgs = orgs.filter(slug=args.org)
        if not orgs.exists():
            print(f"error: no organisation with slug {args.org!r}", file=sys.stderr)
            return 2
    today = timezone.localdate()
    work: list[tuple[Organisation, list[dt.date]]] = []
    total = PlanResult()
    for org in orgs:
        if day is not None:  # an explicit day or range: run exactly those days
            end = through or day
            work.append((org, [day + dt.timedelta(days=k) for k in range((end - day).days + 1)]))
        else:  # catch up what is missing, through --through or today
            days, stale = plan_days_pending(organisation=org, through=through or today)
            total.days_skipped += stale
            work.append((org, days))
    bar = tqdm(
        total=sum(len(days) for _, days in work), unit="day", disable=args.json, file=sys.stderr, leave=False
    )
    for org, days in work:
        for d in days:
            bar.set_description(f"{org.slug} {d}")
            total.merge(plan_run(organisation=org, day=d))
            bar.update(1)
    bar.close()
    if args.json:
        print(json.dumps(total.as_dict(), ensure_ascii=False))
        return 0
    skipped = ", ".join(f"{reason} {n}" for reason, n in sorted(total.skipped.items())) or "none"
    print(
        f"planned {len(total.days_run)} day(s) for {len(work)} organisation(s): "
        f"{total.tasks_created} tasks created, {total.messages_queued} messages queued; skipped: {skipped}"
    )
    if total.days_skipped:
        print(
            f"not planned (older than catch_up_days): {len(total.days_skipped)} day(s), "
            f"{min(total.days_skipped)} to {max(total.days_skipped)}"
        )
    return 0


def cmd_segments(args: argparse.Namespace) -> int:
    """Recompute the segment snapshot (RFM, value tiers, type suggestions), as the nightly job does."""
    try:
        as_of = _parse_day(args.as_of, "--as-of")
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    _setup_django()
    from django.utils import timezone

    from huitou.accounts.models import Organisation
    from huitou.analytics.services import segments_refresh

    orgs = Organisation.objects.order_by("id")
    if args.org:
        orgs = orgs.filter(slug=args.org)
        if not orgs.exists():
            print(f"error: no organisation with slug {args.org!r}", file=sys.stderr)
            return 2
    day = as_of or timezone.localdate()
    results = [segments_refresh(organisation=org, as_of=day) for org in orgs]
    if args.json:
        print(json.dumps({"as_of": day.isoformat(), "organisations": results}, ensure_ascii=False))
        return 0
    for r in results:
        t = r["tiers"]
        print(
            f"{r['organisation']} as of {r['as_of']}: {r['customers']} customers, gold {t['gold']}, "
            f"silver {t['silver']}, bronze {t['bronze']}, none {t['none']}; "
            f"{r['tiers_changed']} tiers changed; "
            f"top 20% make {r['top20_revenue_share']:.1%} of revenue"
        )
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="huitou", description="huitou — customer retention and referrals")
    sub = p.add_subparsers(dest="command", required=True)

    d = sub.add_parser("demo", help="migrate, load the demo dealer group and serve it")
    d.add_argument("--customers", type=int, default=5000)
    d.add_argument("--seed", type=int, default=42)
    d.add_argument("--no-serve", action="store_true")
    d.add_argument("--port", type=int, default=8000)
    d.set_defaults(func=cmd_demo)

    s = sub.add_parser("serve", help="serve the web pages and run a task worker")
    s.add_argument("--port", type=int, default=8000)
    s.add_argument("--host", default="127.0.0.1")
    s.add_argument("--workers", type=int, default=2)
    s.add_argument("--access-log", action="store_true")
    s.set_defaults(func=cmd_serve)

    w = sub.add_parser("worker", help="run a background task worker (Huey consumer)")
    w.add_argument("--workers", type=int, default=2)
    w.set_defaults(func=cmd_worker)

    u = sub.add_parser("createuser", help="create a user with a role")
    u.add_argument("name")
    u.add_argument("--role", required=True, choices=["owner", "manager", "rep", "dcrc", "aftersales"])
    u.add_argument("--store", help="store code")
    u.add_argument("--password", help="generated when left out")
    u.add_argument("--org", help="organisation slug (default: the only one)")
    u.set_defaults(func=cmd_createuser)

    for name, func, helptext in (
        ("import", cmd_import, "import customers, products or purchases from .csv or .xlsx"),
        ("export", cmd_export, "export customers, products or purchases to .csv or .xlsx"),
    ):
        x = sub.add_parser(name, help=helptext)
        # "products" is the catalogue; on import a file naming customers or VINs is read as owned
        # products. "owned_products" names the customers' products explicitly (export needs it).
        x.add_argument("kind", choices=["customers", "products", "owned_products", "purchases"])
        x.add_argument("path")
        x.add_argument("--org", help="organisation slug (default: the only one)")
        if name == "import":
            x.add_argument("--dry-run", action="store_true", help="check every row, store nothing")
            x.add_argument("--json", action="store_true", help="print one JSON object with the outcome")
        x.set_defaults(func=func)

    pl = sub.add_parser("plan", help="run the daily contact plan (tasks and queued messages)")
    pl.add_argument("--org", help="organisation slug (default: every organisation)")
    pl.add_argument("--date", help="plan this day (YYYY-MM-DD); default: catch up through today")
    pl.add_argument("--through", help="last day to plan (YYYY-MM-DD); with --date, every day in between")
    pl.add_argument("--json", action="store_true", help="print one JSON object with the totals")
    pl.set_defaults(func=cmd_plan)

    sg = sub.add_parser("segments", help="compute RFM scores, value tiers and type suggestions")
    sg.add_argument("--org", help="organisation slug (default: every organisation)")
    sg.add_argument("--as-of", help="snapshot day (YYYY-MM-DD); default: today")
    sg.add_argument("--json", action="store_true", help="print one JSON object with the results")
    sg.set_defaults(func=cmd_segments)
    return p


def main(argv: list[str] | None = None) -> int:
    sys.path.insert(0, str(Path.cwd()))
    args = build_parser().parse_args(argv)
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
