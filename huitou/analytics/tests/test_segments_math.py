import numpy as np
import pytest

from huitou.analytics.segments import (
    STRATEGIES,
    TIER_BRONZE,
    TIER_GOLD,
    TIER_NONE,
    TIER_SILVER,
    TYPE_NAMES,
    pareto_curve,
    quintile_scores,
    rfm_scores,
    suggest_types,
    top_share,
    value_tiers,
)


def test_quintiles_of_ten_distinct_values():
    assert quintile_scores([10, 1, 9, 2, 8, 3, 7, 4, 6, 5]).tolist() == [5, 1, 5, 1, 4, 2, 4, 2, 3, 3]


def test_quintiles_ties_share_the_lowest_rank_whatever_the_order():
    assert quintile_scores([3, 1, 3, 3, 2]).tolist() == [3, 1, 3, 3, 2]
    assert quintile_scores([1, 3, 2, 3, 3]).tolist() == [1, 3, 2, 3, 3]
    assert quintile_scores([7, 7, 7]).tolist() == [1, 1, 1]
    assert quintile_scores([]).tolist() == []


def test_rfm_recency_fewer_days_is_better():
    rfm = rfm_scores([5, 400, 30, 90, 200], [1, 4, 2, 3, 1], [100, 500, 200, 300, 400])
    assert rfm.r.tolist() == [5, 1, 4, 3, 2]
    assert rfm.f.tolist() == [1, 5, 3, 4, 1]
    assert rfm.m.tolist() == [1, 5, 2, 3, 4]


def test_value_tiers_by_cumulative_share():
    tiers = value_tiers([5, 50, 0, 30, 10, 5, -3])
    assert tiers.tolist() == [
        TIER_BRONZE,
        TIER_GOLD,
        TIER_NONE,
        TIER_SILVER,
        TIER_BRONZE,
        TIER_BRONZE,
        TIER_NONE,
    ]


def test_value_tiers_customer_crossing_the_line_is_gold_and_ties_share():
    # total 100; 40 is ahead of nobody -> gold; 30 has 40 ahead (<50) -> gold;
    # the two 10s have 70 ahead -> silver; 5 and 5 have 90 ahead -> bronze.
    assert value_tiers([40, 30, 10, 10, 5, 5]).tolist() == [3, 3, 2, 2, 1, 1]
    assert value_tiers([40, 30, 10, 10, 5, 5], gold_share=0.3, silver_share=0.9).tolist() == [
        3,
        2,
        2,
        2,
        1,
        1,
    ]
    assert value_tiers([0, 0]).tolist() == [0, 0]
    with pytest.raises(ValueError):
        value_tiers([1], gold_share=0.9, silver_share=0.8)


def test_pareto_curve_small():
    p = pareto_curve([50, 30, 10, 10], [1, 2, 3, 4])
    assert p.customer_share.tolist() == [0.0, 0.25, 0.5, 0.75, 1.0]
    assert p.revenue_share.tolist() == [0.0, 0.5, 0.8, 0.9, 1.0]
    assert p.margin_share.tolist() == [0.0, 0.4, 0.7, 0.9, 1.0]


def test_pareto_curve_is_downsampled_to_101_points():
    rev = np.arange(1, 1001, dtype=float)
    p = pareto_curve(rev, rev)
    assert len(p.customer_share) == 101
    assert p.customer_share[0] == 0.0 and p.customer_share[-1] == 1.0
    assert p.customer_share[20] == pytest.approx(0.2)
    # The best 200 customers (1000..801) make 180100 of 500500.
    assert p.revenue_share[20] == pytest.approx(180100 / 500500)


def test_top_share():
    assert top_share([50, 30, 10, 5, 5]) == pytest.approx(0.5)
    assert top_share([50, 30, 10, 5, 5, 0, 0, 0, 0, 0]) == pytest.approx(0.8)
    assert top_share([]) == 0.0


def test_suggest_types_rule_order():
    got = suggest_types(
        revenue=[100, 100, 100, 100, 100, 0, 100],
        margin=[5, 30, 5, 5, 20, 0, 5],
        f_score=[5, 5, 5, 3, 1, 1, 5],
        referrals=[0, 0, 3, 0, 0, 2, 5],
        is_company=[True, False, False, False, False, False, True],
        tier=[3, 3, 1, 1, 2, 0, 2],
    )
    assert [TYPE_NAMES[c] for c in got] == [
        "strategic",  # company + gold beats volume
        "profit",  # margin rate 0.30
        "relationship",  # 3 referrals beats volume
        "",  # low margin, F 3
        "profit",  # margin rate 0.20 exactly above 0.15
        "relationship",  # no purchases but 2 referrals
        "relationship",  # company not gold -> next rule
    ]


def test_every_type_has_a_strategy():
    assert sorted(STRATEGIES) == sorted(n for n in TYPE_NAMES if n)
