"""The segments page: who may see it, scoping by store and manager, exact figures and links."""

from __future__ import annotations

from decimal import Decimal

import pytest

from huitou.analytics.selectors import segments_overview
from huitou.analytics.services import segments_refresh

from .conftest import AS_OF

URL = "/analytics/segments/"


@pytest.fixture
def refreshed(seg_world):
    segments_refresh(organisation=seg_world.w.org, as_of=AS_OF)
    return seg_world


def test_owner_overview_figures(refreshed):
    o = segments_overview(refreshed.w.owner)
    assert o.as_of == AS_OF
    assert o.customers == 4
    assert [(t.tier, t.customers, t.revenue, t.revenue_share, t.margin_share) for t in o.tiers] == [
        ("gold", 1, Decimal("500000"), 0.5, 0.678),
        ("silver", 1, Decimal("350000"), 0.35, 0.1186),
        ("bronze", 1, Decimal("150000"), 0.15, 0.2034),
        ("", 1, Decimal("0"), 0.0, 0.0),
    ]
    # (R, F): A (3, 3), B (1, 1), C (2, 1), D (4, 4)
    assert o.rf_grid[2][2] == o.rf_grid[0][0] == o.rf_grid[1][0] == o.rf_grid[3][3] == 1
    assert sum(map(sum, o.rf_grid)) == 4
    assert o.types["relationship"]["volume"] == 1  # C: suggested relationship, set volume by hand
    assert o.types["strategic"][""] == 1
    assert o.pareto["customers"] == [0.0, 0.25, 0.5, 0.75, 1.0]
    assert o.pareto["revenue"] == [0.0, 0.5, 0.85, 1.0, 1.0]
    assert (o.top20_revenue_share, o.top20_margin_share) == (0.5, 0.678)


def test_manager_sees_their_store_only(refreshed):
    o = segments_overview(refreshed.w.manager2)  # store s2: C and D
    assert o.customers == 2
    assert {t.tier: t.customers for t in o.tiers} == {"gold": 0, "silver": 0, "bronze": 1, "": 1}
    assert o.revenue == 150000
    # Computed from the manager's rows (C 150000, D 0), not the organisation's stored curve.
    assert o.pareto["customers"] == [0.0, 0.5, 1.0]
    assert o.pareto["revenue"] == [0.0, 1.0, 1.0]
    assert o.top20_revenue_share == 1.0


def test_store_filter(refreshed):
    o = segments_overview(refreshed.w.owner, store_id=refreshed.w.s1.pk)
    assert o.customers == 2  # A and B
    assert {t.tier: t.customers for t in o.tiers}["gold"] == 1


def test_page_for_owner(client, refreshed):
    client.force_login(refreshed.w.owner)
    html = client.get(URL).content.decode()
    assert 'href="/customers/?tier=gold"' in html
    assert 'href="/customers/?type=volume"' in html
    assert 'id="pareto-data"' in html
    assert "50.0%" in html and "67.8%" in html


def test_page_store_filter_keeps_the_store_in_links(client, refreshed):
    client.force_login(refreshed.w.owner)
    html = client.get(URL, {"store": refreshed.w.s2.pk}).content.decode()
    assert f'href="/customers/?tier=bronze&amp;store={refreshed.w.s2.pk}"' in html


def test_page_in_english(client, refreshed):
    client.force_login(refreshed.w.manager1)
    html = client.get(URL, HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "Customer segments" in html


@pytest.mark.parametrize("who", ["rep1", "dcrc", "aftersales"])
def test_other_roles_refused(client, refreshed, who):
    client.force_login(getattr(refreshed.w, who))
    assert client.get(URL).status_code == 403


def test_other_organisation_sees_nothing_of_ours(client, refreshed):
    client.force_login(refreshed.w.other_owner)
    resp = client.get(URL)
    assert resp.status_code == 200
    assert b'id="no-snapshot"' in resp.content


def test_anonymous_redirected(client, refreshed):
    assert client.get(URL).status_code == 302
