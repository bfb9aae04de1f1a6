"""The cost-to-serve table's cache: the organisation's owners share the whole-organisation table;
every narrower table stays the viewer's own. Data: ``test_costs_serve``'s June."""

# ruff: noqa: F811 - the shared fixture is imported, then requested by name
from __future__ import annotations

import datetime as dt

from django.core.cache import cache

from huitou.analytics import costs
from tests.factories import UserFactory

from .test_costs_serve import cost_world  # noqa: F401

D = (dt.date(2026, 6, 1), dt.date(2026, 6, 30))


def test_owners_share_the_organisations_table(cost_world, django_assert_num_queries):
    cw = cost_world
    cache.clear()
    second = UserFactory(username="owner2", role="owner", organisation=cw.w.org)
    first = costs.cost_table(cw.w.owner, start=D[0], end=D[1], filters=costs.CostFilters())
    second.organisation
    with django_assert_num_queries(0):
        shared = costs.cost_table(second, start=D[0], end=D[1], filters=costs.CostFilters())
    assert shared.ids.tolist() == first.ids.tolist() == [cw.a.pk, cw.b.pk, cw.c.pk]
    assert shared.cost.tolist() == [317.0, 950.0, 8.0]


def test_a_narrower_table_is_not_shared(cost_world):
    cw = cost_world
    cache.clear()
    costs.cost_table(cw.w.owner, start=D[0], end=D[1], filters=costs.CostFilters())
    # A manager's table, computed after the owner's, is their scope's, not the cached whole.
    whole = costs.CostFilters()
    assert costs.cost_table(cw.w.manager2, start=D[0], end=D[1], filters=whole).ids.tolist() == [cw.b.pk]
    store = costs.CostFilters(store_id=cw.w.s1.pk)
    by_store = costs.cost_table(cw.w.owner, start=D[0], end=D[1], filters=store)
    assert by_store.ids.tolist() == [cw.a.pk, cw.c.pk]
