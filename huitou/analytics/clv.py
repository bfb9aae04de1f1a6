"""Buy-till-you-die lifetime-value models: BG/NBD, Pareto/NBD and Gamma-Gamma.

Pure numpy/scipy. Each model is fitted by maximum likelihood on log-parameters with L-BFGS-B
and analytic gradients. Customers sharing the same summary row are fitted once with a weight,
and every term that depends on the frequency alone is evaluated once per distinct frequency.

References: Fader, Hardie & Lee (2005) "Counting your customers the easy way" (BG/NBD);
Schmittlein, Morrison & Colombo (1987) and Fader & Hardie's note "Deriving an expression for
P(X(t) = x) under the Pareto/NBD model" (Pareto/NBD); Fader, Hardie & Lee (2005) "RFM and CLV"
and Fader & Hardie's note 025 (Gamma-Gamma).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Protocol

import numpy as np
import numpy.typing as npt
from scipy.optimize import minimize
from scipy.special import digamma, expit, gammaln, hyp1f1, hyp2f1

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
ArrayLike = npt.ArrayLike

# Bounds on log-parameters keep the optimiser away from overflow without constraining any
# parameter value seen in practice (e^±18 ≈ 6.6e7 / 1.5e-8).
_LOG_BOUND = 18.0
# Shape r of the purchase-rate distribution from which expectations use the confluent limit.
_CONFLUENT_FROM = 1e4
# Rows per chunk in the likelihood passes (a few temporaries of this many floats fit in L2).
_CHUNK = 16_384
# Mean days per month, used to turn monthly CLV periods into the model's time unit.
DAYS_PER_MONTH = 365.25 / 12.0


class ConvergenceError(RuntimeError):
    pass


class TransactionModel(Protocol):
    def conditional_expected_number_of_purchases_up_to_time(
        self, t: ArrayLike, frequency: ArrayLike, recency: ArrayLike, T: ArrayLike
    ) -> FloatArray: ...


def _dot(a: ArrayLike, b: ArrayLike) -> float:
    # Not np.dot: OpenBLAS threads its dot product above ~10k elements, and waking those
    # threads on a busy 2-core server costs milliseconds per call, more than the sum itself.
    return float(np.add.reduce(np.multiply(a, b), axis=None))


def _as_float(values: ArrayLike) -> FloatArray:
    return np.asarray(values, dtype=np.float64)


def compress_rows(
    *columns: ArrayLike, weights: ArrayLike | None = None
) -> tuple[list[FloatArray], FloatArray]:
    """Collapse identical rows of the given columns into unique rows with summed weights.

    Each column becomes a dense integer code (whole numbers such as counts and days are their
    own code, without a sort); the codes are packed into one int64 key per row, and the distinct
    keys are found by a counting pass when the key space is small, otherwise by one 1-D sort.
    Unique rows come back ordered by their key and are decoded from it.
    """
    cols = [_as_float(c).ravel() for c in columns]
    n = cols[0].shape[0]
    if n == 0:
        return [c.copy() for c in cols], np.zeros(0)
    codes: list[IntArray] = []
    decoders: list[tuple[float, FloatArray | None]] = []
    sizes: list[int] = []
    for c in cols:
        lo, hi = float(c.min()), float(c.max())
        if hi - lo < 2**24 and np.array_equal(c, np.floor(c)):
            codes.append((c - lo).astype(np.int64))
            decoders.append((lo, None))
            sizes.append(int(hi - lo) + 1)
        else:
            values, inv = np.unique(c, return_inverse=True)
            codes.append(inv.astype(np.int64).ravel())
            decoders.append((0.0, values))
            sizes.append(len(values))
    if math.prod(sizes) >= 2**62:
        stacked = np.column_stack(codes)
        _, first, inv = np.unique(stacked, axis=0, return_index=True, return_inverse=True)
        w = np.ones(n) if weights is None else _as_float(weights).ravel()
        summed = np.bincount(inv.ravel(), weights=w).astype(np.float64)
        return [c[first] for c in cols], summed
    key = codes[0]
    for size, code in zip(sizes[1:], codes[1:], strict=True):
        key = key * size + code
    radix = math.prod(sizes)
    if radix <= max(4 * n, 1 << 16):
        totals = np.bincount(
            key, weights=None if weights is None else _as_float(weights).ravel(), minlength=radix
        )
        ukey = np.flatnonzero(totals)
        summed = totals[ukey].astype(np.float64)
    elif weights is None:
        ukey, counts = np.unique(key, return_counts=True)
        summed = counts.astype(np.float64)
    else:
        ukey, inv = np.unique(key, return_inverse=True)
        summed = np.bincount(inv.ravel(), weights=_as_float(weights).ravel()).astype(np.float64)
    out: list[FloatArray] = []
    rest = ukey
    for size, (lo, table) in zip(sizes[::-1], decoders[::-1], strict=True):
        code = rest % size
        rest = rest // size
        out.append(table[code] if table is not None else (code + lo).astype(np.float64))
    return out[::-1], summed


def _minimize(
    fun: Callable[[FloatArray], tuple[float, FloatArray]], x0: FloatArray
) -> tuple[FloatArray, float]:
    bounds = [(-_LOG_BOUND, _LOG_BOUND)] * len(x0)
    result = minimize(
        fun,
        x0,
        jac=True,
        method="L-BFGS-B",
        bounds=bounds,
        # gtol 1e-9 on the mean log-likelihood puts the parameters within ~1e-7 (relative) of
        # the optimum; tighter, the line search only chases rounding noise.
        options={"maxiter": 2000, "maxcor": 10, "ftol": 1e-14, "gtol": 1e-9},
    )
    # L-BFGS-B reports ABNORMAL when the line search cannot improve an already converged
    # point; only a non-finite result or an unfinished run is a failure.
    if not np.all(np.isfinite(result.x)) or not np.isfinite(result.fun) or result.nit >= 2000:
        raise ConvergenceError(f"maximum likelihood did not converge: {result.message}")
    return np.asarray(result.x, dtype=np.float64), float(result.fun)


class _Distinct:
    """Distinct values of a column, each row's index into them, and the weight of each value.

    Whole-number columns (frequencies, days) are indexed by a counting pass instead of a sort.
    """

    def __init__(self, column: FloatArray, w: FloatArray) -> None:
        lo = float(column.min()) if len(column) else 0.0
        hi = float(column.max()) if len(column) else 0.0
        if hi - lo < 2**24 and np.array_equal(column, np.floor(column)):
            offset = (column - lo).astype(np.intp)
            present = np.bincount(offset, minlength=int(hi - lo) + 1) > 0
            self.values = (np.flatnonzero(present) + lo).astype(np.float64)
            self.inverse = (np.cumsum(present) - 1)[offset]
        else:
            self.values, inv = np.unique(column, return_inverse=True)
            self.inverse = inv.ravel()
        self.weight = np.bincount(self.inverse, weights=w, minlength=len(self.values))


class _BetaGeoData:
    """Compressed BG/NBD fitting rows with their distinct frequencies, recencies and ages."""

    def __init__(self, x: FloatArray, t_x: FloatArray, T: FloatArray, w: FloatArray) -> None:
        self.x, self.t_x, self.T, self.w = x, t_x, T, w
        self.total = float(w.sum())
        self.fx = _Distinct(x, w)
        self.f_tx = _Distinct(t_x, w)
        self.f_T = _Distinct(T, w)
        self.has = x > 0


def _check_summary(frequency: FloatArray, recency: FloatArray, T: FloatArray) -> None:
    if not (frequency.shape == recency.shape == T.shape):
        raise ValueError("frequency, recency and T must have the same shape")
    if np.any(frequency < 0) or np.any(frequency != np.floor(frequency)):
        raise ValueError("frequency must be non-negative integers")
    if np.any(recency < 0) or np.any(recency > T):
        raise ValueError("recency must lie in [0, T]")
    if np.any((frequency == 0) & (recency != 0)):
        raise ValueError("customers with frequency 0 must have recency 0")


# --------------------------------------------------------------------------------------------
# BG/NBD
# --------------------------------------------------------------------------------------------


class BetaGeo:
    """BG/NBD model (Fader, Hardie & Lee 2005); parameters r, alpha, a, b."""

    param_names = ("r", "alpha", "a", "b")

    def __init__(self) -> None:
        self.params_: dict[str, float] = {}
        self.log_likelihood_: float = float("nan")

    def _params(self) -> tuple[float, float, float, float]:
        if not self.params_:
            raise ValueError("model is not fitted")
        p = self.params_
        return p["r"], p["alpha"], p["a"], p["b"]

    @staticmethod
    def _loglik_and_grad(
        log_params: FloatArray, d: _BetaGeoData, want_grad: bool = True
    ) -> tuple[float, FloatArray]:
        r, alpha, a, b = np.exp(log_params)
        fx, w, total = d.fx, d.w, d.total
        ux, uw = fx.values, fx.weight
        # Terms depending on the frequency alone, once per distinct frequency; logs of α+T and
        # α+t_x once per distinct age and recency, then gathered.
        ll_x = gammaln(r + ux) + gammaln(b + ux) - gammaln(a + b + ux)
        const = (-gammaln(r) + r * np.log(alpha) + gammaln(a + b) - gammaln(b)) * total
        bx1 = np.log(np.maximum(b + ux - 1.0, 1e-300))
        rx_tab = r + ux
        c_tab = np.log(a) - bx1
        log_aT_tab = np.log(alpha + d.f_T.values)
        log_atx_tab = np.log(alpha + d.f_tx.values)
        inv_aT_tab = 1.0 / (alpha + d.f_T.values)
        inv_atx_tab = 1.0 / (alpha + d.f_tx.values)
        ll_rows = 0.0
        p4_by_x = np.zeros(len(ux))
        s_log = 0.0
        s_inv = 0.0
        # Row terms in cache-sized chunks: whole-array temporaries of a million rows cost more
        # in page faults than in arithmetic.
        for start in range(0, len(w), _CHUNK):
            sl = slice(start, start + _CHUNK)
            xi, ti, Ti, wc = fx.inverse[sl], d.f_tx.inverse[sl], d.f_T.inverse[sl], w[sl]
            rx = rx_tab[xi]
            log_aT = log_aT_tab[Ti]
            log_atx = log_atx_tab[ti]
            a3 = -rx * log_aT
            # log(e^a3 + e^a4) with one exp: the larger term factored out, the other e^-|a4-a3|.
            diff = np.where(d.has[sl], c_tab[xi] - rx * log_atx - a3, -np.inf)
            e = np.exp(-np.abs(diff))
            ll_rows += _dot(wc, np.maximum(a3, a3 + diff) + np.log1p(e))
            if not want_grad:
                continue
            # Posterior weight of "dropped after the last purchase" (p4) against "alive at T".
            p4 = wc * np.where(diff >= 0, 1.0, e) / (1.0 + e)
            p3 = wc - p4
            p4_by_x += np.bincount(xi, weights=p4, minlength=len(ux))
            s_log += _dot(p3, log_aT) + _dot(p4, log_atx)
            s_inv += _dot(p3 * rx, inv_aT_tab[Ti]) + _dot(p4 * rx, inv_atx_tab[ti])
        ll = _dot(uw, ll_x) + const + ll_rows
        if not want_grad:
            return float(ll), np.zeros(4)
        dg_ab = digamma(a + b)
        dg_abx = digamma(a + b + ux)
        g_r = _dot(uw, digamma(r + ux)) + (np.log(alpha) - digamma(r)) * total - s_log
        g_alpha = r / alpha * total - s_inv
        g_a = _dot(uw, dg_ab - dg_abx) + p4_by_x.sum() / a
        inv_bx1 = np.where(ux > 0, 1.0 / np.maximum(b + ux - 1.0, 1e-300), 0.0)
        g_b = _dot(uw, dg_ab + digamma(b + ux) - digamma(b) - dg_abx) - _dot(p4_by_x, inv_bx1)
        return float(ll), np.array([g_r * r, g_alpha * alpha, g_a * a, g_b * b])

    def fit(
        self, frequency: ArrayLike, recency: ArrayLike, T: ArrayLike, weights: ArrayLike | None = None
    ) -> BetaGeo:
        f, rc, t = _as_float(frequency), _as_float(recency), _as_float(T)
        _check_summary(f, rc, t)
        (x, t_x, big_t), w = compress_rows(f, rc, t, weights=weights)
        data = _BetaGeoData(x, t_x, big_t, w)
        mean_x = max(_dot(w, x) / data.total, 0.1)
        mean_t = max(_dot(w, big_t) / data.total, 1e-3)
        x0 = np.log(np.array([1.0, mean_t / mean_x, 1.0, 1.0]))

        def objective(lp: FloatArray) -> tuple[float, FloatArray]:
            ll, g = self._loglik_and_grad(lp, data)
            return -ll / data.total, -g / data.total

        lp, _ = _minimize(objective, x0)
        self.params_ = dict(zip(self.param_names, (float(v) for v in np.exp(lp)), strict=True))
        self.log_likelihood_ = self._loglik_and_grad(lp, data, want_grad=False)[0]
        return self

    def log_likelihood(self, frequency: ArrayLike, recency: ArrayLike, T: ArrayLike) -> FloatArray:
        """Per-customer log-likelihood under the fitted parameters."""
        r, alpha, a, b = self._params()
        x, t_x, big_t = _as_float(frequency), _as_float(recency), _as_float(T)
        head = (
            gammaln(r + x)
            - gammaln(r)
            + r * np.log(alpha)
            + gammaln(a + b)
            + gammaln(b + x)
            - gammaln(b)
            - gammaln(a + b + x)
        )
        a3 = -(r + x) * np.log(alpha + big_t)
        with np.errstate(divide="ignore", invalid="ignore"):
            a4 = np.where(x > 0, np.log(a) - np.log(b + x - 1.0) - (r + x) * np.log(alpha + t_x), -np.inf)
        return np.asarray(head + np.logaddexp(a3, a4), dtype=np.float64)

    def conditional_probability_alive(
        self, frequency: ArrayLike, recency: ArrayLike, T: ArrayLike
    ) -> FloatArray:
        r, alpha, a, b = self._params()
        x, t_x, big_t = _as_float(frequency), _as_float(recency), _as_float(T)
        with np.errstate(divide="ignore", invalid="ignore"):
            log_odds_dead = (
                np.log(a)
                - np.log(np.maximum(b + x - 1.0, 1e-300))
                + (r + x) * (np.log(alpha + big_t) - np.log(alpha + t_x))
            )
        return np.asarray(np.where(x > 0, expit(-log_odds_dead), 1.0), dtype=np.float64)

    def expected_number_of_purchases_up_to_time(self, t: ArrayLike) -> FloatArray:
        r, alpha, a, b = self._params()
        tt = _as_float(t)
        return _bg_expected_purchases(r, a, b, np.zeros_like(tt), alpha + np.zeros_like(tt), tt)

    def conditional_expected_number_of_purchases_up_to_time(
        self, t: ArrayLike, frequency: ArrayLike, recency: ArrayLike, T: ArrayLike
    ) -> FloatArray:
        r, alpha, a, b = self._params()
        tt, x, big_t = np.broadcast_arrays(_as_float(t), _as_float(frequency), _as_float(T))
        value = _bg_expected_purchases(r, a, b, x, alpha + big_t, tt)
        return np.asarray(value * self.conditional_probability_alive(x, recency, big_t), dtype=np.float64)


def _bg_expected_purchases(
    r: float, a: float, b: float, x: FloatArray, base: FloatArray, t: FloatArray
) -> FloatArray:
    """(a+b+x−1)/(a−1) · [1 − (base/(base+t))^(r+x) · 2F1(r+x, b+x; a+b+x−1; t/(base+t))].

    The expected purchases in (T, T+t] of a customer alive at T (x = 0, base = α for a new
    customer). At a = 1 numerator and denominator both vanish; the value is smooth in a, so
    there it is interpolated between a = 1 ± 1e-4.
    """

    def at(a_: float) -> FloatArray:
        z = t / (base + t)
        c = a_ + b + x - 1.0
        if r < _CONFLUENT_FROM:
            hyp = hyp2f1(r + x, b + x, c, z)
            ratio = np.exp((r + x) * np.log1p(-z))
            value = np.asarray(c / (a_ - 1.0) * (1.0 - ratio * hyp), dtype=np.float64)
            ok = np.isfinite(value)
            if ok.all():
                return value
        else:
            value = np.full(np.broadcast(x, z).shape, np.nan)
            ok = np.zeros(value.shape, dtype=bool)
        # Purchase rates that hardly differ between customers (r in the thousands and more, as
        # when everyone comes to the workshop on the same rhythm) make 2F1 overflow. There
        # (1 − z)^(r+x) · 2F1(r+x, b+x; c; z) tends to e^(−μ) · 1F1(b+x; c; μ) = 1F1(a − 1; c; −μ)
        # (Kummer) with μ = (r + x)·z, exact to O(1/r).
        mu = (r + x) * z
        limit = np.asarray(c / (a_ - 1.0) * (1.0 - hyp1f1(a_ - 1.0, c, -mu)), dtype=np.float64)
        return np.asarray(np.where(ok, value, limit), dtype=np.float64)

    h = 1e-4
    if abs(a - 1.0) >= h:
        return at(a)
    lo, hi = at(1.0 - h), at(1.0 + h)
    return np.asarray(lo + (hi - lo) * (a - (1.0 - h)) / (2 * h), dtype=np.float64)


# --------------------------------------------------------------------------------------------
# Pareto/NBD
# --------------------------------------------------------------------------------------------

# Gauss-Legendre nodes for the gradient integrals: a composite rule of panels on the
# log-time axis, where the integrand is a smooth, nearly exponential function.
_GL_NODES, _GL_WEIGHTS = np.polynomial.legendre.leggauss(16)
_GL_PANELS = 8
_GL_CHUNK = 20_000


def _pareto_log_a0(
    r: float, alpha: float, s: float, beta: float, x: FloatArray, t_x: FloatArray, T: FloatArray
) -> FloatArray:
    """log of A0 = ∫_{t_x}^T (α+τ)^-(r+x) (β+τ)^-(s+1) dτ · (r+s+x), through 2F1.

    The hypergeometric form is chosen so its argument is |α−β|/(max(α,β)+t) ∈ [0, 1).
    """
    k = r + s + x
    b_arg: float | FloatArray
    if alpha >= beta:
        big, diff, b_arg = alpha, alpha - beta, s + 1.0
    else:
        big, diff, b_arg = beta, beta - alpha, r + x
    log_f_tx = np.log(hyp2f1(k, b_arg, k + 1.0, diff / (big + t_x))) - k * np.log(big + t_x)
    log_f_T = np.log(hyp2f1(k, b_arg, k + 1.0, diff / (big + T))) - k * np.log(big + T)
    # A0 = F(t_x) − F(T) ≥ 0; rounding can make the difference slightly negative.
    gap = np.minimum(log_f_T - log_f_tx, 0.0)
    with np.errstate(divide="ignore"):
        return np.asarray(log_f_tx + np.log(-np.expm1(gap)), dtype=np.float64)


def _pareto_parts(
    r: float, alpha: float, s: float, beta: float, x: FloatArray, t_x: FloatArray, T: FloatArray
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Return (head, log term of surviving to T, log term of dying in (t_x, T])."""
    head = gammaln(r + x) - gammaln(r) + r * np.log(alpha) + s * np.log(beta)
    log_alive = -(r + x) * np.log(alpha + T) - s * np.log(beta + T)
    log_dead = np.log(s) - np.log(r + s + x) + _pareto_log_a0(r, alpha, s, beta, x, t_x, T)
    return head, log_alive, log_dead


