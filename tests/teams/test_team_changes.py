"""Changing a team after it is made, through the API (duty managers and admins): its name,
zone and lead; its members, who cannot leave while they take turns; a rotation's shift,
handover, first day and order of turns. Each change is on the team's timeline; a change that
changes nothing records nothing."""

from datetime import date

from sqlmodel import col, select

from incident_cmd.auth.models import Role
from incident_cmd.teams import service
from incident_cmd.teams.schemas import RotationUpdate
from incident_cmd.timeline.models import TimelineEvent
from tests.factories import make_team, make_user


def _kinds(session, team) -> list[str]:
    return list(
        session.exec(
            select(TimelineEvent.kind)
            .where(TimelineEvent.subject_type == "team", TimelineEvent.subject_id == team.id)
            .order_by(col(TimelineEvent.id))
        ).all()
    )


def test_the_api_changes_a_team_s_name_zone_and_lead(client, session, headers):
    lead = make_user(session, Role.duty_manager, username="lee")
    team = make_team(session, key="desk", name="Desk")
    path = "/api/v1/teams/desk"
    assert client.patch(path, json={"name": "X"}, headers=headers("agent")).status_code == 403
    answer = client.patch(
        path, json={"timezone": "Asia/Tokyo", "lead": "lee"}, headers=headers("duty_manager")
    )
    assert answer.status_code == 200
    assert (answer.json()["name"], answer.json()["timezone"], answer.json()["lead"]) == (
        "Desk",
        "Asia/Tokyo",
        "lee",
    )
    session.refresh(team)
    assert team.lead_user_id == lead.id
    # A lead given as null is taken away; one left out stays.
    assert client.patch(path, json={}, headers=headers("admin")).json()["lead"] == "lee"
    assert client.patch(path, json={"lead": None}, headers=headers("admin")).json()["lead"] is None
    bad = client.patch(path, json={"timezone": "Mars/Base"}, headers=headers("admin"))
    assert bad.status_code == 422
    assert _kinds(session, team) == ["team.created", "team.changed", "team.changed"]


def test_the_api_adds_and_removes_members(client, session, headers):
    ann = make_user(session, Role.responder, username="ann")
    make_user(session, Role.responder, username="bob")
    team = make_team(session, key="desk", rotations={"primary": [ann]})
    manager = headers("duty_manager")
    path = "/api/v1/teams/desk/members"
    assert client.post(path, json={"user": "bob"}, headers=headers("viewer")).status_code == 403
    added = client.post(path, json={"user": "bob"}, headers=manager)
    assert added.status_code == 201 and added.json()["members"] == ["ann", "bob"]
    again = client.post(path, json={"user": "bob"}, headers=manager)
    assert again.status_code == 409 and again.json()["field"] == "user"
    unknown = client.post(path, json={"user": "nobody"}, headers=manager)
    assert unknown.status_code == 404

    in_turn = client.delete(f"{path}/ann", headers=manager)
    assert in_turn.status_code == 409
    assert "takes turns in rotation 'primary'" in in_turn.json()["detail"]
    removed = client.delete(f"{path}/bob", headers=manager)
    assert removed.status_code == 200 and removed.json()["members"] == ["ann"]
    assert client.delete(f"{path}/bob", headers=manager).status_code == 404
    assert _kinds(session, team)[-2:] == ["team.member_added", "team.member_removed"]


def test_the_api_changes_a_rotation(client, session, headers):
    for name in ("ann", "bob", "cat"):
        make_user(session, Role.responder, username=name)
    team = make_team(session, key="desk", members=[], rotations={})
    manager = headers("duty_manager")
    created = client.post(
        "/api/v1/teams/desk/rotations",
        json={
            "name": "primary",
            "shift": "daily",
            "handoff_time": "09:00",
            "anchor_date": "2026-11-01",
            "members": ["ann", "bob"],
        },
        headers=manager,
    )
    assert created.status_code == 201
    path = "/api/v1/teams/desk/rotations/primary"
    assert client.patch(path, json={}, headers=headers("agent")).status_code == 403
    changed = client.patch(
        path, json={"handoff_time": "20:00", "members": ["cat", "ann"]}, headers=manager
    )
    assert changed.status_code == 200
    [rotation] = changed.json()["rotations"]
    assert (rotation["shift"], rotation["handoff_time"], rotation["members"]) == (
        "daily",
        "20:00",
        ["cat", "ann"],
    )
    assert "cat" in changed.json()["members"]
    assert client.patch(path, json={"members": []}, headers=manager).status_code == 422
    assert client.patch(path, json={"handoff_time": "8pm"}, headers=manager).status_code == 422
    missing = client.patch("/api/v1/teams/desk/rotations/other", json={}, headers=manager)
    assert missing.status_code == 404 and missing.json()["field"] == "rotation"
    # Changing nothing records nothing.
    assert client.patch(path, json={"handoff_time": "20:00"}, headers=manager).status_code == 200
    assert _kinds(session, team).count("rotation.changed") == 1


def test_someone_may_take_several_turns_of_a_rotation(session):
    ann, bob = (make_user(session, Role.responder) for _ in range(2))
    team = make_team(session, key="desk", rotations={"primary": [ann]})
    service.update_rotation(
        session,
        team=team,
        name="primary",
        data=RotationUpdate(
            anchor_date=date(2026, 11, 23), members=[bob.username, ann.username, bob.username]
        ),
        actor_id=None,
    )
    session.flush()
    [read] = service.team_read(session, team).rotations
    assert read.members == [bob.username, ann.username, bob.username]
    assert service.team_read(session, team).members == sorted([ann.username, bob.username])
