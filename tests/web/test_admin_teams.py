"""Teams and rotations made and changed from the on-call administration page, for admins only,
through the teams service as the API does: a new team, its members added and taken off, a
rotation created and changed (its turns in order, handover, shift length, first day) and the
team's name, zone and lead. A refused form answers with the error next to its field and
nothing changed; every change is on the team's timeline."""

import re
from datetime import date

import pytest
from sqlmodel import col, select

from incident_cmd import db
from incident_cmd.auth import service as auth_service
from incident_cmd.auth.models import Role
from incident_cmd.i18n import Locale
from incident_cmd.teams import service as team_service
from incident_cmd.teams.models import Rotation, RotationMember, Team, TeamMember
from incident_cmd.timeline.models import TimelineEvent
from tests.factories import make_playbook_teams, make_team, make_user
from tests.plugins.web import PASSWORD, browser_login, chromium, needs_chromium, post_form, shot
from tests.plugins.web import sign_in as _sign_in

PAGE = "/admin/on-call"


def _post(client, path: str, data: dict):
    return post_form(client, path, data, PAGE)


def sign_in(client, session, role=Role.admin, **kwargs):
    return _sign_in(client, session, role, **kwargs)


def _state(session) -> tuple:
    """Everything a refused form must leave as it was: teams, members, turns, timeline."""
    session.expire_all()
    teams = session.exec(select(Team.key, Team.name, Team.timezone, Team.lead_user_id)).all()
    members = session.exec(select(TeamMember.team_id, TeamMember.user_id)).all()
    rotations = session.exec(
        select(Rotation.name, Rotation.shift, Rotation.handoff_time, Rotation.anchor_date)
    ).all()
    turns = session.exec(
        select(RotationMember.rotation_id, RotationMember.position, RotationMember.user_id)
    ).all()
    events = session.exec(select(TimelineEvent.id).where(TimelineEvent.subject_type == "team"))
    return (
        sorted(teams),
        sorted(members),
        sorted(rotations),
        sorted(turns),
        sorted(events.all()),
    )


def _team_events(session, team: Team) -> list[TimelineEvent]:
    return list(
        session.exec(
            select(TimelineEvent)
            .where(TimelineEvent.subject_type == "team", TimelineEvent.subject_id == team.id)
            .order_by(col(TimelineEvent.id))
        ).all()
    )


def _turns(session, team_key: str, rotation: str) -> list[str]:
    team = team_service.get_team(session, key=team_key)
    [read] = [r for r in team_service.team_read(session, team).rotations if r.name == rotation]
    return read.members


def _day_row(page_text: str, team_key: str, day: str) -> str:
    section = re.search(rf'id="team-{team_key}">.*?</section>', page_text, re.S)
    assert section, page_text
    row = re.search(rf'<tr data-day="{day}".*?</tr>', section.group(0), re.S)
    assert row, section.group(0)
    return row.group(0)


# --- teams and their members -------------------------------------------------------------


def test_an_admin_creates_a_team_and_adds_and_removes_members(client, session):
    lead, member = make_user(session, Role.duty_manager), make_user(session, Role.responder)
    admin = sign_in(client, session)
    created = _post(
        client,
        "/admin/teams",
        {
            "key": "night-desk",
            "name": "夜班值守",
            "timezone": "Europe/London",
            "lead": lead.username,
        },
    )
    assert created.status_code == 303
    assert created.headers["location"] == "/admin/on-call#team-night-desk"
    team = team_service.get_team(session, key="night-desk")
    assert (team.name, team.timezone, team.lead_user_id) == ("夜班值守", "Europe/London", lead.id)
    page = client.get(PAGE).text
    assert 'id="team-night-desk"' in page and "夜班值守" in page

    added = _post(client, "/admin/teams/night-desk/members", {"user": member.username})
    assert added.status_code == 303
    assert team_service.team_read(session, team).members == [member.username]
    assert f'id="member-night-desk-{member.username}"' in client.get(PAGE).text

    removed = _post(client, f"/admin/teams/night-desk/members/{member.username}/remove", {})
    assert removed.status_code == 303
    assert team_service.team_read(session, team).members == []
    events = _team_events(session, team)
    assert [event.kind for event in events] == [
        "team.created",
        "team.member_added",
        "team.member_removed",
    ]
    assert all(event.actor_id == admin.id for event in events)
    assert events[1].data == {"user": member.username}


