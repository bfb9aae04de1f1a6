"""Writes of the lifetime-value part (DOMAIN §8): the value snapshot of an organisation.

The organisation's purchases as the shared arrays of :func:`services.purchase_arrays` (read once
per nightly run for every phase; grouped per customer in numpy by
:func:`services.value_purchase_columns`: first and last purchase day, purchase days, revenue,
margin and the first day's spend), one read of the customers and their referrals, a BG/NBD (or
Pareto/NBD) and a Gamma-Gamma fit with :mod:`huitou.analytics.clv`, then every figure in numpy
(:func:`compute_values`, which has no Django in it) and one COPY of the snapshot's columns
(:func:`services.write_columns`).

Conventions (the literature's, as in :mod:`huitou.analytics.summary`): several purchases on one
day are one purchase occasion; ``frequency`` is the number of repeat purchase days; the monetary
value is the mean spend of the repeat days (the first day excluded). CLV is the margin expected
over ``policy.value.horizon_months`` months, each month discounted at the monthly equivalent of
``annual_discount_rate``; a customer's margin rate is their own history's (purchases without a
recorded margin count at ``margin_rate_fallback``). ``referred_value`` is one level deep: the
CLV plus margin to date of the customers whom this customer referred (``Customer.referred_by``
and won referral leads linked to an existing customer record), not of those they referred in turn.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt
from django.db import connection, transaction
from django.utils import timezone

from huitou.customers.models import Customer, Purchase

from .clv import DAYS_PER_MONTH, BetaGeo, ConvergenceError, GammaGamma, ParetoNBD
from .models import CustomerSegment, SegmentFill
from .models_value import CustomerValue, ValueFill
from .nightly import lap
from .services import _texts, purchase_arrays, value_purchase_columns, write_columns

if TYPE_CHECKING:
    from huitou.accounts.models import Organisation
    from huitou.accounts.policy import ValuePolicy

    from .nightly import Clock

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

TIERS = ("gold", "silver", "bronze", "")
TYPES = ("profit", "volume", "relationship", "strategic", "")
MODELS: dict[str, type[BetaGeo] | type[ParetoNBD]] = {"bgnbd": BetaGeo, "paretonbd": ParetoNBD}


# ---------------------------------------------------------------------------------------------
# The figures, on plain arrays (no Django)


@dataclass(frozen=True)
class ValueSettings:
    model: str = "bgnbd"
    horizon_months: int = 36
    annual_discount_rate: float = 0.1
    margin_rate_fallback: float = 0.1
    time_unit_days: int = 7
    min_customers: int = 50
    min_repeat_customers: int = 10

    @classmethod
    def from_policy(cls, policy: ValuePolicy) -> ValueSettings:
        return cls(
            model=policy.model,
            horizon_months=policy.horizon_months,
            annual_discount_rate=policy.annual_discount_rate,
            margin_rate_fallback=policy.margin_rate_fallback,
            time_unit_days=policy.time_unit_days,
            min_customers=policy.min_customers,
            min_repeat_customers=policy.min_repeat_customers,
        )

    @property
    def monthly_discount_rate(self) -> float:
        return float((1.0 + self.annual_discount_rate) ** (1.0 / 12.0) - 1.0)


@dataclass(frozen=True)
class ValueInputs:
    """Per buying customer (one row each): purchase days, first/last day and the as-of day as
    day ordinals, revenue and first-day revenue, margin recorded and revenue without a margin."""

    days: IntArray
    first: IntArray
    last: IntArray
    as_of: int
    revenue: FloatArray
    first_day_revenue: FloatArray
    margin_recorded: FloatArray
    revenue_without_margin: FloatArray


@dataclass
class ValueResult:
    frequency: IntArray
    recency_days: IntArray
    age_days: IntArray
    monetary: FloatArray
    margin: FloatArray
    p_alive: FloatArray  # NaN when the purchase model is not fitted
    expected_purchases: FloatArray  # NaN likewise
    expected_spend: FloatArray  # NaN when neither spend figure exists
    clv: FloatArray  # 0 when the purchase model is not fitted
    model: str
    params: dict[str, float]
    log_likelihood: float | None
    spend_model: str
    spend_params: dict[str, float]
    spend_log_likelihood: float | None
    fit: dict[str, Any]


def purchase_summary(
    inputs: ValueInputs,
) -> tuple[IntArray, IntArray, IntArray, FloatArray]:
    """(frequency, recency in days, age in days, mean spend of the repeat purchase days)."""
    frequency = (inputs.days - 1).astype(np.int64)
    recency = (inputs.last - inputs.first).astype(np.int64)
    age = (inputs.as_of - inputs.first).astype(np.int64)
    repeat_spend = inputs.revenue - inputs.first_day_revenue
    monetary = np.divide(
        repeat_spend,
        frequency.astype(np.float64),
        out=np.zeros_like(repeat_spend),
        where=frequency > 0,
    )
    return frequency, recency, age, monetary


def _unique_pairs(x: IntArray, age: IntArray) -> tuple[IntArray, IntArray, IntArray]:
    """Distinct (frequency, age) pairs and each customer's index into them (one int64 key each)."""
    if x.size == 0:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty, empty
    a_size = int(age.max()) + 1
    ukey, inverse = np.unique(x * a_size + age, return_inverse=True)
    return ukey // a_size, ukey % a_size, inverse.ravel()


