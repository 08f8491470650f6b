"""The pages' languages (catalogs, who gets which language, the switch) and the vendored
front-end files they load."""

import hashlib
import re
from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.pofile import read_po
from sqlmodel import select

from incident_cmd.auth.models import Role, User
from incident_cmd.i18n import LOCALES, Locale
from incident_cmd.timeline.models import TimelineEvent
from incident_cmd.web import translations
from incident_cmd.web.assets import STATIC_DIR
from tests.factories import make_user
from tests.plugins.web import ORIGIN, PASSWORD, chromium, csrf_token, login, needs_chromium

ROOT = Path(__file__).resolve().parents[2]
VENDOR_PIN = STATIC_DIR / "vendor" / "README.md"


# --- catalogs -------------------------------------------------------------------------------


def _extracted() -> dict[str, tuple[str, ...]]:
    """Every message id marked in the templates and web modules, as babel.cfg says to look."""
    with (ROOT / "babel.cfg").open() as config:
        method_map, options_map = parse_mapping_cfg(config, "babel.cfg")
    found: dict[str, tuple[str, ...]] = {}
    for filename, lineno, message, _, _ in extract_from_dir(ROOT, method_map, options_map):
        forms = message if isinstance(message, tuple) else (message,)
        found.setdefault(forms[0], tuple(forms))
        assert all(forms), f"{filename}:{lineno}: an empty message id"
    return found


def _catalog(locale: Locale):
    with translations.catalog_path(locale).open("rb") as po:
        return read_po(po, locale=locale.value.replace("-", "_"))


def test_the_extraction_sees_the_templates_and_the_labels():
    extracted = _extracted()
    assert {"Log in", "Active incidents", "Duty manager", "Acknowledge"} <= set(extracted)
    plural = extracted["There have been too many failed logins; try again in %(count)s second."]
    assert plural[1].endswith("seconds.")


@pytest.mark.parametrize("locale", LOCALES)
def test_every_page_message_is_translated(locale):
    extracted = _extracted()
    catalog = _catalog(locale)
    in_catalog = {
        message.id if isinstance(message.id, str) else message.id[0]: message
        for message in catalog
        if message.id
    }
    missing = sorted(set(extracted) - set(in_catalog))
    assert missing == [], f"run pybabel update (README: Pages and languages): {missing}"
    stale = sorted(set(in_catalog) - set(extracted))
    assert stale == [], f"messages no page uses any more: {stale}"
    for msgid, message in in_catalog.items():
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        assert all(strings), f"{locale}: no translation for {msgid!r}"
        assert not message.fuzzy, f"{locale}: {msgid!r} is marked fuzzy (left out when compiled)"
    # Placeholders and plural forms agree with the message ids.
    problems = [(message.id, errors) for message, errors in catalog.check()]
    assert problems == []


def test_the_chinese_catalog_is_chinese():
    catalog = _catalog(Locale.zh_CN)
    for message in catalog:
        if message.id:
            text = message.string if isinstance(message.string, str) else message.string[0]
            assert re.search(r"[\u4e00-\u9fff]", text), f"{message.id!r} -> {text!r}"


def test_catalogs_compile_and_translate():
    assert translations.translations(Locale.zh_CN).gettext("Log out") == "退出登录"
    assert translations.translations(Locale.en).gettext("Log out") == "Log out"
    chinese = translations.translations(Locale.zh_CN)
    assert (
        chinese.ngettext(
            "%(count)s failed message queued again.", "%(count)s failed messages queued again.", 5
        )
        == "已将 %(count)s 条发送失败的消息重新排队发送。"
    )


# --- who gets which language -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("zh-CN,zh;q=0.9,en;q=0.8", Locale.zh_CN),
        ("zh-TW", Locale.zh_CN),
        ("zh-Hans", Locale.zh_CN),
        ("en-US,en;q=0.9", Locale.en),
        ("EN-gb", Locale.en),
        ("zh;q=0.5, en", Locale.en),
        ("fr-FR, en;q=0.3, zh;q=0.4", Locale.zh_CN),
        ("en;q=0, zh", Locale.zh_CN),
        ("fr, de", None),
        ("*", None),
        ("", None),
        ("en;q=x", None),
    ],
)
def test_accept_language(header, expected):
    assert translations.accepted_locale(header) == expected


