"""The arithmetic of the account reports: pure numpy on plain arrays, no Django.

Money is handled as integer cents (int64), so sums are exact and turn back into Decimal unchanged.
Days are integer day numbers (``date.toordinal()``).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import numpy as np

CENT = Decimal("0.01")


def cents(values: list[Any]) -> np.ndarray:
    """Decimals (or None) as int64 cents."""
    if not values:
        return np.zeros(0, dtype=np.int64)
    return np.array([int((v or 0) * 100) for v in values], dtype=np.int64)


def money(value: int | np.integer) -> Decimal:
    return (Decimal(int(value)) / 100).quantize(CENT)


def growth(current: Decimal | int | float, previous: Decimal | int | float) -> float | None:
    """(current − previous) ÷ previous; None without a positive previous figure."""
    if not previous or previous <= 0:
        return None
    return float((Decimal(current) - Decimal(previous)) / Decimal(previous))


def ratio(part: Decimal | int | float | None, whole: Decimal | int | float | None) -> float | None:
    if part is None or not whole or whole <= 0:
        return None
    return float(Decimal(part) / Decimal(whole))


def bucket_sums(index: np.ndarray, amounts: np.ndarray, size: int) -> np.ndarray:
    """Sum of ``amounts`` per bucket ``index`` (0…size−1); indexes outside are ignored."""
    keep = (index >= 0) & (index < size)
    return np.bincount(index[keep], weights=amounts[keep], minlength=size).astype(np.int64)


def bucket_counts(index: np.ndarray, size: int) -> np.ndarray:
    keep = (index >= 0) & (index < size)
    return np.bincount(index[keep], minlength=size).astype(np.int64)


def ageing_index(days_past_due: np.ndarray, edges: tuple[int, ...]) -> np.ndarray:
    """Bucket of each open amount: 0 not yet due (current), 1 up to ``edges[0]`` days past due,
    …, ``len(edges)`` + 1 past the last edge. With edges (30, 60, 90): current, 1–30, 31–60,
    61–90, >90."""
    bounds = np.array([0, *edges], dtype=np.int64)
    return np.searchsorted(bounds, days_past_due, side="left").astype(np.int64)


@dataclass(frozen=True)
class Ageing:
    buckets: tuple[Decimal, ...]  # current, then one per edge, then past the last edge
    outstanding: Decimal
    overdue: Decimal
    open_count: int
    overdue_count: int


def ageing(outstanding_cents: np.ndarray, days_past_due: np.ndarray, edges: tuple[int, ...]) -> Ageing:
    size = len(edges) + 2
    index = ageing_index(days_past_due, edges)
    sums = bucket_sums(index, outstanding_cents, size)
    overdue = days_past_due > 0
    return Ageing(
        buckets=tuple(money(v) for v in sums),
        outstanding=money(outstanding_cents.sum()),
        overdue=money(outstanding_cents[overdue].sum()),
        open_count=int(outstanding_cents.size),
        overdue_count=int(overdue.sum()),
    )


@dataclass(frozen=True)
class Delays:
    paid: int
    late: int
    mean_days: float | None  # days paid after the due day, early payment counting as 0
    max_days: int | None


def delays(paid_days: np.ndarray, due_days: np.ndarray) -> Delays:
    if paid_days.size == 0:
        return Delays(0, 0, None, None)
    late_by = np.maximum(paid_days - due_days, 0)
    return Delays(
        paid=int(late_by.size),
        late=int((late_by > 0).sum()),
        mean_days=float(late_by.mean()),
        max_days=int(late_by.max()),
    )


def month_number(year: int, month: int) -> int:
    return year * 12 + month - 1
