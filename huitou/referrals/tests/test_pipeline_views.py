"""The pipeline pages: lead list and page, stage forms, queues, capture, print, links, bulk entry."""

from __future__ import annotations

import datetime as dt
import io
import re
from zoneinfo import ZoneInfo

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from openpyxl import Workbook

from huitou.customers.models import CustomerPhone
from huitou.followups.models import Message
from huitou.referrals import services as svc
from huitou.referrals.models import Referral, ReferralLink, Stage
from huitou.referrals.tests.factories import ReferralFactory
from tests.factories import CustomerFactory, PurchaseFactory

pytestmark = pytest.mark.django_db

TZ = ZoneInfo("Asia/Shanghai")


def client_for(user, lang: str = "en") -> Client:
    c = Client(headers={"Accept-Language": lang})
    c.force_login(user)
    return c


def html(response, status: int = 200) -> str:
    assert response.status_code == status, response.status_code
    return response.content.decode()


def referrer_of(w, rep=None, **kw):
    rep = rep or w.rep1
    return CustomerFactory(owner=rep, organisation=w.org, store=rep.store, **kw)


def lead(w, *, stage="submitted", rep=None, days_ago=3, **kw):
    return ReferralFactory(
        referrer=referrer_of(w, rep),
        stage=stage,
        submitted_at=timezone.now() - dt.timedelta(days=days_ago),
        **kw,
    )


def ids_in(page: str, attr: str = "data-referral") -> list[int]:
    return [int(x) for x in re.findall(rf'{attr}="(\d+)"', page)]


def flash(page: str) -> str:
    found = re.findall(r'<div class="alert alert-[a-z]+ alert-dismissible[^>]*>(.*?)<button', page, re.S)
    return " ".join(f.strip() for f in found)


# --- lead list --------------------------------------------------------------------------------


def test_list_shows_the_viewers_leads_with_stage_counts(org_world):
    w = org_world
    mine = [
        lead(w, stage=s, days_ago=i) for i, s in enumerate(["submitted", "verified", "verified", "won"], 1)
    ]
    theirs = lead(w, rep=w.rep3, stage="verified")
    client = client_for(w.rep1)
    page = html(client.get(reverse("referrals:pipeline")))
    assert ids_in(page) == [r.pk for r in mine]  # newest first
    assert theirs.pk not in ids_in(page)
    # the page itself links every stage without counting; the tabs load their counts afterwards
    assert re.findall(r'data-stage="(\w+)"', page) == list(Stage.values)
    assert stage_counts(page) == {}
    assert f'hx-get="{reverse("referrals:stage_counts")}"' in page
    tabs = html(client.get(reverse("referrals:stage_counts")))
    assert "hx-get" not in tabs
    assert stage_counts(tabs) == {
        "submitted": "1",
        "verified": "2",
        "contacted": "0",
        "quoted": "0",
        "won": "1",
        "lost": "0",
        "rejected": "0",
    }
    owner_page = html(client_for(w.owner).get(reverse("referrals:pipeline")))
    assert set(ids_in(owner_page)) == {r.pk for r in [*mine, theirs]}
    assert stage_counts(html(client_for(w.owner).get(reverse("referrals:stage_counts"))))["verified"] == "3"


def test_stage_tabs_keep_the_filters(org_world):
    w = org_world
    lead(w, stage="verified", channel="event")
    lead(w, stage="verified")
    client = client_for(w.owner)
    page = html(
        client.get(reverse("referrals:pipeline"), {"channel": "event", "stage": "verified", "page": "1"})
    )
    assert f'hx-get="{reverse("referrals:stage_counts")}?channel=event&amp;stage=verified"' in page
    tabs = html(client.get(reverse("referrals:stage_counts"), {"channel": "event", "stage": "verified"}))
    assert stage_counts(tabs)["verified"] == "1"  # the channel filter applies, the stage filter does not
    assert 'href="/referrals/?channel=event&amp;stage=won"' in tabs


COUNT_BADGE = r'data-stage="(\w+)">[^<]*<span class="badge text-bg-light" data-count>(\d+)<'


def stage_counts(page: str) -> dict[str, str]:
    return dict(re.findall(COUNT_BADGE, page))


