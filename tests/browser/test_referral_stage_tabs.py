"""The lead list in a real browser: the page shows the list at once and the stage tabs fetch their
counts afterwards (htmx), under the same filters."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from django.db import transaction

from huitou.referrals.tests.factories import ReferralFactory
from tests.factories import CustomerFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

CHROMIUM = "/usr/bin/chromium"


@pytest.fixture
def chromium():
    if not Path(CHROMIUM).exists():
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI requires the browser tests, but chromium is missing at {CHROMIUM}")
        pytest.skip(f"chromium not installed at {CHROMIUM}")
    os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    from playwright.sync_api import sync_playwright

    pw = sync_playwright().start()
    browser = pw.chromium.launch(
        executable_path=CHROMIUM, args=["--headless", "--no-sandbox", "--disable-gpu"]
    )
    try:
        yield browser
    finally:
        browser.close()
        pw.stop()


def test_stage_tabs_load_their_counts_after_the_list(chromium, live_server, org_world):
    from playwright.sync_api import expect

    w = org_world
    referrer = CustomerFactory(owner=w.rep1, organisation=w.org, store=w.rep1.store)
    with transaction.atomic():  # the factory refreshes the referrer's summary under a row lock
        for stage in ("submitted", "verified", "verified", "won"):
            ReferralFactory(referrer=referrer, stage=stage)
    context = chromium.new_context(locale="zh-CN")
    context.set_default_timeout(15_000)
    page = context.new_page()
    page.goto(f"{live_server.url}/accounts/login/")
    page.fill("#id_username", w.rep1.username)
    page.fill("#id_password", "pw-12345678")
    page.click("#login-submit")
    page.wait_for_url(lambda url: "/accounts/login/" not in url)

    page.goto(f"{live_server.url}/referrals/")
    expect(page.locator("#lead-table tbody tr")).to_have_count(4)
    expect(page.locator('#stage-counts [data-stage="verified"] [data-count]')).to_have_text("2")
    expect(page.locator('#stage-counts [data-stage="won"] [data-count]')).to_have_text("1")
    expect(page.locator('#stage-counts [data-stage="lost"] [data-count]')).to_have_text("0")
    page.locator('#stage-counts [data-stage="verified"]').click()
    page.wait_for_url(lambda url: "stage=verified" in url)
    expect(page.locator("#lead-table tbody tr")).to_have_count(2)
    expect(page.locator('#stage-counts [data-stage="submitted"] [data-count]')).to_have_text("1")
    context.close()