def _fit_spend(x: IntArray, monetary: FloatArray, rows: npt.NDArray[np.bool_]) -> GammaGamma | None:
    try:
        return GammaGamma().fit(x[rows], monetary[rows])
    except (ConvergenceError, ValueError, FloatingPointError):
        return None


def compute_values(inputs: ValueInputs, settings: ValueSettings) -> ValueResult:
    """Fit the purchase and spend models on the customers and compute each one's figures."""
    x, rec, age, monetary = purchase_summary(inputs)
    n = x.size
    unit = float(settings.time_unit_days)
    fallback = settings.margin_rate_fallback
    margin = inputs.margin_recorded + fallback * inputs.revenue_without_margin
    with np.errstate(divide="ignore", invalid="ignore"):
        margin_rate = np.where(inputs.revenue > 0, margin / inputs.revenue, fallback)
    repeaters = x > 0
    fit: dict[str, Any] = {
        "customers": int(n),
        "repeat_customers": int(repeaters.sum()),
        "time_unit_days": settings.time_unit_days,
        "horizon_months": settings.horizon_months,
        "annual_discount_rate": settings.annual_discount_rate,
        "margin_rate_fallback": fallback,
        "fitted": False,
    }

    # Spend per purchase: Gamma-Gamma on the repeat customers with a positive mean spend.
    spend_fit = repeaters & (monetary > 0)
    spend_params: dict[str, float] = {}
    spend_ll: float | None = None
    spend_model = "mean"
    with np.errstate(divide="ignore", invalid="ignore"):
        spend = np.where(inputs.days > 0, inputs.revenue / inputs.days, np.nan)
    gg = _fit_spend(x, monetary, spend_fit) if int(spend_fit.sum()) >= settings.min_repeat_customers else None
    if gg is not None:
        spend_params, spend_ll, spend_model = dict(gg.params_), float(gg.log_likelihood_), "gamma_gamma"
        p, q, v = gg.params_["p"], gg.params_["q"], gg.params_["v"]
        # The population mean p·v/(q−1) exists only for q > 1; otherwise the observed mean.
        population = p * v / (q - 1.0) if q > 1.0 else float(monetary[spend_fit].mean())
        with np.errstate(divide="ignore", invalid="ignore"):
            conditional = gg.conditional_expected_average_profit(x, monetary)
        spend = np.where(spend_fit, conditional, population)

    # Purchases: BG/NBD or Pareto/NBD on every buying customer, times in the policy's unit.
    p_alive = np.full(n, np.nan)
    expected = np.full(n, np.nan)
    clv = np.zeros(n)
    params: dict[str, float] = {}
    ll: float | None = None
    enough = n >= settings.min_customers and int(repeaters.sum()) >= settings.min_repeat_customers
    model: BetaGeo | ParetoNBD = MODELS[settings.model]()
    fitted = False
    if enough:
        try:
            model.fit(x.astype(np.float64), rec / unit, age / unit)
            fitted = True
        except (ConvergenceError, ValueError, FloatingPointError):
            fitted = False
    if fitted:
        params, ll = dict(model.params_), float(model.log_likelihood_)
        # In both models E[purchases in (T, T+t] | x, t_x, T] = P(alive | x, t_x, T) · g(t; x, T):
        # the horizon's months are evaluated once per distinct (x, T) pair (a few thousand, where
        # customers are a million), as g = E[...] / P(alive) at t_x = T (t_x = 0 when x = 0),
        # and P(alive) once per customer.
        ux, uage, inverse = _unique_pairs(x, age)
        fx, fT = ux.astype(np.float64), uage / unit
        ft = np.where(ux > 0, fT, 0.0)
        alive_at = model.conditional_probability_alive(fx, ft, fT)
        month = DAYS_PER_MONTH / unit
        rate = settings.monthly_discount_rate
        discounted = np.zeros(ux.size)
        previous = np.zeros(ux.size)
        for i in range(1, settings.horizon_months + 1):
            cumulative = (
                model.conditional_expected_number_of_purchases_up_to_time(i * month, fx, ft, fT) / alive_at
            )
            discounted += (cumulative - previous) / (1.0 + rate) ** i
            previous = cumulative
        p_alive = model.conditional_probability_alive(x.astype(np.float64), rec / unit, age / unit)
        expected = p_alive * previous[inverse]
        clv = margin_rate * spend * p_alive * discounted[inverse]
        # Fit quality: repeat purchases the model expects in each customer's observed time,
        # against those made.
        u_age, age_inverse = np.unique(age, return_inverse=True)
        in_period = model.expected_number_of_purchases_up_to_time(u_age / unit)[age_inverse.ravel()]
        fit.update(
            {
                "fitted": True,
                "mean_log_likelihood": ll / n if n else None,
                "repeat_purchases": int(x.sum()),
                "expected_repeat_purchases": round(float(in_period.sum()), 2),
            }
        )
    clv = np.where(np.isfinite(clv), clv, 0.0)
    return ValueResult(
        frequency=x,
        recency_days=rec,
        age_days=age,
        monetary=monetary,
        margin=margin,
        p_alive=p_alive,
        expected_purchases=expected,
        expected_spend=spend,
        clv=clv,
        model=settings.model if fitted else "",
        params=params,
        log_likelihood=ll,
        spend_model=spend_model,
        spend_params=spend_params,
        spend_log_likelihood=spend_ll,
        fit=fit,
    )