def test_stage_counts_follow_every_change(org_world, django_capture_on_commit_callbacks):
    w = org_world
    r = lead(w)
    client = client_for(w.owner)
    assert stage_counts(html(client.get(reverse("referrals:stage_counts"))))["submitted"] == "1"
    with django_capture_on_commit_callbacks(execute=True):
        svc.referral_audit(actor=w.dcrc, referral_id=r.pk, outcome="confirmed")
    counts = stage_counts(html(client.get(reverse("referrals:stage_counts"))))
    assert (counts["submitted"], counts["verified"]) == ("0", "1")


def test_list_filters(org_world):
    w = org_world
    a = lead(w, stage="verified", name="王小明", phone="+8613911112222")
    b = lead(
        w, stage="submitted", name="李四", phone="+8613933334444", review="pending", flags=["monthly_cap"]
    )
    c = lead(w, rep=w.rep3, stage="verified", name="赵六", phone="+8613955556666", channel="event")
    c2 = Client(headers={"Accept-Language": "en"})
    c2.force_login(w.owner)
    url = reverse("referrals:pipeline")
    assert ids_in(html(c2.get(url, {"stage": "verified"}))) == [c.pk, a.pk]
    assert ids_in(html(c2.get(url, {"flagged": "1"}))) == [b.pk]
    assert ids_in(html(c2.get(url, {"q": "小明"}))) == [a.pk]
    assert ids_in(html(c2.get(url, {"q": "4444"}))) == [b.pk]
    assert ids_in(html(c2.get(url, {"q": "139 5555 6666"}))) == [c.pk]
    assert ids_in(html(c2.get(url, {"store": w.s2.pk}))) == [c.pk]
    assert ids_in(html(c2.get(url, {"rep": w.rep1.pk, "stage": "verified"}))) == [a.pk]
    assert ids_in(html(c2.get(url, {"channel": "event"}))) == [c.pk]
    today = timezone.localdate()
    assert ids_in(html(c2.get(url, {"start": today.isoformat()}))) == []
    assert len(ids_in(html(c2.get(url, {"end": today.isoformat()})))) == 3


def test_list_masks_phones_by_role(org_world):
    w = org_world
    lead(w, phone="+8613911112222")
    assert "13911112222" in html(client_for(w.rep1).get(reverse("referrals:pipeline")))
    manager_page = html(client_for(w.manager1).get(reverse("referrals:pipeline")))
    assert "139****2222" in manager_page and "13911112222" not in manager_page


def test_list_query_count_does_not_grow_with_rows(org_world, django_assert_max_num_queries):
    w = org_world
    for i in range(30):
        lead(w, rep=w.rep1 if i % 2 else w.rep3, days_ago=i % 9)
    client = client_for(w.owner)
    with django_assert_max_num_queries(9):
        html(client.get(reverse("referrals:pipeline"), {"q": "被推荐人"}))


def test_list_paginates(org_world):
    w = org_world
    for i in range(55):
        lead(w, days_ago=i % 20)
    client = client_for(w.rep1)
    first = html(client.get(reverse("referrals:pipeline")))
    second = html(client.get(reverse("referrals:pipeline"), {"page": 2}))
    assert (len(ids_in(first)), len(ids_in(second))) == (50, 5)
    assert "1–50 of 55" in first


# --- lead page --------------------------------------------------------------------------------


def test_detail_is_404_outside_the_scope(org_world):
    w = org_world
    r = lead(w)
    assert client_for(w.rep1).get(reverse("referrals:detail", args=[r.pk])).status_code == 200
    for user in (w.rep3, w.rep2, w.manager2, w.other_owner):
        assert client_for(user).get(reverse("referrals:detail", args=[r.pk])).status_code == 404


def test_detail_shows_the_forms_each_role_may_use(org_world):
    w = org_world
    r = lead(w, review="pending", flags=["monthly_cap"])
    url = reverse("referrals:detail", args=[r.pk])
    dcrc = html(client_for(w.dcrc).get(url))
    assert 'id="audit-form"' in dcrc and 'id="work-forms"' not in dcrc and 'id="review-form"' not in dcrc
    rep = html(client_for(w.rep1).get(url))
    assert 'id="audit-form"' not in rep and 'id="lose-form"' in rep and 'id="review-form"' not in rep
    assert 'id="advance-form"' not in rep  # not verified yet
    manager = html(client_for(w.manager1).get(url))
    assert 'id="audit-form"' in manager and 'id="review-form"' in manager and 'id="work-forms"' in manager
    assert "The referrer had already reached the monthly cap of 5 referrals." in manager
    aftersales = html(client_for(w.aftersales).get(url))
    assert 'id="audit-form"' not in aftersales and 'id="work-forms"' not in aftersales