def _pareto_integral_moments(
    r: float, alpha: float, s: float, beta: float, x: FloatArray, t_x: FloatArray, T: FloatArray
) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray]:
    """Means of ln(α+τ), ln(β+τ), 1/(α+τ), 1/(β+τ) under the density ∝ (α+τ)^-(r+x)(β+τ)^-(s+1)
    on [t_x, T] — the derivatives of log A0 with respect to the four parameters."""
    m = min(alpha, beta)
    with np.errstate(divide="ignore"):
        log_da, log_db = np.log(alpha - m), np.log(beta - m)
    out = [np.zeros_like(x) for _ in range(4)]
    edges = (np.arange(_GL_PANELS) + 0.5 * (1.0 + _GL_NODES[:, None])).T.ravel() / _GL_PANELS
    weights = np.tile(_GL_WEIGHTS, _GL_PANELS) / (2.0 * _GL_PANELS)
    for start in range(0, len(x), _GL_CHUNK):
        sl = slice(start, start + _GL_CHUNK)
        v0 = np.log(m + t_x[sl])[:, None]
        v1 = np.log(m + T[sl])[:, None]
        v = v0 + (v1 - v0) * edges[None, :]
        la = np.logaddexp(v, log_da)
        lb = np.logaddexp(v, log_db)
        log_g = v - (r + x[sl])[:, None] * la - (s + 1.0) * lb + np.log(weights)[None, :]
        log_g -= log_g.max(axis=1, keepdims=True)
        g = np.exp(log_g)
        g /= g.sum(axis=1, keepdims=True)
        out[0][sl] = (g * la).sum(axis=1)
        out[1][sl] = (g * lb).sum(axis=1)
        out[2][sl] = (g * np.exp(-la)).sum(axis=1)
        out[3][sl] = (g * np.exp(-lb)).sum(axis=1)
    return out[0], out[1], out[2], out[3]


