"""Logging in through the web form, with the CSRF token and Origin a browser would send, and
posting a page's forms; the app on a real server, Debian's Chromium for browser tests, and
their screenshots."""

import os
import re
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from incident_cmd.app import create_app
from incident_cmd.auth import service as auth_service
from incident_cmd.auth.models import Role, User
from incident_cmd.devtools.local_server import running_server
from incident_cmd.i18n import Locale
from tests.factories import make_user

PASSWORD = "a password long enough"
ORIGIN = {"Origin": "http://testserver"}
# The login form is posted as from a browser set to English: what the login page says
# before anyone is signed in follows the browser's language (tests/web/test_i18n.py).
ENGLISH_BROWSER = {**ORIGIN, "Accept-Language": "en-GB,en;q=0.9"}
# The Accept-Language of a reader's browser set to Chinese, or to English.
CHINESE = {"Accept-Language": "zh-CN,zh;q=0.9"}
ENGLISH = {"Accept-Language": "en-US,en;q=0.9"}
# Where every browser test leaves a copy of its screenshots for review.
SHOTS = Path("/tmp/shots")
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


def sign_in(
    client,
    session,
    role: Role = Role.duty_manager,
    locale: Locale | str = Locale.en,
    timezone: str = "Asia/Shanghai",
) -> User:
    """A new person with ``role``, reading ``locale``, logged in on ``client``."""
    user = make_user(session, role, password=PASSWORD, locale=locale, timezone=timezone)
    assert login(client, user.username).status_code == 303
    return user


def sign_in_as(client, session, username: str, locale: Locale | str = Locale.en) -> User:
    """Someone who exists already, given the password and ``locale``, logged in on ``client``."""
    user = auth_service.get_user_by_username(session, username=username)
    auth_service.set_password(session, user=user, password=PASSWORD, actor_id=None)
    user.locale = Locale(locale)
    session.add(user)
    session.flush()
    assert login(client, username).status_code == 303
    return user


def post_form(client, path: str, data: dict, token_from: str):
    """Posts ``data`` to ``path`` as the form on the page ``token_from`` would."""
    return client.post(
        path,
        data={**data, "csrf_token": csrf_token(client, token_from)},
        headers=ORIGIN,
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


def browser_login(page, base_url: str, username: str) -> None:
    """Logs ``page`` in through the login form, as a person would."""
    page.goto(f"{base_url}/login")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", PASSWORD)
    page.click("form[action='/login'] button[type=submit]")
    page.wait_for_url(lambda url: not url.endswith("/login"))


def shot(page, tmp_path: Path, name: str, *, full_page: bool = True) -> None:
    """``name``.png among the test's artifacts, and a copy in /tmp/shots for review."""
    path = tmp_path / f"{name}.png"
    page.screenshot(path=str(path), full_page=full_page)
    SHOTS.mkdir(parents=True, exist_ok=True)
    shutil.copy(path, SHOTS / path.name)


# Run in a page (``page.evaluate(UNNAMED)``), it answers each field with no accessible label
# and each control with no accessible name. The accessible name as these checks need it:
# aria-labelledby, aria-label, the wrapping or pointing <label>'s own text, a control's text
# without what is hidden from assistive technology, a button's value, an image's alt, and
# the title as a last resort.
UNNAMED = """
() => {
  const own = (element) => {
    const copy = element.cloneNode(true);
    copy.querySelectorAll('[aria-hidden="true"], input, select, textarea').forEach((e) => e.remove());
    return copy.textContent.replace(/\\s+/g, " ").trim();
  };
  const referenced = (element) => (element.getAttribute("aria-labelledby") || "")
    .split(/\\s+/).filter(Boolean)
    .map((id) => document.getElementById(id)).filter(Boolean)
    .map(own).join(" ").trim();
  const labelled = (element) => referenced(element)
    || (element.getAttribute("aria-label") || "").trim()
    || (element.id ? Array.from(document.querySelectorAll("label"))
        .filter((label) => label.htmlFor === element.id).map(own).join(" ").trim() : "")
    || (element.closest("label") ? own(element.closest("label")) : "");
  const named = (element) => referenced(element)
    || (element.getAttribute("aria-label") || "").trim()
    || own(element)
    || (element.value || "").trim()
    || Array.from(element.querySelectorAll("img[alt]")).map((img) => img.alt).join(" ").trim()
    || (element.getAttribute("title") || "").trim();
  const show = (element) => element.outerHTML.slice(0, 200);
  const problems = [];
  document.querySelectorAll("input, select, textarea").forEach((field) => {
    if (field.type !== "hidden" && !labelled(field)) problems.push("no label: " + show(field));
  });
  document.querySelectorAll(
    "button, a[href], summary, [role=button], input[type=submit], input[type=button]"
  ).forEach((control) => {
    if (!named(control)) problems.push("no name: " + show(control));
  });
  return problems;
}
"""
