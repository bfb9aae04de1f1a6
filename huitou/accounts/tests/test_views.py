"""Account pages: log-in and lock-out, organisation settings (owner only), API tokens."""

from __future__ import annotations

import json
import re

import pytest
from django.urls import reverse

from huitou.accounts.models import ApiToken, Organisation
from huitou.accounts.policy import (
    ContactPolicy,
    ReferralPolicy,
    RiskPolicy,
    SegmentPolicy,
    ServeCostPolicy,
    ValuePolicy,
)
from huitou.feedback.policy import FeedbackPolicy
from huitou.reports.policy import ReportPolicy

pytestmark = pytest.mark.django_db


def test_login_page_renders_in_chinese_by_default(client):
    html = client.get(reverse("accounts:login")).content.decode()
    assert "登录" in html
    assert 'name="password"' in html


def test_login_with_right_password_goes_to_the_dashboard(client, org_world):
    response = client.post(reverse("accounts:login"), {"username": "rep1", "password": "pw-12345678"})
    assert response.status_code == 302
    assert response["Location"] == reverse("dashboards:home")


def test_five_wrong_passwords_lock_the_account_with_a_clear_page(client, org_world):
    for _ in range(5):
        response = client.post(reverse("accounts:login"), {"username": "rep1", "password": "wrong"})
    assert response.status_code == 429
    assert "登录失败次数过多" in response.content.decode()
    again = client.post(reverse("accounts:login"), {"username": "rep1", "password": "pw-12345678"})
    assert again.status_code == 429
    assert "_auth_user_id" not in client.session


def test_logout_ends_the_session(client, org_world):
    client.force_login(org_world.rep1)
    response = client.post(reverse("accounts:logout"))
    assert response.status_code == 302
    assert "_auth_user_id" not in client.session


def test_settings_page_shows_policy_fields_to_owner(client, org_world):
    client.force_login(org_world.owner)
    html = client.get(reverse("accounts:settings")).content.decode()
    assert 'name="archive.unmasked_phone_roles"' in html
    assert 'name="people.manager_sees_whole_store"' in html
    assert 'name="archive.testimonials_per_product_target"' in html


@pytest.mark.parametrize("role", ["manager1", "rep1", "dcrc", "aftersales"])
def test_settings_page_refused_to_non_owners_and_nothing_changed(client, org_world, role):
    client.force_login(getattr(org_world, role))
    assert client.get(reverse("accounts:settings")).status_code == 403
    response = client.post(
        reverse("accounts:settings"),
        {"version": "1", "archive.default_region": "HK", "archive.testimonials_per_product_target": "3"},
    )
    org = Organisation.objects.get(pk=org_world.org.pk)
    assert response.status_code == 403
    assert (org.policy_version, org.policy.archive.default_region) == (1, "CN")


def _settings_post(**changes) -> dict:
    data = {
        "version": "1",
        "archive.default_region": "CN",
        "archive.unmasked_phone_roles": ["rep", "dcrc", "aftersales"],
        "archive.testimonials_per_product_target": "10",
        "archive.duplicate_match_name_birthday": "on",
        "people.manager_sees_whole_store": "on",
        "people.dcrc_sees_whole_organisation": "on",
    }
    # The contact-plan and segment sections posted as they stand (checkboxes only when on, as a browser does).
    sections = (
        ("contact", ContactPolicy()),
        ("segments", SegmentPolicy()),
        ("referrals", ReferralPolicy()),
        ("feedback", FeedbackPolicy()),
        ("risk", RiskPolicy()),
        ("serve_costs", ServeCostPolicy()),
        ("value", ValuePolicy()),
        ("reports", ReportPolicy()),
    )
    for section, model in sections:
        for key, value in model.model_dump(mode="json").items():
            if isinstance(value, bool):
                if value:
                    data[f"{section}.{key}"] = "on"
            elif isinstance(value, list) and value and all(isinstance(v, int) for v in value):
                data[f"{section}.{key}"] = ", ".join(str(v) for v in value)
            elif isinstance(value, list):
                data[f"{section}.{key}"] = json.dumps(value)
            else:
                data[f"{section}.{key}"] = str(value)
    data.update(changes)
    return {k: v for k, v in data.items() if v is not None}


