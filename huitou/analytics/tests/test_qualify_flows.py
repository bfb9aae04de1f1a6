"""Lead qualification: the apple rule, the service with its timeline history, the card and the list,
with who may qualify and who may see whom."""

from __future__ import annotations

import datetime as dt

import pytest
from django.urls import reverse
from django.utils import translation

from huitou.analytics import qualify
from huitou.analytics.models import CustomerSegment
from huitou.analytics.models_qualify import Qualification
from huitou.core.errors import Conflict, NotFound, PermissionDenied
from huitou.customers.models import Activity, Customer
from tests.factories import CustomerFactory

HTMX = {"HTTP_HX_REQUEST": "true"}


@pytest.mark.parametrize(
    ("need", "money", "authority", "apple"),
    [
        (True, True, True, "red"),
        (True, True, False, "green"),
        (False, True, True, "green"),
        (True, False, True, "green"),
        (True, False, False, "rotten"),
        (False, False, False, "rotten"),
    ],
)
def test_apple_rule(need, money, authority, apple):
    assert qualify.apple_of(need=need, money=money, authority=authority) == apple


@pytest.fixture
def leads(org_world):
    w = org_world
    return {
        "a": CustomerFactory(owner=w.rep1, name="甲", status=Customer.Status.PROSPECT),
        "b": CustomerFactory(owner=w.rep1, name="乙", customer_type=Customer.Type.PROFIT),
        "c": CustomerFactory(owner=w.rep3, name="丙"),
    }


def _system_touches(customer):
    return list(Activity.objects.filter(customer=customer, kind="system").values_list("subject", flat=True))


def test_rep_qualifies_own_customer_and_history_is_logged(org_world, leads):
    q = qualify.qualification_set(
        actor=org_world.rep1,
        customer_id=leads["a"].pk,
        need=True,
        money=True,
        authority=False,
        note="预算已批",
    )
    assert (q.apple, q.version, q.updated_by) == ("green", 1, org_world.rep1)
    assert _system_touches(leads["a"]) == [qualify._history_subject(q)]
    # Saving the same answers again changes nothing and logs nothing.
    again = qualify.qualification_set(
        actor=org_world.rep1,
        customer_id=leads["a"].pk,
        need=True,
        money=True,
        authority=False,
        note="预算已批",
    )
    assert again.version == 1
    assert len(_system_touches(leads["a"])) == 1
    red = qualify.qualification_set(
        actor=org_world.rep1, customer_id=leads["a"].pk, need=True, money=True, authority=True, version=1
    )
    assert (red.apple, red.version) == ("red", 2)
    assert len(_system_touches(leads["a"])) == 2
    assert Qualification.objects.get(customer=leads["a"]).apple == "red"


def test_history_subject_names_the_apple_and_what_was_met(org_world, leads):
    with translation.override("en"):
        qualify.qualification_set(
            actor=org_world.rep1, customer_id=leads["a"].pk, need=True, money=False, authority=True
        )
    subject = _system_touches(leads["a"])[0]
    # Written in the site's language whoever clicked, naming the apple and the criteria met.
    with translation.override("zh-hans"):
        apple = str(Qualification.Apple.GREEN.label)
    assert apple in subject
    assert subject == qualify._history_subject(Qualification.objects.get(customer=leads["a"]))


def test_stale_version_is_refused_and_nothing_changes(org_world, leads):
    qualify.qualification_set(
        actor=org_world.rep1, customer_id=leads["a"].pk, need=True, money=True, authority=True
    )
    with pytest.raises(Conflict):
        qualify.qualification_set(
            actor=org_world.manager1,
            customer_id=leads["a"].pk,
            need=False,
            money=False,
            authority=False,
            version=0,
        )
    assert Qualification.objects.get(customer=leads["a"]).apple == "red"


def test_rep_cannot_qualify_another_reps_customer(org_world, leads):
    with pytest.raises(NotFound):
        qualify.qualification_set(
            actor=org_world.rep2, customer_id=leads["a"].pk, need=True, money=True, authority=True
        )
    assert not Qualification.objects.exists()
    assert _system_touches(leads["a"]) == []