class ParetoNBD:
    """Pareto/NBD model (Schmittlein, Morrison & Colombo 1987); parameters r, alpha, s, beta."""

    param_names = ("r", "alpha", "s", "beta")

    def __init__(self) -> None:
        self.params_: dict[str, float] = {}
        self.log_likelihood_: float = float("nan")

    def _params(self) -> tuple[float, float, float, float]:
        if not self.params_:
            raise ValueError("model is not fitted")
        p = self.params_
        return p["r"], p["alpha"], p["s"], p["beta"]

    @staticmethod
    def _loglik_and_grad(
        log_params: FloatArray,
        x: FloatArray,
        t_x: FloatArray,
        T: FloatArray,
        w: FloatArray,
        want_grad: bool = True,
    ) -> tuple[float, FloatArray]:
        r, alpha, s, beta = (float(v) for v in np.exp(log_params))
        head, l1, l2 = _pareto_parts(r, alpha, s, beta, x, t_x, T)
        total = np.logaddexp(l1, l2)
        ll = float(_dot(w, head + total))
        if not want_grad:
            return ll, np.zeros(4)
        p1 = w * np.exp(l1 - total)
        p2 = w * np.exp(l2 - total)
        e_la, e_lb, e_ia, e_ib = _pareto_integral_moments(r, alpha, s, beta, x, t_x, T)
        wsum = w.sum()
        g_r = (
            _dot(w, digamma(r + x))
            + (np.log(alpha) - digamma(r)) * wsum
            - _dot(p1, np.log(alpha + T))
            - _dot(p2, e_la)
        )
        g_alpha = r / alpha * wsum - _dot(p1, (r + x) / (alpha + T)) - _dot(p2, (r + x) * e_ia)
        g_s = np.log(beta) * wsum - _dot(p1, np.log(beta + T)) + _dot(p2, 1.0 / s - e_lb)
        g_beta = s / beta * wsum - _dot(p1, s / (beta + T)) - _dot(p2, (s + 1.0) * e_ib)
        return ll, np.array([g_r * r, g_alpha * alpha, g_s * s, g_beta * beta])

    def fit(
        self, frequency: ArrayLike, recency: ArrayLike, T: ArrayLike, weights: ArrayLike | None = None
    ) -> ParetoNBD:
        f, rc, t = _as_float(frequency), _as_float(recency), _as_float(T)
        _check_summary(f, rc, t)
        (x, t_x, big_t), w = compress_rows(f, rc, t, weights=weights)
        total = float(w.sum())
        mean_x = max(float(_dot(w, x)) / total, 0.1)
        mean_t = max(float(_dot(w, big_t)) / total, 1e-3)
        x0 = np.log(np.array([1.0, mean_t / mean_x, 1.0, mean_t]))

        def objective(lp: FloatArray) -> tuple[float, FloatArray]:
            ll, g = self._loglik_and_grad(lp, x, t_x, big_t, w)
            return -ll / total, -g / total

        lp, _ = _minimize(objective, x0)
        self.params_ = dict(zip(self.param_names, (float(v) for v in np.exp(lp)), strict=True))
        self.log_likelihood_ = self._loglik_and_grad(lp, x, t_x, big_t, w, want_grad=False)[0]
        return self

    def log_likelihood(self, frequency: ArrayLike, recency: ArrayLike, T: ArrayLike) -> FloatArray:
        """Per-customer log-likelihood under the fitted parameters."""
        r, alpha, s, beta = self._params()
        head, l1, l2 = _pareto_parts(
            r, alpha, s, beta, _as_float(frequency), _as_float(recency), _as_float(T)
        )
        return np.asarray(head + np.logaddexp(l1, l2), dtype=np.float64)

    def conditional_probability_alive(
        self, frequency: ArrayLike, recency: ArrayLike, T: ArrayLike
    ) -> FloatArray:
        r, alpha, s, beta = self._params()
        _, l1, l2 = _pareto_parts(r, alpha, s, beta, _as_float(frequency), _as_float(recency), _as_float(T))
        return np.asarray(np.exp(l1 - np.logaddexp(l1, l2)), dtype=np.float64)

    @staticmethod
    def _survival_integral(s: float, scale: FloatArray, t: FloatArray) -> FloatArray:
        """(1 − (scale/(scale+t))^(s−1)) / (s−1), continuous through s = 1."""
        log_ratio = np.log1p(t / scale)
        if abs(s - 1.0) < 1e-10:
            return np.asarray(log_ratio, dtype=np.float64)
        return np.asarray(-np.expm1(-(s - 1.0) * log_ratio) / (s - 1.0), dtype=np.float64)

    def expected_number_of_purchases_up_to_time(self, t: ArrayLike) -> FloatArray:
        r, alpha, s, beta = self._params()
        tt = _as_float(t)
        scale = np.full_like(tt, beta)
        return np.asarray(r * beta / alpha * self._survival_integral(s, scale, tt), dtype=np.float64)

    def conditional_expected_number_of_purchases_up_to_time(
        self, t: ArrayLike, frequency: ArrayLike, recency: ArrayLike, T: ArrayLike
    ) -> FloatArray:
        r, alpha, s, beta = self._params()
        tt, x, big_t = _as_float(t), _as_float(frequency), _as_float(T)
        scale = np.broadcast_to(beta + big_t, np.broadcast(tt, big_t).shape).astype(np.float64)
        rate = (r + x) * (beta + big_t) / (alpha + big_t)
        value = rate * self._survival_integral(s, scale, np.broadcast_to(tt, scale.shape))
        return np.asarray(value * self.conditional_probability_alive(x, recency, big_t), dtype=np.float64)


