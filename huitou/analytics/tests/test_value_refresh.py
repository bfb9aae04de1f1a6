"""The value snapshot on a small hand-built purchase set: the summary figures worked out by hand,
the model figures checked against clv.py called directly on summary.py's own summary of the same
purchases, referred value one level deep, the segment tiers copied, an unfitted organisation and
an idempotent rerun."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from types import SimpleNamespace

import numpy as np
import pytest

from huitou.analytics import value_selectors as vsel
from huitou.analytics.clv import BetaGeo, GammaGamma, ParetoNBD
from huitou.analytics.models_value import CustomerValue, ValueFill
from huitou.analytics.services import segments_refresh
from huitou.analytics.summary import summary_from_transactions
from huitou.analytics.value_services import ValueSettings, value_refresh
from huitou.customers.models import Customer, Purchase
from huitou.referrals.models import Referral, Stage
from tests.factories import CustomerFactory, PurchaseFactory

AS_OF = dt.date(2026, 6, 30)
POLICY = {"min_customers": 5, "min_repeat_customers": 3, "horizon_months": 12, "annual_discount_rate": 0.12}
D = dt.date
K = Purchase.Kind

# (customer, day, amount, margin, kind); margin 0 = none recorded (the policy's 10% counts).
PURCHASES = [
    ("A", D(2025, 1, 10), "1000", "200", K.FIRST),
    ("A", D(2025, 3, 10), "500", "100", K.EXPANSION),
    ("A", D(2025, 3, 10), "300", "0", K.EXPANSION),
    ("A", D(2025, 9, 1), "700", "140", K.REPLACEMENT),
    ("B", D(2024, 7, 1), "2000", "400", K.FIRST),
    ("B", D(2026, 6, 1), "1500", "300", K.REPLACEMENT),
    ("C", D(2025, 6, 30), "5000", "1000", K.FIRST),
    ("D", D(2024, 1, 1), "400", "80", K.FIRST),
    ("D", D(2024, 4, 1), "400", "80", K.EXPANSION),
    ("D", D(2024, 8, 1), "400", "80", K.EXPANSION),
    ("D", D(2025, 1, 1), "400", "80", K.EXPANSION),
    ("E", D(2026, 5, 1), "900", "0", K.FIRST),
    ("F", D(2025, 12, 1), "3000", "600", K.FIRST),
    ("F", D(2026, 3, 1), "1200", "240", K.EXPANSION),
    ("H", D(2025, 2, 1), "300", "120", K.SERVICE),
    ("H", D(2025, 8, 1), "300", "120", K.SERVICE),
    ("H", D(2026, 2, 1), "300", "120", K.SERVICE),
    ("I", D(2026, 7, 2), "800", "100", K.FIRST),  # after the as-of day
    ("X", D(2026, 1, 1), "9000", "900", K.FIRST),  # another organisation
]


@pytest.fixture
def value_world(org_world):
    """A, B, E, G, H, I (rep1); C, D, F (rep3); F and G referred by A (G has not bought); C was
    referred by D through a won referral lead linked to C's existing record; X: another org."""
    w = org_world
    w.org.policy_data = {**(w.org.policy_data or {}), "value": POLICY}
    w.org.save(update_fields=["policy_data"])
    c = {name: CustomerFactory(owner=w.rep1, name=name) for name in ("A", "B", "E", "H", "I")}
    c |= {name: CustomerFactory(owner=w.rep3, name=name) for name in ("C", "D")}
    c["F"] = CustomerFactory(owner=w.rep3, name="F", referred_by=c["A"])
    c["G"] = CustomerFactory(owner=w.rep1, name="G", referred_by=c["A"], status=Customer.Status.PROSPECT)
    c["X"] = CustomerFactory(owner=w.other_owner, name="X")
    for name, day, amount, margin, kind in PURCHASES:
        PurchaseFactory(
            customer=c[name], ordered_on=day, amount=Decimal(amount), margin=Decimal(margin), kind=kind
        )
    Referral.objects.create(
        organisation=w.org,
        referrer=c["D"],
        name="C",
        phone=c["C"].phone,
        customer=c["C"],
        stage=Stage.WON,
        submitted_at=dt.datetime(2025, 6, 1, tzinfo=dt.UTC),
    )
    return SimpleNamespace(w=w, c=c)


