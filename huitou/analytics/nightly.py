"""The nightly analytics run of one organisation: segments → lifetime value → risk → the
cost-to-serve table, for one as-of day.

Each phase is one service (``segments_refresh``, ``value_refresh``, ``risk_refresh``,
``costs.costs_refresh``) that replaces its snapshot of that day in one transaction and keeps a
fill-state row per organisation and day (``SegmentFill``, ``ValueFill``, ``RiskFill``,
``CostFill``). The fill rows are the run's progress: a run that stopped halfway (a crash, a killed
worker) is resumed by running it again for the same day, which skips the phases already ``done``
and recomputes the rest; a phase that died inside its transaction left no rows behind, only a
``running`` or ``failed`` fill row. Phases run in order because a later
one may read an earlier one's snapshot of the same day (the value snapshot copies the day's tiers:
``DEPENDS``); a phase is recomputed whenever one it reads was, and is not run when one it reads
failed.

The lifetime-value phase runs when its service is installed (``huitou.analytics.value_services``).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import importlib.util
import inspect
import logging
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from django.db import models

if TYPE_CHECKING:
    from huitou.accounts.models import Organisation

logger = logging.getLogger(__name__)

PHASES = ("segments", "value", "risk", "costs")
# What each phase reads of the others' snapshots of the same day: the value snapshot copies the
# day's tiers; the risk snapshot reads purchases, tickets and answers only; the cost-to-serve
# table reads sales, tasks, visits, tickets, concessions and vouchers.
DEPENDS: dict[str, tuple[str, ...]] = {"segments": (), "value": ("segments",), "risk": (), "costs": ()}


class Clock:
    """Wall time of a service's parts (read, fit, compute, write), lap by lap.

    A service calls ``lap("read")`` when its reading is over, and so on; the time since the previous
    lap is added to that part. ``on_lap`` is called after each lap (the crash hook of the tests and
    of the benchmark)."""

    def __init__(self, on_lap: Callable[[str], None] | None = None) -> None:
        self.parts: dict[str, float] = {}
        self._on_lap = on_lap
        self._t = time.perf_counter()

    def lap(self, part: str) -> None:
        now = time.perf_counter()
        self.parts[part] = self.parts.get(part, 0.0) + now - self._t
        self._t = now
        if self._on_lap is not None:
            self._on_lap(part)


def lap(clock: Clock | None, part: str) -> None:
    if clock is not None:
        clock.lap(part)


@dataclass(frozen=True)
class _Phase:
    name: str
    fill: type[models.Model]
    refresh: Callable[..., dict[str, Any]]
    snapshot: type[models.Model]


def value_installed() -> bool:
    return importlib.util.find_spec("huitou.analytics.value_services") is not None


def phases() -> list[_Phase]:
    """The phases of this installation, in order."""
    from . import costs, risk_services, services
    from .models import CustomerRisk, CustomerSegment, RiskFill, SegmentFill
    from .models_costs import CostFill, ServeCostTable

    out = [_Phase("segments", SegmentFill, services.segments_refresh, CustomerSegment)]
    if value_installed():
        from . import models_value, value_services

        out.append(
            _Phase(
                "value",
                models_value.ValueFill,
                value_services.value_refresh,
                models_value.CustomerValue,
            )
        )
    out.append(_Phase("risk", RiskFill, risk_services.risk_refresh, CustomerRisk))
    out.append(_Phase("costs", CostFill, costs.costs_refresh, ServeCostTable))
    return out


@contextlib.contextmanager
def running_fill(fill: type[Any], organisation: Organisation, as_of: dt.date) -> Iterator[Any]:
    """A phase's fill row for the day, set ``running`` (created when missing) for the body, which
    computes and saves it ``done``; set ``failed`` if the body raises, and the error goes on."""
    from django.utils import timezone

    row, _created = fill._default_manager.update_or_create(
        organisation=organisation,
        as_of=as_of,
        defaults={"status": fill.Status.RUNNING, "started_at": timezone.now(), "finished_at": None},
    )
    try:
        yield row
    except Exception:
        fill._default_manager.filter(pk=row.pk).update(status=fill.Status.FAILED, finished_at=timezone.now())
        raise


# Crash hooks by phase name (tests and the benchmark kill a run inside a phase with them).
_CRASH: dict[str, Callable[[str], None]] = {}


@contextlib.contextmanager
def crash_after_write(phase: str, exc: type[Exception]) -> Iterator[None]:
    """Raise ``exc`` in ``phase`` right after its rows are written, before its fill row says done
    (the worst moment: all the work is done and must be rolled back)."""

    def hook(part: str) -> None:
        if part == "write":
            raise exc(f"simulated crash in {phase}")

    _CRASH[phase] = hook
    try:
        yield
    finally:
        _CRASH.pop(phase, None)


def _is_done(phase: _Phase, organisation: Organisation, as_of: dt.date) -> bool:
    return phase.fill._default_manager.filter(  # type: ignore[attr-defined]
        organisation=organisation, as_of=as_of, status="done"
    ).exists()


def nightly_status(*, organisation: Organisation, as_of: dt.date) -> dict[str, str]:
    """Each phase's fill status for the day (``missing`` when it never started)."""
    out = {}
    for phase in phases():
        status = (
            phase.fill._default_manager.filter(organisation=organisation, as_of=as_of)  # type: ignore[attr-defined]
            .values_list("status", flat=True)
            .first()
        )
        out[phase.name] = status or "missing"
    return out


