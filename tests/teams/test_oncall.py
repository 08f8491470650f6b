from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from incident_cmd.auth.models import Role
from incident_cmd.errors import Conflict, NotFound
from incident_cmd.teams import service
from incident_cmd.teams.schemas import OverrideCreate, RotationCreate, TeamCreate
from tests.factories import make_user

SHANGHAI = ZoneInfo("Asia/Shanghai")
NEW_YORK = ZoneInfo("America/New_York")


def team_with_rotation(
    session,
    *,
    zone="Asia/Shanghai",
    shift="daily",
    handoff="09:00",
    anchor=date(2026, 11, 1),
    members=("ann", "bob", "cat"),
):
    for name in members:
        make_user(session, Role.responder, username=name)
    team = service.create_team(
        session, data=TeamCreate(key="support", name="Support", timezone=zone), actor_id=None
    )
    service.create_rotation(
        session,
        team=team,
        data=RotationCreate(
            name="primary",
            shift=shift,
            handoff_time=handoff,
            anchor_date=anchor,
            members=list(members),
        ),
        actor_id=None,
    )
    return team


def on_call_name(session, moment):
    [entry] = service.on_call(session, team_key="support", at=moment)
    return entry.user.username


def test_daily_rotation_hands_off_at_the_local_handoff_time(session):
    team_with_rotation(session)
    # Anchor 1 Nov 09:00 Shanghai is ann; 2 Nov bob; 3 Nov cat; 4 Nov ann again.
    assert on_call_name(session, datetime(2026, 11, 1, 9, 0, tzinfo=SHANGHAI)) == "ann"
    assert on_call_name(session, datetime(2026, 11, 2, 8, 59, tzinfo=SHANGHAI)) == "ann"
    assert on_call_name(session, datetime(2026, 11, 2, 9, 0, tzinfo=SHANGHAI)) == "bob"
    assert on_call_name(session, datetime(2026, 11, 3, 23, 0, tzinfo=SHANGHAI)) == "cat"
    assert on_call_name(session, datetime(2026, 11, 4, 9, 0, tzinfo=SHANGHAI)) == "ann"


def test_the_same_instant_is_read_in_the_team_zone(session):
    team_with_rotation(session)
    # 00:30 UTC on 2 Nov is 08:30 in Shanghai: still the 1 Nov shift.
    assert on_call_name(session, datetime(2026, 11, 2, 0, 30, tzinfo=UTC)) == "ann"
    assert on_call_name(session, datetime(2026, 11, 2, 1, 0, tzinfo=UTC)) == "bob"


def test_weekly_rotation(session):
    team_with_rotation(session, shift="weekly", anchor=date(2026, 11, 2), members=("ann", "bob"))
    assert on_call_name(session, datetime(2026, 11, 8, 23, 0, tzinfo=SHANGHAI)) == "ann"
    assert on_call_name(session, datetime(2026, 11, 9, 9, 0, tzinfo=SHANGHAI)) == "bob"
    assert on_call_name(session, datetime(2026, 11, 16, 9, 0, tzinfo=SHANGHAI)) == "ann"
    # Before the anchor the rotation runs backwards consistently.
    assert on_call_name(session, datetime(2026, 10, 28, 9, 0, tzinfo=SHANGHAI)) == "bob"


def test_handoff_keeps_wall_clock_time_across_daylight_saving(session):
    # New York leaves daylight saving on Sunday 1 Nov 2026 at 02:00.
    team_with_rotation(session, zone="America/New_York", anchor=date(2026, 10, 31))
    [entry] = service.on_call(
        session, team_key="support", at=datetime(2026, 10, 31, 23, 0, tzinfo=NEW_YORK)
    )
    assert entry.user.username == "ann"
    assert entry.shift.start == datetime(2026, 10, 31, 9, 0, tzinfo=NEW_YORK)
    assert entry.shift.end == datetime(2026, 11, 1, 9, 0, tzinfo=NEW_YORK)
    # The shift spanning the change lasts 25 hours; the handoff stays at 09:00 local.
    assert entry.shift.end - entry.shift.start == timedelta(hours=25)
    assert on_call_name(session, datetime(2026, 11, 1, 8, 59, tzinfo=NEW_YORK)) == "ann"
    assert on_call_name(session, datetime(2026, 11, 1, 9, 0, tzinfo=NEW_YORK)) == "bob"


