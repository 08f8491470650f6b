"""Logging in through the web form, with the CSRF token and Origin a browser would send; the
app on a real server and Debian's Chromium for browser tests."""

import os
import re
import shutil
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from incident_cmd.app import create_app
from incident_cmd.devtools.local_server import running_server

PASSWORD = "a password long enough"
ORIGIN = {"Origin": "http://testserver"}
# The login form is posted as from a browser set to English: what the login page says
# before anyone is signed in follows the browser's language (tests/web/test_i18n.py).
ENGLISH_BROWSER = {**ORIGIN, "Accept-Language": "en-GB,en;q=0.9"}
CHROMIUM = shutil.which("chromium")
# CI installs Chromium (scripts/test-services): there a missing browser is a failure.
needs_chromium = pytest.mark.skipif(
    CHROMIUM is None and os.environ.get("CI") != "true", reason="Debian chromium is not installed"
)


def csrf_token(client, path="/login"):
    """The hidden CSRF field of the form on ``path`` (the GET also sets its cookie)."""
    page = client.get(path)
    match = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert match, page.text
    return match.group(1)


def login(client, username, password=PASSWORD):
    return client.post(
        "/login",
        data={"username": username, "password": password, "csrf_token": csrf_token(client)},
        headers=ENGLISH_BROWSER,
        follow_redirects=False,
    )


@pytest.fixture
def live_server(use_database, shipped_playbooks) -> Iterator[str]:
    with running_server(create_app(registry=shipped_playbooks, run_worker=False)) as url:
        yield url


@contextmanager
def chromium():
    """Debian's Chromium driven by Playwright, kept off the network but for the test server."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
            ],
        )
        try:
            yield browser
        finally:
            browser.close()
