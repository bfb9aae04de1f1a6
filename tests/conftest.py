"""Fixtures shared by the cross-app tests (the permission matrices)."""

from __future__ import annotations

import pytest

from tests.factories import CustomerFactory, UserFactory


@pytest.fixture
def world(org_world):
    """org_world plus one customer per target and two reps in the other organisation."""
    w = org_world
    w.other_rep = UserFactory(username="other_rep", role="rep", organisation=w.other_org, store=w.other_store)
    w.other_rep2 = UserFactory(
        username="other_rep2", role="rep", organisation=w.other_org, store=w.other_store
    )
    w.customers = {
        "rep1_s1": CustomerFactory(owner=w.rep1, name="天河客户", phone="+8613811110001"),
        "rep3_s2": CustomerFactory(owner=w.rep3, name="番禺客户", phone="+8613811110002"),
        "other_org": CustomerFactory(owner=w.other_rep, name="别家客户", phone="+8613811110003"),
    }
    guessed = max(c.pk for c in w.customers.values()) + 1000
    w.ids = {name: c.pk for name, c in w.customers.items()} | {"guessed": guessed}
    return w