@pytest.mark.parametrize(
    ("field", "data", "status"),
    [
        ("key", {"key": "Night Desk", "name": "Night desk"}, 400),
        ("key", {"name": "Night desk"}, 400),
        ("name", {"key": "night-desk"}, 400),
        ("timezone", {"key": "night-desk", "name": "Night", "timezone": "Mars/Base"}, 400),
        ("lead", {"key": "night-desk", "name": "Night", "lead": "nobody.here"}, 404),
        ("key", {"key": "taken", "name": "Night desk"}, 409),
    ],
)
def test_a_team_with_a_bad_field_is_refused_next_to_it(client, session, field, data, status):
    make_team(session, key="taken")
    sign_in(client, session)
    before = _state(session)
    answer = _post(client, "/admin/teams", data)
    assert answer.status_code == status
    assert f'id="new-team-{field}-error"' in answer.text
    assert f'aria-describedby="new-team-{field}-error"' in answer.text
    # What was typed stays in the form.
    if "name" in data:
        assert f'value="{data["name"]}"' in answer.text
    assert _state(session) == before


def test_a_malformed_key_and_zone_are_explained(client, session):
    sign_in(client, session)
    answer = _post(
        client, "/admin/teams", {"key": "Night Desk", "name": "Night", "timezone": "Mars/Base"}
    )
    assert "Lower-case letters, digits and dashes, starting with" in answer.text
    assert "Not a time zone" in answer.text
    assert "should match pattern" not in answer.text


def test_adding_and_removing_members_that_cannot_be_is_refused_next_to_them(client, session):
    first, second, outsider = (make_user(session, Role.responder) for _ in range(3))
    make_team(session, key="desk", members=[second], rotations={"primary": [first]})
    sign_in(client, session)
    before = _state(session)

    taken = _post(client, "/admin/teams/desk/members", {"user": first.username})
    assert taken.status_code == 409
    assert 'id="members-desk-user-error"' in taken.text and "already in team" in taken.text
    unknown = _post(client, "/admin/teams/desk/members", {"user": "nobody.here"})
    assert unknown.status_code == 404
    assert 'id="members-desk-user-error"' in unknown.text
    empty = _post(client, "/admin/teams/desk/members", {"user": ""})
    assert empty.status_code == 400
    assert 'id="members-desk-user-error"' in empty.text and "Fill this in." in empty.text
    # The refused form's box is open so the reader sees why.
    assert re.search(r'<details class="action-box" id="members-desk" open>', empty.text)

    in_turn = _post(client, f"/admin/teams/desk/members/{first.username}/remove", {})
    assert in_turn.status_code == 409
    row = re.search(rf'<li id="member-desk-{first.username}">.*?</li>', in_turn.text, re.S)
    assert row and "takes turns in rotation &#39;primary&#39;" in row.group(0)
    assert f'id="member-desk-{first.username}-user-error"' in row.group(0)
    not_member = _post(client, f"/admin/teams/desk/members/{outsider.username}/remove", {})
    assert not_member.status_code == 404
    assert _state(session) == before


def test_an_admin_changes_the_team_s_name_zone_and_lead(client, session):
    lead = make_user(session, Role.duty_manager)
    team = make_team(session, key="desk", name="Desk", lead=lead)
    sign_in(client, session)
    answer = _post(
        client, "/admin/teams/desk", {"name": "Front desk", "timezone": "Asia/Tokyo", "lead": ""}
    )
    assert answer.status_code == 303
    session.refresh(team)
    assert (team.name, team.timezone, team.lead_user_id) == ("Front desk", "Asia/Tokyo", None)
    [changed] = [e for e in _team_events(session, team) if e.kind == "team.changed"]
    assert changed.data == {"name": "Front desk", "timezone": "Asia/Tokyo", "lead": None}

    before = _state(session)
    for data, field in (
        ({"name": "", "timezone": "Asia/Tokyo"}, "name"),
        ({"name": "Desk", "timezone": ""}, "timezone"),
        ({"name": "Desk", "timezone": "Nowhere/Town"}, "timezone"),
    ):
        refused = _post(client, "/admin/teams/desk", data)
        assert refused.status_code == 400, data
        assert f'id="team-desk-{field}-error"' in refused.text
    unknown_lead = _post(
        client, "/admin/teams/desk", {"name": "Desk", "timezone": "Asia/Tokyo", "lead": "x.y"}
    )
    assert unknown_lead.status_code == 404
    assert 'id="team-desk-lead-error"' in unknown_lead.text
    assert _state(session) == before


# --- rotations -----------------------------------------------------------------------------


