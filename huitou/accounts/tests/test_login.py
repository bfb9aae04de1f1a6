import pytest
from django.urls import reverse


@pytest.fixture(autouse=True)
def _axes_reset(db):
    from axes.models import AccessAttempt

    AccessAttempt.objects.all().delete()


def test_login_succeeds_with_right_password(client, org_world):
    resp = client.post(reverse("accounts:login"), {"username": "rep1", "password": "pw-12345678"})
    assert resp.status_code == 302
    assert client.session.get("_auth_user_id") == str(org_world.rep1.pk)


def test_login_throttled_after_repeated_failures(client, org_world):
    for _ in range(5):
        client.post(reverse("accounts:login"), {"username": "rep1", "password": "wrong"})
    resp = client.post(reverse("accounts:login"), {"username": "rep1", "password": "pw-12345678"})
    assert resp.status_code == 429
    assert "_auth_user_id" not in client.session
