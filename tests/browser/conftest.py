"""Headless Chromium for the browser tests (Playwright's sync API against Debian's chromium)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

CHROMIUM = "/usr/bin/chromium"
LAUNCH_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]


@pytest.fixture(scope="session", autouse=True)
def _serial_live_server_on_in_memory_sqlite(django_db_setup: None) -> Iterator[None]:
    """On in-memory SQLite the live server's request threads all use the test's one connection,
    and two requests on it at once can block each other for good: a manager's home page loads its
    four sections by htmx in parallel, and the suite hung there. There the live server answers one
    request at a time (Chromium queues the rest); on PostgreSQL each request thread has its own
    connection and the server stays threaded."""
    from django.core.servers.basehttp import WSGIServer
    from django.db import connection
    from django.test.testcases import LiveServerThread

    if not (connection.vendor == "sqlite" and connection.is_in_memory_db()):
        yield
        return

    class Serial(WSGIServer):
        def __init__(self, *args: object, connections_override: object = None, **kwargs: object) -> None:
            super().__init__(*args, **kwargs)  # the server's own thread already uses the override

    original = LiveServerThread.server_class
    LiveServerThread.server_class = Serial  # type: ignore[assignment]
    try:
        yield
    finally:
        LiveServerThread.server_class = original


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
        # Let the page's last htmx requests finish before the test's data is flushed under them.
        pg.wait_for_load_state("networkidle")
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
