"""The administration pages, for admins only: people and roles through the auth service (the
last active admin kept), tokens issued once and revoked, who is on call for two weeks in the
reader's zone with the swaps that change it, and the playbook files with their problems."""

import re
import shutil
from datetime import timedelta

import pytest
from sqlmodel import select

from incident_cmd import clock, db
from incident_cmd.auth import service as auth_service
from incident_cmd.auth.models import ApiToken, Role, User
from incident_cmd.config import get_settings
from incident_cmd.i18n import Locale
from incident_cmd.teams.models import RotationOverride
from tests.factories import make_team, make_user
from tests.plugins.web import (
    PASSWORD,
    browser_login,
    chromium,
    needs_chromium,
    post_form,
    shot,
    sign_in,
)

ADMIN_PAGES = ("/admin", "/admin/on-call", "/admin/playbooks")


def _post(client, path: str, data: dict, token_from: str = "/admin"):
    return post_form(client, path, data, token_from)


def _users(session) -> set[str]:
    return set(session.exec(select(User.username)).all())


@pytest.mark.parametrize("role", [Role.duty_manager, Role.comms, Role.viewer])
def test_a_non_admin_is_refused_every_admin_page(client, session, role):
    person = make_user(session, Role.agent)
    sign_in(client, session, role)
    for path in (*ADMIN_PAGES, f"/admin/users/{person.username}"):
        page = client.get(path)
        assert page.status_code == 403, path
        assert 'id="refused"' in page.text
    before = _users(session)
    refused = _post(client, "/admin/users", {"username": "mallory", "role": "admin"}, "/tickets")
    assert refused.status_code == 403
    assert _users(session) == before
    assert 'href="/admin"' not in client.get("/tickets").text


def test_an_admin_creates_a_user(client, session):
    sign_in(client, session, Role.admin)
    answer = _post(
        client,
        "/admin/users",
        {
            "username": "zhang.wei",
            "display_name": "张伟",
            "role": "duty_manager",
            "phone": "138 0013 8000",
            "locale": "zh-CN",
            "password": "long enough password",
        },
    )
    assert answer.status_code == 303
    created = auth_service.get_user_by_username(session, username="zhang.wei")
    assert (created.role, created.phone, created.locale) == (
        Role.duty_manager,
        "+8613800138000",
        Locale.zh_CN,
    )
    page = client.get(answer.headers["location"])
    assert 'id="user-zhang.wei"' in page.text and "张伟" in page.text


@pytest.mark.parametrize(
    ("field", "data"),
    [
        ("username", {"username": "Zhang Wei", "role": "agent"}),
        ("phone", {"username": "zhang.wei", "role": "agent", "phone": "call-me"}),
        ("role", {"username": "zhang.wei"}),
        ("password", {"username": "zhang.wei", "role": "agent", "password": "short"}),
        ("timezone", {"username": "zhang.wei", "role": "agent", "timezone": "Mars/Base"}),
    ],
)
def test_a_bad_field_is_shown_next_to_it_and_nothing_is_created(client, session, field, data):
    sign_in(client, session, Role.admin)
    before = _users(session)
    answer = _post(client, "/admin/users", data)
    assert answer.status_code == 400
    assert f'aria-describedby="new-{field}-error"' in answer.text
    assert f'id="new-{field}-error"' in answer.text
    assert _users(session) == before
    # What was typed stays, but never the password.
    if field != "password":
        assert f'value="{data["username"]}"' in answer.text
    assert "short" not in answer.text.replace("shortcut", "")


def test_a_taken_username_is_a_conflict_next_to_it(client, session):
    existing = make_user(session, Role.agent)
    sign_in(client, session, Role.admin)
    answer = _post(client, "/admin/users", {"username": existing.username, "role": "agent"})
    assert answer.status_code == 409
    assert 'id="new-username-error"' in answer.text and "already exists" in answer.text