# ---------------------------------------------------------------------------------------------
# Reads


def _purchase_rows(
    organisation: Organisation, as_of: dt.date, include_service: bool
) -> list[tuple[Any, ...]]:
    """The reference query of :func:`services.value_purchase_columns` (which the snapshot uses; the
    tests prove both equal): one pass over the organisation's purchases up to ``as_of``, grouped
    per customer and day in SQL, then per customer: (customer id, first day, last day, purchase
    days, revenue, margin recorded, revenue without a recorded margin, first day's revenue),
    ordered by customer.

    Raw SQL because the ORM cannot aggregate over a window: the first day's spend comes from the
    row number of each day within its customer (SQLite ≥ 3.25 and PostgreSQL both have it).
    """
    table = connection.ops.quote_name(Purchase._meta.db_table)
    params: list[Any] = [organisation.pk, as_of]
    kinds = ""
    if not include_service:
        kinds = " AND kind <> %s"
        params.append(Purchase.Kind.SERVICE)
    sql = f"""
        WITH d AS (
            SELECT customer_id AS cid, ordered_on AS day, SUM(amount) AS a, SUM(margin) AS m,
                   SUM(CASE WHEN margin = 0 THEN amount ELSE 0 END) AS u,
                   ROW_NUMBER() OVER (PARTITION BY customer_id ORDER BY ordered_on) AS k
            FROM {table}
            WHERE organisation_id = %s AND ordered_on <= %s{kinds}
            GROUP BY customer_id, ordered_on
        )
        SELECT cid, MIN(day), MAX(day), COUNT(*), SUM(a), SUM(m), SUM(u),
               SUM(CASE WHEN k = 1 THEN a ELSE 0 END)
        FROM d GROUP BY cid ORDER BY cid
    """  # noqa: S608 - the table name comes from the model, values are parameters
    with connection.cursor() as cur:
        cur.execute(sql, params)
        return list(cur.fetchall())


