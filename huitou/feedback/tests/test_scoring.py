"""The measures' math on plain arrays, with exact figures."""

from __future__ import annotations

import math

import numpy as np

from huitou.feedback import scoring


def test_shares_are_nan_where_nothing_was_counted():
    out = scoring.shares([3, 0, 2], [4, 0, 2])
    assert out[0] == 0.75 and math.isnan(out[1]) and out[2] == 1.0


def test_award_pays_per_car_only_when_every_answer_is_top_box():
    answers = [4, 4, 0, 3]
    top = [4, 3, 0, 3]
    units = scoring.award_units([5, 5, 2, 1], [0, 0, 0, 2])
    assert units.tolist() == [5, 5, 2, 3]
    amounts = scoring.award_amounts(answers, top, units, per_car=30.0, min_answers=1)
    # all top box: 5 × ¥30; one answer not top box: nothing; no answers: nothing; 1 car + 2 wholesale buyers.
    assert amounts.tolist() == [150.0, 0.0, 0.0, 90.0]


def test_award_needs_the_minimum_number_of_answers():
    eligible = scoring.award_eligible([1, 2], [1, 2], min_answers=2)
    assert eligible.tolist() == [False, True]


def test_quadrants_split_at_the_means():
    importance = np.array([5.0, 5.0, 1.0, 1.0])
    satisfaction = np.array([3.0, 5.0, 3.0, 5.0])
    imp_cut, sat_cut = scoring.quadrant_cuts(
        importance, satisfaction, split="mean", importance_cut=3.5, satisfaction_cut=4.0
    )
    assert (imp_cut, sat_cut) == (3.0, 4.0)
    assert scoring.quadrants(importance, satisfaction, imp_cut=imp_cut, sat_cut=sat_cut) == [
        "urgent",
        "keep",
        "low_priority",
        "over_served",
    ]


def test_quadrants_at_fixed_cut_offs():
    imp_cut, sat_cut = scoring.quadrant_cuts(
        [4.0, 2.0], [4.2, 3.9], split="fixed", importance_cut=3.5, satisfaction_cut=4.0
    )
    assert (imp_cut, sat_cut) == (3.5, 4.0)
    assert scoring.quadrants([4.0, 2.0], [4.2, 3.9], imp_cut=imp_cut, sat_cut=sat_cut) == [
        "keep",
        "low_priority",
    ]


def test_satisfaction_ratio_is_perceived_over_expected():
    ratio = scoring.satisfaction_ratio([18, 10, 0], [4, 2, 0], [16, 12, 0], [4, 2, 0])
    assert ratio[0] == 4.5 / 4.0
    assert ratio[1] == 5.0 / 6.0
    assert math.isnan(ratio[2])


def test_gaming_flags_all_top_box_with_disagreeing_audits():
    flags = scoring.gaming_flags(
        answers=[10, 10, 10, 3, 10],
        top=[10, 9, 10, 3, 10],
        audits=[4, 4, 4, 4, 1],
        audit_top=[1, 1, 4, 0, 0],
        min_answers=5,
        min_audits=2,
        audit_top_share=0.6,
    )
    # flagged; not all top box; audits agree; too few answers; too few audits.
    assert flags.tolist() == [True, False, False, False, False]


def test_nps_in_points():
    assert scoring.nps([6], [2], [10]).tolist() == [40.0]