def _row(customer: Customer) -> CustomerValue:
    return CustomerValue.objects.get(customer=customer, as_of=AS_OF)


def _expected(model_cls: type[BetaGeo] | type[ParetoNBD] = BetaGeo) -> dict[str, dict[str, float]]:
    """The figures from summary.py and clv.py alone, on the same purchases."""
    rows = [p for p in PURCHASES if p[0] not in {"X"}]
    s = summary_from_transactions(
        [r[0] for r in rows], [np.datetime64(r[1]) for r in rows], [float(r[2]) for r in rows], AS_OF
    )
    unit = 7.0
    f, rec, big_t, m = s.frequency, s.recency / unit, s.T / unit, s.monetary_value
    revenue = {n: sum(float(r[2]) for r in rows if r[0] == n and r[1] <= AS_OF) for n in s.customer_ids}
    margin = {
        n: sum((float(r[3]) or 0.1 * float(r[2])) for r in rows if r[0] == n and r[1] <= AS_OF)
        for n in s.customer_ids
    }
    rate = np.array([margin[n] / revenue[n] for n in s.customer_ids])
    model = model_cls().fit(f, rec, big_t)
    gg = GammaGamma().fit(f[(f > 0) & (m > 0)], m[(f > 0) & (m > 0)])
    assert gg.params_["q"] > 1  # so the population mean exists and clv.py's formula applies to all
    clv = gg.customer_lifetime_value(
        model,
        f,
        rec,
        big_t,
        m,
        time_months=12,
        discount_rate=ValueSettings(annual_discount_rate=0.12).monthly_discount_rate,
        margin=rate,
        freq_unit_days=unit,
    )
    horizon = 12 * 365.25 / 12 / unit
    expected = model.conditional_expected_number_of_purchases_up_to_time(horizon, f, rec, big_t)
    out = {}
    for k, name in enumerate(s.customer_ids):
        out[str(name)] = {
            "clv": float(clv[k]),
            "p_alive": float(
                model.conditional_probability_alive(f[k : k + 1], rec[k : k + 1], big_t[k : k + 1])[0]
            ),
            "expected": float(expected[k]),
            "spend": float(gg.conditional_expected_average_profit(f[k : k + 1], m[k : k + 1])[0]),
            "margin": margin[name],
        }
    out["_params"] = model.params_
    out["_ll"] = {"ll": model.log_likelihood_, "gg_ll": gg.log_likelihood_}
    out["_gg"] = gg.params_
    return out


def test_summary_figures_are_the_hand_worked_ones(value_world):
    c = value_world.c
    result = value_refresh(organisation=value_world.w.org, as_of=AS_OF)
    # A..F and H bought by the as-of day (the referrers A and D among them); G has not bought and
    # referred nobody; I bought after the day.
    assert result["customers"] == 7
    assert result["fitted"] is True
    a = _row(c["A"])
    # Two purchases on 2025-03-10 make one purchase day: 3 days, 2 repeats of 800 and 700.
    assert (a.frequency, a.recency_days, a.age_days) == (2, 234, 536)
    assert a.monetary == Decimal("750.00")
    assert a.revenue == Decimal("2500.00")
    assert a.margin == Decimal("470.00")  # 200 + 100 + 10% of 300 + 140
    e = _row(c["E"])
    assert (e.frequency, e.recency_days, e.age_days, e.monetary) == (0, 0, 60, Decimal("0.00"))
    assert e.margin == Decimal("90.00")
    h = _row(c["H"])  # workshop visits count (policy include_service)
    assert (h.frequency, h.revenue) == (2, Decimal("900.00"))
    assert not CustomerValue.objects.filter(customer__in=[c["I"], c["G"], c["X"]]).exists()


