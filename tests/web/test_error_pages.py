"""A page route that names nothing, or is not for its reader, answers with a page in the
reader's language (the layout, why, and the way back to the board) and its own status; the
API's routes keep their JSON error body."""

import re

import pytest

from incident_cmd import db
from incident_cmd.auth.models import Role
from incident_cmd.i18n import Locale
from tests.factories import make_user
from tests.plugins.web import (
    PASSWORD,
    browser_login,
    chromium,
    needs_chromium,
    post_form,
    shot,
    sign_in,
)

MISSING = 999999
NOTHING_THERE = {
    Locale.en: ("Not found", "There is nothing at this address", "Back to the incidents"),
    Locale.zh_CN: ("未找到", "此地址下没有内容", "返回事件列表"),
}
MISSING_PAGES = (
    f"/tickets/{MISSING}",
    f"/customers/{MISSING}",
    f"/incidents/{MISSING}",
    f"/signals/{MISSING}",
    f"/campaigns/{MISSING}",
    "/admin/users/nobody.here",
)


def _lang(text: str) -> str:
    match = re.search(r'<html lang="([^"]+)">', text)
    assert match, text
    return match.group(1)


def _is_the_not_found_page(answer, locale: Locale) -> None:
    assert answer.status_code == 404
    assert answer.headers["content-type"].startswith("text/html")
    assert _lang(answer.text) == locale
    for words in NOTHING_THERE[locale]:
        assert words in answer.text, words
    assert '<a href="/">' in answer.text
    # The page's own layout: the reader's name and the header's navigation.
    assert 'class="site-nav"' in answer.text


@pytest.mark.parametrize("locale", [Locale.zh_CN, Locale.en])
def test_a_page_naming_nothing_is_a_page_in_the_reader_s_language(client, session, locale):
    reader = sign_in(client, session, Role.admin, locale=locale)
    for path in MISSING_PAGES:
        answer = client.get(path)
        _is_the_not_found_page(answer, locale)
        assert reader.display_name in answer.text, path


def test_a_form_posted_to_something_missing_answers_the_page_too(client, session):
    sign_in(client, session, Role.admin, locale=Locale.zh_CN)
    revoked = post_form(client, f"/admin/tokens/{MISSING}/revoke", {}, "/admin")
    _is_the_not_found_page(revoked, Locale.zh_CN)


def test_a_page_not_for_the_reader_says_so_in_their_language(client, session):
    sign_in(client, session, Role.viewer, locale=Locale.en)
    refused = client.get("/declare")
    assert refused.status_code == 403
    assert refused.headers["content-type"].startswith("text/html")
    assert "Not allowed" in refused.text and "Your role may not do this." in refused.text
    assert 'id="refused"' in refused.text and '<a href="/">' in refused.text


def test_someone_not_signed_in_is_still_sent_to_log_in(client):
    answer = client.get(f"/tickets/{MISSING}", follow_redirects=False)
    assert (answer.status_code, answer.headers["location"]) == (
        303,
        f"/login?next=%2Ftickets%2F{MISSING}",
    )


def test_the_api_keeps_its_json_error_body(client, headers):
    answer = client.get(f"/api/v1/tickets/{MISSING}", headers=headers(Role.admin))
    assert answer.status_code == 404
    assert answer.headers["content-type"] == "application/json"
    assert answer.json() == {
        "detail": f"no ticket with id {MISSING}",
        "field": None,
        "errors": None,
    }
    refused = client.post(
        "/api/v1/incidents",
        json={"playbook": "product-recall", "title": "x", "severity": "sev1"},
        headers=headers(Role.viewer),
    )
    assert refused.status_code == 403 and refused.json()["detail"]


def test_a_signed_link_keeps_its_json_refusal(client):
    answer = client.get("/page/not-a-token")
    assert answer.status_code == 403
    assert answer.headers["content-type"] == "application/json"
    assert answer.json()["detail"]


@needs_chromium
def test_the_not_found_page_in_chromium(live_server, tmp_path):
    with db.session_scope() as session:
        readers = {
            locale: make_user(session, Role.agent, password=PASSWORD, locale=locale).username
            for locale in (Locale.zh_CN, Locale.en)
        }
    with chromium() as browser:
        for locale, username in readers.items():
            page = browser.new_page(viewport={"width": 1280, "height": 800})
            browser_login(page, live_server, username)
            for width in (1280, 390):
                page.set_viewport_size({"width": width, "height": 800})
                page.goto(f"{live_server}/tickets/{MISSING}")
                assert NOTHING_THERE[locale][0] in page.inner_text("h1")
                shot(page, tmp_path, f"not-found-{locale}-{width}")
            page.click("main a[href='/']")
            page.wait_for_selector("#board")
            page.close()
