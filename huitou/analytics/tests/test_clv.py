import math
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.integrate import quad

from huitou.analytics.clv import (
    BetaGeo,
    GammaGamma,
    ParetoNBD,
    _BetaGeoData,
    _GammaGammaData,
    compress_rows,
)
from huitou.analytics.summary import summary_from_transactions

DATA = Path(__file__).parent / "data"


def load_summary():
    d = np.loadtxt(DATA / "cdnow_customers_summary.csv", delimiter=",", skiprows=1)
    return d[:, 0], d[:, 1], d[:, 2], d[:, 3]


def load_with_transactions():
    d = np.loadtxt(DATA / "cdnow_customers_summary_with_transactions.csv", delimiter=",", skiprows=1)
    return d[:, 0], d[:, 1], d[:, 2], d[:, 3], d[:, 4]


@pytest.fixture(scope="module")
def cdnow():
    _, x, t_x, T = load_summary()
    return x, t_x, T


@pytest.fixture(scope="module")
def bg(cdnow):
    return BetaGeo().fit(*cdnow)


@pytest.fixture(scope="module")
def pareto(cdnow):
    return ParetoNBD().fit(*cdnow)


@pytest.fixture(scope="module")
def gg():
    _, x, _, _, m = load_with_transactions()
    return GammaGamma().fit(x[x > 0], m[x > 0])


def fitted(model_cls, **params):
    model = model_cls()
    model.params_ = {k: float(v) for k, v in params.items()}
    return model


# --- published CDNOW results -------------------------------------------------------------------


def test_bgnbd_matches_fader_hardie_lee_2005_on_cdnow(bg):
    p = bg.params_
    assert p["r"] == pytest.approx(0.243, abs=1e-3)
    assert p["alpha"] == pytest.approx(4.414, abs=1e-3)
    assert p["a"] == pytest.approx(0.793, abs=1e-3)
    assert p["b"] == pytest.approx(2.426, abs=1e-3)
    assert bg.log_likelihood_ == pytest.approx(-9582.4, abs=0.1)


def test_bgnbd_conditional_expectation_matches_paper_example(bg):
    # Fader, Hardie & Lee (2005), §5: customer with x=2, t_x=30.43, T=38.86 buys 1.226 times
    # in the next 39 weeks.
    value = bg.conditional_expected_number_of_purchases_up_to_time(39, 2, 30.43, 38.86)
    assert float(value) == pytest.approx(1.226, abs=1e-3)


def test_pareto_nbd_matches_published_cdnow_fit(pareto):
    p = pareto.params_
    assert p["r"] == pytest.approx(0.553, abs=1e-3)
    assert p["alpha"] == pytest.approx(10.578, abs=1e-3)
    assert p["s"] == pytest.approx(0.606, abs=1e-3)
    # The published 11.669 is 8e-4 above the exact maximum (11.6679, where the gradient is
    # below 1e-7 and the log-likelihood is higher than at the published point), hence 2e-3.
    assert p["beta"] == pytest.approx(11.669, abs=2e-3)
    assert pareto.log_likelihood_ == pytest.approx(-9595.0, abs=0.1)


def test_gamma_gamma_matches_published_cdnow_fit(gg):
    p = gg.params_
    assert p["p"] == pytest.approx(6.25, abs=0.005)
    assert p["q"] == pytest.approx(3.74, abs=0.005)
    assert p["v"] == pytest.approx(15.44, abs=0.01)


def test_summary_builder_reproduces_cdnow_summary_from_raw_purchases():
    raw = np.loadtxt(DATA / "CDNOW_sample.txt", dtype=str)
    ids = raw[:, 1].astype(np.int64)
    dates = np.array([f"{d[:4]}-{d[4:6]}-{d[6:]}" for d in raw[:, 2]], dtype="datetime64[D]")
    amounts = raw[:, 4].astype(float)
    # Calibration period of the published analyses: 1997-01-01 .. 1997-09-30 (39 weeks).
    out = summary_from_transactions(ids, dates, amounts, np.datetime64("1997-09-30"), freq_days=7)
    ref_id, ref_x, ref_tx, ref_T, ref_m = load_with_transactions()
    np.testing.assert_array_equal(out.customer_ids, ref_id.astype(np.int64))
    np.testing.assert_array_equal(out.frequency, ref_x)
    np.testing.assert_allclose(out.recency, ref_tx, atol=0.005 + 1e-9)
    np.testing.assert_allclose(out.T, ref_T, atol=0.005 + 1e-9)
    np.testing.assert_allclose(out.monetary_value, ref_m, atol=0.005 + 1e-9)


