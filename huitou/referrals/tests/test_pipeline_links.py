"""Self-service links: the signed token, the public page, its rate limits and what it never shows."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from django.core import signing
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from huitou.core.errors import PermissionDenied
from huitou.referrals import links
from huitou.referrals import services as svc
from huitou.referrals.models import Referral, ReferralLink
from tests.factories import CustomerFactory

pytestmark = pytest.mark.django_db

TZ = ZoneInfo("Asia/Shanghai")
NOW = dt.datetime(2026, 3, 10, 10, 0, tzinfo=TZ)


def set_policy(org, **values):
    data = dict(org.policy_data or {})
    data["referrals"] = {**data.get("referrals", {}), **values}
    org.policy_data = data
    org.save(update_fields=["policy_data"])


def referrer_of(w, rep=None, **kw):
    rep = rep or w.rep1
    return CustomerFactory(owner=rep, organisation=w.org, store=rep.store, **kw)


def public_form(people, consent=True, **extra):
    data = {
        "p-TOTAL_FORMS": "3",
        "p-INITIAL_FORMS": "0",
        "p-MIN_NUM_FORMS": "0",
        "p-MAX_NUM_FORMS": "10",
    }
    for i in range(3):
        person = people[i] if i < len(people) else {}
        data[f"p-{i}-relation"] = person.get("relation", "friend")
        for key in ("name", "phone", "interest"):
            data[f"p-{i}-{key}"] = person.get(key, "")
    if consent:
        data["consent"] = "on"
    data.update(extra)
    return data


# --- tokens -----------------------------------------------------------------------------------


def test_link_token_round_trip_and_expiry_from_policy(org_world):
    w = org_world
    set_policy(w.org, link_valid_days=14)
    ref = referrer_of(w)
    link, token = svc.referral_link_create(actor=w.dcrc, referrer_id=ref.pk, now=NOW)
    assert (link.referrer_id, link.organisation_id, link.created_by_id) == (ref.pk, w.org.pk, w.dcrc.pk)
    assert link.expires_at == NOW + dt.timedelta(days=14)
    assert svc.referral_link_read(token, now=NOW + dt.timedelta(days=13)).pk == link.pk


def test_expired_revoked_tampered_and_unknown_tokens(org_world):
    w = org_world
    ref = referrer_of(w)
    link, token = svc.referral_link_create(actor=w.rep1, referrer_id=ref.pk, now=NOW)
    with pytest.raises(links.LinkError) as exc:
        svc.referral_link_read(token, now=NOW + dt.timedelta(days=30))
    assert exc.value.reason == "expired"
    for bad in (
        token[:-2] + ("AA" if not token.endswith("AA") else "BB"),
        "nonsense",
        token.replace(":", ";", 1),
    ):
        with pytest.raises(links.LinkError) as exc:
            svc.referral_link_read(bad, now=NOW)
        assert exc.value.reason == "invalid"
    forged = signing.dumps(link.pk, salt="another.salt")
    with pytest.raises(links.LinkError) as exc:
        svc.referral_link_read(forged, now=NOW)
    assert exc.value.reason == "invalid"
    unknown = links.token_for(link.pk + 1000)
    with pytest.raises(links.LinkError) as exc:
        svc.referral_link_read(unknown, now=NOW)
    assert exc.value.reason == "invalid"
    svc.referral_link_revoke(actor=w.manager1, link_id=link.pk, now=NOW)
    with pytest.raises(links.LinkError) as exc:
        svc.referral_link_read(token, now=NOW)
    assert exc.value.reason == "revoked"


def test_a_merged_referrer_ends_the_link(org_world):
    w = org_world
    ref = referrer_of(w)
    _link, token = svc.referral_link_create(actor=w.rep1, referrer_id=ref.pk, now=NOW)
    ref.merged_into = referrer_of(w)
    ref.save()
    with pytest.raises(links.LinkError) as exc:
        svc.referral_link_read(token, now=NOW)
    assert exc.value.reason == "revoked"


def test_the_same_link_always_gives_the_same_token(org_world):
    w = org_world
    link, token = svc.referral_link_create(actor=w.rep1, referrer_id=referrer_of(w).pk, now=NOW)
    assert links.token_for(link.pk) == token
    assert token.count(":") == 1  # value and signature, no timestamp: printing later gives the same QR


def test_self_service_submission_needs_the_referrers_own_link(org_world):
    w = org_world
    ref, other = referrer_of(w), referrer_of(w)
    link, _token = svc.referral_link_create(actor=w.rep1, referrer_id=other.pk, now=NOW)
    for kw in ({}, {"link": link}):
        with pytest.raises(PermissionDenied):
            svc.referral_submit(
                actor=None,
                referrer=ref,
                name="x",
                phone="13900000001",
                relation="friend",
                channel="self",
                now=NOW,
                **kw,
            )
    assert not Referral.objects.exists()


def test_link_rate_limit_per_rolling_hour(org_world):
    w = org_world
    set_policy(w.org, link_max_per_hour=2)
    ref = referrer_of(w)
    link, _token = svc.referral_link_create(actor=w.rep1, referrer_id=ref.pk, now=NOW)

    def send(i, at):
        return svc.referral_submit(
            actor=None,
            referrer=ref,
            name=f"人{i}",
            phone=f"1390000000{i}",
            relation="friend",
            channel="self",
            link=link,
            now=at,
        )

    send(1, NOW)
    send(2, NOW + dt.timedelta(minutes=30))
    with pytest.raises(svc.RateLimited):
        send(3, NOW + dt.timedelta(minutes=59))
    send(3, NOW + dt.timedelta(minutes=61))  # the first one is more than an hour old now
    link.refresh_from_db()
    assert (link.submissions, Referral.objects.filter(channel="self").count()) == (3, 3)


# --- the public page --------------------------------------------------------------------------


@pytest.fixture
def public(org_world):
    w = org_world
    ref = referrer_of(w, name="王建国", gender="m", phone="+8613800001111")
    link, token = svc.referral_link_create(actor=w.rep1, referrer_id=ref.pk)
    return ref, link, reverse("referrals:public", args=[token])


def test_public_page_greets_by_surname_only(org_world, public):
    _ref, _link, url = public
    page = Client(headers={"Accept-Language": "en"}).get(url).content.decode()
    assert "Hello, Mr 王!" in page
    assert "王建国" not in page and "13800001111" not in page and "138****1111" not in page
    assert "天河店" in page


def test_public_submission_saves_self_service_leads(org_world, public):
    ref, link, url = public
    client = Client(headers={"Accept-Language": "en"})
    response = client.post(
        url,
        public_form(
            [
                {"name": "张伟", "phone": "13912345678", "interest": "SUV"},
                {"name": "李娜", "phone": "13912345679", "relation": "family"},
            ]
        ),
    )
    assert response.status_code == 302 and response["Location"] == url + "?done=1"
    rows = list(
        Referral.objects.order_by("id").values_list(
            "name", "channel", "submitted_by", "referrer_id", "relation"
        )
    )
    assert rows == [("张伟", "self", None, ref.pk, "friend"), ("李娜", "self", None, ref.pk, "family")]
    link.refresh_from_db()
    assert link.submissions == 2
    assert "Thank you, Mr 王!" in client.get(response["Location"]).content.decode()


def test_public_page_never_tells_about_other_referrals(org_world, public):
    w = org_world
    ref, _link, url = public
    other = referrer_of(w, name="孙悟空")
    svc.referral_submit(
        actor=w.rep1, referrer=other, name="张伟", phone="13912345678", relation="friend", channel="delivery"
    )
    response = Client().post(url, public_form([{"name": "张伟", "phone": "13912345678"}]))
    assert response.status_code == 302  # thanked like anyone else
    dup = Referral.objects.get(referrer=ref)
    assert (dup.flags, dup.review) == (["duplicate"], "pending")
    page = Client(headers={"Accept-Language": "en"}).get(response["Location"]).content.decode()
    assert "孙悟空" not in page and "duplicate" not in page.lower()


def test_public_errors_are_per_field_and_save_nothing(org_world, public):
    _ref, _link, url = public
    client = Client(headers={"Accept-Language": "en"})
    response = client.post(url, public_form([{"name": "张伟", "phone": "123"}]))
    assert response.status_code == 422
    assert "This is not a valid mobile phone number." in response.content.decode()
    response = client.post(url, public_form([{"name": "张伟", "phone": "13912345678"}], consent=False))
    assert response.status_code == 422
    assert "Please confirm that they agree to be called." in response.content.decode()
    response = client.post(url, public_form([]))
    assert "Enter at least one person." in response.content.decode()
    assert not Referral.objects.exists()


def test_public_robot_field_stores_nothing(org_world, public):
    _ref, _link, url = public
    response = Client().post(
        url, public_form([{"name": "张伟", "phone": "13912345678"}], website="http://spam")
    )
    assert response.status_code == 302
    assert not Referral.objects.exists()


@pytest.mark.parametrize(
    ("change", "status", "reason"),
    [("expire", 410, "expired"), ("revoke", 410, "revoked"), ("tamper", 404, "invalid")],
)
def test_public_page_for_dead_links(org_world, public, change, status, reason):
    _ref, link, url = public
    if change == "expire":
        ReferralLink.objects.filter(pk=link.pk).update(expires_at=timezone.now() - dt.timedelta(minutes=1))
    elif change == "revoke":
        ReferralLink.objects.filter(pk=link.pk).update(revoked_at=timezone.now())
    else:
        url = url[:-3] + "x/"
    for response in (
        Client().get(url),
        Client().post(url, public_form([{"name": "张伟", "phone": "13912345678"}])),
    ):
        assert response.status_code == status
        assert f'data-reason="{reason}"' in response.content.decode()
    assert not Referral.objects.exists()


def test_public_page_link_limit_is_429(org_world, public):
    w = org_world
    set_policy(w.org, link_max_per_hour=1)
    _ref, _link, url = public
    client = Client()
    assert client.post(url, public_form([{"name": "张伟", "phone": "13912345678"}])).status_code == 302
    response = client.post(url, public_form([{"name": "李娜", "phone": "13912345679"}]))
    assert response.status_code == 429 and 'data-reason="limited"' in response.content.decode()
    assert Referral.objects.count() == 1


def test_public_page_ip_limit_is_429(org_world, public, monkeypatch):
    _ref, _link, url = public
    monkeypatch.setattr(links, "PUBLIC_POSTS_PER_IP_HOUR", 2)
    client = Client(REMOTE_ADDR="203.0.113.7")
    for _ in range(2):
        assert client.post(url, public_form([{"name": "", "phone": ""}])).status_code == 422
    response = client.post(url, public_form([{"name": "张伟", "phone": "13912345678"}]))
    assert response.status_code == 429
    assert not Referral.objects.exists()
    other = Client(REMOTE_ADDR="203.0.113.8")
    assert other.post(url, public_form([{"name": "张伟", "phone": "13912345678"}])).status_code == 302
    assert client.get(url).status_code == 200  # reading the page is never limited