def test_an_admin_creates_a_rotation_with_its_turns_in_order(client, session):
    ann, bob, cat = (make_user(session, Role.responder) for _ in range(3))
    ann.display_name, bob.display_name, cat.display_name = "Ann", "Bob", "Cat"
    team = make_team(session, key="desk", members=[ann])
    sign_in(client, session)
    answer = _post(
        client,
        "/admin/teams/desk/rotations",
        {
            "name": "primary",
            "shift": "daily",
            "handoff_time": "09:00",
            "anchor_date": "2026-11-23",
            # The form's turn selects in order; an empty one is dropped.
            "members": [bob.username, "", ann.username, cat.username],
        },
    )
    assert answer.status_code == 303
    assert _turns(session, "desk", "primary") == [bob.username, ann.username, cat.username]
    # Whoever takes turns joins the team.
    assert set(team_service.team_read(session, team).members) == {
        ann.username,
        bob.username,
        cat.username,
    }
    page = client.get(PAGE).text
    assert re.search(r'<span class="time">09:00</span> Bob', _day_row(page, "desk", "2026-11-23"))
    assert "Ann" in _day_row(page, "desk", "2026-11-24")
    assert "Cat" in _day_row(page, "desk", "2026-11-25")
    [created] = [e for e in _team_events(session, team) if e.kind == "rotation.created"]
    assert created.data["members"] == [bob.username, ann.username, cat.username]


ROTATION = {
    "name": "primary",
    "shift": "weekly",
    "handoff_time": "18:30",
    "anchor_date": "2026-11-23",
}


@pytest.mark.parametrize(
    ("field", "change", "status", "said"),
    [
        ("name", {"name": ""}, 400, "Fill this in."),
        ("shift", {"shift": "monthly"}, 400, "Choose one of the options."),
        ("handoff_time", {"handoff_time": "25:00"}, 400, "Enter a time as HH:MM."),
        ("handoff_time", {"handoff_time": ""}, 400, "Fill this in."),
        ("anchor_date", {"anchor_date": "someday"}, 400, "Enter a date."),
        ("members", {"members": ["", ""]}, 400, "Choose at least one person to take turns."),
        ("members-1", {"members": ["MEMBER", "nobody.here"]}, 404, "nobody.here"),
        ("name", {"name": "taken"}, 409, "already has a rotation"),
    ],
)
def test_a_rotation_with_a_bad_field_is_refused_next_to_it(
    client, session, field, change, status, said
):
    member = make_user(session, Role.responder)
    make_team(session, key="desk", rotations={"taken": [member]})
    sign_in(client, session)
    before = _state(session)
    data = {**ROTATION, "members": [member.username], **change}
    data["members"] = [member.username if m == "MEMBER" else m for m in data["members"]]
    answer = _post(client, "/admin/teams/desk/rotations", data)
    assert answer.status_code == status
    error = re.search(rf'id="new-rotation-desk-{field}-error">([^<]*)<', answer.text)
    assert error and said in error.group(1)
    assert re.search(r'<details class="action-box rotation-new" open>', answer.text)
    assert _state(session) == before


def test_an_admin_changes_a_rotation(client, session):
    ann, bob, cat = (make_user(session, Role.responder) for _ in range(3))
    ann.display_name, bob.display_name, cat.display_name = "Ann", "Bob", "Cat"
    team = make_team(session, key="desk", rotations={"primary": [ann, bob]})
    sign_in(client, session)
    page = client.get(PAGE).text
    rotation_id = session.exec(select(Rotation.id)).one()
    # The edit form shows the rotation as it is.
    form = re.search(rf'<li id="rotation-{rotation_id}">.*?</form>', page, re.S)
    assert form and 'value="09:00"' in form.group(0) and 'value="2026-11-23"' in form.group(0)
    assert form.group(0).count(" selected>") == 3  # daily, ann, bob

    answer = _post(
        client,
        "/admin/teams/desk/rotations/primary",
        {
            "shift": "weekly",
            "handoff_time": "20:00",
            "anchor_date": "2026-11-16",
            "members": [cat.username, bob.username, ""],
        },
    )
    assert answer.status_code == 303
    rotation = session.exec(select(Rotation)).one()
    session.refresh(rotation)
    assert (rotation.shift, rotation.handoff_time, rotation.anchor_date) == (
        "weekly",
        "20:00",
        date(2026, 11, 16),
    )
    assert _turns(session, "desk", "primary") == [cat.username, bob.username]
    assert cat.username in team_service.team_read(session, team).members
    # Weekly from Monday 16 November at 20:00: Cat's week, then Bob's from the 23rd at 20:00.
    page = client.get(PAGE).text
    assert re.search(r'<span class="time">20:00</span> Bob', _day_row(page, "desk", "2026-11-23"))
    assert "Cat" in _day_row(page, "desk", "2026-11-23")
    assert "Bob" in _day_row(page, "desk", "2026-11-29")
    [changed] = [e for e in _team_events(session, team) if e.kind == "rotation.changed"]
    assert changed.data["members"] == [cat.username, bob.username]
    assert changed.data["handoff_time"] == "20:00"