def test_detail_timeline_and_referrer_link(org_world):
    w = org_world
    ref = referrer_of(w)
    r = svc.referral_submit(
        actor=w.rep1, referrer=ref, name="韩梅梅", phone="13900000001", relation="family", channel="delivery"
    )
    svc.referral_audit(actor=w.dcrc, referral_id=r.pk, outcome="confirmed", note="明天看车")
    page = html(client_for(w.rep1).get(reverse("referrals:detail", args=[r.pk])))
    assert f'href="{reverse("customers:detail", args=[ref.pk])}" id="lead-referrer"' in page
    assert re.findall(r'data-action="(\w+)"', page) == ["submit", "audit"]
    assert "Phone audit: confirmed" in page and "明天看车" in page
    assert 'id="advance-form"' in page and 'id="convert-form"' in page


def test_audit_from_the_lead_page(org_world):
    w = org_world
    r = lead(w)
    response = client_for(w.dcrc).post(
        reverse("referrals:audit", args=[r.pk]), {"outcome": "confirmed", "version": "1"}
    )
    assert response.status_code == 302
    r.refresh_from_db()
    assert (r.stage, r.audited_by_id) == ("verified", w.dcrc.pk)


def test_audit_refused_to_aftersales_and_to_the_leads_rep(org_world):
    w = org_world
    r = lead(w)
    url = reverse("referrals:audit", args=[r.pk])
    assert client_for(w.aftersales).post(url, {"outcome": "confirmed"}).status_code == 403
    assert client_for(w.rep1).post(url, {"outcome": "confirmed"}).status_code == 403
    assert client_for(w.rep3).post(url, {"outcome": "confirmed"}).status_code == 404
    r.refresh_from_db()
    assert (r.stage, r.audit_attempts, r.version) == ("submitted", 0, 1)


def test_a_stale_audit_is_shown_as_a_message(org_world):
    w = org_world
    r = lead(w)
    client = client_for(w.dcrc)
    response = client.post(
        reverse("referrals:audit", args=[r.pk]), {"outcome": "confirmed", "version": "9"}, follow=True
    )
    assert "changed by someone else" in flash(response.content.decode())
    r.refresh_from_db()
    assert r.stage == "submitted"


def test_work_the_lead_through_the_pages(org_world):
    w = org_world
    r = lead(w, stage="verified")
    client = client_for(w.rep1)
    client.post(
        reverse("referrals:advance", args=[r.pk]), {"to": "contacted", "note": "到店", "version": "1"}
    )
    client.post(reverse("referrals:convert", args=[r.pk]))
    r.refresh_from_db()
    assert (r.stage, r.customer_id is not None) == ("contacted", True)
    sale = PurchaseFactory(customer=r.customer, ordered_on=timezone.localdate())
    page = html(client.get(reverse("referrals:detail", args=[r.pk])))
    assert f'<option value="{sale.pk}">' in page
    client.post(reverse("referrals:win", args=[r.pk]), {"purchase": sale.pk, "version": r.version})
    r.refresh_from_db()
    assert (r.stage, r.won_purchase_id) == ("won", sale.pk)
    page = html(client.get(reverse("referrals:detail", args=[r.pk])))
    assert 'id="lead-rewards"' in page and "Undo the win (refund)" in page


def test_advance_from_submitted_is_refused_with_a_message(org_world):
    w = org_world
    r = lead(w)
    response = client_for(w.rep1).post(
        reverse("referrals:advance", args=[r.pk]), {"to": "contacted"}, follow=True
    )
    assert "The phone audit comes first" in flash(response.content.decode())
    r.refresh_from_db()
    assert r.stage == "submitted"


def test_lose_from_the_page_and_its_refusals(org_world):
    w = org_world
    r = lead(w, stage="quoted")
    assert client_for(w.dcrc).post(reverse("referrals:lose", args=[r.pk]), {"reason": "x"}).status_code == 403
    response = client_for(w.rep1).post(reverse("referrals:lose", args=[r.pk]), {"reason": ""}, follow=True)
    assert "Say why the lead was lost." in flash(response.content.decode())
    client_for(w.rep1).post(reverse("referrals:lose", args=[r.pk]), {"reason": "预算不够"})
    r.refresh_from_db()
    assert (r.stage, r.lost_reason) == ("lost", "预算不够")