# --- summary builder -----------------------------------------------------------------------------


def test_summary_counts_distinct_days_and_excludes_first_day_from_monetary_value():
    ids = np.array(["b", "a", "a", "a", "a", "b", "c"])
    dates = np.array(
        ["2024-01-05", "2024-01-01", "2024-01-01", "2024-01-08", "2024-01-15", "2024-03-01", "2024-01-02"],
        dtype="datetime64[D]",
    )
    amounts = np.array([50.0, 10.0, 5.0, 20.0, 40.0, 999.0, 7.0])
    out = summary_from_transactions(ids, dates, amounts, "2024-01-29", freq_days=7)
    assert out.customer_ids.tolist() == ["a", "b", "c"]
    assert out.frequency.tolist() == [2.0, 0.0, 0.0]
    assert out.recency.tolist() == [2.0, 0.0, 0.0]
    assert out.T.tolist() == [4.0, 24 / 7, 27 / 7]
    assert out.monetary_value.tolist() == [30.0, 0.0, 0.0]


def test_summary_in_days():
    ids = np.array([1, 1, 1])
    dates = np.array(["2024-01-01", "2024-01-03", "2024-01-03"], dtype="datetime64[D]")
    out = summary_from_transactions(ids, dates, np.array([1.0, 2.0, 3.0]), "2024-01-11")
    assert (out.frequency.tolist(), out.recency.tolist(), out.T.tolist()) == ([1.0], [2.0], [10.0])
    assert out.monetary_value.tolist() == [5.0]


# --- slow per-customer references ---------------------------------------------------------------


def bg_reference_ll(r, alpha, a, b, x, t_x, T):
    x = int(x)
    head = (
        math.lgamma(r + x)
        - math.lgamma(r)
        + r * math.log(alpha)
        + math.lgamma(a + b)
        + math.lgamma(b + x)
        - math.lgamma(b)
        - math.lgamma(a + b + x)
    )
    like = (alpha + T) ** -(r + x)
    if x > 0:
        like += a / (b + x - 1) * (alpha + t_x) ** -(r + x)
    return head + math.log(like)


def pareto_reference_ll(r, alpha, s, beta, x, t_x, T):
    # Direct integration over the dropout time, independent of the 2F1 closed form.
    x = int(x)
    head = math.lgamma(r + x) - math.lgamma(r) + r * math.log(alpha) + s * math.log(beta)
    alive = (alpha + T) ** -(r + x) * (beta + T) ** -s
    dead, _ = quad(
        lambda tau: (alpha + tau) ** -(r + x) * (beta + tau) ** -(s + 1), t_x, T, epsabs=0, epsrel=1e-12
    )
    return head + math.log(alive + s * dead)


def gg_reference_ll(p, q, v, x, m):
    return (
        math.lgamma(p * x + q)
        - math.lgamma(p * x)
        - math.lgamma(q)
        + q * math.log(v)
        + (p * x - 1) * math.log(m)
        + p * x * math.log(x)
        - (p * x + q) * math.log(v + x * m)
    )


def sample_rows(cdnow, n, seed):
    idx = np.random.default_rng(seed).choice(len(cdnow[0]), size=n, replace=False)
    return tuple(c[idx] for c in cdnow)