def test_the_last_admin_cannot_step_down(client, session):
    for other in session.exec(select(User).where(User.role == Role.admin)).all():
        other.active = False
        session.add(other)
    admin = sign_in(client, session, Role.admin)
    answer = _post(client, f"/admin/users/{admin.username}", {"role": "viewer", "active": "on"})
    assert answer.status_code == 409
    row = re.search(rf'<tr id="user-{re.escape(admin.username)}".*?</tr>', answer.text, re.S)
    assert row and "last active admin" in row.group(0)
    assert f'id="role-error-{admin.username}"' in row.group(0)
    session.refresh(admin)
    assert (admin.role, admin.active) == (Role.admin, True)
    # Deactivating oneself is refused the same way, next to the switch.
    answer = _post(client, f"/admin/users/{admin.username}", {"role": "admin"})
    assert answer.status_code == 409
    assert f'id="active-error-{admin.username}"' in answer.text


def test_changing_a_role_and_deactivating(client, session):
    person = make_user(session, Role.agent)
    auth_service.issue_token(session, user=person, name="script", expires_in=None, actor_id=None)
    sign_in(client, session, Role.admin)
    assert (
        _post(
            client, f"/admin/users/{person.username}", {"role": "responder", "active": "on"}
        ).status_code
        == 303
    )
    session.refresh(person)
    assert person.role == Role.responder and person.active
    assert (
        _post(client, f"/admin/users/{person.username}", {"role": "responder"}).status_code == 303
    )
    session.refresh(person)
    assert not person.active
    tokens = session.exec(select(ApiToken).where(ApiToken.user_id == person.id)).all()
    assert tokens and all(token.revoked_at is not None for token in tokens)


def test_a_token_is_shown_once_and_can_be_revoked(client, session):
    person = make_user(session, Role.comms)
    sign_in(client, session, Role.admin)
    path = f"/admin/users/{person.username}"
    bad = _post(client, f"{path}/tokens", {"name": "", "expires_in_hours": "soon"}, path)
    assert bad.status_code == 400
    assert 'id="name-error"' in bad.text and 'id="hours-error"' in bad.text
    issued = _post(client, f"{path}/tokens", {"name": "crm sync", "expires_in_hours": "24"}, path)
    assert issued.status_code == 201
    assert issued.headers["cache-control"] == "no-store"
    secret = re.search(r'<code class="secret">([^<]+)</code>', issued.text)
    assert secret and secret.group(1).startswith("icmd_")
    token = auth_service.live_token(session, secret=secret.group(1), kinds=("api",))
    assert token is not None and token.user_id == person.id
    assert token.expires_at == clock.now() + timedelta(hours=24)
    listed = client.get(path).text
    assert secret.group(1) not in listed and f'id="token-{token.id}"' in listed
    assert token.prefix in listed
    revoked = _post(client, f"/admin/tokens/{token.id}/revoke", {}, path)
    assert revoked.status_code == 303
    session.refresh(token)
    assert token.revoked_at is not None
    assert "Revoked" in client.get(path).text


def _day_row(page_text: str, team_key: str, day: str) -> str:
    section = re.search(
        rf'<section class="oncall-team" id="team-{team_key}">.*?</section>', page_text, re.S
    )
    assert section, page_text
    row = re.search(rf'<tr data-day="{day}".*?</tr>', section.group(0), re.S)
    assert row, section.group(0)
    return row.group(0)