# --- audit queue ------------------------------------------------------------------------------


def test_audit_queue_oldest_first_for_dcrc(org_world):
    w = org_world
    newer = lead(w, days_ago=1)
    older = lead(w, rep=w.rep3, days_ago=5)
    lead(w, stage="verified", days_ago=9)
    page = html(client_for(w.dcrc).get(reverse("referrals:audit_queue")))
    assert ids_in(page) == [older.pk, newer.pk]


def test_audit_queue_refused_to_reps_and_aftersales(org_world):
    w = org_world
    assert client_for(w.rep1).get(reverse("referrals:audit_queue")).status_code == 403
    assert client_for(w.aftersales).get(reverse("referrals:audit_queue")).status_code == 403


def test_audit_queue_leaves_out_the_managers_own_leads(org_world):
    w = org_world
    own = lead(w, rep=w.manager1)
    team = lead(w)
    page = html(client_for(w.manager1).get(reverse("referrals:audit_queue")))
    assert ids_in(page) == [team.pk]
    assert own.pk not in ids_in(page)


def test_audit_queue_one_click_with_htmx(org_world):
    w = org_world
    r = lead(w)
    response = client_for(w.dcrc).post(
        reverse("referrals:audit", args=[r.pk]),
        {"outcome": "no_answer", "note": "关机", "version": "1"},
        HTTP_HX_REQUEST="true",
    )
    body = html(response)
    assert body.startswith(f'<tr id="audit-{r.pk}"') and 'data-done="submitted"' in body
    assert "1 call so far" in body
    r.refresh_from_db()
    assert (r.stage, r.audit_attempts, r.audit_note) == ("submitted", 1, "关机")


def test_audit_queue_htmx_error_keeps_the_row(org_world):
    w = org_world
    r = lead(w)
    response = client_for(w.dcrc).post(
        reverse("referrals:audit", args=[r.pk]),
        {"outcome": "confirmed", "version": "5"},
        HTTP_HX_REQUEST="true",
    )
    body = html(response)
    assert body.startswith(f'<tr id="audit-{r.pk}"') and 'role="alert"' in body


def test_audit_queue_query_count(org_world, django_assert_max_num_queries):
    w = org_world
    for i in range(25):
        lead(w, rep=w.rep1 if i % 2 else w.rep3, days_ago=i)
    client = client_for(w.dcrc)
    with django_assert_max_num_queries(6):
        page = html(client.get(reverse("referrals:audit_queue")))
    assert len(ids_in(page)) == 25


# --- review queue -----------------------------------------------------------------------------


def test_review_queue_explains_flags_and_names_the_first_claim(org_world):
    w = org_world
    first_ref = referrer_of(w, name="张三")
    first = svc.referral_submit(
        actor=w.rep1,
        referrer=first_ref,
        name="刘洋",
        phone="13900000001",
        relation="friend",
        channel="delivery",
    )
    dup = svc.referral_submit(
        actor=w.rep1,
        referrer=referrer_of(w),
        name="刘洋",
        phone="13900000001",
        relation="friend",
        channel="delivery",
    )
    page = html(client_for(w.manager1).get(reverse("referrals:review_queue")))
    assert ids_in(page) == [dup.pk]
    assert "the first valid referral wins" in page
    assert f"#{first.pk} · 刘洋 ← 张三" in page


def test_review_queue_hides_the_name_of_a_first_claim_outside_scope(org_world):
    w = org_world
    svc.referral_submit(
        actor=w.rep3,
        referrer=referrer_of(w, rep=w.rep3, name="孙七"),
        name="刘洋",
        phone="13900000001",
        relation="friend",
        channel="delivery",
    )
    dup = svc.referral_submit(
        actor=w.rep1,
        referrer=referrer_of(w),
        name="刘洋",
        phone="13900000001",
        relation="friend",
        channel="delivery",
    )
    page = html(client_for(w.manager1).get(reverse("referrals:review_queue")))
    assert f'data-referral="{dup.pk}"' in page
    assert "孙七" not in page and "not one of yours" in page