def test_model_figures_match_clv_py_on_the_same_summary(value_world):
    c = value_world.c
    value_refresh(organisation=value_world.w.org, as_of=AS_OF)
    want = _expected()
    for name in ("A", "B", "C", "D", "E", "F", "H"):
        row = _row(c[name])
        assert float(row.clv) == pytest.approx(want[name]["clv"], abs=0.006), name
        assert float(row.p_alive) == pytest.approx(want[name]["p_alive"], abs=0.00006), name
        assert float(row.expected_purchases) == pytest.approx(want[name]["expected"], abs=0.00006), name
        assert float(row.expected_spend) == pytest.approx(want[name]["spend"], abs=0.006), name
        assert float(row.margin) == pytest.approx(want[name]["margin"], abs=0.001), name
    assert want["A"]["clv"] > 0
    fill = ValueFill.objects.get(organisation=value_world.w.org, as_of=AS_OF)
    assert fill.status == ValueFill.Status.DONE
    assert fill.model == "bgnbd"
    assert fill.params == pytest.approx(want["_params"], rel=1e-9)
    assert fill.log_likelihood == pytest.approx(want["_ll"]["ll"], rel=1e-9)
    # Five repeat customers leave the Gamma-Gamma likelihood flat in q: the optimiser stops within
    # a relative 1e-6 of the same point whatever order the rows come in.
    assert fill.spend_params == pytest.approx(want["_gg"], rel=1e-5)
    assert fill.spend_log_likelihood == pytest.approx(want["_ll"]["gg_ll"], rel=1e-9)
    assert fill.summary["repeat_purchases"] == 2 + 1 + 3 + 1 + 2
    assert fill.summary["customers"] == 7


def test_pareto_nbd_when_the_policy_says_so(value_world):
    org = value_world.w.org
    org.policy_data = {**org.policy_data, "value": {**POLICY, "model": "paretonbd"}}
    org.save(update_fields=["policy_data"])
    value_refresh(organisation=org, as_of=AS_OF)
    want = _expected(ParetoNBD)
    assert ValueFill.objects.get(organisation=org, as_of=AS_OF).model == "paretonbd"
    assert float(_row(value_world.c["D"]).clv) == pytest.approx(want["D"]["clv"], abs=0.006)


def test_referred_value_is_one_level_of_clv_plus_margin(value_world):
    c = value_world.c
    value_refresh(organisation=value_world.w.org, as_of=AS_OF)
    a, f, d, cc = _row(c["A"]), _row(c["F"]), _row(c["D"]), _row(c["C"])
    assert a.referred_customers == 2  # F and G (G has bought nothing: worth 0)
    assert a.referred_value == f.clv + f.margin
    assert d.referred_customers == 1  # C, through the won lead
    assert d.referred_value == cc.clv + cc.margin
    assert f.referred_customers == 0 and f.referred_value == Decimal("0.00")


