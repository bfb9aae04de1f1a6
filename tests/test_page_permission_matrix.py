"""Every page × every role × someone else's object: allowed, or refused with nothing changed.

The API half is in ``test_api_permission_matrix.py``; the world and the expected scope tables are
shared from there so both halves assert the same rules. Pages answer 404 outside the viewer's scope
(so ids cannot be probed) and 403 for an action the role may never take.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

import pytest
from django.test import Client

from tests.test_api_permission_matrix import (
    CONFIDENTIAL,
    EDITORS,
    LOGGERS,
    ROLES,
    TARGETS,
    VISIBLE,
    snapshot,
)

PRIVACY = {"owner", "manager1", "other_owner"}
# The customer-relations centre answers PIPL requests, so DCRC may export (not erase).
PRIVACY_EXPORT = PRIVACY | {"dcrc"}


def _edit_form(w: SimpleNamespace, target: str) -> dict[str, Any]:
    c = w.customers.get(target) or w.customers["rep1_s1"]
    c.refresh_from_db()
    return {
        "kind": c.kind,
        "name": c.name + "改",
        "gender": c.gender,
        "phone": c.phone,
        "wechat": "wx_matrix",
        "birthday_calendar": c.birthday_calendar,
        "source": c.source,
        "status": c.status,
        "tier": c.tier,
        "customer_type": c.customer_type,
        "store": c.store_id or "",
        "version": c.version,
    }


@dataclass(frozen=True)
class Page:
    name: str
    method: str
    path: str  # {id} is the target's id
    allowed_roles: set[str]
    data: Callable[[SimpleNamespace, str], dict[str, Any]] | None = None
    role_checked_first: bool = False  # 403 before looking the object up


PAGES = [
    Page("detail", "get", "/customers/{id}/", set(ROLES)),
    Page("edit_form", "get", "/customers/{id}/edit/", EDITORS),
    Page("edit", "post", "/customers/{id}/edit/", EDITORS, data=_edit_form),
    Page(
        "activity",
        "post",
        "/customers/{id}/activities/",
        LOGGERS,
        data=lambda w, t: {"kind": "call", "subject": "矩阵回访", "body": ""},
    ),
    Page(
        "optout",
        "post",
        "/customers/{id}/consent/",
        LOGGERS,
        data=lambda w, t: {"channel": "sms", "granted": "0"},
    ),
    Page(
        "grant",
        "post",
        "/customers/{id}/consent/",
        EDITORS,
        data=lambda w, t: {"channel": "email", "granted": "1"},
    ),
    Page(
        "confidential",
        "post",
        "/customers/{id}/confidential/",
        CONFIDENTIAL,
        data=lambda w, t: {"body": "机密"},
    ),
    Page(
        "product",
        "post",
        "/customers/{id}/products/",
        EDITORS,
        data=lambda w, t: {"description": "雷凌", "vin": "LSVAB2BJ0ZZ888888", "plate": "粤A88888"},
    ),
    Page(
        "purchase",
        "post",
        "/customers/{id}/purchases/",
        EDITORS,
        data=lambda w, t: {
            "ordered_on": "2026-01-05",
            "kind": "service",
            "amount": "800.00",
            "margin": "100",
        },
    ),
    Page(
        "privacy_erase",
        "post",
        "/customers/{id}/privacy/erase/",
        PRIVACY,
        role_checked_first=True,
        data=lambda w, t: {"reason": "本人来电要求删除", "confirm_id": w.ids[t]},
    ),
    Page("privacy_export", "get", "/customers/{id}/privacy/export/", PRIVACY_EXPORT, role_checked_first=True),
]


def _expected(page: Page, role: str, target: str) -> int | None:
    """None means allowed (any 2xx/3xx); otherwise the refusal status."""
    if page.role_checked_first and role not in page.allowed_roles:
        return 403
    if target not in VISIBLE[role]:
        return 404
    if role not in page.allowed_roles:
        return 403
    return None


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_page_matrix(world, page, role, target):
    w = world
    user = getattr(w, role)
    client = Client()
    client.force_login(user)
    url = page.path.format(id=w.ids[target])
    before = snapshot(w)
    if page.method == "get":
        response = client.get(url)
    else:
        response = client.post(url, page.data(w, target) if page.data else {})
    expected = _expected(page, role, target)
    if expected is None:
        assert response.status_code < 400, (response.status_code, response.content[:300])
        if page.method == "post":
            assert snapshot(w) != before, "an allowed write changed nothing"
    else:
        assert response.status_code == expected
        assert snapshot(w) == before


LIST_PAGES = {
    # path: roles allowed (others 403)
    "/customers/": set(ROLES),
    "/customers/new/": EDITORS,
    "/customers/reassign/": PRIVACY,
    "/customers/duplicates/": PRIVACY,
    "/customers/import/": PRIVACY,
    "/accounts/settings/": {"owner", "other_owner"},
    "/accounts/profile/": set(ROLES),
}


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("path", sorted(LIST_PAGES))
def test_role_pages(world, path, role):
    client = Client()
    client.force_login(getattr(world, role))
    response = client.get(path)
    if role in LIST_PAGES[path]:
        assert response.status_code == 200
    else:
        assert response.status_code == 403


@pytest.mark.parametrize("role", ROLES)
def test_list_shows_exactly_the_scope(world, role):
    client = Client()
    client.force_login(getattr(world, role))
    html = client.get("/customers/").content.decode()
    shown = {t for t, c in world.customers.items() if c.name in html}
    assert shown == VISIBLE[role]


def test_anonymous_is_sent_to_login_everywhere(world):
    client = Client()
    for page in PAGES:
        url = page.path.format(id=world.ids["rep1_s1"])
        response = client.get(url) if page.method == "get" else client.post(url, {})
        assert response.status_code == 302 and "/accounts/login/" in response["Location"], url