def _referral_pairs(organisation: Organisation) -> set[tuple[int, int]]:
    """(referrer, referred) pairs: the archive's ``referred_by`` and won referral leads linked to a
    customer record. Read from the referrals model directly, as one grouped list."""
    from huitou.referrals.models import Referral, Stage

    pairs = set(
        Customer.objects.filter(organisation=organisation, referred_by__isnull=False).values_list(
            "referred_by_id", "id"
        )
    )
    pairs |= set(
        Referral.objects.filter(
            organisation=organisation, stage=Stage.WON, customer__isnull=False
        ).values_list("referrer_id", "customer_id")
    )
    return {(a, b) for a, b in pairs if a != b}


def _tiers(organisation: Organisation, as_of: dt.date) -> tuple[dict[int, str] | None, str]:
    """Tiers of the segment snapshot of the same day, when one was completed."""
    done = SegmentFill.objects.filter(
        organisation=organisation, as_of=as_of, status=SegmentFill.Status.DONE
    ).exists()
    if not done:
        return None, "customer"
    return dict(
        CustomerSegment.objects.filter(organisation=organisation, as_of=as_of).values_list(
            "customer_id", "tier"
        )
    ), "segments"


# ---------------------------------------------------------------------------------------------
# The snapshot


_SNAPSHOT_COLUMNS = (
    "organisation",
    "as_of",
    "customer",
    "owner",
    "store",
    "tier",
    "customer_type",
    "frequency",
    "recency_days",
    "age_days",
    "monetary",
    "p_alive",
    "expected_purchases",
    "expected_spend",
    "clv",
    "revenue",
    "margin",
    "referred_customers",
    "referred_value",
)


def _units(values: FloatArray, digits: int) -> IntArray:
    """Values as integers counted in 10^-digits (cents for money); NaN becomes the NULL mark."""
    finite = np.isfinite(values)
    out = np.full(values.shape, _NULL, dtype=np.int64)
    out[finite] = np.rint(values[finite] * 10**digits).astype(np.int64)
    return out


_NULL = np.iinfo(np.int64).min


def _text(units: IntArray, digits: int) -> list[str | None]:
    """The integers as the decimal texts they count, for COPY: the shortest text of the nearest
    float to each, which the database reads back as exactly that decimal (faster than Decimal
    objects or formatting in Python, and exactly the integers the totals on the fill row add up);
    None for the NULL mark."""
    texts: list[str | None] = list(map(repr, (units / 10**digits).tolist()))
    if not (units == _NULL).any():
        return texts
    return [None if u == _NULL else v for u, v in zip(units.tolist(), texts, strict=True)]


def _id_texts(values: list[int | None]) -> list[str | None]:
    return [None if v is None else str(v) for v in values]


def _groups(
    key: str, labels: npt.NDArray[Any], keys: tuple[str, ...], clv_cents: IntArray, p_units: IntArray
) -> list[dict[str, Any]]:
    """Customers, CLV total in cents and mean P(alive) per segment, as the fill row keeps them."""
    out = []
    for k in keys:
        rows = labels == k
        p = p_units[rows]
        p = p[p != _NULL]
        out.append(
            {
                key: k,
                "customers": int(rows.sum()),
                "clv_cents": int(clv_cents[rows].sum()),
                "p_alive_mean": round(float(p.mean()) / 10_000, 4) if p.size else None,
            }
        )
    return out


