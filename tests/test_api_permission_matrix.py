"""Every API endpoint × every role × someone else's object: allowed, or refused with nothing changed.

The expected outcome of each cell is written out below from the scope rules of DOMAIN §9 and
``huitou/accounts/permissions.py`` (default policy), not recomputed with the permission functions,
so a change of those functions that widens access fails here:

- owner: the whole organisation; managers: their store and the teams they manage (manager1 → s1);
  a rep: only their own customers; DCRC: the whole organisation, read and log touches, no edits and
  no confidential notes; after-sales: their store (s1), read and log touches, no edits;
  other_owner: only the other organisation.
- Outside the viewer's scope an object does not exist (404, never 403, so ids cannot be probed);
  inside it, an action the role may not take is 403.

Targets: rep1's customer in store s1, rep3's customer in store s2, a customer of the other
organisation, and a guessed id that exists nowhere.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

import pytest
from django.test import Client

from huitou.accounts.models import Organisation
from huitou.accounts.services import api_token_create
from huitou.customers.models import (
    Activity,
    ConfidentialNote,
    Consent,
    Customer,
    OwnedProduct,
    Purchase,
)
from huitou.customers.services import EDITABLE_FIELDS

ROLES = ["owner", "manager1", "rep1", "rep2", "dcrc", "aftersales", "other_owner"]
TARGETS = ["rep1_s1", "rep3_s2", "other_org", "guessed"]

# Which targets each role can see at all (scope).
VISIBLE = {
    "owner": {"rep1_s1", "rep3_s2"},
    "manager1": {"rep1_s1"},
    "rep1": {"rep1_s1"},
    "rep2": set(),
    "dcrc": {"rep1_s1", "rep3_s2"},
    "aftersales": {"rep1_s1"},
    "other_owner": {"other_org"},
}
EDITORS = {"owner", "manager1", "rep1", "rep2", "other_owner"}
# Owner rep, managers in scope, the owner; never DCRC or after-sales.
CONFIDENTIAL = {"owner", "manager1", "rep1", "rep2", "other_owner"}
REASSIGNERS = {"owner", "manager1", "other_owner"}
LOGGERS = set(ROLES)  # permissions.can_log_activity: every active member, within scope
POLICY_SETTERS = {"owner", "other_owner"}  # each for their own organisation


def _call(user: Any, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
    headers = {"Authorization": f"Bearer {api_token_create(user=user)}", "Accept-Language": "en"}
    client = Client()
    url = "/api/v1" + path
    if method == "get":
        return client.get(url, headers=headers)
    return getattr(client, method)(
        url, json.dumps(body or {}), content_type="application/json", headers=headers
    )


def snapshot(w: SimpleNamespace) -> dict[str, Any]:
    """Everything a refused request could have touched."""
    fields = [*EDITABLE_FIELDS, "version"]
    return {
        "customers": list(Customer.objects.order_by("pk").values("pk", *fields)),
        "customer_history": Customer.history.count(),
        "activities": Activity.objects.count(),
        "consents": list(Consent.objects.order_by("pk").values("pk", "granted", "source")),
        "owned_products": OwnedProduct.objects.count(),
        "purchases": Purchase.objects.count(),
        "confidential_notes": ConfidentialNote.objects.count(),
        "policies": list(Organisation.objects.order_by("pk").values("pk", "policy_version", "policy_data")),
    }


# ---------------------------------------------------------------- endpoints on one customer


@dataclass(frozen=True)
class Endpoint:
    name: str
    method: str
    path: str  # {id} is the target's id
    ok: int
    allowed_roles: set[str]  # roles that may do this to a customer they can see
    writes: bool
    body: Callable[[SimpleNamespace, str, str], dict[str, Any]] | None = None
    role_checked_first: bool = False  # 403 before the scope check (no object is read first)


def _reassign_body(w: SimpleNamespace, role: str, target: str) -> dict[str, Any]:
    from_user = w.customers[target].owner_id if target in w.customers else w.rep1.pk
    to_user = w.other_rep2.pk if role == "other_owner" else w.rep2.pk
    return {"from_user_id": from_user, "to_user_id": to_user, "customer_ids": [w.ids[target]]}


ENDPOINTS = [
    Endpoint("detail", "get", "/customers/{id}", 200, set(ROLES), writes=False),
    Endpoint("timeline", "get", "/customers/{id}/timeline", 200, set(ROLES), writes=False),
    Endpoint("history", "get", "/customers/{id}/history", 200, set(ROLES), writes=False),
    Endpoint(
        "update",
        "patch",
        "/customers/{id}",
        200,
        EDITORS,
        writes=True,
        body=lambda w, r, t: {"version": 1, "city": "改过的城市", "tier": "gold"},
    ),
    Endpoint(
        "log_activity",
        "post",
        "/customers/{id}/activities",
        201,
        LOGGERS,
        writes=True,
        body=lambda w, r, t: {"kind": "call", "subject": "回访"},
    ),
    Endpoint(
        "consent_optout",
        "post",
        "/customers/{id}/consents",
        200,
        LOGGERS,  # an opt-out can be recorded by anyone who sees the customer
        writes=True,
        body=lambda w, r, t: {"channel": "sms", "granted": False},
    ),
    Endpoint(
        "consent_grant",
        "post",
        "/customers/{id}/consents",
        200,
        EDITORS,
        writes=True,
        body=lambda w, r, t: {"channel": "email", "granted": True},
    ),
    Endpoint(
        "owned_product",
        "post",
        "/customers/{id}/owned-products",
        201,
        EDITORS,
        writes=True,
        body=lambda w, r, t: {"vin": "LSVAB2BJ0ZZ999999", "plate": "粤A99999"},
    ),
    Endpoint(
        "purchase",
        "post",
        "/customers/{id}/purchases",
        201,
        EDITORS,
        writes=True,
        body=lambda w, r, t: {"ordered_on": "2026-01-05", "amount": "9999.00"},
    ),
    Endpoint(
        "confidential_note",
        "post",
        "/customers/{id}/confidential-notes",
        201,
        CONFIDENTIAL,
        writes=True,
        body=lambda w, r, t: {"body": "机密"},
    ),
    Endpoint(
        "reassign",
        "post",
        "/customers/reassign",
        200,
        REASSIGNERS,
        writes=True,
        body=_reassign_body,
        role_checked_first=True,
    ),
]


def expected_status(endpoint: Endpoint, role: str, target: str) -> int:
    visible = target in VISIBLE[role]
    allowed = role in endpoint.allowed_roles
    if endpoint.role_checked_first and not allowed:
        return 403
    if not visible:
        return 404
    return endpoint.ok if allowed else 403


CELLS = [
    pytest.param(e, role, target, id=f"{e.name}-{role}-{target}")
    for e in ENDPOINTS
    for role in ROLES
    for target in TARGETS
]


@pytest.mark.parametrize(("endpoint", "role", "target"), CELLS)
def test_customer_endpoint(world, endpoint, role, target):
    expected = expected_status(endpoint, role, target)
    before = snapshot(world)
    body = endpoint.body(world, role, target) if endpoint.body else None

    response = _call(getattr(world, role), endpoint.method, endpoint.path.format(id=world.ids[target]), body)

    assert response.status_code == expected, response.content
    after = snapshot(world)
    if expected in (403, 404):
        assert after == before
        assert set(response.json()) == {"detail", "errors"}
    elif endpoint.writes:
        assert after != before


# ---------------------------------------------------------------- list and create


@pytest.mark.parametrize("role", ROLES)
def test_list_shows_exactly_the_visible_targets(world, role):
    response = _call(getattr(world, role), "get", "/customers?size=200")

    assert response.status_code == 200
    listed = {c["id"] for c in response.json()["items"]}
    assert {name for name, pk in world.ids.items() if pk in listed} == VISIBLE[role]


def _create_expected(role: str, target: str) -> int:
    if role not in EDITORS:
        return 403
    # A reference the creator cannot see is refused as a field error that reveals nothing.
    return 201 if target in VISIBLE[role] else 422


@pytest.mark.parametrize(
    ("role", "target"), [pytest.param(r, t, id=f"{r}-{t}") for r in ROLES for t in TARGETS]
)
def test_create_referring_to_target(world, role, target):
    expected = _create_expected(role, target)
    before = snapshot(world)

    response = _call(
        getattr(world, role), "post", "/customers", {"name": "新客户", "referred_by_id": world.ids[target]}
    )

    assert response.status_code == expected, response.content
    if expected == 201:
        assert Customer.objects.get(pk=response.json()["id"]).referred_by_id == world.ids[target]
    else:
        assert snapshot(world) == before


# ---------------------------------------------------------------- the caller and the policy


@pytest.mark.parametrize("role", ROLES)
def test_me_describes_only_the_caller(world, role):
    response = _call(getattr(world, role), "get", "/me")

    assert response.status_code == 200
    assert response.json()["username"] == role


@pytest.mark.parametrize("role", ROLES)
def test_policy_read(world, role):
    response = _call(getattr(world, role), "get", "/policy")

    assert response.status_code == (200 if role in POLICY_SETTERS else 403)


@pytest.mark.parametrize("role", ROLES)
def test_policy_write_changes_only_the_callers_organisation(world, role):
    before = snapshot(world)
    user = getattr(world, role)

    response = _call(
        user, "put", "/policy", {"version": 1, "policy": {"people": {"manager_sees_whole_store": False}}}
    )

    if role not in POLICY_SETTERS:
        assert response.status_code == 403
        assert snapshot(world) == before
        return
    assert response.status_code == 200
    changed = {o.pk for o in Organisation.objects.filter(policy_version=2)}
    assert changed == {user.organisation_id}