def test_the_on_call_view_shows_two_weeks_and_the_swaps(client, session, frozen_clock):
    first, second, cover = (make_user(session, Role.responder) for _ in range(3))
    for person, name in ((first, "First"), (second, "Second"), (cover, "Cover")):
        person.display_name = name
        session.add(person)
    # Daily turns handing over at 09:00 Shanghai, from today (2026-11-23).
    make_team(session, key="warehouse", rotations={"primary": [first, second]})
    sign_in(client, session, Role.admin)

    page = client.get("/admin/on-call")
    assert page.status_code == 200
    assert len(re.findall(r'<tr data-day="', _section(page.text, "warehouse"))) == 14
    today = _day_row(page.text, "warehouse", "2026-11-23")
    # Before 09:00 yesterday's turn (the second person) runs, then the first takes over.
    assert re.search(r"Second\s*<span class=\"time\">→ 09:00", today)
    assert re.search(r'<span class="time">09:00</span> First', today)
    assert "Second" in _day_row(page.text, "warehouse", "2026-11-24")

    answer = _post(
        client,
        "/admin/teams/warehouse/overrides",
        {
            "rotation": "primary",
            "user": cover.username,
            "starts_at": "2026-11-25T00:00",
            "ends_at": "2026-11-26T00:00",
            "reason": "婚假",
        },
        "/admin/on-call",
    )
    assert answer.status_code == 303
    page = client.get("/admin/on-call").text
    swapped = _day_row(page, "warehouse", "2026-11-25")
    assert "Cover" in swapped and "turn-override" in swapped and "First" not in swapped
    [override] = session.exec(select(RotationOverride)).all()
    assert f'id="override-{override.id}"' in page and "婚假" in page

    removed = _post(client, f"/admin/overrides/{override.id}/remove", {}, "/admin/on-call")
    assert removed.status_code == 303
    assert session.exec(select(RotationOverride)).all() == []
    assert "Cover" not in _day_row(client.get("/admin/on-call").text, "warehouse", "2026-11-25")


def _section(page_text: str, team_key: str) -> str:
    found = re.search(rf'id="team-{team_key}">.*?</section>', page_text, re.S)
    assert found
    return found.group(0)


def test_the_on_call_view_is_in_the_reader_s_zone(client, session):
    first, second = (make_user(session, Role.responder) for _ in range(2))
    first.display_name, second.display_name = "First", "Second"
    make_team(session, key="night-desk", rotations={"primary": [first, second]})
    sign_in(client, session, Role.admin, timezone="America/New_York")
    page = client.get("/admin/on-call").text
    # 09:00 in Shanghai is 20:00 the evening before in New York; today there is 2026-11-22.
    row = _day_row(page, "night-desk", "2026-11-22")
    assert re.search(r'<span class="time">20:00</span> First', row)


def test_a_swap_with_a_bad_field_is_shown_next_to_it_and_nothing_changes(client, session):
    person = make_user(session, Role.responder)
    make_team(session, key="field-team", rotations={"primary": [person]})
    sign_in(client, session, Role.admin)
    answer = _post(
        client,
        "/admin/teams/field-team/overrides",
        {
            "rotation": "primary",
            "user": person.username,
            "starts_at": "2026-11-26T09:00",
            "ends_at": "2026-11-25T09:00",
        },
        "/admin/on-call",
    )
    assert answer.status_code == 400
    assert 'id="field-team-ends_at-error"' in answer.text
    unknown = _post(
        client,
        "/admin/teams/field-team/overrides",
        {
            "rotation": "primary",
            "user": "nobody.here",
            "starts_at": "2026-11-25T09:00",
            "ends_at": "2026-11-26T09:00",
        },
        "/admin/on-call",
    )
    assert unknown.status_code == 404
    assert 'id="field-team-user-error"' in unknown.text
    assert session.exec(select(RotationOverride)).all() == []


def test_playbooks_are_listed_with_their_validation(client, session, monkeypatch, tmp_path):
    shipped = get_settings().playbook_dir
    shutil.copy(shipped / "product-recall.yaml", tmp_path / "product-recall.yaml")
    broken = (shipped / "service-outage.yaml").read_text(encoding="utf-8")
    (tmp_path / "service-outage.yaml").write_text(
        broken.replace("severities:", "severity_levels:", 1), encoding="utf-8"
    )
    (tmp_path / "notes.yaml").write_text("key: [unclosed\n", encoding="utf-8")
    monkeypatch.setenv("INCIDENT_CMD_PLAYBOOK_DIR", str(tmp_path))
    get_settings.cache_clear()
    sign_in(client, session, Role.admin)
    page = client.get("/admin/playbooks")
    assert page.status_code == 200
    rows = dict(re.findall(r'<tr data-file="([^"]+)" class="([^"]+)"', page.text))
    assert rows == {
        "notes.yaml": "playbook-invalid",
        "product-recall.yaml": "playbook-valid",
        "service-outage.yaml": "playbook-invalid",
    }
    assert "not valid YAML" in page.text
    assert "severity_levels" in page.text
    assert "in use by this server" in page.text