def test_dcrc_sees_but_cannot_qualify(org_world, leads):
    with pytest.raises(PermissionDenied):
        qualify.qualification_set(
            actor=org_world.dcrc, customer_id=leads["a"].pk, need=True, money=True, authority=True
        )
    assert not Qualification.objects.exists()


def test_manager_of_the_store_and_owner_qualify(org_world, leads):
    qualify.qualification_set(
        actor=org_world.manager1, customer_id=leads["b"].pk, need=True, money=False, authority=False
    )
    qualify.qualification_set(
        actor=org_world.owner, customer_id=leads["c"].pk, need=True, money=True, authority=True
    )
    assert dict(Qualification.objects.values_list("customer__name", "apple")) == {"乙": "rotten", "丙": "red"}
    with pytest.raises(NotFound):  # store 2's customer is outside manager1's scope
        qualify.qualification_set(
            actor=org_world.manager1, customer_id=leads["c"].pk, need=False, money=False, authority=False
        )
    assert Qualification.objects.get(customer=leads["c"]).apple == "red"


# ---------------------------------------------------------------- card


def test_card_shows_apple_type_strategy_and_suggestion(client, org_world, leads):
    b = leads["b"]
    CustomerSegment.objects.create(
        organisation=org_world.org,
        customer=b,
        as_of=dt.date(2026, 6, 30),
        recency_days=1,
        frequency=1,
        r=5,
        f=1,
        m=5,
        suggested_type="relationship",
    )
    qualify.qualification_set(actor=org_world.rep1, customer_id=b.pk, need=True, money=True, authority=True)
    client.force_login(org_world.rep1)
    response = client.get(
        reverse("analytics:qualify_customer", args=[b.pk]), HTTP_ACCEPT_LANGUAGE="en", **HTMX
    )
    html = response.content.decode()
    assert response.status_code == 200
    assert 'data-apple="red"' in html
    assert "Profit type" in html
    assert "tell them about technical improvements" in html
    assert "Relationship type" in html and "small gifts and frequent warm contact" in html
    assert 'id="qualify-form"' in html
    assert "<html" not in html  # a fragment for htmx


def test_card_post_saves_and_returns_the_card(client, org_world, leads):
    a = leads["a"]
    client.force_login(org_world.rep1)
    response = client.post(
        reverse("analytics:qualify_customer", args=[a.pk]),
        {"need": "on", "money": "on", "note": "下月提车", "version": "0"},
        **HTMX,
    )
    assert response.status_code == 200
    assert 'data-apple="green"' in response.content.decode()
    q = Qualification.objects.get(customer=a)
    assert (q.need, q.money, q.authority, q.note) == (True, True, False, "下月提车")


def test_card_post_without_htmx_redirects(client, org_world, leads):
    a = leads["a"]
    client.force_login(org_world.rep1)
    url = reverse("analytics:qualify_customer", args=[a.pk])
    response = client.post(url, {"need": "on", "money": "on", "authority": "on"})
    assert response.status_code == 302 and response["Location"] == url
    assert Qualification.objects.get(customer=a).apple == "red"


def test_card_of_another_reps_customer_is_404_and_post_changes_nothing(client, org_world, leads):
    client.force_login(org_world.rep2)
    url = reverse("analytics:qualify_customer", args=[leads["a"].pk])
    assert client.get(url, **HTMX).status_code == 404
    assert client.post(url, {"need": "on", "money": "on", "authority": "on"}, **HTMX).status_code == 404
    assert not Qualification.objects.exists()


def test_dcrc_card_has_no_form_and_post_is_403(client, org_world, leads):
    client.force_login(org_world.dcrc)
    url = reverse("analytics:qualify_customer", args=[leads["a"].pk])
    response = client.get(url, **HTMX)
    assert response.status_code == 200
    assert 'id="qualify-form"' not in response.content.decode()
    assert client.post(url, {"need": "on"}, **HTMX).status_code == 403
    assert not Qualification.objects.exists()


