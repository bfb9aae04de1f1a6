"""Delivery reports, inbound SMS opt-outs and the signed unsubscribe link."""

from __future__ import annotations

import json

import pytest
from django.core import signing
from django.urls import reverse

from huitou.customers.models import Consent, CustomerPhone
from huitou.followups.models import Message
from huitou.followups.outbox import services
from tests.factories import CustomerFactory, MessageFactory, UserFactory

from .test_outbox_support import HOOK_SECRET, at, customer_of, grant, outbox_conf, queue

__all__ = ["outbox_conf"]
pytestmark = pytest.mark.django_db


def hook(provider: str, kind: str, secret: str | None = HOOK_SECRET) -> str:
    if secret is None:
        return reverse("followups:outbox_hook", args=[provider, kind])
    return reverse("followups:outbox_hook_secret", args=[provider, kind, secret])


def post_json(client, url, payload, **headers):
    return client.post(
        url, json.dumps(payload, ensure_ascii=False), content_type="application/json", headers=headers
    )


def sent_message(org_world, provider="aliyun", pmid="900619746936498440^0", **kwargs):
    c = kwargs.pop("customer", None) or customer_of(org_world.rep1, phone="+8613800138000")
    return MessageFactory(customer=c, status="sent", provider=provider, provider_message_id=pmid, **kwargs)


# --- the shared secret ----------------------------------------------------------------------------


def test_webhooks_are_refused_without_a_configured_secret(client, org_world, settings):
    settings.OUTBOX = {**settings.OUTBOX, "WEBHOOK_SECRET": ""}
    m = sent_message(org_world)
    payload = [{"biz_id": m.provider_message_id, "success": True}]
    assert post_json(client, hook("aliyun", "status", "anything"), payload).status_code == 403
    assert post_json(client, hook("aliyun", "status", None), payload).status_code == 403
    response = post_json(client, hook("aliyun", "status", None), payload, X_Huitou_Webhook_Secret="x")
    assert response.status_code == 403
    assert Message.objects.get(pk=m.pk).status == "sent"


@pytest.mark.parametrize("how", ["path", "header"])
def test_a_wrong_secret_is_refused_and_changes_nothing(client, org_world, outbox_conf, how):
    m = sent_message(org_world)
    payload = [{"biz_id": m.provider_message_id, "success": True}]
    if how == "path":
        response = post_json(client, hook("aliyun", "status", "guess"), payload)
    else:
        response = post_json(client, hook("aliyun", "status", None), payload, X_Huitou_Webhook_Secret="guess")
    assert response.status_code == 403
    assert Message.objects.get(pk=m.pk).status == "sent"


def test_unknown_provider_or_kind_is_404(client, outbox_conf):
    assert post_json(client, hook("twilio", "status"), []).status_code == 404
    assert post_json(client, hook("aliyun", "billing"), []).status_code == 404


def test_get_is_not_allowed_and_bad_json_is_400(client, outbox_conf):
    assert client.get(hook("aliyun", "status")).status_code == 405
    response = client.post(hook("aliyun", "status"), "not json", content_type="application/json")
    assert response.status_code == 400


# --- delivery reports -----------------------------------------------------------------------------


def test_aliyun_delivery_report_marks_delivered(client, org_world, outbox_conf):
    m = sent_message(org_world)
    other = sent_message(org_world, pmid="another")
    payload = [
        {
            "phone_number": "13800138000",
            "send_time": "2026-11-23 10:00:00",
            "report_time": "2026-11-23 10:00:07",
            "success": True,
            "err_code": "DELIVERED",
            "err_msg": "用户接收成功",
            "sms_size": "1",
            "biz_id": "900619746936498440^0",
            "out_id": m.idempotency_key,
        }
    ]
    response = post_json(client, hook("aliyun", "status"), payload)
    assert (response.status_code, response.json()) == (200, {"code": 0, "msg": "OK"})
    m.refresh_from_db()
    assert (m.status, m.delivered_at) == ("delivered", at(10, 0).replace(second=7))
    assert Message.objects.get(pk=other.pk).status == "sent"


def test_aliyun_failure_report_marks_failed_with_the_code(client, org_world, outbox_conf):
    m = sent_message(org_world)
    payload = [{"biz_id": m.provider_message_id, "success": False, "err_code": "MK:0001", "err_msg": "停机"}]
    post_json(client, hook("aliyun", "status", None), payload, X_Huitou_Webhook_Secret=HOOK_SECRET)
    m.refresh_from_db()
    assert (m.status, m.last_error) == ("failed", "MK:0001 停机")


