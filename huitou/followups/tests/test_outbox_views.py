"""Outbox pages: scope by role, filters, counts, masked phones, htmx cancel/retry, print page."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse

from huitou.customers.services import search_keys_rebuild
from huitou.followups.models import Message, PrintBatch
from tests.factories import CustomerFactory, MessageFactory, UserFactory

from .test_outbox_support import at, customer_of

pytestmark = pytest.mark.django_db
EN = {"Accept-Language": "en"}


def row_ids(response) -> list[int]:
    return [int(i) for i in re.findall(r'<tr id="message-(\d+)"', response.content.decode())]


def msg(owner, **kwargs):
    customer = kwargs.pop("customer", None) or customer_of(owner, phone=kwargs.pop("phone", "+8613812345678"))
    kwargs.setdefault("to", customer.phone)
    return MessageFactory(customer=customer, **kwargs)


@pytest.fixture
def world(org_world):
    w = org_world
    w.m1 = msg(w.rep1, status="queued")
    w.m2 = msg(w.rep2, status="failed", purpose="service", last_error="timeout")
    w.m3 = msg(w.rep3, status="sent")
    w.m_other = MessageFactory(customer=CustomerFactory(owner=UserFactory(organisation=w.other_org)))
    return w


@pytest.mark.parametrize(
    ("role", "visible"),
    [
        ("owner", {"m1", "m2", "m3"}),
        ("manager1", {"m1", "m2"}),
        ("manager2", {"m3"}),
        ("dcrc", {"m1", "m2", "m3"}),
        ("rep1", {"m1"}),
        ("rep2", {"m2"}),
    ],
)
def test_each_role_sees_its_scope(client, world, role, visible):
    client.force_login(getattr(world, role))
    response = client.get(reverse("followups:outbox"), headers=EN)
    assert response.status_code == 200
    assert set(row_ids(response)) == {getattr(world, name).pk for name in visible}


def test_after_sales_has_no_outbox(client, world):
    client.force_login(world.aftersales)
    assert client.get(reverse("followups:outbox")).status_code == 403
    assert client.get(reverse("followups:outbox_print")).status_code == 403


def test_login_is_required(client, world):
    response = client.get(reverse("followups:outbox"))
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]


def test_counts_per_status_and_filter(client, world):
    client.force_login(world.owner)
    response = client.get(reverse("followups:outbox"), {"status": "failed"}, headers=EN)
    assert row_ids(response) == [world.m2.pk]
    html = response.content.decode()
    counts = dict(
        re.findall(r'data-status="(\w+)">[^<]*<span class="badge text-bg-light">(\d+)</span>', html)
    )
    assert (counts["queued"], counts["failed"], counts["sent"], counts["delivered"]) == ("1", "1", "1", "0")


def test_filters_channel_purpose_dates_and_name(client, org_world):
    w = org_world
    zhang = customer_of(w.rep1, name="张伟明")
    a = MessageFactory(customer=zhang, channel="email", purpose="service", scheduled_for=at(10, day=20))
    b = MessageFactory(customer=zhang, channel="sms", purpose="marketing", scheduled_for=at(10, day=22))
    c = MessageFactory(
        customer=customer_of(w.rep1, name="李娜"),
        channel="sms",
        purpose="marketing",
        scheduled_for=at(23, 30, day=22),
    )
    search_keys_rebuild(customer_ids=[zhang.pk, c.customer_id])  # what the customer services keep
    client.force_login(w.owner)
    url = reverse("followups:outbox")
    assert row_ids(client.get(url, {"channel": "email"})) == [a.pk]
    assert row_ids(client.get(url, {"purpose": "marketing"})) == [c.pk, b.pk]
    assert row_ids(client.get(url, {"date_from": "2026-11-21", "date_to": "2026-11-22"})) == [c.pk, b.pk]
    assert row_ids(client.get(url, {"date_to": "2026-11-20"})) == [a.pk]
    assert row_ids(client.get(url, {"q": "张伟明"})) == [b.pk, a.pk]
    assert row_ids(client.get(url, {"status": "nonsense"})) == [c.pk, b.pk, a.pk]  # a bad value is ignored


def test_phones_are_masked_by_role(client, org_world):
    m = msg(org_world.rep1, phone="+8613812345678")
    client.force_login(org_world.manager1)  # managers see masked numbers by default
    html = client.get(reverse("followups:outbox")).content.decode()
    assert "138****5678" in html and "13812345678" not in html
    client.force_login(org_world.rep1)
    assert "13812345678" in client.get(reverse("followups:outbox")).content.decode()
    assert m.pk


def test_pagination_is_server_side(client, org_world):
    c = customer_of(org_world.rep1)
    ids = [MessageFactory(customer=c).pk for _ in range(55)]
    client.force_login(org_world.owner)
    first = client.get(reverse("followups:outbox"))
    assert row_ids(first) == sorted(ids, reverse=True)[:50]
    second = client.get(reverse("followups:outbox"), {"page": 2})
    assert row_ids(second) == sorted(ids, reverse=True)[50:]


def test_list_query_count_does_not_grow_with_rows(client, org_world, django_assert_max_num_queries):
    c = customer_of(org_world.rep1)
    client.force_login(org_world.owner)
    for _ in range(3):
        MessageFactory(customer=c)
    client.get(reverse("followups:outbox"))  # warm the session and caches
    with django_assert_max_num_queries(12) as few:
        client.get(reverse("followups:outbox"))
    for _ in range(30):
        MessageFactory(customer=customer_of(org_world.rep2))
    with django_assert_max_num_queries(len(few.captured_queries)):
        client.get(reverse("followups:outbox"))


def test_htmx_filter_returns_only_the_results(client, world):
    client.force_login(world.owner)
    response = client.get(
        reverse("followups:outbox"),
        {"status": "sent"},
        headers={"HX-Request": "true", "HX-Target": "outbox-results"},
    )
    html = response.content.decode()
    assert "<html" not in html and row_ids(response) == [world.m3.pk]


def test_htmx_cancel_swaps_the_row(client, world):
    client.force_login(world.manager1)
    response = client.post(
        reverse("followups:outbox_cancel", args=[world.m1.pk]), headers={"HX-Request": "true"}
    )
    html = response.content.decode()
    assert response.status_code == 200
    assert html.startswith(f'<tr id="message-{world.m1.pk}" data-status="cancelled">')
    assert Message.objects.get(pk=world.m1.pk).status == "cancelled"


def test_htmx_retry_swaps_the_row(client, world):
    client.force_login(world.owner)
    response = client.post(
        reverse("followups:outbox_retry", args=[world.m2.pk]), headers={"HX-Request": "true"}
    )
    assert f'<tr id="message-{world.m2.pk}" data-status="queued">' in response.content.decode()
    assert Message.objects.get(pk=world.m2.pk).status == "queued"


def test_cancel_of_a_sent_message_shows_why_and_changes_nothing(client, world):
    client.force_login(world.owner)
    response = client.post(
        reverse("followups:outbox_cancel", args=[world.m3.pk]), headers={"HX-Request": "true", **EN}
    )
    assert "cannot be changed" in response.content.decode()
    assert Message.objects.get(pk=world.m3.pk).status == "sent"


def test_a_rep_cannot_cancel_another_reps_message(client, world):
    client.force_login(world.rep1)
    assert client.post(reverse("followups:outbox_cancel", args=[world.m2.pk])).status_code == 404
    assert client.post(reverse("followups:outbox_retry", args=[world.m2.pk])).status_code == 404
    assert Message.objects.get(pk=world.m2.pk).status == "failed"


def test_other_organisation_is_not_found(client, world):
    client.force_login(world.owner)
    assert client.post(reverse("followups:outbox_cancel", args=[world.m_other.pk])).status_code == 404
    assert Message.objects.get(pk=world.m_other.pk).status == "queued"


def test_cancel_without_htmx_redirects_back(client, world):
    client.force_login(world.owner)
    response = client.post(reverse("followups:outbox_cancel", args=[world.m1.pk]))
    assert (response.status_code, response["Location"]) == (302, reverse("followups:outbox"))


def test_the_page_speaks_chinese_by_default(client, world):
    client.force_login(world.owner)
    response = client.get(reverse("followups:outbox"), headers={"Accept-Language": "zh-hans"})
    assert response.status_code == 200 and '<html lang="zh-hans">' in response.content.decode()


# --- print page -------------------------------------------------------------------------------------


def test_print_page_creates_a_batch_and_offers_the_pdf(client, org_world):
    c = customer_of(org_world.rep1, name="张伟", address="天河路385号")
    MessageFactory(
        customer=c, channel="letter", purpose="service", to="天河路385号", scheduled_for=at(9, day=1)
    )
    client.force_login(org_world.manager1)
    page = client.get(reverse("followups:outbox_print"), headers=EN)
    assert "Due now: 1 letters, 0 cards." in page.content.decode()
    response = client.post(reverse("followups:outbox_print"), {"channel": ""})
    assert response.status_code == 302
    batch = PrintBatch.objects.get()
    assert batch.count == 1
    listing = client.get(reverse("followups:outbox_print"), headers=EN).content.decode()
    pdf_url = reverse("followups:outbox_print_pdf", args=[batch.pk])
    assert pdf_url in listing
    download = client.get(pdf_url)
    assert download["Content-Type"] == "application/pdf"
    assert download["Content-Disposition"] == f'attachment; filename="print-batch-{batch.pk}.pdf"'
    assert download.content.startswith(b"%PDF-")


def test_print_with_nothing_due_says_so(client, org_world):
    client.force_login(org_world.owner)
    response = client.post(reverse("followups:outbox_print"), {"channel": "card"}, follow=True, headers=EN)
    assert "No letters or cards are due for printing." in response.content.decode()
    assert not PrintBatch.objects.exists()


def test_another_reps_batch_pdf_is_not_found(client, org_world):
    c = customer_of(org_world.rep1, address="天河路385号")
    MessageFactory(
        customer=c, channel="letter", purpose="service", to="天河路385号", scheduled_for=at(9, day=1)
    )
    client.force_login(org_world.rep1)
    client.post(reverse("followups:outbox_print"), {"channel": "letter"})
    batch = PrintBatch.objects.get()
    client.force_login(org_world.rep2)
    assert client.get(reverse("followups:outbox_print_pdf", args=[batch.pk])).status_code == 404


def test_labels_follow_each_requests_language(client, world):
    client.force_login(world.owner)
    zh = client.get(reverse("followups:outbox"), headers={"Accept-Language": "zh-hans"}).content.decode()
    en = client.get(reverse("followups:outbox"), headers=EN).content.decode()
    assert "短信" in zh and "短信" not in en
    assert ">SMS<" in en