def test_review_queue_refused_to_reps_dcrc_and_aftersales(org_world):
    w = org_world
    for user in (w.rep1, w.dcrc, w.aftersales):
        assert client_for(user).get(reverse("referrals:review_queue")).status_code == 403


def test_review_with_htmx(org_world):
    w = org_world
    r = lead(w, review="pending", flags=["self_referral"])
    response = client_for(w.manager1).post(
        reverse("referrals:review", args=[r.pk]), {"decision": "reject"}, HTTP_HX_REQUEST="true"
    )
    assert 'data-done="rejected"' in html(response)
    r.refresh_from_db()
    assert (r.stage, r.review, r.faked) == ("rejected", "rejected", True)
    assert (
        client_for(w.rep1).post(reverse("referrals:review", args=[r.pk]), {"decision": "approve"}).status_code
        == 403
    )


def test_review_queue_query_count(org_world, django_assert_max_num_queries):
    w = org_world
    for _ in range(20):
        lead(w, review="pending", flags=["monthly_cap"])
    client = client_for(w.owner)
    with django_assert_max_num_queries(6):
        html(client.get(reverse("referrals:review_queue")))


# --- capture ----------------------------------------------------------------------------------


def capture_data(referrer_id, people, **extra):
    data = {
        "referrer": str(referrer_id),
        "channel": "delivery",
        "event_name": "",
        "p-TOTAL_FORMS": str(max(3, len(people))),
        "p-INITIAL_FORMS": "0",
        "p-MIN_NUM_FORMS": "0",
        "p-MAX_NUM_FORMS": "20",
    }
    for i in range(max(3, len(people))):
        person = people[i] if i < len(people) else {}
        data[f"p-{i}-relation"] = person.get("relation", "friend")
        for key in ("name", "phone", "interest", "product", "wechat", "city", "note"):
            data[f"p-{i}-{key}"] = person.get(key, "")
    data.update(extra)
    return data


def test_capture_preselects_the_referrer(org_world):
    w = org_world
    ref = referrer_of(w, name="陈先生")
    page = html(client_for(w.rep1).get(reverse("referrals:capture"), {"customer": ref.pk}))
    assert f'name="referrer" value="{ref.pk}"' in page
    assert '<span class="fs-5" id="referrer-name">陈先生</span>' in page
    assert reverse("referrals:capture_print", args=[ref.pk]) in page
    assert client_for(w.rep3).get(reverse("referrals:capture"), {"customer": ref.pk}).status_code == 404


def test_capture_saves_several_people_and_shows_the_flags(org_world):
    w = org_world
    ref = referrer_of(w, phone="+8613800001111")
    people = [
        {"name": "王五", "phone": "13900000001", "relation": "colleague", "interest": "轿车"},
        {"name": "自己", "phone": "13800001111", "relation": "other"},
    ]
    client = client_for(w.rep1)
    response = client.post(reverse("referrals:capture"), capture_data(ref.pk, people))
    assert response.status_code == 302
    saved = list(Referral.objects.order_by("id"))
    assert [(r.name, r.relation, r.flags) for r in saved] == [
        ("王五", "colleague", []),
        ("自己", "other", ["self_referral"]),
    ]
    page = html(client.get(response["Location"]))
    assert ids_in(page, "data-saved") == [r.pk for r in saved]
    assert "It will be reviewed by a manager because: The phone number is the referrer&#x27;s own." in page


def test_capture_with_a_bad_row_saves_nobody(org_world):
    w = org_world
    ref = referrer_of(w)
    people = [{"name": "王五", "phone": "13900000001"}, {"name": "赵六", "phone": "12345"}]
    response = client_for(w.rep1).post(reverse("referrals:capture"), capture_data(ref.pk, people))
    page = html(response, 422)
    assert "This is not a valid mobile phone number." in page
    assert not Referral.objects.exists()


def test_capture_twice_the_same_person_is_refused(org_world):
    w = org_world
    ref = referrer_of(w)
    people = [{"name": "王五", "phone": "13900000001"}, {"name": "王五", "phone": "139 0000 0001"}]
    page = html(client_for(w.rep1).post(reverse("referrals:capture"), capture_data(ref.pk, people)), 422)
    assert "This referrer has already referred this person." in page
    assert not Referral.objects.exists()


