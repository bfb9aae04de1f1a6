"""Crisis signals (DOMAIN §4) on plain arrays: each customer's risk of drifting away, 0–100, and
the reasons in words. Pure numpy, no Django import (STYLE habit 5).

Every signal is turned into a strength in [0, 1]; the score is the weighted mean of the strengths
times 100, so it is bounded and never falls when one signal gets worse. A signal that cannot be
measured for a customer (no earlier spend to compare with, no fitted model) has strength 0.

Share of wallet is not in the data (we only see our own sales), so "falling spend" is our own
spend in the last 12 months against the 12 before.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from .clv import BetaGeo

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


def _(text: str) -> str:
    """Marks a string for translation (xgettext picks up ``_``) without importing Django."""
    return text


SIGNALS = ("alive", "gap", "spend", "complaint", "satisfaction", "late", "competitor")

# Default weights of the signals; they need not sum to 100 (the score divides by their sum).
# An organisation edits them in its policy (``policy.risk``, huitou/accounts/policy.py).
DEFAULT_WEIGHTS: dict[str, float] = {
    "alive": 35.0,
    "gap": 25.0,
    "spend": 15.0,
    "complaint": 10.0,
    "satisfaction": 5.0,
    "late": 5.0,
    "competitor": 5.0,
}
# A gap this many times the customer's usual gap gives the gap signal its full strength.
GAP_FULL_RATIO = 3.0
# Days late at which the late-payment signal is at full strength.
LATE_FULL_DAYS = 90
# Below this P(alive) the model's doubt is worth saying in words.
ALIVE_REASON_BELOW = 0.5
# Default list threshold: a customer at or above this score is "at risk".
DEFAULT_THRESHOLD = 50
# A win-back counts as a save when the customer buys within this many days of its start.
DEFAULT_SAVE_DAYS = 90
# The BG/NBD model is fitted only on an organisation with at least this many buying customers, of
# whom at least MIN_FIT_REPEATERS bought again; below that its parameters mean nothing.
MIN_FIT_CUSTOMERS = 50
MIN_FIT_REPEATERS = 10

# Reason texts by code; the numbers are filled in on display (``reason["n"]`` etc.).
REASON_TEXTS: dict[str, str] = {
    "alive": _("only a %(pct)s%% chance they are still buying from us"),
    "gap": _("no purchase for %(days)s days, %(ratio)s× their usual gap"),
    "gap_org": _("no purchase for %(days)s days, %(ratio)s× our customers' usual gap"),
    "spend": _("spend down %(pct)s%% on the 12 months before"),
    "complaint": _("open complaint #%(ticket)s"),
    "satisfaction": _("%(n)s low satisfaction answer(s) in the last year"),
    "late": _("paid %(days)s days late"),
    "competitor": _("contact with a competitor logged"),
}


def gap_ratios(
    days_since_last: npt.ArrayLike, purchase_days: npt.ArrayLike, span_days: npt.ArrayLike
) -> tuple[FloatArray, FloatArray, npt.NDArray[np.bool_]]:
    """Days since the last purchase over the expected gap.

    A customer with at least two purchase days is measured against their own mean gap
    (``span_days / (purchase_days - 1)``); the others against the median of those means. Returns
    (ratio, expected gap, whether the expected gap is the customer's own); ratio is NaN when
    nobody in the organisation has bought twice.
    """
    since = np.asarray(days_since_last, dtype=np.float64)
    n = np.asarray(purchase_days, dtype=np.float64)
    span = np.asarray(span_days, dtype=np.float64)
    own = n >= 2
    mean_gap = np.full(since.shape, np.nan)
    mean_gap[own] = np.maximum(span[own] / (n[own] - 1.0), 1.0)
    median = float(np.median(mean_gap[own])) if own.any() else float("nan")
    expected = np.where(own, mean_gap, median)
    with np.errstate(invalid="ignore"):
        ratio = since / expected
    return ratio, expected, own


def p_alive_bgnbd(
    purchase_days: npt.ArrayLike, first_day: npt.ArrayLike, last_day: npt.ArrayLike, as_of_day: int
) -> tuple[FloatArray, dict[str, Any]]:
    """P(alive) of every customer from BG/NBD fitted once on all of them, time in days (days are
    ordinals). NaN for everyone when there are too few customers or repeat buyers to fit, or
    when the fit fails; the second value holds the fitted parameters and log-likelihood."""
    days = np.asarray(purchase_days, dtype=np.int64)
    first = np.asarray(first_day, dtype=np.int64)
    last = np.asarray(last_day, dtype=np.int64)
    n = days.size
    frequency = (days - 1).astype(np.float64)
    recency = (last - first).astype(np.float64)
    big_t = (as_of_day - first).astype(np.float64)
    if n < MIN_FIT_CUSTOMERS or int((frequency > 0).sum()) < MIN_FIT_REPEATERS:
        return np.full(n, np.nan), {}
    model = BetaGeo()
    try:
        model.fit(frequency, recency, big_t)
    except (RuntimeError, ValueError, FloatingPointError):
        return np.full(n, np.nan), {}
    p = model.conditional_probability_alive(frequency, recency, big_t)
    return p, {"params": model.params_, "log_likelihood": float(model.log_likelihood_)}


# A fitted mean chance of leaving after a purchase below this means the data shows nobody leaving:
# customers who come back on a fixed rhythm (a workshop's regulars) make the BG/NBD fit put every
# P(alive) at 1. The signal then says nothing, and the score leaves its weight out instead of
# letting it dilute the others.
MIN_DROPOUT = 1e-3


def dropout_identified(model: Mapping[str, Any]) -> bool:
    """Whether a fit from ``p_alive_bgnbd`` found customers leaving (its P(alive) tells them apart)."""
    params = model.get("params") or {}
    a, b = params.get("a"), params.get("b")
    if a is None or b is None or not np.isfinite(a) or not np.isfinite(b) or a + b <= 0:
        return False
    return bool(a / (a + b) >= MIN_DROPOUT)


def spend_trends(last12: npt.ArrayLike, prev12: npt.ArrayLike) -> FloatArray:
    """Relative change of spend, last 12 months on the 12 before; NaN without earlier spend."""
    last = np.asarray(last12, dtype=np.float64)
    prev = np.asarray(prev12, dtype=np.float64)
    out = np.full(last.shape, np.nan)
    has = prev > 0
    out[has] = (last[has] - prev[has]) / prev[has]
    return out


@dataclass(frozen=True)
class RiskInputs:
    """One entry per customer, all arrays of the same length. NaN means "not measured"."""

    p_alive: FloatArray
    gap_ratio: FloatArray
    spend_trend: FloatArray
    open_complaints: IntArray
    low_satisfaction: IntArray
    late_days: IntArray
    competitor: npt.NDArray[np.bool_]


def signal_strengths(inputs: RiskInputs) -> dict[str, FloatArray]:
    """Each signal's strength in [0, 1]."""

    def clean(x: FloatArray) -> FloatArray:
        return np.clip(np.nan_to_num(x, nan=0.0), 0.0, 1.0)

    p_alive = np.asarray(inputs.p_alive, dtype=np.float64)
    gap = np.asarray(inputs.gap_ratio, dtype=np.float64)
    with np.errstate(invalid="ignore"):
        return {
            "alive": clean(1.0 - p_alive),
            "gap": clean((gap - 1.0) / (GAP_FULL_RATIO - 1.0)),
            "spend": clean(-np.asarray(inputs.spend_trend, dtype=np.float64)),
            "complaint": clean(np.asarray(inputs.open_complaints, dtype=np.float64)),
            "satisfaction": clean(np.asarray(inputs.low_satisfaction, dtype=np.float64)),
            "late": clean(np.asarray(inputs.late_days, dtype=np.float64) / LATE_FULL_DAYS),
            "competitor": clean(np.asarray(inputs.competitor, dtype=np.float64)),
        }


def risk_scores(inputs: RiskInputs, weights: Mapping[str, float] | None = None) -> IntArray:
    """Scores 0–100 (rounded half up): the weighted mean of the signal strengths."""
    w = dict(DEFAULT_WEIGHTS if weights is None else weights)
    total = sum(w.get(s, 0.0) for s in SIGNALS)
    strengths = signal_strengths(inputs)
    n = len(np.asarray(inputs.gap_ratio))
    if total <= 0:
        return np.zeros(n, dtype=np.int64)
    acc = np.zeros(n, dtype=np.float64)
    for s in SIGNALS:
        acc += w.get(s, 0.0) * strengths[s]
    # The epsilon keeps 62.5 from rounding to 62 through 62.49999999 of float sums.
    return np.floor(acc * 100.0 / total + 0.5 + 1e-9).astype(np.int64)


def customer_reasons(
    *,
    p_alive: float,
    days_since_last: int,
    gap_ratio: float,
    own_gap: bool,
    spend_trend: float,
    complaint_tickets: list[int],
    low_satisfaction: int,
    late_days: int,
    competitor: bool,
    weights: Mapping[str, float] | None = None,
) -> list[dict[str, Any]]:
    """The reasons of one customer, strongest contribution first: dicts with a ``code`` (a key of
    REASON_TEXTS) and the numbers of its text. Plain JSON, stored in the snapshot."""
    w = dict(DEFAULT_WEIGHTS if weights is None else weights)
    found: list[tuple[float, int, dict[str, Any]]] = []

    def add(signal: str, strength: float, reason: dict[str, Any]) -> None:
        found.append((w.get(signal, 0.0) * strength, len(found), reason))

    if not np.isnan(p_alive) and p_alive < ALIVE_REASON_BELOW:
        add("alive", 1.0 - p_alive, {"code": "alive", "pct": round(p_alive * 100)})
    if not np.isnan(gap_ratio) and gap_ratio > 1.0:
        strength = min((gap_ratio - 1.0) / (GAP_FULL_RATIO - 1.0), 1.0)
        code = "gap" if own_gap else "gap_org"
        add("gap", strength, {"code": code, "days": int(days_since_last), "ratio": round(gap_ratio, 1)})
    if not np.isnan(spend_trend) and spend_trend < 0:
        add("spend", min(-spend_trend, 1.0), {"code": "spend", "pct": round(-spend_trend * 100)})
    for ticket in complaint_tickets[:3]:
        add("complaint", 1.0, {"code": "complaint", "ticket": int(ticket)})
    if low_satisfaction > 0:
        add("satisfaction", 1.0, {"code": "satisfaction", "n": int(low_satisfaction)})
    if late_days > 0:
        add("late", min(late_days / LATE_FULL_DAYS, 1.0), {"code": "late", "days": int(late_days)})
    if competitor:
        add("competitor", 1.0, {"code": "competitor"})
    found.sort(key=lambda item: (-item[0], item[1]))
    return [reason for _weight, _order, reason in found]


def reason_text(reason: Mapping[str, Any], translate: Any = None) -> str:
    """One reason in words; ``translate`` is gettext on the Django side."""
    template = REASON_TEXTS.get(str(reason.get("code")), "")
    if not template:
        return str(reason.get("code", ""))
    if translate is not None:
        template = translate(template)
    params = {k: v for k, v in reason.items() if k != "code"}
    try:
        return template % params
    except (KeyError, TypeError, ValueError):
        return template


def auc(scores: npt.ArrayLike, positives: npt.ArrayLike) -> float:
    """Area under the ROC curve by the rank formula (Mann–Whitney U), ties counted as half."""
    s = np.asarray(scores, dtype=np.float64)
    y = np.asarray(positives, dtype=bool)
    n_pos = int(y.sum())
    n_neg = int(y.size - n_pos)
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    order = np.argsort(s, kind="mergesort")
    ranks = np.empty(s.size, dtype=np.float64)
    sorted_s = s[order]
    # Average ranks over ties (1-based).
    starts = np.r_[0, np.flatnonzero(np.diff(sorted_s)) + 1]
    ends = np.r_[starts[1:], s.size]
    avg = (starts + ends + 1) / 2.0
    ranks[order] = np.repeat(avg, ends - starts)
    u = ranks[y].sum() - n_pos * (n_pos + 1) / 2.0
    return float(u / (n_pos * n_neg))
