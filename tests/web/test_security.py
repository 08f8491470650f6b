"""CSRF on forms, security headers on pages, link pages, and link tokens kept out of logs."""

import logging
import logging.config
import re
from datetime import timedelta

import pytest
from sqlmodel import col, select
from typer.testing import CliRunner

from incident_cmd.auth import service as auth_service
from incident_cmd.auth.models import Role, TokenKind
from incident_cmd.cli import app as cli
from incident_cmd.incidents.schemas import Scope
from incident_cmd.messaging import suppression
from incident_cmd.paging import links as paging_links
from incident_cmd.paging.models import Page, PageTarget, TargetStatus
from incident_cmd.web import security
from tests.factories import make_incident, make_user
from tests.plugins.web import ORIGIN, PASSWORD, csrf_token, login


def _post_login(client, **overrides):
    data = {"username": "csrf.user", "password": PASSWORD}
    headers = overrides.pop("headers", ORIGIN)
    data.update(overrides)
    return client.post("/login", data=data, headers=headers, follow_redirects=False)


@pytest.fixture
def csrf_user(session):
    return make_user(session, Role.viewer, username="csrf.user", password=PASSWORD)


def test_login_needs_the_forms_csrf_token(client, csrf_user):
    token = csrf_token(client)
    missing = _post_login(client)
    assert missing.status_code == 403
    assert "CSRF token is missing" in missing.json()["detail"]
    forged = security.URLSafeSerializer("another secret", salt="icmd-csrf").dumps("x")
    assert _post_login(client, csrf_token=forged).status_code == 403
    # A token from another browser (its own cookie) does not match this browser's cookie.
    client.cookies.set(security.CSRF_COOKIE, "someone-elses-nonce")
    assert _post_login(client, csrf_token=token).status_code == 403
    assert "icmd_session" not in missing.cookies


def test_login_from_another_site_or_an_unnamed_one_is_refused(client, csrf_user):
    token = csrf_token(client)
    for headers in (
        {"Origin": "https://evil.example"},
        {"Origin": "null"},
        {"Referer": "https://evil.example/phish"},
        {},
    ):
        response = _post_login(client, csrf_token=token, headers=headers)
        assert response.status_code == 403, headers
        assert "icmd_session" not in response.cookies
    by_referer = _post_login(
        client, csrf_token=token, headers={"Referer": "http://testserver/login"}
    )
    assert by_referer.status_code == 303


def test_the_public_base_url_is_our_origin(client, csrf_user, monkeypatch):
    from incident_cmd.config import get_settings

    monkeypatch.setenv("INCIDENT_CMD_PUBLIC_BASE_URL", "https://incident.example.com")
    get_settings.cache_clear()
    client.base_url = "https://testserver"  # the cookie is Secure now
    token = csrf_token(client)
    headers = {"Origin": "https://incident.example.com"}
    assert _post_login(client, csrf_token=token, headers=headers).status_code == 303


def test_logout_needs_the_csrf_token_and_revokes_the_session(client, csrf_user):
    cookie = login(client, "csrf.user").cookies["icmd_session"]
    client.cookies.set("icmd_session", cookie)
    forged = client.post("/logout", headers=ORIGIN, follow_redirects=False)
    assert forged.status_code == 403
    assert client.get("/", follow_redirects=False).status_code == 200
    token = csrf_token(client, "/")
    out = client.post("/logout", data={"csrf_token": token}, headers=ORIGIN, follow_redirects=False)
    assert out.status_code == 303
    # The browser forgot the cookie; someone who copied it cannot use it either.
    client.cookies.set("icmd_session", cookie)
    again = client.get("/", follow_redirects=False)
    assert again.status_code == 303 and again.headers["location"] == "/login"


def test_an_api_token_is_not_a_session_cookie(client, session, csrf_user):
    for kind in (TokenKind.api, TokenKind.login):
        _, secret = auth_service.issue_token(
            session,
            user=csrf_user,
            name="not a cookie",
            kind=kind,
            expires_in=timedelta(hours=1),
            actor_id=None,
        )
        client.cookies.set("icmd_session", secret)
        response = client.get("/", follow_redirects=False)
        assert response.status_code == 303, kind