def test_a_rotation_change_with_a_bad_field_changes_nothing(client, session):
    member = make_user(session, Role.responder)
    make_team(session, key="desk", rotations={"primary": [member]})
    sign_in(client, session)
    rotation_id = session.exec(select(Rotation.id)).one()
    before = _state(session)
    good = {"shift": "daily", "handoff_time": "09:00", "anchor_date": "2026-11-23"}
    for change, field, said in (
        ({"handoff_time": ""}, "handoff_time", "Fill this in."),
        ({"handoff_time": "9am"}, "handoff_time", "Enter a time as HH:MM."),
        ({"anchor_date": ""}, "anchor_date", "Fill this in."),
        ({"shift": ""}, "shift", "Fill this in."),
        ({"members": [""]}, "members", "Choose at least one person"),
    ):
        data = {**good, "members": [member.username], **change}
        answer = _post(client, "/admin/teams/desk/rotations/primary", data)
        assert answer.status_code == 400, change
        error = re.search(rf'id="rotation-{rotation_id}-{field}-error">([^<]*)<', answer.text)
        assert error and said in error.group(1), change
        assert re.search(r'<details class="action-box rotation-edit" open>', answer.text)
    assert _state(session) == before


def test_an_admin_removes_a_rotation_nothing_pages_through(client, session):
    ann, bob = make_user(session, Role.responder), make_user(session, Role.responder)
    team = make_team(session, key="desk", rotations={"primary": [ann], "evenings": [bob]})
    sign_in(client, session)
    form = re.search(r'action="/admin/teams/desk/rotations/evenings/remove"', client.get(PAGE).text)
    assert form, "no remove button"
    answer = _post(client, "/admin/teams/desk/rotations/evenings/remove", {})
    assert answer.status_code == 303
    read = team_service.team_read(session, team)
    assert [rotation.name for rotation in read.rotations] == ["primary"]
    assert bob.username in read.members  # off the rotation, still on the team
    [removed] = [e for e in _team_events(session, team) if e.kind == "rotation.removed"]
    assert removed.data["members"] == [bob.username]


def test_removing_a_rotation_a_playbook_pages_through_is_refused_on_the_page(
    client, session, shipped_playbooks
):
    make_playbook_teams(session, shipped_playbooks.get("product-recall").playbook)
    sign_in(client, session)
    before = _state(session)
    answer = _post(client, "/admin/teams/executives/rotations/commander/remove", {})
    assert answer.status_code == 409
    refusal = re.search(r'<p class="error" role="alert">([^<]*)</p>', answer.text)
    assert refusal and "playbook product-recall (commander)" in refusal.group(1)
    assert re.search(r'<details class="action-box rotation-edit" open>', answer.text)
    assert _state(session) == before


# --- who may -------------------------------------------------------------------------------


@pytest.mark.parametrize("role", [Role.duty_manager, Role.responder, Role.viewer])
def test_a_non_admin_may_change_no_team(client, session, role):
    member = make_user(session, Role.responder)
    make_team(session, key="desk", members=[member], rotations={"primary": [member]})
    sign_in(client, session, role)
    before = _state(session)
    rotation = {**ROTATION, "name": "backup", "members": [member.username]}
    for path, data in (
        ("/admin/teams", {"key": "mine", "name": "Mine"}),
        ("/admin/teams/desk", {"name": "Mine", "timezone": "UTC"}),
        ("/admin/teams/desk/members", {"user": member.username}),
        (f"/admin/teams/desk/members/{member.username}/remove", {}),
        ("/admin/teams/desk/rotations", rotation),
        ("/admin/teams/desk/rotations/primary", {**rotation, "name": "primary"}),
        ("/admin/teams/desk/rotations/primary/remove", {}),
    ):
        answer = post_form(client, path, data, "/tickets")
        assert answer.status_code == 403, path
        assert 'id="refused"' in answer.text
    assert _state(session) == before


