"""BG/NBD expectations where every customer buys at nearly the same rate (r in the thousands and
more: a workshop visited on a fixed rhythm), where 2F1 overflows and the confluent limit is used."""

from __future__ import annotations

import numpy as np
import pytest

from huitou.analytics import clv

X = np.array([0.0, 1.0, 3.0, 8.0])
T = np.array([50.0, 80.0, 100.0, 120.0])
RECENCY = T - 5.0


def _model(r: float, alpha: float, a: float, b: float) -> clv.BetaGeo:
    m = clv.BetaGeo()
    m.params_ = {"r": r, "alpha": alpha, "a": a, "b": b}
    return m


def test_homogeneous_rate_without_dropout_gives_rate_times_time():
    # The degenerate fit of a workshop's regular customers: r, α huge, a → 0 (nobody leaves).
    m = _model(4e5, 4e5 * 25.0, 1e-5, 5000.0)
    got = m.conditional_expected_number_of_purchases_up_to_time(52.0, X, RECENCY, T)
    assert np.all(np.isfinite(got))
    # λ = r / (α + T) per customer; with no dropout the expectation is λ·t (to O(1/r) and O(a)).
    expected = 4e5 / (4e5 * 25.0 + T) * 52.0
    np.testing.assert_allclose(got, expected, rtol=1e-3)
    new = m.expected_number_of_purchases_up_to_time(np.array([52.0]))
    np.testing.assert_allclose(new, [52.0 / 25.0], rtol=1e-3)


@pytest.mark.parametrize("r", [2e3, 9e3])
def test_confluent_limit_agrees_with_2f1_where_both_work(r, monkeypatch):
    m = _model(r, r * 20.0, 0.3, 3.0)
    exact = m.conditional_expected_number_of_purchases_up_to_time(52.0, X, RECENCY, T)
    monkeypatch.setattr(clv, "_CONFLUENT_FROM", 0.0)
    limit = m.conditional_expected_number_of_purchases_up_to_time(52.0, X, RECENCY, T)
    # The error of the limit shrinks like 1/r.
    np.testing.assert_allclose(limit, exact, rtol=3.0 / r)
    assert not np.allclose(limit, exact, rtol=1e-9)


def test_expectations_grow_with_time_in_the_limit():
    m = _model(1e6, 1e6 * 30.0, 0.01, 800.0)
    values = [
        m.conditional_expected_number_of_purchases_up_to_time(t, X, RECENCY, T) for t in (4.0, 26.0, 52.0)
    ]
    assert np.all(np.diff(np.stack(values), axis=0) > 0)
