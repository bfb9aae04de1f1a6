"""Who may call the API: bearer tokens and browser sessions, and who is turned away."""

from __future__ import annotations

import datetime as dt

import pytest
from django.test import Client
from django.utils import timezone

from huitou.accounts.models import ApiToken
from huitou.accounts.services import api_token_create, api_token_revoke
from huitou.customers.models import Customer

pytestmark = pytest.mark.django_db


def _me(token: str | None = None, client: Client | None = None):
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return (client or Client()).get("/api/v1/me", headers=headers)


def test_valid_token_authenticates_its_user(org_world):
    token = api_token_create(user=org_world.rep1)

    response = _me(token)

    assert response.status_code == 200
    assert response.json()["username"] == "rep1"


def test_wrong_token_is_401(org_world):
    api_token_create(user=org_world.rep1)

    response = _me("ht_not-a-real-token")

    assert response.status_code == 401
    assert response.json() == {"detail": "Unauthorized"}


def test_missing_credentials_are_401(org_world):
    assert _me().status_code == 401


def test_revoked_token_is_401(org_world):
    token = api_token_create(user=org_world.rep1)
    token_id = ApiToken.objects.get(user=org_world.rep1).pk
    api_token_revoke(user=org_world.rep1, token_id=token_id)

    assert _me(token).status_code == 401


def test_token_of_user_who_left_is_401(org_world):
    token = api_token_create(user=org_world.rep1)
    org_world.rep1.left_at = timezone.now()
    org_world.rep1.save(update_fields=["left_at"])

    assert _me(token).status_code == 401


def test_token_of_deactivated_user_is_401(org_world):
    token = api_token_create(user=org_world.rep1)
    org_world.rep1.is_active = False
    org_world.rep1.save(update_fields=["is_active"])

    assert _me(token).status_code == 401


def test_first_use_records_last_used_at(org_world):
    token = api_token_create(user=org_world.rep1)

    _me(token)

    assert ApiToken.objects.get(user=org_world.rep1).last_used_at is not None


def test_last_used_at_is_not_rewritten_within_a_minute(org_world):
    token = api_token_create(user=org_world.rep1)
    recent = timezone.now() - dt.timedelta(seconds=20)
    ApiToken.objects.filter(user=org_world.rep1).update(last_used_at=recent)

    _me(token)

    assert ApiToken.objects.get(user=org_world.rep1).last_used_at == recent


def test_last_used_at_is_refreshed_after_a_minute(org_world):
    token = api_token_create(user=org_world.rep1)
    old = timezone.now() - dt.timedelta(minutes=5)
    ApiToken.objects.filter(user=org_world.rep1).update(last_used_at=old)

    _me(token)

    assert ApiToken.objects.get(user=org_world.rep1).last_used_at > old


def test_session_authenticates_pages_javascript(org_world):
    client = Client()
    client.force_login(org_world.manager1)

    response = client.get("/api/v1/me")

    assert response.status_code == 200
    assert response.json()["username"] == "manager1"


def test_session_of_user_who_left_is_401(org_world):
    client = Client()
    client.force_login(org_world.rep1)
    org_world.rep1.left_at = timezone.now()
    org_world.rep1.save(update_fields=["left_at"])

    assert client.get("/api/v1/me").status_code == 401


def test_session_write_without_csrf_token_is_refused(org_world):
    client = Client(enforce_csrf_checks=True)
    client.force_login(org_world.rep1)

    response = client.post("/api/v1/customers", {"name": "王五"}, content_type="application/json")

    assert response.status_code == 403
    assert Customer.objects.count() == 0


def test_session_write_with_csrf_token_is_accepted(org_world):
    client = Client(enforce_csrf_checks=True)
    client.force_login(org_world.rep1)
    client.get("/api/v1/docs")  # any page that renders a token sets the CSRF cookie
    token = client.cookies["csrftoken"].value

    response = client.post(
        "/api/v1/customers", {"name": "王五"}, content_type="application/json", headers={"X-CSRFToken": token}
    )

    assert response.status_code == 201
    assert Customer.objects.get().name == "王五"


def test_bearer_token_write_needs_no_csrf_token(org_world):
    token = api_token_create(user=org_world.rep1)
    client = Client(enforce_csrf_checks=True)

    response = client.post(
        "/api/v1/customers",
        {"name": "王五"},
        content_type="application/json",
        headers={"Authorization": f"Bearer {token}"},
    )

    assert response.status_code == 201