def test_owner_saves_policy(client, org_world):
    client.force_login(org_world.owner)
    response = client.post(
        reverse("accounts:settings"),
        _settings_post(
            **{
                "archive.unmasked_phone_roles": ["rep", "manager"],
                "archive.testimonials_per_product_target": "12",
                "people.manager_sees_whole_store": None,
            }
        ),
    )
    org = Organisation.objects.get(pk=org_world.org.pk)
    assert response.status_code == 302
    assert org.policy_version == 2
    assert org.policy.archive.unmasked_phone_roles == ["rep", "manager"]
    assert org.policy.archive.testimonials_per_product_target == 12
    assert org.policy.people.manager_sees_whole_store is False


def test_policy_value_out_of_range_is_shown_next_to_its_field(client, org_world):
    client.force_login(org_world.owner)
    response = client.post(
        reverse("accounts:settings"), _settings_post(**{"archive.testimonials_per_product_target": "5000"})
    )
    org = Organisation.objects.get(pk=org_world.org.pk)
    assert list(response.context["form"].errors) == ["archive.testimonials_per_product_target"]
    assert org.policy_version == 1


def test_policy_with_stale_version_is_refused(client, org_world):
    org = org_world.org
    org.policy_version = 2
    org.save()
    client.force_login(org_world.owner)
    client.cookies["django_language"] = "en"
    response = client.post(
        reverse("accounts:settings"), _settings_post(**{"archive.testimonials_per_product_target": "3"})
    )
    org.refresh_from_db()
    assert "changed by someone else" in response.content.decode()
    assert (org.policy_version, org.policy.archive.testimonials_per_product_target) == (2, 10)


def test_settings_in_english_after_language_switch(client, org_world):
    client.force_login(org_world.owner)
    client.post(reverse("set_language"), {"language": "en", "next": reverse("accounts:settings")})
    html = client.get(reverse("accounts:settings")).content.decode()
    assert "Organisation settings" in html
    assert "组织设置" not in html


def test_api_token_is_shown_once_and_stored_hashed(client, org_world):
    client.force_login(org_world.rep1)
    response = client.post(reverse("accounts:profile"), {"action": "create", "name": "手机"})
    token = response.context["new_token"]
    stored = ApiToken.objects.get(user=org_world.rep1)
    assert token.startswith("ht_")
    assert token in response.content.decode()
    assert (stored.name, stored.key_hash) == ("手机", ApiToken.hash_key(token))
    assert token not in client.get(reverse("accounts:profile")).content.decode()


def test_api_token_revoked_from_profile(client, org_world):
    from huitou.accounts.services import api_token_create

    api_token_create(user=org_world.rep1, name="old")
    token = ApiToken.objects.get(user=org_world.rep1)
    client.force_login(org_world.rep1)
    client.post(reverse("accounts:profile"), {"action": "revoke", "token_id": str(token.pk)})
    token.refresh_from_db()
    assert token.revoked_at is not None


def test_cannot_revoke_someone_elses_token(client, org_world):
    from huitou.accounts.services import api_token_create

    api_token_create(user=org_world.rep2, name="theirs")
    token = ApiToken.objects.get(user=org_world.rep2)
    client.force_login(org_world.rep1)
    client.post(reverse("accounts:profile"), {"action": "revoke", "token_id": str(token.pk)})
    token.refresh_from_db()
    assert token.revoked_at is None


def test_settings_choices_show_words_not_stored_values(client, org_world):
    """A choice field of the policy offers its values by name: the stock-check setting reads
    '企业客户' (company accounts), not the stored 'companies'; the English page says it in English."""
    client.force_login(org_world.owner)
    html = client.get(reverse("accounts:settings")).content.decode()
    select = html.split('name="reports.stock_checks_for"', 1)[1].split("</select>", 1)[0]
    assert re.search(r'<option value="companies"[^>]*selected[^>]*>企业客户</option>', select)
    assert ">companies<" not in select
    client.post(reverse("set_language"), {"language": "en", "next": reverse("accounts:settings")})
    html = client.get(reverse("accounts:settings")).content.decode()
    select = html.split('name="reports.stock_checks_for"', 1)[1].split("</select>", 1)[0]
    assert '<option value="none">No accounts</option>' in select