def test_capture_needs_a_referrer_in_scope_and_a_person(org_world):
    w = org_world
    ref = referrer_of(w, rep=w.rep3)
    page = html(
        client_for(w.rep1).post(
            reverse("referrals:capture"), capture_data(ref.pk, [{"name": "王五", "phone": "13900000001"}])
        ),
        422,
    )
    assert "Choose the customer who refers." in page
    page = html(
        client_for(w.rep1).post(reverse("referrals:capture"), capture_data(referrer_of(w).pk, [])), 422
    )
    assert "Enter at least one person." in page
    assert not Referral.objects.exists()


def test_referrer_search_stays_in_scope(org_world):
    from huitou.customers.services import search_keys_rebuild

    w = org_world
    mine = referrer_of(w, name="欧阳明")
    theirs = referrer_of(w, rep=w.rep3, name="欧阳华")
    search_keys_rebuild(customer_ids=[mine.pk, theirs.pk])
    page = html(client_for(w.rep1).get(reverse("referrals:referrer_search"), {"q": "欧阳"}))
    assert f'data-pick-referrer="{mine.pk}"' in page and "欧阳华" not in page


def test_capture_page_in_chinese(org_world):
    w = org_world
    ref = referrer_of(w)
    page = html(client_for(w.rep1, "zh-hans").get(reverse("referrals:capture"), {"customer": ref.pk}))
    assert '<html lang="zh-hans">' in page
    assert "推荐表" in page and "被推荐人" in page and "再添加一位" in page and "保存推荐" in page
    assert "手机" in page


# --- print and links --------------------------------------------------------------------------


def test_printable_form_has_the_qr_of_a_link(org_world):
    w = org_world
    ref = referrer_of(w, name="周杰")
    client = client_for(w.rep1)
    page = html(client.get(reverse("referrals:capture_print", args=[ref.pk])))
    link = ReferralLink.objects.get()
    assert "<svg" in page and "@page { size: A4" in page
    assert "华南汽车集团" in page and "天河店" in page and "周杰" in page
    html(client.get(reverse("referrals:capture_print", args=[ref.pk])))
    assert ReferralLink.objects.get().pk == link.pk  # the same QR code when printed again
    assert client_for(w.rep3).get(reverse("referrals:capture_print", args=[ref.pk])).status_code == 404


def test_link_create_shows_url_and_qr_and_sends_by_sms(org_world):
    w = org_world
    ref = referrer_of(w, name="周杰", gender="m")
    client = client_for(w.rep1)
    assert client.get(reverse("referrals:link_create", args=[ref.pk])).status_code == 405
    response = client.post(reverse("referrals:link_create", args=[ref.pk]))
    link = ReferralLink.objects.get()
    assert response["Location"] == reverse("referrals:link_detail", args=[link.pk])
    page = html(client.get(response["Location"]))
    from huitou.referrals import links

    url = links.public_url(links.token_for(link.pk))
    assert f'value="{url}"' in page and "<svg" in page
    client.post(reverse("referrals:link_sms", args=[link.pk]))
    message = Message.objects.get()
    assert (message.customer_id, message.channel, message.purpose) == (ref.pk, "sms", "service")
    assert url in message.body and message.body.startswith("周先生您好，感谢您对天河店的信任！")
    client.post(reverse("referrals:link_revoke", args=[link.pk]))
    link.refresh_from_db()
    assert link.revoked_at is not None
    assert 'id="link-dead"' in html(client.get(reverse("referrals:link_detail", args=[link.pk])))


def test_links_outside_scope_are_404(org_world):
    w = org_world
    ref = referrer_of(w)
    link, _token = svc.referral_link_create(actor=w.rep1, referrer_id=ref.pk)
    client = client_for(w.rep3)
    assert client.post(reverse("referrals:link_create", args=[ref.pk])).status_code == 404
    assert client.get(reverse("referrals:link_detail", args=[link.pk])).status_code == 404
    assert client.post(reverse("referrals:link_sms", args=[link.pk])).status_code == 404
    assert client.post(reverse("referrals:link_revoke", args=[link.pk])).status_code == 404
    link.refresh_from_db()
    assert (link.revoked_at, Message.objects.count(), ReferralLink.objects.count()) == (None, 0, 1)


# --- bulk -------------------------------------------------------------------------------------