class NightlyIncomplete(RuntimeError):
    """Some phases failed; ``report`` says which (and what the others did)."""

    def __init__(self, report: dict[str, Any]) -> None:
        failed = [name for name, p in report["phases"].items() if p["status"] in ("failed", "blocked")]
        super().__init__(f"nightly analytics of {report['organisation']} as of {report['as_of']}: {failed}")
        self.report = report


def nightly_run(*, organisation: Organisation, as_of: dt.date, force: bool = False) -> dict[str, Any]:
    """Run (or resume) the nightly analytics of ``organisation`` as of ``as_of``.

    A phase runs when it is not done for that day yet, when ``force``, or when a phase it reads
    ran again in this run; otherwise it is skipped. Returns per phase its status (``done`` or
    ``skipped``), seconds, customers and the read / fit / compute / write split of its time.

    A failing phase (its fill row says ``failed``, its transaction left no rows) does not stop the
    phases that do not read it; the ones that do are ``blocked``. At the end NightlyIncomplete is
    raised (so the task is retried); running again resumes at the failed phases. The organisation's
    purchases are read once for all the phases that use them (:func:`services.purchase_arrays`:
    segments, value and risk each ask it for the organisation and day; inside ``shared_purchases()``
    the second and third get the arrays the first read).

    On PostgreSQL, outside a transaction, phases that do not read each other run at the same time
    (``lanes``: segments then value in one, risk in another, each with its own connection): one
    lane's database writes a snapshot while the other computes in Python, so the run uses both
    cores of a small machine. Elsewhere (SQLite allows one writer; inside a transaction another
    connection would not see its rows) the phases run one after the other; the results are the
    same either way."""
    from .services import purchase_arrays, shared_purchases

    report: dict[str, Any] = {"organisation": organisation.slug, "as_of": as_of.isoformat(), "phases": {}}
    t_run = time.perf_counter()
    with shared_purchases():
        lanes = _lanes(phases())
        if len(lanes) > 1 and _parallel_allowed():
            if force or not all(_is_done(p, organisation, as_of) for p in phases()):
                # Read once, before the lanes start, so that they share the arrays.
                purchase_arrays(int(organisation.pk), as_of)
            report["parallel"] = True
            with ThreadPoolExecutor(max_workers=len(lanes) - 1, thread_name_prefix="nightly") as pool:
                others = [
                    pool.submit(_lane_in_thread, lane, organisation, as_of, force) for lane in lanes[1:]
                ]
                results = [_run(lanes[0], organisation, as_of, force)] + [f.result() for f in others]
        else:
            report["parallel"] = False
            results = [_run(lane, organisation, as_of, force) for lane in lanes]
    done = {name: entry for result in results for name, entry in result.items()}
    report["phases"] = {p.name: done[p.name] for p in phases()}
    report["seconds"] = round(time.perf_counter() - t_run, 3)
    if any(p["status"] in ("failed", "blocked") for p in report["phases"].values()):
        raise NightlyIncomplete(report)
    return report


