"""Fixtures for every test: one organisation with two stores, a user of each role, and a rival org."""

from __future__ import annotations

import socket
from types import SimpleNamespace

import pytest

from tests.factories import OrganisationFactory, StoreFactory, TeamFactory, UserFactory


@pytest.fixture(autouse=True)
def _no_network(monkeypatch):
    """Tests never reach outside this machine: only loopback connections are allowed."""
    real_connect = socket.socket.connect

    def guarded(self, address):
        host = address[0] if isinstance(address, tuple) else address
        if isinstance(host, str) and not (
            host.startswith("127.") or host in {"localhost", "::1"} or host.startswith("/")
        ):
            raise RuntimeError(f"network access blocked in tests: {address!r}")
        return real_connect(self, address)

    monkeypatch.setattr(socket.socket, "connect", guarded)


@pytest.fixture(autouse=True)
def _default_language():
    """Each test starts in the default language, whatever an earlier test activated."""
    from django.conf import settings
    from django.utils import translation

    translation.activate(settings.LANGUAGE_CODE)
    yield
    translation.activate(settings.LANGUAGE_CODE)


@pytest.fixture(autouse=True)
def _fresh_cache():
    """Caches (list counts) must not carry over between tests that reuse ids."""
    from django.core.cache import cache

    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def org_world(db):
    """A dealer group: two stores, a team each, users of every role, plus another organisation."""
    org = OrganisationFactory(name="华南汽车集团", slug="huanan")
    s1 = StoreFactory(organisation=org, name="天河店", code="TH")
    s2 = StoreFactory(organisation=org, name="番禺店", code="PY")
    t1 = TeamFactory(store=s1, organisation=org, name="天河一组")
    t2 = TeamFactory(store=s2, organisation=org, name="番禺一组")
    owner = UserFactory(username="owner", role="owner", organisation=org)
    manager1 = UserFactory(username="manager1", role="manager", organisation=org, store=s1)
    manager2 = UserFactory(username="manager2", role="manager", organisation=org, store=s2)
    t1.manager = manager1
    t1.save()
    t2.manager = manager2
    t2.save()
    rep1 = UserFactory(username="rep1", role="rep", organisation=org, store=s1, team=t1)
    rep2 = UserFactory(username="rep2", role="rep", organisation=org, store=s1, team=t1)
    rep3 = UserFactory(username="rep3", role="rep", organisation=org, store=s2, team=t2)
    dcrc = UserFactory(username="dcrc", role="dcrc", organisation=org, store=s1)
    aftersales = UserFactory(username="aftersales", role="aftersales", organisation=org, store=s1)
    other_org = OrganisationFactory(name="别家集团", slug="other")
    other_store = StoreFactory(organisation=other_org, code="OT")
    other_owner = UserFactory(username="other_owner", role="owner", organisation=other_org, store=other_store)
    return SimpleNamespace(
        org=org,
        s1=s1,
        s2=s2,
        t1=t1,
        t2=t2,
        owner=owner,
        manager1=manager1,
        manager2=manager2,
        rep1=rep1,
        rep2=rep2,
        rep3=rep3,
        dcrc=dcrc,
        aftersales=aftersales,
        other_org=other_org,
        other_store=other_store,
        other_owner=other_owner,
    )