def test_bgnbd_vectorised_ll_equals_direct_sum(cdnow, bg):
    x, t_x, T = sample_rows(cdnow, 200, seed=1)
    p = bg.params_
    ref = sum(bg_reference_ll(p["r"], p["alpha"], p["a"], p["b"], *row) for row in zip(x, t_x, T))
    (ux, utx, uT), w = compress_rows(x, t_x, T)
    lp = np.log([p["r"], p["alpha"], p["a"], p["b"]])
    ll, _ = BetaGeo._loglik_and_grad(lp, _BetaGeoData(ux, utx, uT, w))
    assert ll == pytest.approx(ref, rel=1e-12)
    assert bg.log_likelihood(x, t_x, T).sum() == pytest.approx(ref, rel=1e-12)


def test_pareto_vectorised_ll_equals_direct_integration(cdnow, pareto):
    x, t_x, T = sample_rows(cdnow, 150, seed=2)
    p = pareto.params_
    ref = sum(pareto_reference_ll(p["r"], p["alpha"], p["s"], p["beta"], *row) for row in zip(x, t_x, T))
    (ux, utx, uT), w = compress_rows(x, t_x, T)
    lp = np.log([p["r"], p["alpha"], p["s"], p["beta"]])
    ll, _ = ParetoNBD._loglik_and_grad(lp, ux, utx, uT, w)
    assert ll == pytest.approx(ref, rel=1e-10)


@pytest.mark.parametrize(("alpha", "beta"), [(3.0, 20.0), (20.0, 3.0), (7.0, 7.0)])
def test_pareto_ll_correct_on_both_sides_of_alpha_equals_beta(alpha, beta):
    model = fitted(ParetoNBD, r=0.8, alpha=alpha, s=1.3, beta=beta)
    rows = [(0, 0.0, 30.0), (1, 5.0, 30.0), (7, 28.5, 30.0), (3, 2.0, 45.0), (2, 30.0, 30.0)]
    got = model.log_likelihood(*map(np.array, zip(*rows)))
    ref = [pareto_reference_ll(0.8, alpha, 1.3, beta, *row) for row in rows]
    np.testing.assert_allclose(got, ref, rtol=1e-10)


def test_gamma_gamma_vectorised_ll_equals_direct_sum(gg):
    _, x, _, _, m = load_with_transactions()
    keep = x > 0
    p = gg.params_
    ref = sum(gg_reference_ll(p["p"], p["q"], p["v"], xi, mi) for xi, mi in zip(x[keep], m[keep]))
    assert gg.log_likelihood_ == pytest.approx(ref, rel=1e-12)


def test_fit_with_weights_equals_fit_on_expanded_rows(cdnow):
    x, t_x, T = sample_rows(cdnow, 300, seed=3)
    counts = np.random.default_rng(4).integers(1, 4, size=300)
    weighted = BetaGeo().fit(x, t_x, T, weights=counts)
    expanded = BetaGeo().fit(np.repeat(x, counts), np.repeat(t_x, counts), np.repeat(T, counts))
    for name in BetaGeo.param_names:
        assert weighted.params_[name] == pytest.approx(expanded.params_[name], rel=1e-6)
    assert weighted.log_likelihood_ == pytest.approx(expanded.log_likelihood_, rel=1e-10)


def test_compress_rows_sums_weights_of_identical_rows():
    (a, b), w = compress_rows([1, 1, 2, 1], [0.5, 0.5, 0.5, 0.25], weights=[1, 2, 3, 4])
    assert (a.tolist(), b.tolist(), w.tolist()) == ([1.0, 1.0, 2.0], [0.25, 0.5, 0.5], [4.0, 3.0, 3.0])


def test_clv_without_discount_is_spend_times_expected_purchases(bg, gg):
    x, t_x, T, m = np.array([2.0, 0.0]), np.array([30.43, 0.0]), np.array([38.86, 20.0]), np.array([22.35, 0])
    clv = gg.customer_lifetime_value(bg, x, t_x, T, m, time_months=12, discount_rate=0.0, margin=0.3)
    weeks = 365.25 / 7
    expected = (
        0.3
        * gg.conditional_expected_average_profit(x, m)
        * (bg.conditional_expected_number_of_purchases_up_to_time(weeks, x, t_x, T))
    )
    np.testing.assert_allclose(clv, expected, rtol=1e-12)


