"""一拓一 end to end in a real browser: a car is delivered, the rep fills in the referral form with the
customer, a DCRC agent verifies the lead by phone, the rep wins it, the referrer is thanked in the
outbox, the reward voucher is issued, the after-sales desk redeems it by typing the code, and the
voucher statistics table counts it as redeemed."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.utils import timezone

from huitou.accounts import services as account_services
from huitou.customers import services as customer_services
from huitou.followups.models import Message
from huitou.referrals.models import Referral, Stage, Voucher
from tests.factories import CustomerFactory, PurchaseFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def delivered(org_world):
    w = org_world
    # Rewards are issued at once in this organisation (no refund window), so the journey sees them.
    data = w.org.policy.model_dump(mode="json")
    data["referrals"]["reward_hold_days"] = 0
    account_services.policy_update(actor=w.owner, data=data, version=w.org.policy_version)
    referrer = CustomerFactory(owner=w.rep1, name="张建国", phone="+8613800138000")
    customer_services.consent_set(actor=w.rep1, customer=referrer, channel="sms", granted=True, source="form")
    today = timezone.localdate()
    PurchaseFactory(
        customer=referrer,
        rep=w.rep1,
        ordered_on=today - dt.timedelta(days=10),
        promised_on=today,
        amount=Decimal("168000"),
    )
    return referrer


def sign_in(browser, live_server, username: str):
    context = browser.new_context(locale="zh-CN", viewport={"width": 1280, "height": 900})
    context.set_default_timeout(15_000)
    page = context.new_page()
    page.goto(f"{live_server.url}/accounts/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", "pw-12345678")
    page.click("#login-submit")
    page.wait_for_url(lambda url: "/accounts/login/" not in url)
    return context, page


def test_referral_from_delivery_to_a_redeemed_voucher(browser, live_server, org_world, delivered):
    from playwright.sync_api import expect

    w, referrer, base = org_world, delivered, live_server.url

    # 1. Delivery: the rep fills in the referral form (推荐表) with the customer.
    ctx, rep = sign_in(browser, live_server, "rep1")
    rep.goto(f"{base}/referrals/capture/?customer={referrer.pk}")
    expect(rep.locator("#referrer-name")).to_contain_text("张建国")
    person = rep.locator("#people fieldset").first
    person.locator("input[name$='-name']").fill("李娜")
    person.locator("input[name$='-phone']").fill("13912345678")
    person.locator("select[name$='-relation']").select_option("colleague")
    person.locator("input[name$='-interest']").fill("城市 SUV")
    rep.locator("#capture-form button[type=submit]").last.click()
    expect(rep.locator("#saved")).to_contain_text("李娜")
    lead = Referral.objects.get(referrer=referrer)
    assert (lead.stage, lead.phone, lead.rep_id) == (Stage.SUBMITTED, "+8613912345678", w.rep1.pk)

    # 2. The DCRC agent confirms it by phone from the audit queue.
    dctx, dcrc = sign_in(browser, live_server, "dcrc")
    dcrc.goto(f"{base}/referrals/audit/")
    row = dcrc.locator(f"#audit-{lead.pk}")
    expect(row).to_contain_text("李娜")
    row.locator("button[name=outcome][value=confirmed]").click()
    expect(dcrc.locator(f"#audit-{lead.pk}")).not_to_contain_text("13912345678")
    lead.refresh_from_db()
    assert lead.stage == Stage.VERIFIED and lead.audited_by_id == w.dcrc.pk
    dctx.close()

    # 3. The rep visits, creates the customer record, records the sale and marks the lead won.
    rep.goto(f"{base}/referrals/{lead.pk}/")
    rep.locator("#advance-form button[value=contacted]").click()
    expect(rep.locator("#lead-stage")).to_have_text("已联系/拜访")
    rep.locator("#convert-form button").click()
    lead.refresh_from_db()
    assert lead.customer_id is not None and lead.customer.referred_by_id == referrer.pk
    rep.goto(f"{base}/customers/{lead.customer_id}/?tab=purchases")
    rep.locator("#tab-purchases").click()
    rep.locator("summary", has_text="记录购买").click()
    rep.fill("#purchase_ordered_on", timezone.localdate().isoformat())
    rep.fill("#purchase_amount", "159800")
    rep.locator("button", has_text="保存购买").click()
    rep.goto(f"{base}/referrals/{lead.pk}/")
    rep.locator("#win-form select").select_option(index=1)
    rep.locator("#win-form button").click()
    expect(rep.locator("#lead-stage")).to_have_text("已成交")
    lead.refresh_from_db()
    assert lead.stage == Stage.WON and lead.won_purchase is not None

    # 4. The referrer is thanked through the outbox, and the voucher is issued at once.
    voucher = Voucher.objects.get(customer=referrer, referral=lead)
    assert voucher.status == Voucher.Status.ISSUED and voucher.value == Decimal("300")
    sms = list(Message.objects.filter(customer=referrer, channel="sms").order_by("id"))
    assert len(sms) == 2 and {m.purpose for m in sms} == {"service"}
    thanks, with_code = sms
    assert "李" in thanks.body and "李娜" not in thanks.body  # the surname only
    assert f"{voucher.code[:5]}-{voucher.code[5:]}" in with_code.body  # grouped for reading aloud
    rep.goto(f"{base}/plan/outbox/")
    expect(rep.locator("body")).to_contain_text(thanks.body[:12])
    ctx.close()

    # 5. The after-sales desk redeems it by typing the code; a second try is refused.
    actx, desk = sign_in(browser, live_server, "aftersales")
    desk.goto(f"{base}/referrals/vouchers/desk/")
    code = voucher.code
    desk.locator("input[name=code]").fill(f"{code[:5]} {code[5:].lower()}")
    desk.locator("input[name=code]").press("Enter")
    expect(desk.locator("#desk-result")).to_contain_text(f"已核销 · {code[:5]}-{code[5:]}")
    voucher.refresh_from_db()
    assert voucher.status == Voucher.Status.REDEEMED and voucher.redeemed_by_id == w.aftersales.pk
    desk.locator("input[name=code]").fill(code)
    desk.locator("input[name=code]").press("Enter")
    expect(desk.locator("#desk-result")).to_contain_text("已")
    actx.close()

    # 6. The voucher statistics table (转介绍保养券统计表) counts it as redeemed; the referred
    #    customer's own offer (¥200 by default) is still outstanding.
    offer = Voucher.objects.get(customer_id=lead.customer_id, referral=lead)
    assert (offer.kind, offer.value, offer.status) == ("offer", Decimal("200"), Voucher.Status.ISSUED)
    mctx, manager = sign_in(browser, live_server, "manager1")
    manager.goto(f"{base}/referrals/vouchers/statistics/")
    total = manager.locator("#stats-table tfoot")
    expect(total.locator("[data-col=issued]")).to_have_text("2")
    expect(total.locator("[data-col=redeemed]")).to_have_text("1")
    expect(total.locator("[data-col=outstanding]")).to_have_text("1")
    mctx.close()