def value_refresh(
    *, organisation: Organisation, as_of: dt.date, clock: Clock | None = None
) -> dict[str, Any]:
    """Compute the value snapshot of ``organisation`` as of ``as_of``. Running it again replaces
    that day's snapshot (idempotent); a failed run leaves a ``failed`` fill row and the previous
    complete day in use. Run it after the segment snapshot of the same day, whose tiers it copies
    (without one it copies the customers' current tiers). The purchases come from
    :func:`services.purchase_arrays`: inside the nightly run's ``shared_purchases()`` the arrays
    the other phases read, on its own one read of them."""
    from .nightly import running_fill

    with running_fill(ValueFill, organisation, as_of) as fill:
        return _refresh(organisation, as_of, fill, clock)


@transaction.atomic
def _refresh(
    organisation: Organisation, as_of: dt.date, fill: ValueFill, clock: Clock | None
) -> dict[str, Any]:
    policy = organisation.policy.value
    settings = ValueSettings.from_policy(policy)
    customers = list(
        Customer.objects.filter(organisation=organisation, merged_into__isnull=True)
        .exclude(status=Customer.Status.ERASED)
        .order_by("id")
        .values_list("id", "owner_id", "store_id", "customer_type", "tier")
    )
    n_all = len(customers)
    cust_ids = np.fromiter((c[0] for c in customers), dtype=np.int64, count=n_all)

    cols = value_purchase_columns(
        purchase_arrays(organisation.pk, as_of), include_service=policy.include_service
    )
    pids = cols["ids"]
    pos = np.searchsorted(cust_ids, pids)
    known = pos < n_all
    known[known] = cust_ids[pos[known]] == pids[known]  # merged or erased customers drop out
    buyers = pos[known]
    inputs = ValueInputs(
        days=cols["days"][known],
        first=cols["first"][known],
        last=cols["last"][known],
        as_of=as_of.toordinal(),
        # Cents to the nearest float of each decimal, as the database's sums were read before.
        revenue=cols["revenue"][known] / 100.0,
        margin_recorded=cols["margin"][known] / 100.0,
        revenue_without_margin=cols["unmargined"][known] / 100.0,
        first_day_revenue=cols["first_day"][known] / 100.0,
    )
    lap(clock, "read")
    res = compute_values(inputs, settings)
    lap(clock, "fit")

    # Every figure on the whole customer list, so referrers without purchases get a row too.
    def spread(values: npt.NDArray[Any], empty: float) -> npt.NDArray[Any]:
        out = np.full(n_all, empty, dtype=values.dtype)
        out[buyers] = values
        return out

    clv = spread(res.clv, 0.0)
    margin = spread(res.margin, 0.0)
    referred_value: npt.NDArray[Any] = np.zeros(n_all)
    referred_count = np.zeros(n_all, dtype=np.int64)
    pairs = _referral_pairs(organisation)
    if pairs:
        pair_arr = np.array(sorted(pairs), dtype=np.int64)
        a = np.searchsorted(cust_ids, pair_arr[:, 0])
        b = np.searchsorted(cust_ids, pair_arr[:, 1])
        ok = (a < n_all) & (b < n_all)
        ok[ok] = (cust_ids[a[ok]] == pair_arr[ok, 0]) & (cust_ids[b[ok]] == pair_arr[ok, 1])
        a, b = a[ok], b[ok]
        referred_value = np.bincount(a, weights=(clv + margin)[b], minlength=n_all)
        referred_count = np.bincount(a, minlength=n_all).astype(np.int64)
    has_row = np.zeros(n_all, dtype=bool)
    has_row[buyers] = True
    has_row |= referred_count > 0
    idx = np.flatnonzero(has_row)

    tiers, tier_source = _tiers(organisation, as_of)
    picked = [customers[i] for i in idx.tolist()]
    tier_col = [c[4] for c in picked] if tiers is None else [tiers.get(c[0], "") for c in picked]
    revenue = spread(inputs.revenue, 0.0)
    # CLV in cents and P(alive) in 1/10,000 as integers: the stored decimals and the per-segment
    # sums kept on the fill row (read by the owner's dashboard without touching the rows) agree
    # to the cent.
    clv_cents = _units(clv[idx], 2)
    p_units = _units(spread(res.p_alive, np.nan)[idx], 4)
    revenue_cents = _units(revenue[idx], 2)
    margin_cents = _units(margin[idx], 2)
    type_col = [c[3] for c in picked]
    columns: list[list[str | None] | list[str] | str] = [
        str(organisation.pk),
        as_of.isoformat(),
        _texts(cust_ids[idx]),
        _id_texts([c[1] for c in picked]),
        _id_texts([c[2] for c in picked]),
        tier_col,
        type_col,
        _texts(spread(res.frequency, 0)[idx]),
        _texts(spread(res.recency_days, 0)[idx]),
        _texts(spread(res.age_days, 0)[idx]),
        _text(_units(spread(res.monetary, 0.0)[idx], 2), 2),
        _text(p_units, 4),
        _text(_units(spread(res.expected_purchases, np.nan)[idx], 4), 4),
        _text(_units(spread(res.expected_spend, np.nan)[idx], 2), 2),
        _text(clv_cents, 2),
        _text(revenue_cents, 2),
        _text(margin_cents, 2),
        _texts(referred_count[idx]),
        _text(_units(referred_value[idx], 2), 2),
    ]
    lap(clock, "compute")
    CustomerValue.objects.filter(organisation=organisation, as_of=as_of).delete()
    written = write_columns(CustomerValue, _SNAPSHOT_COLUMNS, columns)
    lap(clock, "write")

    fill.status = ValueFill.Status.DONE
    fill.finished_at = timezone.now()
    fill.customers = written
    fill.model = res.model
    fill.params = _json_safe(res.params)
    fill.log_likelihood = res.log_likelihood
    fill.spend_params = _json_safe(res.spend_params)
    fill.spend_log_likelihood = res.spend_log_likelihood
    fill.summary = _json_safe(
        {
            **res.fit,
            "spend_model": res.spend_model,
            "tier_source": tier_source,
            "clv_total": int(clv_cents.sum()) / 100,
            "revenue_total": int(revenue_cents.sum()) / 100,
            "margin_total": int(margin_cents.sum()) / 100,
            "totals_cents": {
                "customers": int(idx.size),
                "clv": int(clv_cents.sum()),
                "revenue": int(revenue_cents.sum()),
                "margin": int(margin_cents.sum()),
            },
            "by_tier": _groups("tier", np.array(tier_col, dtype=object), TIERS, clv_cents, p_units),
            "by_type": _groups("customer_type", np.array(type_col, dtype=object), TYPES, clv_cents, p_units),
        }
    )
    fill.save(
        update_fields=[
            "status",
            "finished_at",
            "customers",
            "model",
            "params",
            "log_likelihood",
            "spend_params",
            "spend_log_likelihood",
            "summary",
        ]
    )
    return {
        "organisation": organisation.slug,
        "as_of": as_of.isoformat(),
        "customers": written,
        "fitted": bool(res.model),
        "clv_total": fill.summary["clv_total"],
    }


def value_refresh_all(*, as_of: dt.date) -> dict[str, int]:
    """Every organisation's value snapshot; one failure does not stop the others."""
    import logging

    from huitou.accounts.models import Organisation

    logger = logging.getLogger(__name__)
    done = failed = 0
    for org in Organisation.objects.order_by("id"):
        try:
            value_refresh(organisation=org, as_of=as_of)
            done += 1
        except Exception:
            failed += 1
            logger.exception("value refresh failed for organisation %s", org.slug)
    return {"organisations": done, "failed": failed}


def _json_safe(value: Any) -> Any:
    """The value with every NaN or infinite float replaced by None: JSON has no such numbers, and
    a degenerate fit must not fail the whole night (SQLite refuses them in JSON columns)."""
    if isinstance(value, float):
        return value if np.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    return value