def test_pages_carry_security_headers(client, csrf_user):
    page = client.get("/login")
    policy = page.headers["content-security-policy"]
    assert "frame-ancestors 'none'" in policy
    assert "'unsafe-inline'" not in policy
    nonce = re.search(r"'nonce-([^']+)'", policy).group(1)
    assert f"script-src 'self' 'nonce-{nonce}'" in policy
    # Scripts and styles come from this site's /static, or carry the page's nonce.
    for tag in re.findall(r'<(?:script|style)\b[^>]*>|<link rel="stylesheet"[^>]*>', page.text):
        assert 'src="/static/' in tag or 'href="/static/' in tag or f'nonce="{nonce}"' in tag, tag
    assert '<link rel="stylesheet" href="/static/app.css">' in page.text
    assert page.headers["x-frame-options"] == "DENY"
    assert page.headers["x-content-type-options"] == "nosniff"
    assert page.headers["referrer-policy"] == "same-origin"
    cookie = page.headers["set-cookie"].lower()
    assert security.CSRF_COOKIE in cookie and "httponly" in cookie and "samesite=strict" in cookie
    # A fresh nonce for every page.
    assert client.get("/login").headers["content-security-policy"] != policy
    api = client.get("/healthz")
    assert api.headers["x-content-type-options"] == "nosniff"


@pytest.fixture
def page_target(session, shipped_playbooks) -> PageTarget:
    incident = make_incident(
        session, registry=shipped_playbooks, title="PX-200 overheating", scope=Scope(batches=["B7"])
    )
    return session.exec(
        select(PageTarget)
        .join(Page, col(Page.id) == PageTarget.page_id)
        .where(Page.incident_id == incident.id)
        .order_by(PageTarget.id)
    ).first()


def test_link_pages_send_no_referrer_and_refuse_other_sites(client, session, page_target):
    path = "/page/" + paging_links.ack_token(page_target)
    shown = client.get(path)
    assert shown.status_code == 200
    assert shown.headers["referrer-policy"] == "no-referrer"
    assert shown.headers["cache-control"] == "no-store"
    assert "frame-ancestors 'none'" in shown.headers["content-security-policy"]
    assert security.CSRF_COOKIE not in shown.headers.get("set-cookie", "")

    cross_site = client.post(
        path, data={"action": "acknowledge"}, headers={"Origin": "https://evil.example"}
    )
    assert cross_site.status_code == 403
    session.refresh(page_target)
    assert page_target.status == TargetStatus.open

    # A no-referrer page's own form is sent with Origin "null"; the signed link is the
    # credential.
    answered = client.post(path, data={"action": "acknowledge"}, headers={"Origin": "null"})
    assert answered.status_code == 200
    session.refresh(page_target)
    assert page_target.status == TargetStatus.acknowledged


def test_unsubscribe_links_send_no_referrer_and_refuse_other_sites(client):

    path = "/unsubscribe/" + suppression.unsubscribe_token("someone@example.com")
    cross_site = client.post(path, headers={"Origin": "https://evil.example"})
    assert cross_site.status_code == 403
    assert client.get(path).headers["referrer-policy"] == "no-referrer"


ACCESS_LINE = '%s - "%s %s HTTP/%s" %d'


def test_link_tokens_never_reach_the_access_log(capsys):
    logging.config.dictConfig(security.uvicorn_log_config())
    access = logging.getLogger("uvicorn.access")
    try:
        for path in (
            "/page/eyJ0IjoxLCJlIjo0MTAyNDQ0ODAwfQ.SECRETSIG",
            "/unsubscribe/ImNuMDAwMDBAZXhhbXBsZS5jb20i.SECRETSIG",
            "/whatever?token=SECRETSIG&x=1",
        ):
            access.info(ACCESS_LINE, "203.0.113.9:5123", "GET", path, "1.1", 200)
        access.info(ACCESS_LINE, "203.0.113.9:5123", "GET", "/api/v1/incidents?limit=5", "1.1", 200)
    finally:
        for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
            logging.getLogger(name).handlers.clear()
    logged = capsys.readouterr().out
    assert "SECRETSIG" not in logged
    assert "/page/[redacted]" in logged and "/unsubscribe/[redacted]" in logged
    assert "token=[redacted]&x=1" in logged
    assert "/api/v1/incidents?limit=5" in logged


def test_serve_installs_the_redacting_access_log(use_database, monkeypatch):
    import uvicorn

    started = {}
    monkeypatch.setattr(uvicorn, "run", lambda *args, **kwargs: started.update(kwargs))
    result = CliRunner().invoke(cli, ["serve"])
    assert result.exit_code == 0, result.output
    access = started["log_config"]["handlers"]["access"]
    assert access["filters"] == ["redact_link_tokens"]
    assert started["log_config"]["filters"]["redact_link_tokens"]["()"] is (
        security.RedactLinkTokens
    )
