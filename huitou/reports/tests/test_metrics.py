"""The arithmetic of the reports (pure numpy, no database)."""

from __future__ import annotations

from decimal import Decimal

import numpy as np
import pytest

from huitou.reports import metrics
from huitou.reports.policy import ReportPolicy


def test_ageing_bucket_edges_are_inclusive_of_their_last_day():
    days = np.array([-5, 0, 1, 30, 31, 60, 61, 90, 91, 400])
    assert metrics.ageing_index(days, (30, 60, 90)).tolist() == [0, 0, 1, 1, 2, 2, 3, 3, 4, 4]


def test_ageing_sums_in_cents_exactly():
    a = metrics.ageing(
        metrics.cents([Decimal("0.10"), Decimal("0.20"), Decimal("1000000.05")]),
        np.array([0, 15, 120]),
        (30, 60, 90),
    )
    assert a.buckets == (
        Decimal("0.10"),
        Decimal("0.20"),
        Decimal("0.00"),
        Decimal("0.00"),
        Decimal("1000000.05"),
    )
    assert (a.outstanding, a.overdue, a.open_count, a.overdue_count) == (
        Decimal("1000000.35"),
        Decimal("1000000.25"),
        3,
        2,
    )


def test_ageing_of_nothing():
    a = metrics.ageing(metrics.cents([]), np.zeros(0, dtype=np.int64), (30, 60, 90))
    assert a.buckets == (Decimal("0.00"),) * 5 and a.open_count == 0


def test_delays_count_early_payment_as_on_time():
    d = metrics.delays(np.array([10, 20, 30]), np.array([15, 20, 18]))
    assert (d.paid, d.late, d.max_days) == (3, 1, 12)
    assert d.mean_days == pytest.approx(4.0)
    assert metrics.delays(np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)).mean_days is None


def test_growth_and_ratio_need_a_positive_base():
    assert metrics.growth(Decimal("150"), Decimal("100")) == pytest.approx(0.5)
    assert metrics.growth(Decimal("0"), Decimal("100")) == pytest.approx(-1.0)
    assert metrics.growth(Decimal("10"), Decimal("0")) is None
    assert metrics.ratio(Decimal("1"), Decimal("4")) == pytest.approx(0.25)
    assert metrics.ratio(None, Decimal("4")) is None and metrics.ratio(Decimal("1"), None) is None


def test_policy_edges_must_increase():
    assert ReportPolicy().ageing_edges == (30, 60, 90)
    assert ReportPolicy(ageing_first_days=15, ageing_second_days=45, ageing_third_days=120).ageing_edges == (
        15,
        45,
        120,
    )
    with pytest.raises(ValueError):
        ReportPolicy(ageing_first_days=60, ageing_second_days=30, ageing_third_days=90)