def test_report_is_matched_by_out_id_when_the_biz_id_is_unknown(client, org_world, outbox_conf):
    m = sent_message(org_world, pmid="")
    post_json(
        client, hook("aliyun", "status"), [{"biz_id": "", "out_id": m.idempotency_key, "success": True}]
    )
    assert Message.objects.get(pk=m.pk).status == "delivered"


def test_tencent_delivery_report_with_the_secret_in_a_header(client, org_world, outbox_conf):
    ok = sent_message(org_world, provider="tencent", pmid="2019:1")
    bad = sent_message(org_world, provider="tencent", pmid="2019:2")
    aliyun_twin = sent_message(org_world, provider="aliyun", pmid="2019:1")
    payload = [
        {
            "user_receive_time": "2026-11-23 10:03:04",
            "nationcode": "86",
            "mobile": "13800138000",
            "report_status": "SUCCESS",
            "errmsg": "DELIVRD",
            "description": "用户短信送达成功",
            "sid": "2019:1",
        },
        {
            "user_receive_time": "2026-11-23 10:03:05",
            "nationcode": "86",
            "mobile": "13800138001",
            "report_status": "FAIL",
            "errmsg": "MN:0001",
            "description": "空号",
            "sid": "2019:2",
        },
    ]
    response = post_json(
        client, hook("tencent", "status", None), payload, X_Huitou_Webhook_Secret=HOOK_SECRET
    )
    assert response.json() == {"result": 0, "errmsg": "OK"}
    assert Message.objects.get(pk=ok.pk).status == "delivered"
    assert (Message.objects.get(pk=bad.pk).status, Message.objects.get(pk=bad.pk).last_error) == (
        "failed",
        "MN:0001 空号",
    )
    assert Message.objects.get(pk=aliyun_twin.pk).status == "sent"  # another provider's id space


def test_a_repeated_report_changes_nothing(org_world):
    m = sent_message(org_world)
    assert (
        services.delivery_report_record(
            provider="aliyun", provider_message_id=m.provider_message_id, delivered=True
        )
        == 1
    )
    assert (
        services.delivery_report_record(
            provider="aliyun", provider_message_id=m.provider_message_id, delivered=False, error="late"
        )
        == 0
    )
    assert Message.objects.get(pk=m.pk).status == "delivered"


def test_generic_report_for_the_file_provider(client, org_world, outbox_conf):
    m = sent_message(org_world, provider="file", pmid="file-1")
    response = post_json(
        client, hook("generic", "status"), {"provider_message_id": "file-1", "status": "delivered"}
    )
    assert response.json() == {"ok": True, "changed": 1}
    assert Message.objects.get(pk=m.pk).status == "delivered"


# --- inbound SMS ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text", ["T", "t", " TD ", "N", "R", "退订", "TD退订", "回T退订", "请帮我退订", "T。"]
)
def test_opt_out_words(text):
    assert services.is_opt_out_reply(text) is True


@pytest.mark.parametrize("text", ["谢谢", "OK", "", "好的，周六到店", "TT", "STOPPED"])
def test_other_replies_are_not_opt_outs(text):
    assert services.is_opt_out_reply(text) is False


def test_inbound_opt_out_flips_consent_and_later_marketing_is_suppressed(client, org_world, outbox_conf):
    c = customer_of(org_world.rep1, phone="+8613800138000")
    grant(c, "sms")
    queued = queue(c, purpose="marketing", idempotency_key="before")
    service = queue(c, purpose="service", idempotency_key="service")
    payload = [
        {
            "phone_number": "13800138000",
            "send_time": "2026-11-23 10:10:00",
            "content": "退订",
            "sign_name": "华南汽车",
            "dest_code": "1234",
            "sequence_id": 1234567,
        }
    ]
    response = post_json(client, hook("aliyun", "inbound"), payload)
    assert response.json() == {"code": 0, "msg": "OK"}
    consent = Consent.objects.get(customer=c, channel="sms")
    assert (consent.granted, consent.source, consent.recorded_by) == (False, "sms_reply", None)
    assert (Message.objects.get(pk=queued.pk).status, Message.objects.get(pk=queued.pk).last_error) == (
        "suppressed",
        "opted out of sms",
    )
    assert Message.objects.get(pk=service.pk).status == "queued"  # service messages still go
    later = queue(c, purpose="marketing", idempotency_key="after")
    assert (later.status, later.last_error) == ("suppressed", "opted out of sms")


