"""``segments_refresh`` and ``huitou segments``: exact figures on a hand-built set."""

from __future__ import annotations

import json
from decimal import Decimal

from huitou.analytics.models import CustomerSegment, SegmentFill
from huitou.analytics.services import segments_refresh
from huitou.cli import main
from huitou.customers.models import Customer

from .conftest import AS_OF

EXPECTED = {
    # name: (recency, frequency, revenue, margin, r, f, m, tier, suggested)
    "A": (10, 2, Decimal("500000.00"), Decimal("100000.00"), 3, 3, 4, "gold", "strategic"),
    "B": (365, 1, Decimal("350000.00"), Decimal("17500.00"), 1, 1, 3, "silver", ""),
    "C": (121, 1, Decimal("150000.00"), Decimal("30000.00"), 2, 1, 2, "bronze", "relationship"),
    "D": (1, 3, Decimal("0.00"), Decimal("0.00"), 4, 4, 1, "", ""),
}


def snapshot(org):
    return {
        s.customer.name: (
            s.recency_days,
            s.frequency,
            s.monetary,
            s.margin,
            s.r,
            s.f,
            s.m,
            s.tier,
            s.suggested_type,
        )
        for s in CustomerSegment.objects.filter(organisation=org, as_of=AS_OF).select_related("customer")
    }


def test_snapshot_figures(seg_world):
    result = segments_refresh(organisation=seg_world.w.org, as_of=AS_OF)
    assert snapshot(seg_world.w.org) == EXPECTED
    assert result == {
        "organisation": "huanan",
        "as_of": "2026-06-30",
        "customers": 4,
        "tiers": {"none": 1, "bronze": 1, "silver": 1, "gold": 1},
        "tiers_changed": 4,
        "top20_revenue_share": 0.5,
        "top20_margin_share": 0.678,
    }
    fill = SegmentFill.objects.get(organisation=seg_world.w.org, as_of=AS_OF)
    assert (fill.status, fill.customers, fill.tiers_changed) == ("done", 4, 4)
    assert fill.finished_at is not None


def test_tiers_written_and_types_left_alone(seg_world):
    before = Customer.objects.get(pk=seg_world.a.pk).version
    segments_refresh(organisation=seg_world.w.org, as_of=AS_OF)
    tiers = dict(Customer.objects.filter(organisation=seg_world.w.org).values_list("name", "tier"))
    assert tiers == {"A": "gold", "B": "silver", "C": "bronze", "D": "", "E": "", "F": "", "G": ""}
    assert Customer.objects.get(pk=seg_world.a.pk).version == before + 1
    assert Customer.objects.get(pk=seg_world.c.pk).customer_type == "volume"  # set by hand, kept
    assert Customer.objects.get(pk=seg_world.x.pk).tier == ""  # the other organisation untouched
    assert not CustomerSegment.objects.filter(customer=seg_world.x).exists()


def test_idempotent(seg_world):
    segments_refresh(organisation=seg_world.w.org, as_of=AS_OF)
    versions = dict(Customer.objects.values_list("id", "version"))
    again = segments_refresh(organisation=seg_world.w.org, as_of=AS_OF)
    assert again["tiers_changed"] == 0
    assert snapshot(seg_world.w.org) == EXPECTED
    assert CustomerSegment.objects.filter(as_of=AS_OF).count() == 4
    assert SegmentFill.objects.filter(organisation=seg_world.w.org).count() == 1
    assert dict(Customer.objects.values_list("id", "version")) == versions


def test_policy_margin_basis_and_no_auto_tiers(seg_world):
    org = seg_world.w.org
    org.policy_data = {"segments": {"basis": "margin", "auto_tiers": False}}
    org.save()
    result = segments_refresh(organisation=org, as_of=AS_OF)
    # margins 100000, 17500, 30000, 0 (total 147500): A gold, C silver (100000 ahead = 0.678 < 0.8),
    # B bronze (130000 ahead = 0.88).
    got = {name: row[7] for name, row in snapshot(org).items()}
    assert got == {"A": "gold", "B": "bronze", "C": "silver", "D": ""}
    assert result["tiers_changed"] == 0
    assert Customer.objects.get(pk=seg_world.e.pk).tier == "gold"


def test_cli_json(seg_world, capsys):
    assert main(["segments", "--org", "huanan", "--as-of", "2026-06-30", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["as_of"] == "2026-06-30"
    assert [o["organisation"] for o in out["organisations"]] == ["huanan"]
    assert out["organisations"][0]["tiers"] == {"none": 1, "bronze": 1, "silver": 1, "gold": 1}


def test_cli_refuses_bad_input(seg_world, capsys):
    assert main(["segments", "--as-of", "30/06/2026"]) == 2
    assert main(["segments", "--org", "nope"]) == 2
    assert not CustomerSegment.objects.exists()