def test_card_loader_points_at_the_card(rf, org_world, leads):
    from django.template.loader import get_template, render_to_string

    request = rf.get("/")
    request.user = org_world.rep1
    html = render_to_string("analytics/qualify/_card_loader.html", {"customer": leads["a"]}, request=request)
    assert f'hx-get="{reverse("analytics:qualify_customer", args=[leads["a"].pk])}"' in html
    assert 'id="qualify-card"' in html
    # The customer page includes it.
    assert "analytics/qualify/_card_loader.html" in get_template("customers/detail.html").template.source


# ---------------------------------------------------------------- list


@pytest.fixture
def qualified(org_world, leads):
    qualify.qualification_set(
        actor=org_world.rep1, customer_id=leads["a"].pk, need=True, money=True, authority=True
    )
    qualify.qualification_set(
        actor=org_world.rep1, customer_id=leads["b"].pk, need=True, money=True, authority=False
    )
    qualify.qualification_set(
        actor=org_world.rep3, customer_id=leads["c"].pk, need=False, money=False, authority=True
    )
    return leads


def _rows(html: str) -> set[str]:
    import re

    return set(re.findall(r'id="qualify-row-(\d+)"', html))


def test_owner_list_shows_everyone_and_counts(client, org_world, qualified):
    client.force_login(org_world.owner)
    response = client.get(reverse("analytics:qualify_list"))
    html = response.content.decode()
    assert _rows(html) == {str(c.pk) for c in qualified.values()}
    assert [(a, n) for a, _label, n in response.context["counts"]] == [
        ("red", 1),
        ("green", 1),
        ("rotten", 1),
    ]
    by_rep = {r["rep_id"]: r["counts"] for r in response.context["by_rep"]}
    assert by_rep == {org_world.rep1.pk: [1, 1, 0], org_world.rep3.pk: [0, 0, 1]}
    assert 'id="apples-per-rep"' in html


def test_list_filters_by_apple_and_rep(client, org_world, qualified):
    client.force_login(org_world.owner)
    html = client.get(reverse("analytics:qualify_list"), {"apple": "green"}).content.decode()
    assert _rows(html) == {str(qualified["b"].pk)}
    html = client.get(reverse("analytics:qualify_list"), {"rep": org_world.rep3.pk}).content.decode()
    assert _rows(html) == {str(qualified["c"].pk)}
    html = client.get(reverse("analytics:qualify_list"), {"status": "prospect"}).content.decode()
    assert _rows(html) == {str(qualified["a"].pk)}


def test_rep_list_shows_only_own_customers(client, org_world, qualified):
    client.force_login(org_world.rep3)
    response = client.get(reverse("analytics:qualify_list"), {"rep": org_world.rep1.pk})
    assert _rows(response.content.decode()) == {str(qualified["c"].pk)}
    assert [n for _a, _l, n in response.context["counts"]] == [0, 0, 1]
    assert response.context["by_rep"] == []  # a rep sees no table of colleagues


def test_list_is_paginated(client, org_world):
    for i in range(55):
        c = CustomerFactory(owner=org_world.rep1, name=f"客{i}")
        qualify.qualification_set(
            actor=org_world.rep1, customer_id=c.pk, need=True, money=True, authority=True
        )
    client.force_login(org_world.rep1)
    first = client.get(reverse("analytics:qualify_list"))
    assert len(_rows(first.content.decode())) == 50 and first.context["next_url"]
    second = client.get(reverse("analytics:qualify_list"), {"page": 2})
    assert len(_rows(second.content.decode())) == 5


def test_list_query_count_is_fixed(client, org_world, qualified, django_assert_max_num_queries):
    client.force_login(org_world.owner)
    client.get(reverse("analytics:qualify_list"))
    for i in range(10):
        c = CustomerFactory(owner=org_world.rep2, name=f"多{i}")
        qualify.qualification_set(
            actor=org_world.rep2, customer_id=c.pk, need=True, money=False, authority=False
        )
    with django_assert_max_num_queries(12):
        response = client.get(reverse("analytics:qualify_list"))
    assert len(_rows(response.content.decode())) == 13


def test_list_in_english(client, org_world, qualified):
    client.force_login(org_world.owner)
    html = client.get(reverse("analytics:qualify_list"), HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "Qualified leads" in html and "Red apple" in html