def test_override_swaps_the_on_call_person_for_its_period_only(session):
    team = team_with_rotation(session)
    make_user(session, Role.responder, username="dan")
    starts = datetime(2026, 11, 2, 12, 0, tzinfo=SHANGHAI)
    service.add_override(
        session,
        team=team,
        rotation_name="primary",
        data=OverrideCreate(
            user="dan",
            starts_at=starts,
            ends_at=starts + timedelta(hours=6),
            reason="bob at the dentist",
        ),
        actor_id=None,
    )
    assert on_call_name(session, starts - timedelta(minutes=1)) == "bob"
    [entry] = service.on_call(session, team_key="support", at=starts)
    assert (entry.user.username, entry.source) == ("dan", "override")
    assert on_call_name(session, starts + timedelta(hours=6)) == "bob"


def test_responders_start_with_on_call_and_follow_the_rotation(session):
    team_with_rotation(session)
    people = service.responders(
        session,
        team_key="support",
        rotation_name=None,
        at=datetime(2026, 11, 3, 10, 0, tzinfo=SHANGHAI),
        count=2,
    )
    assert [user.username for user in people] == ["cat", "ann"]


def test_unknown_team_and_rotation_are_named(session):
    team = team_with_rotation(session)
    with pytest.raises(NotFound, match="no team 'nope'"):
        service.on_call(session, team_key="nope", at=datetime.now(UTC))
    with pytest.raises(NotFound) as excinfo:
        service.get_rotation(session, team=team, name="secondary")
    assert excinfo.value.field == "rotation"


def test_duplicate_rotation_name_is_refused(session):
    team = team_with_rotation(session)
    with pytest.raises(Conflict):
        service.create_rotation(
            session,
            team=team,
            data=RotationCreate(
                name="primary",
                shift="daily",
                handoff_time="09:00",
                anchor_date=date(2026, 1, 1),
                members=["ann"],
            ),
            actor_id=None,
        )


def test_on_call_api_route(client, session, headers):
    team_with_rotation(session)
    response = client.get(
        "/api/v1/teams/support/on-call",
        params={"at": "2026-11-02T10:00:00+08:00"},
        headers=headers(Role.viewer),
    )
    assert response.status_code == 200
    [entry] = response.json()
    assert entry["user"] == "bob"
    assert entry["source"] == "rotation"


def test_on_call_api_refuses_a_time_without_offset(client, session, headers):
    team_with_rotation(session)
    response = client.get(
        "/api/v1/teams/support/on-call",
        params={"at": "2026-11-02T10:00:00"},
        headers=headers(Role.viewer),
    )
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "at"


def test_team_api_create_needs_manager_and_reports_unknown_member(client, headers):
    body = {"key": "night-desk", "name": "Night desk", "members": ["nobody"]}
    assert client.post("/api/v1/teams", json=body, headers=headers("agent")).status_code == 403
    response = client.post("/api/v1/teams", json=body, headers=headers("duty_manager"))
    assert response.status_code == 404
    assert response.json()["field"] == "members[0]"
    assert client.get("/api/v1/teams/night-desk", headers=headers("agent")).status_code == 404


def test_team_api_rotation_and_override(client, headers):
    manager = headers("duty_manager")
    client.post(
        "/api/v1/users", json={"username": "eve", "role": "responder"}, headers=headers("admin")
    )
    client.post(
        "/api/v1/users", json={"username": "fay", "role": "responder"}, headers=headers("admin")
    )
    assert (
        client.post(
            "/api/v1/teams", json={"key": "desk", "name": "Desk"}, headers=manager
        ).status_code
        == 201
    )
    response = client.post(
        "/api/v1/teams/desk/rotations",
        json={
            "name": "primary",
            "shift": "weekly",
            "handoff_time": "25:00",
            "anchor_date": "2026-11-02",
            "members": ["eve"],
        },
        headers=manager,
    )
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "handoff_time"
    response = client.post(
        "/api/v1/teams/desk/rotations",
        json={
            "name": "primary",
            "shift": "weekly",
            "handoff_time": "09:00",
            "anchor_date": "2026-11-02",
            "members": ["eve"],
        },
        headers=manager,
    )
    assert response.status_code == 201
    assert response.json()["rotations"][0]["members"] == ["eve"]
    response = client.post(
        "/api/v1/teams/desk/rotations/primary/overrides",
        json={
            "user": "fay",
            "starts_at": "2026-11-23T08:00:00+08:00",
            "ends_at": "2026-11-23T07:00:00+08:00",
        },
        headers=manager,
    )
    assert response.status_code == 422
    response = client.post(
        "/api/v1/teams/desk/rotations/primary/overrides",
        json={
            "user": "fay",
            "starts_at": "2026-11-23T08:00:00+08:00",
            "ends_at": "2026-11-23T20:00:00+08:00",
        },
        headers=manager,
    )
    assert response.status_code == 201
    on_call = client.get("/api/v1/teams/desk/on-call", headers=manager).json()
    assert on_call[0]["user"] == "fay"