def test_clv_discounts_each_month():
    class OnePerMonth:
        def conditional_expected_number_of_purchases_up_to_time(self, t, frequency, recency, T):
            return np.full(np.shape(frequency), t / (365.25 / 12))

    gg = fitted(GammaGamma, p=2.0, q=3.0, v=10.0)
    clv = gg.customer_lifetime_value(
        OnePerMonth(), np.array([1.0]), np.array([1.0]), np.array([2.0]), np.array([20.0]),
        time_months=2, discount_rate=0.1, margin=0.5, freq_unit_days=1,
    )  # fmt: skip
    spend = 2.0 * (10.0 + 20.0) / (2.0 + 3.0 - 1.0)
    assert clv[0] == pytest.approx(0.5 * spend * (1 / 1.1 + 1 / 1.21), rel=1e-12)


def test_gamma_gamma_expected_spend_for_a_non_repeat_customer_is_population_mean(gg):
    p = gg.params_
    value = gg.conditional_expected_average_profit(0, 0)
    assert float(value) == pytest.approx(p["p"] * p["v"] / (p["q"] - 1), rel=1e-12)


# --- properties ----------------------------------------------------------------------------------

bg_params = st.tuples(st.floats(0.05, 5), st.floats(0.1, 100), st.floats(0.05, 5), st.floats(0.05, 10))
pareto_params = st.tuples(st.floats(0.05, 5), st.floats(0.1, 100), st.floats(0.05, 5), st.floats(0.1, 100))


@st.composite
def customers(draw, n=20):
    T = np.array(draw(st.lists(st.floats(0.1, 100), min_size=n, max_size=n)))
    share = np.array(draw(st.lists(st.floats(0, 1), min_size=n, max_size=n)))
    x = np.array(draw(st.lists(st.integers(0, 60), min_size=n, max_size=n)), dtype=float)
    t_x = np.where(x > 0, T * share, 0.0)
    return x, t_x, T


@settings(max_examples=60, deadline=None)
@given(params=bg_params, data=customers())
def test_bgnbd_probability_alive_in_unit_interval(params, data):
    p_alive = fitted(
        BetaGeo, r=params[0], alpha=params[1], a=params[2], b=params[3]
    ).conditional_probability_alive(*data)
    assert np.all((p_alive >= 0) & (p_alive <= 1))


@settings(max_examples=60, deadline=None)
@given(params=pareto_params, data=customers())
def test_pareto_probability_alive_in_unit_interval(params, data):
    model = fitted(ParetoNBD, r=params[0], alpha=params[1], s=params[2], beta=params[3])
    p_alive = model.conditional_probability_alive(*data)
    assert np.all((p_alive >= 0) & (p_alive <= 1))


def is_non_decreasing(values):
    return bool(np.all(np.diff(values, axis=0) >= -1e-12 * np.maximum(1, np.abs(values[1:]))))


TIMES = np.array([0.0, 0.5, 1, 2, 5, 10, 26, 52, 104])


@settings(max_examples=40, deadline=None)
@given(params=bg_params, data=customers(n=5))
def test_bgnbd_expectations_non_decreasing_in_t(params, data):
    model = fitted(BetaGeo, r=params[0], alpha=params[1], a=params[2], b=params[3])
    new = model.expected_number_of_purchases_up_to_time(TIMES)
    cond = np.array([model.conditional_expected_number_of_purchases_up_to_time(t, *data) for t in TIMES])
    assert np.all(np.isfinite(new)) and np.all(np.isfinite(cond))
    assert is_non_decreasing(new) and is_non_decreasing(cond)
    assert new[0] == 0 and np.all(cond[0] == 0)


@settings(max_examples=40, deadline=None)
@given(params=pareto_params, data=customers(n=5))
def test_pareto_expectations_non_decreasing_in_t(params, data):
    model = fitted(ParetoNBD, r=params[0], alpha=params[1], s=params[2], beta=params[3])
    new = model.expected_number_of_purchases_up_to_time(TIMES)
    cond = np.array([model.conditional_expected_number_of_purchases_up_to_time(t, *data) for t in TIMES])
    assert np.all(np.isfinite(new)) and np.all(np.isfinite(cond))
    assert is_non_decreasing(new) and is_non_decreasing(cond)


