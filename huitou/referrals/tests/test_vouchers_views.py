"""Voucher pages: list, detail (QR, ledger, void), the desk; permissions and pinned query counts."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone, translation

from huitou.referrals import vouchers as vs
from huitou.referrals.models import Voucher, VoucherEntry
from huitou.referrals.tests.factories import VoucherFactory
from tests.factories import CustomerFactory

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _english():
    translation.activate("en")


def login(user):
    client = Client(HTTP_ACCEPT_LANGUAGE="en")
    client.force_login(user)
    return client


def voucher(owner, **kw):
    kw.setdefault("code", vs.code_new())
    kw.setdefault("expires_on", timezone.localdate() + dt.timedelta(days=100))
    return VoucherFactory(customer=kw.pop("customer", None) or CustomerFactory(owner=owner), **kw)


def html(response) -> str:
    return response.content.decode()


def listed(page: str) -> set[int]:
    return {int(pk) for pk in re.findall(r'data-voucher="(\d+)"', page)}


# --- list ---------------------------------------------------------------------------------------


def test_list_shows_the_vouchers_of_the_viewer_scope(org_world):
    mine = voucher(org_world.rep1)
    team = voucher(org_world.rep2)
    other_store = voucher(org_world.rep3)
    theirs = voucher(org_world.other_owner)
    url = reverse("referrals:vouchers")
    assert listed(html(login(org_world.owner).get(url))) == {mine.pk, team.pk, other_store.pk}
    assert listed(html(login(org_world.rep1).get(url))) == {mine.pk}
    assert listed(html(login(org_world.manager1).get(url))) == {mine.pk, team.pk}
    assert listed(html(login(org_world.aftersales).get(url))) == {mine.pk, team.pk}
    assert listed(html(login(org_world.other_owner).get(url))) == {theirs.pk}


def test_list_filters(org_world):
    a = voucher(org_world.rep1, kind="gift_voucher", issued_at=timezone.now() - dt.timedelta(days=40))
    b = voucher(org_world.rep1, status="redeemed")
    c = voucher(org_world.rep3)
    url = reverse("referrals:vouchers")
    client = login(org_world.owner)
    assert listed(html(client.get(url, {"status": "redeemed"}))) == {b.pk}
    assert listed(html(client.get(url, {"kind": "gift_voucher"}))) == {a.pk}
    assert listed(html(client.get(url, {"store": org_world.s2.pk}))) == {c.pk}
    assert listed(html(client.get(url, {"rep": org_world.rep3.pk}))) == {c.pk}
    month = timezone.localtime(a.issued_at).strftime("%Y-%m")
    assert a.pk in listed(html(client.get(url, {"month": month})))
    assert listed(html(client.get(url, {"code": vs.code_display(b.code).lower()}))) == {b.pk}
    partial = client.get(url, {"status": "redeemed"}, HTTP_HX_REQUEST="true")
    assert html(partial).lstrip().startswith("<div") and "<html" not in html(partial)


def test_list_paginates(org_world):
    customer = CustomerFactory(owner=org_world.rep1)
    for _ in range(55):
        voucher(org_world.rep1, customer=customer)
    client = login(org_world.rep1)
    first = html(client.get(reverse("referrals:vouchers")))
    assert len(listed(first)) == 50
    assert "page=2" in first
    second = html(client.get(reverse("referrals:vouchers"), {"page": 2}))
    assert len(listed(second)) == 5
    assert not listed(first) & listed(second)


@pytest.mark.parametrize("who", ["owner", "manager1", "rep1", "dcrc"])
def test_list_query_count_is_pinned(org_world, django_assert_max_num_queries, who):
    for owner in (org_world.rep1, org_world.rep2):
        voucher(owner)
    client = login(getattr(org_world, who))
    url = reverse("referrals:vouchers")
    client.get(url)  # session and caches
    with django_assert_max_num_queries(7) as few:
        client.get(url)
    for _ in range(30):
        voucher(org_world.rep1)
    with django_assert_max_num_queries(len(few.captured_queries)):
        assert client.get(url).status_code == 200


# --- detail -------------------------------------------------------------------------------------


def test_detail_shows_code_qr_holder_and_ledger(org_world):
    v = vs.voucher_issue(
        organisation=org_world.org,
        customer=CustomerFactory(owner=org_world.rep1, phone="+8613812345678", name="陈静"),
        kind="maintenance_voucher",
        value=300,
    )
    page = html(login(org_world.rep1).get(reverse("referrals:voucher_detail", args=[v.pk])))
    assert vs.code_display(v.code) in page
    assert "<svg" in page
    assert "陈静" in page and "13812345678" in page  # reps see full numbers by default
    assert 'data-action="issue"' in page
    assert 'id="void-form"' not in page


def test_manager_sees_a_masked_phone_and_the_void_form(org_world):
    v = voucher(org_world.rep1, customer=CustomerFactory(owner=org_world.rep1, phone="+8613812345678"))
    page = html(login(org_world.manager1).get(reverse("referrals:voucher_detail", args=[v.pk])))
    assert "138****5678" in page and "13812345678" not in page
    assert 'id="void-form"' in page


def test_detail_and_qr_outside_scope_are_404(org_world):
    v = voucher(org_world.rep1)
    for name in ("referrals:voucher_detail", "referrals:voucher_qr"):
        url = reverse(name, args=[v.pk])
        assert login(org_world.rep3).get(url).status_code == 404  # rep of another team
        assert login(org_world.rep2).get(url).status_code == 404  # same team, not their customer
        assert login(org_world.manager2).get(url).status_code == 404
        assert login(org_world.other_owner).get(url).status_code == 404
    assert login(org_world.rep1).get(reverse("referrals:voucher_detail", args=[v.pk])).status_code == 200


def test_anonymous_is_sent_to_login(org_world):
    v = voucher(org_world.rep1)
    response = Client().get(reverse("referrals:voucher_detail", args=[v.pk]))
    assert response.status_code == 302


def test_qr_is_an_svg_of_the_code(org_world):
    v = voucher(org_world.rep1)
    response = login(org_world.rep1).get(reverse("referrals:voucher_qr", args=[v.pk]))
    assert response.status_code == 200
    assert response["Content-Type"] == "image/svg+xml"
    assert html(response).startswith("<svg")


# --- void ---------------------------------------------------------------------------------------


def test_manager_voids_from_the_detail_page(org_world):
    v = voucher(org_world.rep1)
    url = reverse("referrals:voucher_void", args=[v.pk])
    response = login(org_world.manager1).post(url, {"reason": "客户退车"})
    assert response.status_code == 302
    assert response["Location"] == reverse("referrals:voucher_detail", args=[v.pk])
    v.refresh_from_db()
    assert (v.status, v.void_reason) == ("void", "客户退车")


def test_void_refusals_change_nothing(org_world):
    v = voucher(org_world.rep1)
    url = reverse("referrals:voucher_void", args=[v.pk])
    assert login(org_world.rep1).post(url, {"reason": "x"}).status_code == 403
    assert login(org_world.dcrc).post(url, {"reason": "x"}).status_code == 403
    assert login(org_world.rep3).post(url, {"reason": "x"}).status_code == 404
    assert login(org_world.manager2).post(url, {"reason": "x"}).status_code == 404
    empty = login(org_world.manager1).post(url, {"reason": ""})
    assert empty.status_code == 422
    assert 'id="void-form"' in html(empty)
    v.refresh_from_db()
    assert v.status == "issued"
    assert VoucherEntry.objects.count() == 0


# --- the desk -----------------------------------------------------------------------------------


def test_reps_cannot_open_the_desk(org_world):
    url = reverse("referrals:voucher_desk")
    assert login(org_world.rep1).get(url).status_code == 403
    v = voucher(org_world.rep1)
    assert login(org_world.rep1).post(url, {"code": v.code}).status_code == 403
    v.refresh_from_db()
    assert v.status == "issued"


@pytest.mark.parametrize("who", ["dcrc", "aftersales", "manager1", "owner"])
def test_desk_page_has_one_big_autofocus_input(org_world, who):
    page = html(login(getattr(org_world, who)).get(reverse("referrals:voucher_desk")))
    field = re.search(r'<input[^>]*name="code"[^>]*>', page).group(0)
    assert "autofocus" in field and "form-control-lg" in field
    assert 'hx-post="' in page


def test_desk_redeems_with_htmx_then_refuses_the_second_scan(org_world):
    org_world.dcrc.display_name = "李客服"
    org_world.dcrc.save()
    v = voucher(org_world.rep1, customer=CustomerFactory(owner=org_world.rep1, name="陈静"))
    url = reverse("referrals:voucher_desk")
    client = login(org_world.dcrc)
    ok = client.post(
        url, {"code": vs.code_display(v.code).lower(), "store": org_world.s1.pk}, HTTP_HX_REQUEST="true"
    )
    assert ok.status_code == 200
    body = html(ok)
    assert 'data-result="ok"' in body and "alert-success" in body and "陈静" in body
    assert 'id="desk-recent" hx-swap-oob="true"' in body
    v.refresh_from_db()
    assert (v.status, v.redeemed_store_id) == ("redeemed", org_world.s1.pk)
    again = login(org_world.aftersales).post(url, {"code": v.code}, HTTP_HX_REQUEST="true")
    body = html(again)
    assert again.status_code == 200  # htmx swaps 2xx only; the panel itself is red
    assert 'data-result="already_redeemed"' in body and "alert-danger" in body
    assert "Already redeemed at 天河店 on" in body and "by 李客服" in body
    assert list(v.entries.values_list("action", flat=True).order_by("id")) == ["redeem", "refused"]


def test_desk_without_htmx_answers_with_status_codes(org_world):
    v = voucher(org_world.rep1, expires_on=timezone.localdate() - dt.timedelta(days=1))
    url = reverse("referrals:voucher_desk")
    client = login(org_world.dcrc)
    expired = client.post(url, {"code": v.code})
    assert expired.status_code == 409
    assert 'data-result="expired"' in html(expired)
    wrong = v.code[:-1] + ("A" if v.code[-1] != "A" else "B")
    mistyped = client.post(url, {"code": wrong})
    assert mistyped.status_code == 422
    assert 'data-result="mistyped"' in html(mistyped) and vs.MISTYPED in html(mistyped)
    unknown = client.post(url, {"code": vs.code_new()})
    assert unknown.status_code == 404
    assert 'data-result="unknown"' in html(unknown)
    empty = client.post(url, {"code": ""})
    assert empty.status_code == 422
    v.refresh_from_db()
    assert v.status == "issued"
    assert list(v.entries.values_list("action", "note")) == [("refused", "expired")]


def test_desk_lists_recent_redemptions_at_this_desk(org_world):
    here = voucher(org_world.rep1)
    there = voucher(org_world.rep1)
    vs.voucher_redeem(actor=org_world.dcrc, code=here.code, store=org_world.s1)
    vs.voucher_redeem(actor=org_world.owner, code=there.code, store=org_world.s2)
    page = html(login(org_world.aftersales).get(reverse("referrals:voucher_desk")))
    recent = re.search(r'<section id="desk-recent".*?</section>', page, re.S).group(0)
    assert vs.code_display(here.code) in recent
    assert vs.code_display(there.code) not in recent


def test_voucher_pages_link_each_other(org_world):
    page = html(login(org_world.dcrc).get(reverse("referrals:vouchers")))
    assert reverse("referrals:voucher_desk") in page and reverse("referrals:voucher_stats") in page
    page = html(login(org_world.rep1).get(reverse("referrals:vouchers")))
    assert reverse("referrals:voucher_desk") not in page


def test_status_labels_are_shown(org_world):
    v = voucher(org_world.rep1, status=Voucher.Status.REDEEMED)
    page = html(login(org_world.rep1).get(reverse("referrals:vouchers")))
    assert f'data-voucher="{v.pk}"' in page and "Redeemed" in page