def _lang(page) -> str:
    return re.search(r'<html lang="([^"]+)">', page.text).group(1)


def test_before_login_the_browser_language_decides(client):
    english = client.get("/login", headers={"Accept-Language": "en-US,en;q=0.9"})
    assert _lang(english) == "en" and "Username" in english.text and "用户名" not in english.text
    chinese = client.get("/login", headers={"Accept-Language": "zh-TW,zh;q=0.9"})
    assert _lang(chinese) == "zh-CN" and "用户名" in chinese.text and "Username" not in chinese.text
    # Neither language asked for: the configured default (zh-CN).
    assert _lang(client.get("/login", headers={"Accept-Language": "fr"})) == "zh-CN"
    assert _lang(client.get("/login")) == "zh-CN"


def test_the_cookie_beats_the_browser_language(client):
    client.cookies.set(translations.LOCALE_COOKIE, "en")
    assert _lang(client.get("/login", headers={"Accept-Language": "zh-CN"})) == "en"
    client.cookies.set(translations.LOCALE_COOKIE, "klingon")
    assert _lang(client.get("/login", headers={"Accept-Language": "en"})) == "en"


@pytest.mark.parametrize(
    ("accept_language", "said"),
    [("en", "Wrong username or password."), ("zh-CN", "用户名或密码错误。")],
)
def test_a_failed_login_is_told_in_the_page_language(client, session, accept_language, said):
    make_user(session, Role.viewer, username="lang.user", password=PASSWORD)
    refused = client.post(
        "/login",
        data={"username": "lang.user", "password": "a wrong one", "csrf_token": csrf_token(client)},
        headers={**ORIGIN, "Accept-Language": accept_language},
    )
    assert refused.status_code == 401 and said in refused.text


@pytest.mark.parametrize(
    ("locale", "words", "foreign"),
    [
        ("zh-CN", ("进行中的事件", "值班经理", "退出登录", "应急指挥中心"), "Active incidents"),
        ("en", ("Active incidents", "Duty manager", "Log out", "Incident command"), "进行中的事件"),
    ],
)
def test_a_signed_in_user_reads_pages_in_their_locale(client, session, locale, words, foreign):
    user = make_user(session, Role.duty_manager, password=PASSWORD, locale=locale)
    # The browser asks for the other language: the user's own setting wins.
    client.headers["Accept-Language"] = "en" if locale == "zh-CN" else "zh-CN"
    assert login(client, user.username).status_code == 303
    page = client.get("/")
    assert page.status_code == 200 and _lang(page) == locale
    for word in words:
        assert word in page.text
    assert foreign not in page.text


# --- the language switch --------------------------------------------------------------------


def _switch(client, locale, *, token, back_to="/", headers=ORIGIN):
    data = {"locale": locale, "next": back_to}
    if token is not None:
        data["csrf_token"] = token
    return client.post("/locale", data=data, headers=headers, follow_redirects=False)


def test_the_switch_changes_a_signed_in_users_locale(client, session):
    user = make_user(session, Role.responder, password=PASSWORD, locale="zh-CN")
    login(client, user.username)
    switched = _switch(client, "en", token=csrf_token(client, "/"))
    assert switched.status_code == 303 and switched.headers["location"] == "/"
    assert f"{translations.LOCALE_COOKIE}=en" in switched.headers["set-cookie"]
    session.refresh(user)
    assert user.locale == Locale.en
    event = session.exec(
        select(TimelineEvent).where(
            TimelineEvent.subject_type == "user",
            TimelineEvent.subject_id == user.id,
            TimelineEvent.kind == "user.updated",
        )
    ).one()
    assert event.actor_id == user.id and event.data == {"fields": ["locale"]}
    assert _lang(client.get("/")) == "en"


