"""The lead list in a real browser: the page shows the list at once and the stage tabs fetch their
counts afterwards (htmx), under the same filters."""

from __future__ import annotations

import pytest
from django.db import transaction
from playwright.sync_api import expect

from huitou.referrals.tests.factories import ReferralFactory
from tests.factories import CustomerFactory

# The shared session browser (tests/browser/conftest.py): a second Playwright started in the same
# worker fails, because the first keeps its event loop running in this thread.
pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_stage_tabs_load_their_counts_after_the_list(page, login, live_server, org_world):
    w = org_world
    referrer = CustomerFactory(owner=w.rep1, organisation=w.org, store=w.rep1.store)
    with transaction.atomic():  # the factory refreshes the referrer's summary under a row lock
        for stage in ("submitted", "verified", "verified", "won"):
            ReferralFactory(referrer=referrer, stage=stage)
    login(w.rep1.username)

    page.goto(f"{live_server.url}/referrals/")
    expect(page.locator("#lead-table tbody tr")).to_have_count(4)
    expect(page.locator('#stage-counts [data-stage="verified"] [data-count]')).to_have_text("2")
    expect(page.locator('#stage-counts [data-stage="won"] [data-count]')).to_have_text("1")
    expect(page.locator('#stage-counts [data-stage="lost"] [data-count]')).to_have_text("0")
    page.locator('#stage-counts [data-stage="verified"]').click()
    page.wait_for_url(lambda url: "stage=verified" in url)
    expect(page.locator("#lead-table tbody tr")).to_have_count(2)
    expect(page.locator('#stage-counts [data-stage="submitted"] [data-count]')).to_have_text("1")