def test_tencent_inbound_reply_r_opts_out_the_numbers_customers(client, org_world, outbox_conf):
    main = customer_of(org_world.rep1, phone="+8613800138000")
    second_number = customer_of(org_world.rep2, phone="+8613900139000")
    CustomerPhone.objects.create(customer=second_number, number="+8613800138000")
    unrelated = customer_of(org_world.rep1, phone="+8613700137000")
    payload = {
        "extend": "",
        "mobile": "13800138000",
        "nationcode": "86",
        "sign": "华南汽车",
        "text": "R",
        "time": 1795400000,
    }
    response = post_json(client, hook("tencent", "inbound"), payload)
    assert response.json() == {"result": 0, "errmsg": "OK"}
    assert set(
        Consent.objects.filter(granted=False, source="sms_reply").values_list("customer_id", flat=True)
    ) == {
        main.pk,
        second_number.pk,
    }
    assert not Consent.objects.filter(customer=unrelated).exists()


def test_a_plain_reply_changes_no_consent(client, org_world, outbox_conf):
    c = customer_of(org_world.rep1, phone="+8613800138000")
    grant(c, "sms")
    post_json(client, hook("generic", "inbound"), {"phone": "+8613800138000", "text": "好的谢谢"})
    assert Consent.objects.get(customer=c, channel="sms").granted is True


def test_opt_out_stays_in_the_organisation_that_texted(org_world):
    ours = customer_of(org_world.rep1, phone="+8613800138000")
    theirs = CustomerFactory(owner=UserFactory(organisation=org_world.other_org), phone="+8613800138000")
    MessageFactory(customer=ours, status="sent")
    assert services.inbound_sms_record(phone="13800138000", text="TD", provider="aliyun") == 1
    assert Consent.objects.get(customer=ours, channel="sms").granted is False
    assert not Consent.objects.filter(customer=theirs).exists()


# --- unsubscribe link -------------------------------------------------------------------------------


def test_unsubscribe_get_asks_post_records(client, org_world, outbox_conf):
    c = customer_of(org_world.rep1, name="张伟", email="zhang@example.cn")
    grant(c, "email")
    waiting = queue(c, channel="email", purpose="marketing", idempotency_key="m1")
    token = services.unsubscribe_token(customer_id=c.pk, channel="email")
    url = reverse("followups:unsubscribe", args=[token])
    assert url == f"/plan/u/{token}/"
    page = client.get(url, headers={"Accept-Language": "en"})
    assert page.status_code == 200
    assert "张*" in page.content.decode() and "华南汽车集团" in page.content.decode()
    assert Consent.objects.get(customer=c, channel="email").granted is True  # GET changes nothing
    done = client.post(url, headers={"Accept-Language": "en"})
    assert done.status_code == 200
    assert 'id="unsubscribed"' in done.content.decode()
    consent = Consent.objects.get(customer=c, channel="email")
    assert (consent.granted, consent.source) == (False, "unsubscribe_link")
    assert Message.objects.get(pk=waiting.pk).status == "suppressed"
    assert Consent.objects.filter(customer=c).count() == 1  # only the e-mail channel


def test_a_tampered_token_is_refused_and_changes_nothing(client, org_world):
    c = customer_of(org_world.rep1)
    grant(c, "sms")
    token = services.unsubscribe_token(customer_id=c.pk, channel="sms")
    other = customer_of(org_world.rep1)
    forged = signing.dumps({"c": other.pk, "ch": "sms"}, compress=True)  # right shape, wrong salt
    swapped = token[:-1] + ("A" if token[-1] != "A" else "B")
    for bad in (swapped, forged, "garbage"):
        url = reverse("followups:unsubscribe", args=[bad])
        assert client.get(url).status_code == 400
        assert client.post(url).status_code == 400
    assert Consent.objects.get(customer=c, channel="sms").granted is True
    assert not Consent.objects.filter(customer=other).exists()


def test_unsubscribe_is_one_click_without_a_csrf_token(org_world):
    from django.test import Client

    c = customer_of(org_world.rep1)
    token = services.unsubscribe_token(customer_id=c.pk, channel="sms")
    response = Client(enforce_csrf_checks=True).post(reverse("followups:unsubscribe", args=[token]))
    assert response.status_code == 200
    assert Consent.objects.get(customer=c, channel="sms").granted is False
