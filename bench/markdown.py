"""Pieces of the benchmark report's markdown shared by the sections (no section imports another's
module at load time, so these live apart from ``bench.run``)."""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable
from typing import Any


def ms(value: float | None) -> str:
    """Milliseconds as the report prints them; a dash when nothing was measured."""
    return "—" if value is None else f"{value:,.1f}"


def plans_document(
    *,
    title: str,
    intro: str,
    results: list[dict[str, Any]],
    measured: Callable[[dict[str, Any]], Iterable[dict[str, Any]]],
    heading: Callable[[dict[str, Any]], str],
    big_tables: Collection[str],
    sql: int = 3000,
    plan: int = 12000,
) -> str:
    """A section's plans file: per backend, per measured page or job (``measured(result)``), its
    heading and then every statement it issued with its plan (``run.statement_plans``)."""
    from bench.run import statement_plans

    parts = [f"# {title}\n", intro]
    for r in results:
        parts.append(f"## {r['backend']}: {r['customers']:,} customers\n")
        for x in measured(r):
            parts.append(f"### {heading(x)}\n")
            parts += statement_plans(x["plans"], big_tables, sql=sql, plan=plan)
    return "\n".join(parts)