def _lanes(installed: list[_Phase]) -> list[list[_Phase]]:
    """The phases grouped so that no phase reads one of another group (``DEPENDS``, followed both
    ways), each group in the order of ``PHASES``."""
    lane_of: dict[str, int] = {}
    lanes: list[list[_Phase]] = []
    for phase in installed:
        linked = {lane_of[d] for d in DEPENDS[phase.name] if d in lane_of}
        if not linked:
            lane_of[phase.name] = len(lanes)
            lanes.append([phase])
            continue
        keep, *merge = sorted(linked)
        for other in reversed(merge):
            for moved in lanes[other]:
                lane_of[moved.name] = keep
            lanes[keep].extend(lanes[other])
            lanes[other] = []
        lane_of[phase.name] = keep
        lanes[keep].append(phase)
    order = {name: i for i, name in enumerate(PHASES)}
    return [sorted(lane, key=lambda p: order[p.name]) for lane in lanes if lane]


def _parallel_allowed() -> bool:
    from django.db import connection

    return connection.vendor == "postgresql" and not connection.in_atomic_block


def _lane_in_thread(
    lane: list[_Phase], organisation: Organisation, as_of: dt.date, force: bool
) -> dict[str, Any]:
    from django.db import connections

    try:
        return _run(lane, organisation, as_of, force)
    finally:
        connections.close_all()  # this thread's own connections


def _run(lane: list[_Phase], organisation: Organisation, as_of: dt.date, force: bool) -> dict[str, Any]:
    """Run one lane's phases in order; returns their report entries by phase name."""
    entries: dict[str, Any] = {}
    ran: set[str] = set()
    failed: set[str] = set()
    for phase in lane:
        deps = [d for d in DEPENDS[phase.name] if d in entries]
        if any(d in failed for d in deps):
            failed.add(phase.name)
            entries[phase.name] = {"status": "blocked"}
            continue
        rerun = force or any(d in ran for d in deps)
        if not rerun and _is_done(phase, organisation, as_of):
            entries[phase.name] = {"status": "skipped"}
            continue
        ran.add(phase.name)
        kwargs: dict[str, Any] = {"organisation": organisation, "as_of": as_of}
        clock = Clock(on_lap=_CRASH.get(phase.name))
        if "clock" in inspect.signature(phase.refresh).parameters:
            kwargs["clock"] = clock
        t = time.perf_counter()
        try:
            result = phase.refresh(**kwargs)
        except Exception as exc:
            failed.add(phase.name)
            logger.exception("nightly %s of %s as of %s failed", phase.name, organisation.slug, as_of)
            entries[phase.name] = {
                "status": "failed",
                "seconds": round(time.perf_counter() - t, 3),
                "error": f"{exc.__class__.__name__}: {str(exc)[:300]}",
                "parts": {k: round(v, 3) for k, v in clock.parts.items()},
            }
            continue
        seconds = time.perf_counter() - t
        entry: dict[str, Any] = {
            "status": "done",
            "seconds": round(seconds, 3),
            "customers": result.get("customers"),
            "parts": {k: round(v, 3) for k, v in clock.parts.items()},
        }
        if clock.parts:
            entry["parts"]["other"] = round(max(seconds - sum(clock.parts.values()), 0.0), 3)
        entries[phase.name] = entry
    return entries


def snapshot_counts(*, organisation_id: int, as_of: dt.date) -> dict[str, int]:
    """Rows of each phase's snapshot for the day (the benchmark's and the tests' check)."""
    return {
        phase.name: phase.snapshot._default_manager.filter(  # type: ignore[attr-defined]
            organisation_id=organisation_id, as_of=as_of
        ).count()
        for phase in phases()
    }


def snapshots_clear(*, organisation: Organisation, as_of: dt.date) -> None:
    """Delete the day's snapshots and fill rows (the benchmark's cold start), and the risk score
    counts kept beside the risk snapshot."""
    from .models import RiskScoreCount

    RiskScoreCount.objects.filter(organisation=organisation, as_of=as_of).delete()
    for phase in reversed(phases()):
        phase.snapshot._default_manager.filter(organisation=organisation, as_of=as_of).delete()  # type: ignore[attr-defined]
        phase.fill._default_manager.filter(organisation=organisation, as_of=as_of).delete()  # type: ignore[attr-defined]
