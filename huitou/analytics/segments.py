"""Customer segmentation (DOMAIN §2) on plain arrays: RFM scores, value tiers, the Pareto curve
and customer-type suggestions. Pure numpy, no Django import (STYLE habit 5).

Every function takes one entry per customer, in the same order, and returns arrays in that order.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


def _(text: str) -> str:
    """Marks a string for translation (xgettext picks up ``_``) without importing Django."""
    return text


# Tier codes, ordered so that a higher code is a better tier.
TIER_NONE, TIER_BRONZE, TIER_SILVER, TIER_GOLD = 0, 1, 2, 3
TIER_NAMES = ("", "bronze", "silver", "gold")

TYPE_NONE, TYPE_PROFIT, TYPE_VOLUME, TYPE_RELATIONSHIP, TYPE_STRATEGIC = 0, 1, 2, 3, 4
TYPE_NAMES = ("", "profit", "volume", "relationship", "strategic")

# The strategy of each customer type (DOMAIN §2), English source strings, translated on display.
STRATEGIES: dict[str, str] = {
    "profit": _("High return: tell them about technical improvements."),
    "volume": _("Fills volume: tell them about capacity and growth."),
    "relationship": _("Wide social circle, refers others: small gifts and frequent warm contact."),
    "strategic": _("Long-term image: regular contact and festival messages."),
}


def quintile_scores(values: npt.ArrayLike, *, higher_is_better: bool = True) -> IntArray:
    """Score 1..5 by quintile of rank: ``1 + floor(5 * below / n)``.

    ``below`` is the number of customers strictly worse than this one, so equal values always get
    the same score (ties take the lowest rank, deterministically, whatever the input order). With
    ``higher_is_better=False`` (recency in days) a smaller value is better.
    """
    x = np.asarray(values, dtype=np.float64)
    if x.ndim != 1:
        raise ValueError("values must be a 1-D array")
    n = x.size
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    if not higher_is_better:
        x = -x
    below = np.searchsorted(np.sort(x), x, side="left")
    return (1 + (5 * below) // n).astype(np.int64)


class RFM(NamedTuple):
    r: IntArray
    f: IntArray
    m: IntArray


def rfm_scores(recency_days: npt.ArrayLike, frequency: npt.ArrayLike, monetary: npt.ArrayLike) -> RFM:
    """RFM scores 1..5: recent (few days since the last purchase), frequent and big spenders score 5."""
    r = quintile_scores(recency_days, higher_is_better=False)
    f = quintile_scores(frequency)
    m = quintile_scores(monetary)
    if not (r.shape == f.shape == m.shape):
        raise ValueError("recency_days, frequency and monetary must have the same length")
    return RFM(r, f, m)


def value_tiers(values: npt.ArrayLike, *, gold_share: float = 0.5, silver_share: float = 0.8) -> IntArray:
    """Tier codes by cumulative share of the total value, customers sorted by value descending.

    A customer is gold when the customers worth strictly more than them make less than
    ``gold_share`` of the total (so the customer crossing the line is gold, and equal values share a
    tier); silver below ``silver_share``; bronze for any other positive value; none (0) for a value
    of zero or less. The total is the sum of the positive values.
    """
    if not 0.0 <= gold_share <= silver_share <= 1.0:
        raise ValueError("need 0 <= gold_share <= silver_share <= 1")
    v = np.asarray(values, dtype=np.float64)
    if v.ndim != 1:
        raise ValueError("values must be a 1-D array")
    pos = np.where(v > 0, v, 0.0)
    total = float(pos.sum())
    tiers = np.zeros(v.size, dtype=np.int64)
    if total <= 0:
        return tiers
    asc = np.sort(pos)
    csum = np.concatenate(([0.0], np.cumsum(asc)))
    # Sum of the values strictly greater than each customer's value.
    ahead = total - csum[np.searchsorted(asc, pos, side="right")]
    share_ahead = ahead / total
    tiers[pos > 0] = TIER_BRONZE
    tiers[(pos > 0) & (share_ahead < silver_share)] = TIER_SILVER
    tiers[(pos > 0) & (share_ahead < gold_share)] = TIER_GOLD
    return tiers


class Pareto(NamedTuple):
    """Points of the Pareto curves: ``customer_share[i]`` of the customers, best first, make
    ``revenue_share[i]`` of the revenue (customers sorted by revenue) and ``margin_share[i]`` of the
    margin (customers sorted by margin). Starts at (0, 0) and ends at (1, 1) when totals are positive.
    """

    customer_share: FloatArray
    revenue_share: FloatArray
    margin_share: FloatArray


def _cumulative_share(values: FloatArray) -> FloatArray:
    total = float(values.sum())
    c = np.concatenate(([0.0], np.cumsum(np.sort(values)[::-1])))
    return c / total if total > 0 else np.zeros_like(c)


def pareto_curve(revenue: npt.ArrayLike, margin: npt.ArrayLike, *, max_points: int = 101) -> Pareto:
    """The Pareto curves of revenue and margin, downsampled to at most ``max_points`` points.

    With n customers the full curve has n + 1 points; when that is more than ``max_points`` the
    points kept are at customer shares k / (max_points - 1) (the nearest customer count, rounded).
    """
    rev = np.asarray(revenue, dtype=np.float64)
    mar = np.asarray(margin, dtype=np.float64)
    if rev.shape != mar.shape or rev.ndim != 1:
        raise ValueError("revenue and margin must be 1-D arrays of the same length")
    if max_points < 2:
        raise ValueError("max_points must be at least 2")
    n = rev.size
    if n == 0:
        zero = np.zeros(1, dtype=np.float64)
        return Pareto(zero, zero.copy(), zero.copy())
    rs, ms = _cumulative_share(rev), _cumulative_share(mar)
    idx = np.arange(n + 1)
    if n + 1 > max_points:
        idx = np.unique(np.rint(np.linspace(0, n, max_points)).astype(np.int64))
    return Pareto(idx / n, rs[idx], ms[idx])


def top_share(values: npt.ArrayLike, *, customer_share: float = 0.2) -> float:
    """Share of the total made by the best ``ceil(customer_share * n)`` customers ("top 20% make X%")."""
    v = np.asarray(values, dtype=np.float64)
    total = float(v.sum())
    if v.size == 0 or total <= 0:
        return 0.0
    k = math.ceil(customer_share * v.size - 1e-9)
    return float(np.sort(v)[::-1][:k].sum() / total)


def pareto_summary(revenue: npt.ArrayLike, margin: npt.ArrayLike) -> dict[str, object]:
    """Pareto curves (at most 101 points, rounded to 4 places) and the top-20% shares, as JSON."""
    curve = pareto_curve(revenue, margin)
    return {
        "pareto": {
            "customers": [round(float(x), 4) for x in curve.customer_share],
            "revenue": [round(float(x), 4) for x in curve.revenue_share],
            "margin": [round(float(x), 4) for x in curve.margin_share],
        },
        "top20_revenue_share": round(top_share(revenue), 4),
        "top20_margin_share": round(top_share(margin), 4),
    }


def suggest_types(
    *,
    revenue: npt.ArrayLike,
    margin: npt.ArrayLike,
    f_score: npt.ArrayLike,
    referrals: npt.ArrayLike,
    is_company: npt.ArrayLike,
    tier: npt.ArrayLike,
    profit_min_margin_rate: float = 0.15,
    volume_min_f_score: int = 4,
    relationship_min_referrals: int = 2,
) -> IntArray:
    """Suggested type code per customer; the first rule that matches wins, in this order:

    1. strategic: a company whose value is in the gold tier;
    2. relationship: has referred at least ``relationship_min_referrals`` customers;
    3. profit: revenue > 0 and margin / revenue >= ``profit_min_margin_rate``;
    4. volume: revenue > 0, F score >= ``volume_min_f_score`` and a margin rate below that threshold;
    otherwise none (0).
    """
    rev = np.asarray(revenue, dtype=np.float64)
    mar = np.asarray(margin, dtype=np.float64)
    f = np.asarray(f_score, dtype=np.int64)
    refs = np.asarray(referrals, dtype=np.int64)
    company = np.asarray(is_company, dtype=bool)
    t = np.asarray(tier, dtype=np.int64)
    if not (rev.shape == mar.shape == f.shape == refs.shape == company.shape == t.shape):
        raise ValueError("all arrays must have the same length")
    rate = np.divide(mar, rev, out=np.zeros_like(rev), where=rev > 0)
    sold = rev > 0
    out = np.zeros(rev.size, dtype=np.int64)
    # Apply in reverse order so that earlier rules overwrite later ones.
    out[sold & (f >= volume_min_f_score) & (rate < profit_min_margin_rate)] = TYPE_VOLUME
    out[sold & (rate >= profit_min_margin_rate)] = TYPE_PROFIT
    out[refs >= relationship_min_referrals] = TYPE_RELATIONSHIP
    out[company & (t == TIER_GOLD)] = TYPE_STRATEGIC
    return out