def test_tiers_come_from_the_segment_snapshot_of_the_same_day(value_world):
    c = value_world.c
    c["A"].tier = Customer.Tier.GOLD  # the current tier, overwritten by the segment run below
    c["A"].save(update_fields=["tier"])
    Customer.objects.filter(pk=c["D"].pk).update(customer_type=Customer.Type.VOLUME)
    segments_refresh(organisation=value_world.w.org, as_of=AS_OF)
    value_refresh(organisation=value_world.w.org, as_of=AS_OF)
    from huitou.analytics.models import CustomerSegment

    seg = dict(CustomerSegment.objects.filter(as_of=AS_OF).values_list("customer_id", "tier"))
    for name in ("A", "B", "C", "D", "E", "F", "H"):
        assert _row(c[name]).tier == seg.get(c[name].pk, ""), name
    assert _row(c["D"]).customer_type == "volume"
    fill = ValueFill.objects.get(organisation=value_world.w.org, as_of=AS_OF)
    assert fill.summary["tier_source"] == "segments"
    by_tier = {r["tier"]: r for r in vsel.value_by_tier(value_world.w.org)}
    assert list(by_tier) == ["gold", "silver", "bronze", ""]
    rows = list(CustomerValue.objects.filter(as_of=AS_OF))
    for tier, r in by_tier.items():
        mine = [x for x in rows if x.tier == tier]
        assert r["customers"] == len(mine)
        assert r["clv_total"] == sum((x.clv for x in mine), Decimal("0"))
        if mine:
            assert r["clv_mean"] == (r["clv_total"] / len(mine)).quantize(Decimal("0.01"))
            assert r["p_alive_mean"] == pytest.approx(
                float(sum(x.p_alive for x in mine)) / len(mine), abs=1e-4
            )
    # The figures kept on the fill row are those a grouped query over the rows gives.
    assert vsel.value_by_tier(value_world.w.org) == vsel._group(
        CustomerValue.objects.filter(as_of=AS_OF), "tier", vsel.TIERS
    )
    assert vsel.value_by_type(value_world.w.org) == vsel._group(
        CustomerValue.objects.filter(as_of=AS_OF), "customer_type", vsel.TYPES
    )
    by_type = {r["customer_type"]: r for r in vsel.value_by_type(value_world.w.org)}
    assert by_type["volume"]["customers"] == 1
    assert by_type["volume"]["clv_total"] == _row(c["D"]).clv


def test_too_few_customers_to_fit_keeps_history_without_a_model(value_world):
    org = value_world.w.org
    org.policy_data = {**org.policy_data, "value": {**POLICY, "min_customers": 50}}
    org.save(update_fields=["policy_data"])
    result = value_refresh(organisation=org, as_of=AS_OF)
    assert result["fitted"] is False
    a = _row(value_world.c["A"])
    assert a.p_alive is None and a.expected_purchases is None
    assert a.clv == Decimal("0.00")
    assert a.revenue == Decimal("2500.00")
    assert a.referred_value == _row(value_world.c["F"]).margin  # the margin still counts
    fill = ValueFill.objects.get(organisation=org, as_of=AS_OF)
    assert (fill.model, fill.params, fill.log_likelihood) == ("", {}, None)
    assert vsel.value_by_tier(org)[3]["p_alive_mean"] is None


def test_rerun_replaces_the_day_and_failure_is_recorded(value_world, monkeypatch):
    org = value_world.w.org
    value_refresh(organisation=org, as_of=AS_OF)
    first = {r.customer_id: (r.clv, r.p_alive) for r in CustomerValue.objects.all()}
    value_refresh(organisation=org, as_of=AS_OF)
    again = {r.customer_id: (r.clv, r.p_alive) for r in CustomerValue.objects.all()}
    assert again == first
    assert ValueFill.objects.filter(organisation=org, as_of=AS_OF).count() == 1

    from huitou.analytics import value_services

    def boom(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(value_services, "write_columns", boom)
    with pytest.raises(RuntimeError):
        value_refresh(organisation=org, as_of=AS_OF)
    # The transaction rolled back: the day's rows are still the complete ones.
    assert {r.customer_id: (r.clv, r.p_alive) for r in CustomerValue.objects.all()} == first
    assert ValueFill.objects.get(organisation=org, as_of=AS_OF).status == ValueFill.Status.FAILED
    assert vsel.value_by_tier(org) == []  # no complete day left to show


def test_no_purchases_at_all(org_world):
    result = value_refresh(organisation=org_world.org, as_of=AS_OF)
    assert result == {
        "organisation": org_world.org.slug,
        "as_of": AS_OF.isoformat(),
        "customers": 0,
        "fitted": False,
        "clv_total": 0.0,
    }
    assert ValueFill.objects.get(organisation=org_world.org).status == ValueFill.Status.DONE