# --------------------------------------------------------------------------------------------
# Gamma-Gamma
# --------------------------------------------------------------------------------------------


class _GammaGammaData:
    """Fitting data with the parameter-free parts of the Gamma-Gamma likelihood precomputed."""

    def __init__(self, x: FloatArray, m: FloatArray, w: FloatArray) -> None:
        self.x, self.w = x, w
        self.fx = _Distinct(x, w)
        self.total = float(w.sum())
        self.xm = x * m
        self.wx = w * x
        self.wx_logm = float(_dot(self.wx, np.log(m)))
        self.w_logm = float(_dot(w, np.log(m)))
        self.wx_logx = float(_dot(self.fx.weight * self.fx.values, np.log(self.fx.values)))


class GammaGamma:
    """Gamma-Gamma spend model (Fader, Hardie & Lee 2005); parameters p, q, v (γ).

    Fitted on customers with at least one repeat purchase; monetary_value is the mean value of
    their repeat purchases.
    """

    param_names = ("p", "q", "v")

    def __init__(self) -> None:
        self.params_: dict[str, float] = {}
        self.log_likelihood_: float = float("nan")

    def _params(self) -> tuple[float, float, float]:
        if not self.params_:
            raise ValueError("model is not fitted")
        p = self.params_
        return p["p"], p["q"], p["v"]

    @staticmethod
    def _loglik_and_grad(
        log_params: FloatArray, d: _GammaGammaData, want_grad: bool = True
    ) -> tuple[float, FloatArray]:
        p, q, v = np.exp(log_params)
        ux, uw, total = d.fx.values, d.fx.weight, d.total
        # Σ w·x·log(v + x·m), Σ w·log(v + x·m) and the same over (v + x·m), in cache-sized chunks.
        s_wx_log = s_w_log = s_wx_inv = s_w_inv = 0.0
        for start in range(0, len(d.w), _CHUNK):
            sl = slice(start, start + _CHUNK)
            den = v + d.xm[sl]
            log_den = np.log(den)
            s_wx_log += _dot(d.wx[sl], log_den)
            s_w_log += _dot(d.w[sl], log_den)
            if want_grad:
                inv = 1.0 / den
                s_wx_inv += _dot(d.wx[sl], inv)
                s_w_inv += _dot(d.w[sl], inv)
        ll = (
            _dot(uw, gammaln(p * ux + q) - gammaln(p * ux))
            + total * (q * np.log(v) - gammaln(q))
            + p * d.wx_logm
            - d.w_logm
            + p * d.wx_logx
            - p * s_wx_log
            - q * s_w_log
        )
        if not want_grad:
            return float(ll), np.zeros(3)
        dg = digamma(p * ux + q)
        g_p = _dot(uw * ux, dg - digamma(p * ux)) + d.wx_logm + d.wx_logx - s_wx_log
        g_q = _dot(uw, dg) - total * digamma(q) + total * np.log(v) - s_w_log
        g_v = total * q / v - p * s_wx_inv - q * s_w_inv
        return float(ll), np.array([g_p * p, g_q * q, g_v * v])

    def fit(
        self, frequency: ArrayLike, monetary_value: ArrayLike, weights: ArrayLike | None = None
    ) -> GammaGamma:
        f, mv = _as_float(frequency), _as_float(monetary_value)
        w_in = np.ones_like(f) if weights is None else _as_float(weights)
        if f.shape != mv.shape or f.shape != w_in.shape:
            raise ValueError("frequency and monetary_value must have the same shape")
        if np.any(f <= 0) or np.any(mv <= 0):
            raise ValueError("Gamma-Gamma is fitted on customers with frequency > 0 and monetary_value > 0")
        data = _GammaGammaData(f, mv, w_in)
        total = data.total

        def objective(lp: FloatArray) -> tuple[float, FloatArray]:
            ll, g = self._loglik_and_grad(lp, data)
            return -ll / total, -g / total

        mean_m = float(_dot(w_in, mv)) / total
        x0 = np.log(np.array([1.0, 1.0, mean_m]))
        lp, _ = _minimize(objective, x0)
        self.params_ = dict(zip(self.param_names, (float(val) for val in np.exp(lp)), strict=True))
        self.log_likelihood_ = self._loglik_and_grad(lp, data, want_grad=False)[0]
        return self

    def log_likelihood(self, frequency: ArrayLike, monetary_value: ArrayLike) -> FloatArray:
        """Per-customer log-likelihood of the observed mean spend under the fitted parameters."""
        p, q, v = self._params()
        x, m = _as_float(frequency), _as_float(monetary_value)
        value = (
            gammaln(p * x + q)
            - gammaln(p * x)
            - gammaln(q)
            + q * np.log(v)
            + (p * x - 1.0) * np.log(m)
            + p * x * np.log(x)
            - (p * x + q) * np.log(v + x * m)
        )
        return np.asarray(value, dtype=np.float64)

    def conditional_expected_average_profit(
        self, frequency: ArrayLike, monetary_value: ArrayLike
    ) -> FloatArray:
        """E[spend per purchase | x, m̄]; customers with no repeat purchase get the population mean."""
        p, q, v = self._params()
        x, m = _as_float(frequency), _as_float(monetary_value)
        value = (p * (v + x * m)) / (p * x + q - 1.0)
        return np.asarray(value, dtype=np.float64)

    def customer_lifetime_value(
        self,
        transaction_model: TransactionModel,
        frequency: ArrayLike,
        recency: ArrayLike,
        T: ArrayLike,
        monetary_value: ArrayLike,
        time_months: int = 12,
        discount_rate: float = 0.01,
        margin: float = 1.0,
        freq_unit_days: float = 7.0,
    ) -> FloatArray:
        """Discounted margin of the purchases expected in each of the next `time_months` months.

        `discount_rate` is monthly; `freq_unit_days` is the length in days of the time unit the
        transaction model was fitted in (7 for weeks).
        """
        x, rc, big_t = _as_float(frequency), _as_float(recency), _as_float(T)
        spend = self.conditional_expected_average_profit(x, monetary_value)
        month = DAYS_PER_MONTH / freq_unit_days
        value = np.zeros(np.broadcast(x, rc, big_t).shape)
        previous = np.zeros_like(value)
        for i in range(1, time_months + 1):
            cumulative = transaction_model.conditional_expected_number_of_purchases_up_to_time(
                i * month, x, rc, big_t
            )
            value += spend * (cumulative - previous) / (1.0 + discount_rate) ** i
            previous = cumulative
        return np.asarray(margin * value, dtype=np.float64)
