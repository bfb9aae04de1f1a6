"""The main journey of a rep in the field, in a real browser: find, open, edit, check the trail;
then another rep tries the same customer's address and is refused."""

from __future__ import annotations

import re

import pytest

from huitou.customers import services

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def customers(org_world):
    w = org_world
    mine = services.customer_create(
        actor=w.rep1, data={"name": "王小明", "phone": "13812345678", "wechat": "wxm_old"}
    )
    services.customer_create(actor=w.rep1, data={"name": "李娜", "phone": "13912340000"})
    return mine


def test_rep_finds_edits_and_audits_a_customer_and_another_rep_is_refused(
    page, login, live_server, org_world, customers
):
    from playwright.sync_api import expect

    login("rep1")
    page.goto(f"{live_server.url}/customers/")
    results = page.locator("#results")
    expect(results).to_contain_text("李娜")

    # Typing searches on the server and swaps only the results (no page load).
    page.fill("#q", "小明")
    expect(results).not_to_contain_text("李娜")
    expect(results).to_contain_text("王小明")
    expect(page).to_have_url(re.compile(r"q=%E5%B0%8F%E6%98%8E"))

    page.get_by_role("link", name="王小明").click()
    detail_url = f"{live_server.url}/customers/{customers.pk}/"
    page.wait_for_url(detail_url)
    expect(page.locator("#customer-wechat")).to_have_text("wxm_old")

    # A call logged through the htmx form appears at the top of the timeline without a reload.
    page.select_option("#id_kind", "call")
    page.fill("#id_subject", "交车七日回访")
    page.click("#activity-form button[type=submit]")
    expect(page.locator("#timeline-list li").first).to_contain_text("交车七日回访")
    expect(page).to_have_url(detail_url)

    page.click("#edit-customer")
    page.fill("#id_wechat", "wxm_new")
    page.click("#save-customer")
    page.wait_for_url(detail_url)
    expect(page.locator("#customer-wechat")).to_have_text("wxm_new")
    expect(page.locator("#timeline-list li").first).to_contain_text("微信")

    page.click("#tab-history")
    history = page.locator("#history")
    expect(history).to_be_visible()
    first_change = history.locator("tbody tr").first
    expect(first_change).to_contain_text("wxm_old")
    expect(first_change).to_contain_text("wxm_new")
    expect(first_change).to_contain_text("rep1")

    page.get_by_role("button", name="退出").click()
    page.wait_for_url(f"{live_server.url}/accounts/login/")

    login("rep2")
    response = page.goto(detail_url)
    assert response is not None and response.status == 404
    expect(page.locator("#not-found")).to_be_visible()
    expect(page.locator("body")).not_to_contain_text("wxm_new")
