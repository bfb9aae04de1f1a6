"""/me and the organisation policy."""

from __future__ import annotations

import pytest

from huitou.accounts.models import Organisation

pytestmark = pytest.mark.django_db


def test_me_describes_the_caller(org_world, api_as):
    body = api_as(org_world.rep1).get("/me").json()

    assert body == {
        "id": org_world.rep1.pk,
        "username": "rep1",
        "display_name": "rep1",
        "role": "rep",
        "role_label": "Sales representative",
        "store": {"id": org_world.s1.pk, "code": "TH", "name": "天河店"},
        "team_id": org_world.t1.pk,
        "organisation": {"id": org_world.org.pk, "slug": "huanan", "name": "华南汽车集团", "kind": "dealer"},
        "sees_full_phone": True,
    }


def test_owner_reads_the_policy_with_defaults(org_world, api_as):
    body = api_as(org_world.owner).get("/policy").json()

    assert body["version"] == 1
    assert body["policy"]["archive"]["unmasked_phone_roles"] == ["rep", "dcrc", "aftersales"]
    assert body["policy"]["people"] == {
        "manager_sees_whole_store": True,
        "dcrc_sees_whole_organisation": True,
    }


def test_manager_cannot_read_the_policy(org_world, api_as):
    response = api_as(org_world.manager1).get("/policy")

    assert response.status_code == 403
    assert response.json() == {"detail": "You are not allowed to do this.", "errors": {}}


def test_owner_replaces_the_policy(org_world, api_as):
    response = api_as(org_world.owner).put(
        "/policy", {"version": 1, "policy": {"people": {"manager_sees_whole_store": False}}}
    )

    assert response.status_code == 200
    assert response.json()["version"] == 2
    org = Organisation.objects.get(pk=org_world.org.pk)
    assert (org.policy_version, org.policy.people.manager_sees_whole_store) == (2, False)


def test_invalid_policy_value_is_422_and_changes_nothing(org_world, api_as):
    response = api_as(org_world.owner).put(
        "/policy", {"version": 1, "policy": {"archive": {"unmasked_phone_roles": ["boss"]}}}
    )

    assert response.status_code == 422
    assert list(response.json()["errors"]) == ["archive.unmasked_phone_roles.0"]
    org = Organisation.objects.get(pk=org_world.org.pk)
    assert (org.policy_version, org.policy_data) == (1, {})


def test_manager_cannot_set_the_policy(org_world, api_as):
    response = api_as(org_world.manager1).put(
        "/policy", {"version": 1, "policy": {"people": {"manager_sees_whole_store": False}}}
    )

    assert response.status_code == 403
    org = Organisation.objects.get(pk=org_world.org.pk)
    assert (org.policy_version, org.policy_data) == (1, {})


def test_errors_speak_chinese_by_default(org_world, api_as):
    response = api_as(org_world.manager1, language=None).get("/policy")

    assert response.json()["detail"] == "您无权执行此操作。"
