import html
import re
from urllib.parse import urlencode

import pytest

from incident_cmd import db
from incident_cmd.auth.models import Role
from incident_cmd.incidents import service as incident_service
from incident_cmd.incidents.schemas import IncidentDeclare, Scope, StatusChange
from tests.factories import make_playbook_teams, make_user
from tests.plugins.web import (
    ENGLISH_BROWSER,
    PASSWORD,
    chromium,
    csrf_token,
    login,
    needs_chromium,
)


def test_landing_page_requires_login(client):
    response = client.get("/", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/login"


def _login_form(client, login_page: str) -> str:
    """The login form of ``login_page`` (the page's language switch is a form too)."""
    page = client.get(login_page).text
    form = re.search(r'<form method="post" action="/login">.*?</form>', page, re.S)
    assert form, page
    return form.group(0)


def _login_from(client, login_page: str, username: str, back_to: str | None = None):
    """Logs in through the form on ``login_page``, its ``next`` as the form carries it, or
    ``back_to`` where given (as a forged form would)."""
    form = _login_form(client, login_page)
    carried = re.search(r'name="next" value="([^"]*)"', form)
    data = {
        "username": username,
        "password": PASSWORD,
        "csrf_token": re.search(r'name="csrf_token" value="([^"]+)"', form).group(1),
    }
    if back_to is not None:
        data["next"] = back_to
    elif carried:
        data["next"] = html.unescape(carried.group(1))
    return client.post("/login", data=data, headers=ENGLISH_BROWSER, follow_redirects=False)


def test_logging_in_returns_to_the_page_that_asked_for_it(client, session):
    make_user(session, Role.responder, username="paged.person", password=PASSWORD)
    asked = client.get("/tickets?status=new", follow_redirects=False)
    assert asked.status_code == 303
    assert asked.headers["location"] == "/login?next=%2Ftickets%3Fstatus%3Dnew"
    # A mistyped password shows the form again, still leading back to the page.
    mistyped = client.post(
        "/login",
        data={
            "username": "paged.person",
            "password": "not the password",
            "next": "/tickets?status=new",
            "csrf_token": csrf_token(client),
        },
        headers=ENGLISH_BROWSER,
    )
    assert mistyped.status_code == 401
    assert 'name="next" value="/tickets?status=new"' in mistyped.text
    response = _login_from(client, asked.headers["location"], "paged.person")
    assert (response.status_code, response.headers["location"]) == (303, "/tickets?status=new")
    # A login that no page asked for lands on the board.
    client.cookies.delete("icmd_session")
    assert login(client, "paged.person").headers["location"] == "/"


@pytest.mark.parametrize(
    "elsewhere", ["//evil.example", "https://evil.example/x", "/\\evil.example", "evil.example"]
)
def test_a_return_path_to_another_site_is_not_followed(client, session, elsewhere):
    make_user(session, Role.responder, username="paged.other", password=PASSWORD)
    login_page = "/login?" + urlencode({"next": elsewhere})
    assert 'name="next"' not in _login_form(client, login_page)
    answered = _login_from(client, login_page, "paged.other", back_to=elsewhere)
    assert (answered.status_code, answered.headers["location"]) == (303, "/")


def test_wrong_password_shows_the_form_again(client, session):
    make_user(session, Role.viewer, username="page.user", password=PASSWORD)
    response = login(client, "page.user", "not the password")
    assert response.status_code == 401
    assert "Wrong username or password." in response.text
    assert 'value="page.user"' in response.text  # kept for the next try
    assert "icmd_session" not in response.cookies


def test_landing_page_lists_active_incidents_only(client, session, shipped_playbooks):
    make_playbook_teams(
        session,
        *(shipped_playbooks.get(key).playbook for key in ("natural-disaster", "service-outage")),
    )
    duty = make_user(session, Role.duty_manager, timezone="Asia/Shanghai", password=PASSWORD)
    active = incident_service.declare(
        session,
        registry=shipped_playbooks,
        actor=duty,
        data=IncidentDeclare(
            playbook="natural-disaster",
            title="Typhoon floods Xiamen warehouse",
            severity="sev1",
            scope=Scope(regions=["Fujian"]),
            drill=True,
        ),
    )
    closed = incident_service.declare(
        session,
        registry=shipped_playbooks,
        actor=duty,
        data=IncidentDeclare(playbook="service-outage", title="Hotline down", severity="sev1"),
    )
    incident_service.transition(
        session, incident=closed, actor=duty, change=StatusChange(status="resolved")
    )
    response = login(client, duty.username)
    assert response.status_code == 303
    cookie = response.cookies["icmd_session"]
    assert "httponly" in response.headers["set-cookie"].lower()
    assert "samesite=strict" in response.headers["set-cookie"].lower()
    client.cookies.set("icmd_session", cookie)
    page = client.get("/")
    assert page.status_code == 200
    assert active.number in page.text and "Typhoon floods Xiamen warehouse" in page.text
    assert "演练" in page.text  # the duty manager's locale is the default, zh-CN
    assert closed.number not in page.text
    # Shown in the viewer's zone (Asia/Shanghai), not UTC.
    assert "2026-11-23 09:00 CST" in page.text


def test_session_cookie_is_not_accepted_by_the_api(client, session):
    make_user(session, Role.admin, username="cookie.user", password=PASSWORD)
    cookie = login(client, "cookie.user").cookies["icmd_session"]
    client.cookies.set("icmd_session", cookie)
    response = client.get("/api/v1/me")
    assert response.status_code == 401


@needs_chromium
def test_duty_manager_logs_in_and_sees_the_incident_in_chromium(
    live_server, shipped_playbooks, tmp_path
):
    with db.session_scope() as session:
        make_playbook_teams(session, shipped_playbooks.get("product-recall").playbook)
        duty = make_user(session, Role.duty_manager, password=PASSWORD)
        username = duty.username
        incident = incident_service.declare(
            session,
            registry=shipped_playbooks,
            actor=duty,
            data=IncidentDeclare(
                playbook="product-recall",
                title="PX-200 电池过热",
                severity="sev1",
                scope=Scope(batches=["B7"]),
            ),
        )
        number = incident.number

    with chromium() as browser:
        page = browser.new_page(locale="en-US")
        page.goto(f"{live_server}/")
        assert page.url.endswith("/login")
        page.fill("input[name=username]", username)
        page.fill("input[name=password]", "wrong password here")
        page.click("form[action='/login'] button[type=submit]")
        assert "Wrong username or password" in page.inner_text("[role=alert]")
        page.fill("input[name=username]", username)
        page.fill("input[name=password]", PASSWORD)
        page.click("form[action='/login'] button[type=submit]")
        page.wait_for_selector("#incidents")
        row = page.locator(f"tr[data-number='{number}']")
        assert "PX-200 电池过热" in row.inner_text()
        page.screenshot(path=str(tmp_path / "landing.png"), full_page=True)
        # The duty manager's own locale (zh-CN) now speaks, not the browser's.
        page.click("text=退出登录")
        page.wait_for_url("**/login")