def test_bulk_paste_reports_good_and_bad_rows(org_world):
    w = org_world
    a = referrer_of(w, phone="+8613800000001")
    b = referrer_of(w)
    other = referrer_of(w, rep=w.rep3)
    text = "\n".join(
        [
            "推荐人\t姓名\t手机\t关系\t意向车型",
            f"{a.pk}\t张伟\t13912345678\t同事\tSUV",
            "13800000001\t李娜\t13912345679\t家人\t",
            "",
            f"{b.pk}\t王芳\t12345\t朋友\t",
            f"{other.pk}\t刘强\t13912345680\t朋友\t",
            f"{b.pk}\t\t13912345681\tneighbour\t",
        ]
    )
    response = client_for(w.rep1).post(
        reverse("referrals:bulk"), {"channel": "event", "event_name": "春季车友会", "text": text}
    )
    page = html(response)
    assert "2 referrals saved" in page
    rows = re.findall(r'<tr data-row="(\d+)"><td>\d+</td><td>([^<]*)</td><td>([^<]*)</td>', page)
    assert rows == [
        ("5", "mobile phone", "This is not a valid mobile phone number."),
        ("6", "referrer", "No customer with this number among your customers."),
        ("7", "name", "Enter the name of the person referred."),
        ("7", "relation", "Choose how they know the referrer."),
    ]
    saved = list(
        Referral.objects.order_by("id").values_list(
            "referrer_id", "name", "relation", "channel", "event_name"
        )
    )
    assert saved == [
        (a.pk, "张伟", "colleague", "event", "春季车友会"),
        (a.pk, "李娜", "family", "event", "春季车友会"),
    ]


def test_bulk_upload_csv_and_xlsx(org_world):
    w = org_world
    ref = referrer_of(w)
    csv_bytes = f"referrer,name,phone,relation\n{ref.pk},Amy,13912345678,friend\n".encode("gb18030")
    client = client_for(w.owner)
    response = client.post(
        reverse("referrals:bulk"),
        {"channel": "club", "event_name": "车主俱乐部", "file": SimpleUploadedFile("rows.csv", csv_bytes)},
    )
    assert "1 referral saved" in html(response)
    wb = Workbook()
    ws = wb.active
    ws.append(["推荐人", "姓名", "手机", "关系"])
    ws.append([ref.pk, "Bob", 13912345679, "朋友"])
    buffer = io.BytesIO()
    wb.save(buffer)
    response = client.post(
        reverse("referrals:bulk"),
        {
            "channel": "club",
            "event_name": "车主俱乐部",
            "file": SimpleUploadedFile("rows.xlsx", buffer.getvalue()),
        },
    )
    assert "1 referral saved" in html(response)
    assert list(Referral.objects.order_by("id").values_list("name", "channel", "relation")) == [
        ("Amy", "club", "friend"),
        ("Bob", "club", "friend"),
    ]


def test_bulk_needs_the_header_row(org_world):
    w = org_world
    text = f"{referrer_of(w).pk}\t张伟\t13912345678"
    page = html(
        client_for(w.rep1).post(
            reverse("referrals:bulk"), {"channel": "event", "event_name": "x", "text": text}
        ),
        422,
    )
    assert "The first row must name the columns" in page
    assert not Referral.objects.exists()


def test_bulk_service_rejects_a_wrong_channel_and_missing_event(org_world):
    from huitou.core.errors import ValidationFailed

    w = org_world
    with pytest.raises(ValidationFailed) as exc:
        svc.referrals_bulk_submit(actor=w.rep1, rows=[{"referrer": "1"}], channel="delivery", event_name=" ")
    assert set(exc.value.errors) == {"channel", "event_name"}
    with pytest.raises(ValidationFailed) as exc:
        svc.referrals_bulk_submit(actor=w.rep1, rows=[], channel="event", event_name="x")
    assert set(exc.value.errors) == {"rows"}


def test_bulk_referrer_by_a_phone_shared_by_two_customers(org_world):
    w = org_world
    a = referrer_of(w, phone="+8613800000001")
    b = referrer_of(w)
    CustomerPhone.objects.create(customer=b, number="+8613800000001")
    result = svc.referrals_bulk_submit(
        actor=w.rep1,
        rows=[{"referrer": "13800000001", "name": "张伟", "phone": "13912345678", "relation": "friend"}],
        channel="event",
        event_name="x",
    )
    assert [(e.row, e.field) for e in result.errors] == [(1, "referrer")]
    assert "Several customers have this phone" in result.errors[0].message
    assert a.pk != b.pk and not Referral.objects.exists()
