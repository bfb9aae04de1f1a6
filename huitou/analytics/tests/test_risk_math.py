"""The risk score on plain arrays: bounds, monotony, reasons, and its power to tell churned
customers from active ones on a simulated BG/NBD population whose dropouts are known."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from huitou.analytics import risk


def inputs(n=1, **kw):
    base = {
        "p_alive": np.full(n, np.nan),
        "gap_ratio": np.full(n, np.nan),
        "spend_trend": np.full(n, np.nan),
        "open_complaints": np.zeros(n, dtype=np.int64),
        "low_satisfaction": np.zeros(n, dtype=np.int64),
        "late_days": np.zeros(n, dtype=np.int64),
        "competitor": np.zeros(n, dtype=bool),
    }
    base.update({k: np.asarray(v) for k, v in kw.items()})
    return risk.RiskInputs(**base)


def test_no_signal_scores_zero():
    assert risk.risk_scores(inputs()).tolist() == [0]


def test_every_signal_at_full_strength_scores_100():
    x = inputs(
        p_alive=[0.0],
        gap_ratio=[3.0],
        spend_trend=[-1.0],
        open_complaints=[2],
        low_satisfaction=[1],
        late_days=[400],
        competitor=[True],
    )
    assert risk.risk_scores(x).tolist() == [100]


def test_exact_weighted_score():
    # alive 35×0.6 + gap 25×0.5 + spend 15×0.25 + late 5×(45/90) = 21 + 12.5 + 3.75 + 2.5 = 39.75
    x = inputs(p_alive=[0.4], gap_ratio=[2.0], spend_trend=[-0.25], late_days=[45])
    assert risk.risk_scores(x).tolist() == [40]


def test_monotone_in_gap_and_bounded():
    gaps = np.linspace(0, 10, 201)
    scores = risk.risk_scores(inputs(len(gaps), gap_ratio=gaps, p_alive=np.full(len(gaps), 0.5)))
    assert np.all(np.diff(scores) >= 0)
    assert scores.min() >= 0 and scores.max() <= 100
    assert scores[0] == scores[20] == 18  # a gap up to the usual one adds nothing (35×0.5=17.5)
    assert scores[-1] == 43  # 17.5 + 25


def test_rising_spend_is_no_signal():
    assert risk.risk_scores(inputs(spend_trend=[0.8])).tolist() == [0]


def test_policy_defaults_are_the_module_defaults():
    from huitou.accounts.policy import RiskPolicy

    policy = RiskPolicy()
    assert {s: getattr(policy, f"weight_{s}") for s in risk.SIGNALS} == risk.DEFAULT_WEIGHTS
    assert (policy.threshold, policy.save_days) == (risk.DEFAULT_THRESHOLD, risk.DEFAULT_SAVE_DAYS)


def test_gap_ratios_own_and_organisation_median():
    # A: 3 purchase days over 200 days → mean gap 100, 250 days since → 2.5
    # B: 2 days over 60 days → 60; C: one purchase → measured against the median of (100, 60) = 80
    ratio, expected, own = risk.gap_ratios([250, 30, 160], [3, 2, 1], [200, 60, 0])
    assert ratio.tolist() == [2.5, 0.5, 2.0]
    assert expected.tolist() == [100.0, 60.0, 80.0]
    assert own.tolist() == [True, True, False]


def test_spend_trend_nan_without_earlier_spend():
    t = risk.spend_trends([50, 0, 10], [100, 0, 0])
    assert t[0] == -0.5
    assert math.isnan(t[1]) and math.isnan(t[2])


def test_reasons_in_order_of_weight_with_numbers():
    reasons = risk.customer_reasons(
        p_alive=0.2,
        days_since_last=410,
        gap_ratio=2.73,
        own_gap=True,
        spend_trend=-0.4,
        complaint_tickets=[12, 15],
        low_satisfaction=0,
        late_days=45,
        competitor=True,
    )
    assert reasons == [
        {"code": "alive", "pct": 20},  # 35 × 0.8 = 28
        {"code": "gap", "days": 410, "ratio": 2.7},  # 25 × 0.865
        {"code": "complaint", "ticket": 12},  # 10
        {"code": "complaint", "ticket": 15},
        {"code": "spend", "pct": 40},  # 6
        {"code": "competitor"},  # 5
        {"code": "late", "days": 45},  # 2.5
    ]
    texts = [risk.reason_text(r) for r in reasons]
    assert texts[1] == "no purchase for 410 days, 2.7× their usual gap"
    assert texts[2] == "open complaint #12"
    assert texts[-1] == "paid 45 days late"


def test_no_reasons_for_a_healthy_customer():
    assert (
        risk.customer_reasons(
            p_alive=0.9,
            days_since_last=10,
            gap_ratio=0.3,
            own_gap=True,
            spend_trend=0.1,
            complaint_tickets=[],
            low_satisfaction=0,
            late_days=0,
            competitor=False,
        )
        == []
    )


def test_auc_rank_formula():
    assert risk.auc([0.1, 0.4, 0.35, 0.8], [0, 0, 1, 1]) == 0.75
    assert risk.auc([1, 1, 1, 1], [0, 1, 0, 1]) == 0.5  # ties count as half
    assert math.isnan(risk.auc([1, 2], [1, 1]))


def test_p_alive_not_fitted_on_a_handful():
    p, model = risk.p_alive_bgnbd([2, 1, 3], [0, 5, 0], [10, 5, 30], 100)
    assert np.isnan(p).all() and model == {}


# ---------------------------------------------------------------------------------------------
# Simulated customers with known churn


def simulate(seed=20260630, n=4000, r=0.5, alpha=20.0, a=0.8, b=4.0, horizon=730):
    """BG/NBD population in days: customers join uniformly over the first year, buy at Poisson
    rate λ ~ Gamma(r, α) and after each repeat purchase drop out with probability p ~ Beta(a, b).
    Returns the per-customer summary as of ``horizon`` and the true "dead" flag."""
    rng = np.random.default_rng(seed)
    lam = rng.gamma(r, 1.0 / alpha, n)
    p = rng.beta(a, b, n)
    start = rng.integers(0, 365, n)
    days = np.ones(n, dtype=np.int64)
    last = start.astype(np.float64).copy()
    dead = np.zeros(n, dtype=bool)
    for i in range(n):
        t = float(start[i])
        while True:
            t += rng.exponential(1.0 / lam[i])
            if t > horizon:
                break
            if int(t) != int(last[i]):
                days[i] += 1
            last[i] = t
            if rng.random() < p[i]:
                dead[i] = True
                break
    return days, start.astype(np.int64), np.floor(last).astype(np.int64), dead, horizon


def test_risk_score_separates_churned_customers_auc():
    days, first, last, dead, as_of = simulate()
    p_alive, model = risk.p_alive_bgnbd(days, first, last, as_of)
    assert model  # fitted
    ratio, _expected, _own = risk.gap_ratios(as_of - last, days, last - first)
    n = days.size
    scores = risk.risk_scores(inputs(n, p_alive=p_alive, gap_ratio=ratio))
    value = risk.auc(scores, dead)
    value_p = risk.auc(1.0 - p_alive, dead)
    print(f"\nrisk-score AUC {value:.4f} (P(alive) alone {value_p:.4f}); dead share {dead.mean():.3f}")
    Path("var").mkdir(exist_ok=True)
    Path("var/risk_auc.json").write_text(
        json.dumps(
            {
                "auc": round(value, 4),
                "auc_p_alive_only": round(value_p, 4),
                "customers": n,
                "dead_share": round(float(dead.mean()), 4),
                "params": model["params"],
            },
            indent=1,
        )
    )
    assert value >= 0.80


@pytest.mark.parametrize("seed", [1, 2])
def test_auc_well_above_chance_on_other_seeds(seed):
    days, first, last, dead, as_of = simulate(seed=seed, n=2000)
    p_alive, _model = risk.p_alive_bgnbd(days, first, last, as_of)
    ratio, _e, _o = risk.gap_ratios(as_of - last, days, last - first)
    scores = risk.risk_scores(inputs(days.size, p_alive=p_alive, gap_ratio=ratio))
    assert risk.auc(scores, dead) >= 0.75
