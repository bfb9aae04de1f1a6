"""The math of the satisfaction measures, on plain numpy arrays (no Django import).

The database does the counting (GROUP BY); this module turns counts and sums into shares,
awards, quadrants, ratios and flags, so each rule is tested on its own with exact numbers.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import numpy.typing as npt

Floats = npt.NDArray[np.float64]
Ints = npt.NDArray[np.int64]
Bools = npt.NDArray[np.bool_]

QUADRANTS = ("urgent", "keep", "low_priority", "over_served")


def shares(part: npt.ArrayLike, whole: npt.ArrayLike) -> Floats:
    """part / whole element-wise; NaN where whole is 0."""
    p = np.asarray(part, dtype=np.float64)
    w = np.asarray(whole, dtype=np.float64)
    out = np.full(p.shape, np.nan)
    np.divide(p, w, out=out, where=w > 0)
    return out


def award_units(retail_cars: npt.ArrayLike, wholesale_buyers: npt.ArrayLike) -> Ints:
    """Cars that earn the CVP award: each retail car, and each wholesale buyer once."""
    return np.asarray(retail_cars, dtype=np.int64) + np.asarray(wholesale_buyers, dtype=np.int64)


def award_eligible(answers: npt.ArrayLike, top: npt.ArrayLike, *, min_answers: int) -> Bools:
    """CVP 100%: at least ``min_answers`` answers in the month and every one of them top box."""
    n = np.asarray(answers, dtype=np.int64)
    t = np.asarray(top, dtype=np.int64)
    return (n >= min_answers) & (t == n)


def award_amounts(
    answers: npt.ArrayLike,
    top: npt.ArrayLike,
    units: npt.ArrayLike,
    *,
    per_car: float,
    min_answers: int,
) -> Floats:
    eligible = award_eligible(answers, top, min_answers=min_answers)
    return np.where(eligible, np.asarray(units, dtype=np.float64) * per_car, 0.0)


def quadrant_cuts(
    importance: npt.ArrayLike,
    satisfaction: npt.ArrayLike,
    *,
    split: Literal["mean", "fixed"],
    importance_cut: float,
    satisfaction_cut: float,
) -> tuple[float, float]:
    """Where the axes split: the means over the factors, or the policy's fixed cut-offs."""
    imp = np.asarray(importance, dtype=np.float64)
    sat = np.asarray(satisfaction, dtype=np.float64)
    if split == "fixed" or imp.size == 0:
        return float(importance_cut), float(satisfaction_cut)
    return float(np.nanmean(imp)), float(np.nanmean(sat))


def quadrants(
    importance: npt.ArrayLike, satisfaction: npt.ArrayLike, *, imp_cut: float, sat_cut: float
) -> list[str]:
    """Each factor's quadrant. On the cut counts as high: a factor exactly as important as the
    average is treated as important (the cautious side for "urgent to improve")."""
    imp = np.asarray(importance, dtype=np.float64)
    sat = np.asarray(satisfaction, dtype=np.float64)
    important = imp >= imp_cut
    satisfied = sat >= sat_cut
    codes = np.where(important, np.where(satisfied, 1, 0), np.where(satisfied, 3, 2))  # index into QUADRANTS
    return [QUADRANTS[int(c)] for c in codes]


def satisfaction_ratio(
    perceived_sum: npt.ArrayLike,
    perceived_n: npt.ArrayLike,
    expected_sum: npt.ArrayLike,
    expected_n: npt.ArrayLike,
) -> Floats:
    """Satisfaction = perceived ÷ expected (DOMAIN §6): mean perceived score over mean expected
    score; above 1 the experience beat the expectation. NaN where either side has no answer."""
    perceived = shares(perceived_sum, perceived_n)
    expected = shares(expected_sum, expected_n)
    out = np.full(perceived.shape, np.nan)
    ok = ~np.isnan(perceived) & ~np.isnan(expected) & (np.nan_to_num(expected) > 0)
    np.divide(perceived, expected, out=out, where=ok)
    return out


def gaming_flags(
    answers: npt.ArrayLike,
    top: npt.ArrayLike,
    audits: npt.ArrayLike,
    audit_top: npt.ArrayLike,
    *,
    min_answers: int,
    min_audits: int,
    audit_top_share: float,
) -> Bools:
    """A rep whose answers are all top box while the DCRC's audit calls of the same customers
    hear otherwise: enough answers, all top box, enough audits, audit top-box share below the bar."""
    n = np.asarray(answers, dtype=np.int64)
    t = np.asarray(top, dtype=np.int64)
    a = np.asarray(audits, dtype=np.int64)
    at = np.asarray(audit_top, dtype=np.int64)
    audit_share = shares(at, a)
    return (
        (n >= min_answers)
        & (t == n)
        & (a >= min_audits)
        & (np.nan_to_num(audit_share, nan=1.0) < audit_top_share)
    )


def nps(promoters: npt.ArrayLike, detractors: npt.ArrayLike, answers: npt.ArrayLike) -> Floats:
    """Net promoter score in points (−100…100): % promoters (9–10) minus % detractors (0–6)."""
    return (shares(promoters, answers) - shares(detractors, answers)) * 100.0