@pytest.mark.parametrize(
    ("locale", "words"),
    [
        (Locale.zh_CN, ["系统管理", "人员与角色", "新建用户", "值班", "预案", "有效"]),
        (
            Locale.en,
            ["Administration", "People and roles", "New user", "On call", "Playbooks", "Valid"],
        ),
    ],
)
def test_the_admin_pages_speak_the_reader_s_language(client, session, locale, words):
    person = make_user(session, Role.responder)
    make_team(session, key="lang-team", rotations={"primary": [person]})
    sign_in(client, session, Role.admin, locale=locale)
    text = "".join(client.get(path).text for path in ADMIN_PAGES)
    for word in words:
        assert word in text


# --- in a browser ---------------------------------------------------------------------------


@needs_chromium
def test_an_admin_adds_a_person_and_a_swap_in_chromium(live_server, frozen_clock, tmp_path):
    with db.session_scope() as session:
        admins = {}
        for locale in (Locale.en, Locale.zh_CN):
            admin = make_user(session, Role.admin, timezone="Asia/Shanghai")
            auth_service.set_password(session, user=admin, password=PASSWORD, actor_id=None)
            admin.locale = locale
            session.add(admin)
            admins[locale] = admin.username
        people = [make_user(session, Role.duty_manager, contactable=True) for _ in range(3)]
        for person, name in zip(people, ("陈静", "刘洋", "周杰"), strict=True):
            person.display_name = name
            session.add(person)
        make_team(
            session,
            key="duty-managers",
            name="值班经理",
            lead=people[0],
            rotations={"primary": people[:2], "backup": [people[2], people[0]]},
        )
        cover = people[2].username

    with chromium() as browser:
        for locale, username in admins.items():
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            browser_login(page, live_server, username)
            page.click("nav.site-nav a[href='/admin']")
            page.fill("#new-user input[name=username]", f"bad name {locale}")
            page.select_option("#new-user select[name=role]", "agent")
            page.click("#new-user button[type=submit]")
            page.wait_for_selector("#new-username-error")
            page.fill("#new-user input[name=username]", f"agent.{locale.value.lower()}")
            page.fill("#new-user input[name=display_name]", "客服 " + locale.value)
            page.click("#new-user button[type=submit]")
            page.wait_for_selector(f"#user-agent\\.{locale.value.lower()}")
            shot(page, tmp_path, f"admin-{locale}-1280")
            page.goto(f"{live_server}/admin/on-call")
            form = page.locator("#team-duty-managers form.override-form")
            form.locator("select[name=user]").select_option(cover)
            form.locator("input[name=starts_at]").fill("2026-11-24T09:00")
            form.locator("input[name=ends_at]").fill("2026-11-25T09:00")
            form.locator("input[name=reason]").fill("调班")
            form.locator("button[type=submit]").click()
            page.wait_for_selector("#team-duty-managers .overrides li")
            assert page.locator("#team-duty-managers .turn-override").count() >= 1
            shot(page, tmp_path, f"admin-oncall-{locale}-1280")
            page.set_viewport_size({"width": 390, "height": 844})
            page.reload()
            shot(page, tmp_path, f"admin-oncall-{locale}-390")
            page.goto(f"{live_server}/admin")
            shot(page, tmp_path, f"admin-{locale}-390")
            page.goto(f"{live_server}/admin/playbooks")
            shot(page, tmp_path, f"admin-playbooks-{locale}-390")
            # Remove the swap again so the next language's run starts from the same week.
            page.goto(f"{live_server}/admin/on-call")
            page.locator("#team-duty-managers .overrides button").first.click()
            page.wait_for_selector("#team-duty-managers .overrides li", state="detached")
            page.close()