def finite_difference(fun, lp, h=1e-5):
    grad = np.zeros_like(lp)
    for i in range(len(lp)):
        e = np.zeros_like(lp)
        e[i] = h
        grad[i] = (fun(lp + e) - fun(lp - e)) / (2 * h)
    return grad


@settings(max_examples=30, deadline=None)
@given(params=bg_params, data=customers())
def test_bgnbd_gradient_matches_finite_differences(params, data):
    (x, t_x, T), w = compress_rows(*data)
    data = _BetaGeoData(x, t_x, T, w)
    lp = np.log(params)
    _, grad = BetaGeo._loglik_and_grad(lp, data)
    numeric = finite_difference(lambda q: BetaGeo._loglik_and_grad(q, data)[0], lp)
    np.testing.assert_allclose(grad, numeric, rtol=1e-5, atol=1e-5)


@settings(max_examples=30, deadline=None)
@given(params=pareto_params, data=customers())
def test_pareto_gradient_matches_finite_differences(params, data):
    (x, t_x, T), w = compress_rows(*data)
    lp = np.log(params)
    _, grad = ParetoNBD._loglik_and_grad(lp, x, t_x, T, w)
    numeric = finite_difference(lambda q: ParetoNBD._loglik_and_grad(q, x, t_x, T, w)[0], lp)
    np.testing.assert_allclose(grad, numeric, rtol=1e-5, atol=1e-5)


gg_params = st.tuples(st.floats(0.1, 20), st.floats(0.1, 20), st.floats(0.1, 200))


@settings(max_examples=30, deadline=None)
@given(
    params=gg_params,
    x=st.lists(st.integers(1, 40), min_size=10, max_size=10),
    m=st.lists(st.floats(0.5, 500), min_size=10, max_size=10),
)
def test_gamma_gamma_gradient_matches_finite_differences(params, x, m):
    data = _GammaGammaData(np.array(x, dtype=float), np.array(m), np.ones(10))
    lp = np.log(params)
    _, grad = GammaGamma._loglik_and_grad(lp, data)
    numeric = finite_difference(lambda q: GammaGamma._loglik_and_grad(q, data)[0], lp)
    np.testing.assert_allclose(grad, numeric, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("spread", [10, 10**6, 10**20])
@pytest.mark.parametrize("weighted", [False, True])
def test_compress_rows_agrees_with_a_dictionary_count(spread, weighted):
    # spread picks the counting pass, the 1-D sort of packed keys, or the row-wise sort.
    rng = np.random.default_rng(spread)
    a = rng.integers(0, 5, size=400).astype(float)
    b = rng.integers(0, 3, size=400) * float(spread) / 3
    c = rng.choice([0.5, 1.25, 7.0], size=400)
    w = rng.integers(1, 5, size=400).astype(float) if weighted else np.ones(400)
    (ua, ub, uc), uw = compress_rows(a, b, c, weights=w if weighted else None)
    expected = {}
    for row in zip(a, b, c, w):
        expected[row[:3]] = expected.get(row[:3], 0.0) + row[3]
    assert dict(zip(zip(ua, ub, uc), uw)) == expected


def test_bgnbd_expectations_continuous_through_a_equals_one():
    def expected(a):
        model = fitted(BetaGeo, r=0.5, alpha=5.0, a=a, b=2.0)
        return np.concatenate(
            [
                model.expected_number_of_purchases_up_to_time([3.0, 40.0]),
                model.conditional_expected_number_of_purchases_up_to_time(
                    10.0, [0, 4], [0, 12.0], [20.0, 20.0]
                ),
            ]
        )

    midpoint = (expected(1.0 - 1e-3) + expected(1.0 + 1e-3)) / 2
    np.testing.assert_allclose(expected(1.0), midpoint, rtol=1e-6)
    assert np.all(np.isfinite(expected(1.0)))