def test_a_team_form_without_its_csrf_token_is_refused(client, session):
    sign_in(client, session)
    before = _state(session)
    client.get(PAGE)
    answer = client.post(
        "/admin/teams",
        data={"key": "night-desk", "name": "Night"},
        headers={"Origin": "http://testserver"},
        follow_redirects=False,
    )
    assert answer.status_code == 403
    assert _state(session) == before


@pytest.mark.parametrize(
    ("locale", "words"),
    [
        (Locale.zh_CN, ["新建团队", "新建轮值表", "交接班时间", "第 1 班", "成员（1）"]),
        (Locale.en, ["New team", "New rotation", "Handover time", "Turn 1", "Members (1)"]),
    ],
)
def test_the_team_forms_speak_the_reader_s_language(client, session, locale, words):
    make_team(session, key="desk", members=[make_user(session, Role.responder)])
    sign_in(client, session, locale=locale)
    page = client.get(PAGE).text
    for word in words:
        assert word in page


# --- in a browser ----------------------------------------------------------------------------


@needs_chromium
def test_an_admin_makes_a_team_and_its_rotation_in_chromium(live_server, tmp_path):
    with db.session_scope() as session:
        admins = {}
        for locale in (Locale.en, Locale.zh_CN):
            admin = make_user(session, Role.admin, timezone="Asia/Shanghai", locale=locale)
            auth_service.set_password(session, user=admin, password=PASSWORD, actor_id=None)
            admins[locale] = admin.username
        people = [make_user(session, Role.responder) for _ in range(3)]
        for person, name in zip(people, ("陈静", "刘洋", "周杰"), strict=True):
            person.display_name = name
            session.add(person)
        usernames = [person.username for person in people]

    with chromium() as browser:
        for locale, username in admins.items():
            key = f"warehouse-{locale.value.lower()}"
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            browser_login(page, live_server, username)
            page.goto(f"{live_server}{PAGE}")
            new_team = page.locator("#new-team form")
            new_team.locator("input[name=key]").fill(key)
            new_team.locator("input[name=name]").fill("仓库值班")
            new_team.locator("select[name=lead]").select_option(usernames[0])
            new_team.locator("button[type=submit]").click()
            section = page.locator(f"#team-{key}")
            section.wait_for()
            # A team without a rotation opens its new-rotation form.
            form = section.locator("details.rotation-new form")
            form.locator("input[name=name]").fill("primary")
            form.locator("input[name=handoff_time]").fill("25:00")
            turns = form.locator("select[name=members]")
            turns.nth(0).select_option(usernames[1])
            turns.nth(1).select_option(usernames[2])
            form.locator("button[type=submit]").click()
            page.wait_for_selector(f"#new-rotation-{key}-handoff_time-error")
            shot(page, tmp_path, f"admin-teams-error-{locale}-1280")
            form = page.locator(f"#team-{key} details.rotation-new form")
            form.locator("input[name=handoff_time]").fill("21:00")
            form.locator("button[type=submit]").click()
            today = page.locator(f"#team-{key} tr[data-day='2026-11-23']")
            today.wait_for()
            # Before 21:00 the turn before the first (Zhou Jie's) runs; then Liu Yang's starts.
            assert "周杰" in today.inner_text() and "21:00 刘洋" in today.inner_text()
            assert "周杰" in page.locator(f"#team-{key} tr[data-day='2026-11-24']").inner_text()
            page.locator(f"#team-{key} details.rotation-new").evaluate("d => d.open = true")
            page.locator(f"#members-{key}").evaluate("d => d.open = true")
            page.locator(f"#team-{key}").scroll_into_view_if_needed()
            shot(page, tmp_path, f"admin-teams-{locale}-1280")
            page.set_viewport_size({"width": 390, "height": 844})
            page.reload()
            page.locator(f"#members-{key}").evaluate("d => d.open = true")
            shot(page, tmp_path, f"admin-teams-{locale}-390")
            # Nothing pages through the new rotation: it may be removed again.
            edit = page.locator(f"#team-{key} details.rotation-edit")
            edit.evaluate("d => d.open = true")
            edit.locator(".rotation-remove").scroll_into_view_if_needed()
            shot(page, tmp_path, f"admin-teams-remove-{locale}-390")
            edit.locator(".rotation-remove button[type=submit]").click()
            page.locator(f"#team-{key} details.rotation-new[open]").wait_for()
            assert page.locator(f"#team-{key} details.rotation-edit").count() == 0
            page.close()
