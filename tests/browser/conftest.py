"""Headless Chromium for the browser tests (Playwright's sync API against Debian's chromium)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

CHROMIUM = "/usr/bin/chromium"
LAUNCH_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]


@pytest.fixture(scope="session")
def browser() -> Iterator:
    if not Path(CHROMIUM).exists():
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI requires the browser tests, but chromium is missing at {CHROMIUM}")
        pytest.skip(f"chromium not installed at {CHROMIUM}")
    # Playwright's sync API keeps an event loop running in this thread, which makes Django's
    # async-safety guard refuse the ORM calls of the fixtures that create test data.
    os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    from playwright.sync_api import sync_playwright

    pw = sync_playwright().start()
    chromium = pw.chromium.launch(executable_path=CHROMIUM, args=LAUNCH_ARGS)
    try:
        yield chromium
    finally:
        chromium.close()
        pw.stop()


@pytest.fixture
def page(browser, live_server):
    """A fresh browser context per test (no shared cookies), in the default Chinese locale."""
    context = browser.new_context(locale="zh-CN", viewport={"width": 1280, "height": 900})
    context.set_default_timeout(15_000)
    pg = context.new_page()
    try:
        yield pg
    finally:
        context.close()


@pytest.fixture
def login(page, live_server):
    def do(username: str, password: str = "pw-12345678") -> None:
        page.goto(f"{live_server.url}/accounts/login/")
        page.fill("#id_username", username)
        page.fill("#id_password", password)
        page.click("#login-submit")
        page.wait_for_url(lambda url: "/accounts/login/" not in url)

    return do
