"""The analytics journey in a real browser: the owner opens the at-risk list, then a customer's page
where the lifetime-value card loads by htmx with the value of the people they referred, then the
/analytics/value/ report with its charts, filters and the customers by CLV; a rep's card of a
referrer shows the referred customer of another rep only as a sum."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from huitou.analytics.models_value import CustomerValue
from huitou.analytics.risk_services import risk_refresh
from huitou.analytics.value_services import value_refresh
from huitou.customers.models import Customer, Purchase
from tests.factories import CustomerFactory, PurchaseFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

AS_OF = dt.date(2026, 6, 30)


@pytest.fixture
def shop(org_world):
    """Twelve customers of rep1 and rep3 with one to four purchases; 王芳 (rep3) was referred by
    李强 (rep1). The models are fitted (policy minimums lowered) and both snapshots computed."""
    w = org_world
    w.org.policy_data = {
        **(w.org.policy_data or {}),
        "value": {"min_customers": 5, "min_repeat_customers": 3, "horizon_months": 24},
        "risk": {"threshold": 1},
    }
    w.org.save(update_fields=["policy_data"])
    referrer = CustomerFactory(owner=w.rep1, name="李强")
    referred = CustomerFactory(owner=w.rep3, name="王芳", referred_by=referrer)
    people = [referrer, referred] + [
        CustomerFactory(owner=w.rep1 if k % 2 else w.rep3, name=f"顾客{k}") for k in range(10)
    ]
    for k, customer in enumerate(people):
        for j in range(1 + k % 4):
            PurchaseFactory(
                customer=customer,
                ordered_on=dt.date(2024, 1, 15) + dt.timedelta(days=97 * j + 11 * k),
                amount=Decimal(20000 + 1000 * k),
                margin=Decimal(2000 + 100 * k),
                kind=Purchase.Kind.FIRST if j == 0 else Purchase.Kind.EXPANSION,
            )
    risk_refresh(organisation=w.org, as_of=AS_OF)
    value_refresh(organisation=w.org, as_of=AS_OF)
    return w, referrer, referred


def sign_in(page, live_server, username: str) -> None:
    page.goto(f"{live_server.url}/accounts/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", "pw-12345678")
    page.click("#login-submit")
    page.wait_for_url(lambda url: "/accounts/login/" not in url)


def test_owner_walks_from_the_risk_list_to_the_value_report(page, live_server, shop):
    from playwright.sync_api import expect

    w, referrer, referred = shop
    sign_in(page, live_server, "owner")

    page.goto(f"{live_server.url}/analytics/risk/")
    expect(page.locator("#risk-table")).to_be_visible()
    expect(page.locator("#risk-table tbody tr").first).to_be_visible()
    expect(page.locator(f"#risk-row-{referrer.pk}")).to_contain_text("李强")

    page.goto(f"{live_server.url}/customers/{referrer.pk}/")
    card = page.locator("#value-card")
    expect(card.locator("#value-clv-figure")).to_be_visible()  # loaded by htmx
    value = CustomerValue.objects.get(customer=referrer, as_of=AS_OF)
    expect(card.locator("#value-clv-figure")).to_have_text(f"¥{value.clv:.2f}")
    expect(card.locator("#value-referred-list")).to_contain_text("王芳")
    card.get_by_role("link", name="王芳").click()
    page.wait_for_url(f"{live_server.url}/customers/{referred.pk}/")

    page.goto(f"{live_server.url}/analytics/value/")
    expect(page.locator("#value-tier-table")).to_be_visible()
    expect(page.locator("#value-params")).to_be_visible()
    best = CustomerValue.objects.filter(as_of=AS_OF).order_by("-clv", "customer_id").first()
    assert best is not None
    expect(page.locator("#value-table tbody tr").first).to_have_attribute(
        "id", f"value-row-{best.customer_id}"
    )
    assert page.evaluate("() => typeof Chart !== 'undefined' && !!Chart.getChart('tier-chart')")
    page.select_option("#id_store", str(w.s2.pk))
    page.click("#value-filters button[type=submit]")
    page.wait_for_url(lambda url: f"store={w.s2.pk}" in url)
    rows = page.locator("#value-table tbody tr")
    n_store2 = CustomerValue.objects.filter(as_of=AS_OF, store=w.s2).count()
    expect(rows).to_have_count(n_store2)
    expect(page.locator(f"#value-row-{referred.pk}")).to_be_visible()


def test_rep_sees_another_reps_referred_customer_only_as_a_sum(page, live_server, shop):
    from playwright.sync_api import expect

    w, referrer, referred = shop
    assert referrer.owner == w.rep1 and Customer.objects.get(pk=referred.pk).owner == w.rep3
    sign_in(page, live_server, "rep1")
    page.goto(f"{live_server.url}/customers/{referrer.pk}/")
    card = page.locator("#value-card")
    expect(card.locator("#value-referred-hidden")).to_be_visible()
    expect(card).not_to_contain_text("王芳")
    page.goto(f"{live_server.url}/analytics/value/")
    expect(page.locator(f"#value-row-{referred.pk}")).to_have_count(0)
    expect(page.locator(f"#value-row-{referrer.pk}")).to_be_visible()