def test_the_switch_before_login_sets_the_cookie_only(client, session):
    users = session.exec(select(User)).all()
    switched = _switch(client, "en", token=csrf_token(client), back_to="/login")
    assert switched.status_code == 303 and switched.headers["location"] == "/login"
    assert _lang(client.get("/login")) == "en"
    assert session.exec(select(User)).all() == users


def test_the_switch_needs_its_csrf_token_and_our_origin(client, session):
    user = make_user(session, Role.responder, password=PASSWORD, locale="zh-CN")
    login(client, user.username)
    token = csrf_token(client, "/")
    assert _switch(client, "en", token=None).status_code == 403
    assert _switch(client, "en", token="forged").status_code == 403
    cross_site = _switch(client, "en", token=token, headers={"Origin": "https://evil.example"})
    assert cross_site.status_code == 403
    session.refresh(user)
    assert user.locale == Locale.zh_CN
    assert _lang(client.get("/")) == "zh-CN"


@pytest.mark.parametrize("back_to", ["//evil.example/", "https://evil.example/", "/\\evil.example"])
def test_the_switch_only_sends_back_to_this_site(client, back_to):
    switched = _switch(client, "en", token=csrf_token(client), back_to=back_to)
    assert switched.status_code == 303 and switched.headers["location"] == "/"


def test_the_switch_refuses_a_language_the_pages_do_not_speak(client):
    assert _switch(client, "fr", token=csrf_token(client)).status_code == 422


# --- vendored files -------------------------------------------------------------------------


def _pinned() -> dict[str, str]:
    rows = re.findall(
        r"^\| [^|]+ \| [^|]+ \| [^|]+ \| (\S+) \| ([0-9a-f]{64}) \|",
        VENDOR_PIN.read_text(),
        re.MULTILINE,
    )
    return dict(rows)


def test_the_vendored_files_are_served_as_pinned(client):
    pinned = _pinned()
    assert {"htmx.org/htmx.min.js", "htmx-ext-sse/sse.min.js", "echarts/echarts.min.js"} <= set(
        pinned
    )
    for target, sha256 in pinned.items():
        response = client.get(f"/static/vendor/{target}")
        assert response.status_code == 200, target
        assert hashlib.sha256(response.content).hexdigest() == sha256, target
        if target.endswith(".js"):
            assert response.headers["content-type"].startswith("text/javascript"), target
        assert response.headers["x-content-type-options"] == "nosniff"
        assert "max-age" in response.headers["cache-control"]


def test_the_stylesheet_is_served_and_pages_load_it(client):
    css = client.get("/static/app.css")
    assert css.status_code == 200 and css.headers["content-type"].startswith("text/css")
    page = client.get("/login")
    assert '<link rel="stylesheet" href="/static/app.css">' in page.text
    assert '<script src="/static/vendor/htmx.org/htmx.min.js" defer></script>' in page.text
    assert client.get("/static/../app.py").status_code == 404


@needs_chromium
def test_the_policy_lets_htmx_run_in_chromium(live_server):
    refused: list[str] = []

    def console(message):
        if message.type == "error" or "Content Security Policy" in message.text:
            refused.append(message.text)

    with chromium() as browser:
        page = browser.new_page(locale="en-US")
        page.on("console", console)
        page.goto(f"{live_server}/login")
        page.wait_for_function("() => window.htmx !== undefined")
        assert page.evaluate("typeof window.htmx.ajax") == "function"
        assert page.evaluate("htmx.config.includeIndicatorStyles") is False
        # The SSE extension ran after htmx and registered itself.
        page.wait_for_function("() => typeof htmx.createEventSource === 'function'")
        # The stylesheet applied (same origin): the header bar is dark.
        background = page.evaluate(
            "getComputedStyle(document.querySelector('.site-header')).backgroundColor"
        )
        assert background == "rgb(17, 24, 39)"
        # The switch works in a real browser, without script of ours.
        page.click("button[lang=zh-CN]")
        page.wait_for_selector("html[lang=zh-CN]")
        assert "用户名" in page.inner_text("main")
    assert refused == []
