"""A rotation is removed only while nothing pages through it: no playbook names it (or names
its team alone while it is the team's first), and no open incident's playbook does, since
their roles would find nobody on call and their escalations would skip a step."""

import pytest
from sqlmodel import select

from incident_cmd.auth.models import Role
from incident_cmd.errors import Conflict
from incident_cmd.incidents import flows
from incident_cmd.incidents.models import IncidentStatus
from incident_cmd.playbooks.service import PlaybookRegistry
from incident_cmd.teams import service as team_service
from incident_cmd.teams.models import Rotation, RotationMember, RotationOverride
from incident_cmd.teams.schemas import OverrideCreate, RotationCreate
from incident_cmd.timeline.models import TimelineEvent
from tests.factories import make_duty_managers, make_incident, make_team, make_user

NOTHING = PlaybookRegistry({})


def _rotations(session, key: str) -> list[str]:
    team = team_service.get_team(session, key=key)
    return [rotation.name for rotation in team_service.team_read(session, team).rotations]


def test_a_rotation_goes_with_its_turns_and_swaps_and_its_members_stay(session):
    admin = make_user(session, Role.admin)
    ann, bob = make_user(session, Role.responder), make_user(session, Role.responder)
    team = make_team(session, key="desk", rotations={"primary": [ann], "evenings": [bob, ann]})
    team_service.add_override(
        session,
        team=team,
        rotation_name="evenings",
        data=OverrideCreate(
            user=ann.username, starts_at="2026-11-24T09:00+08:00", ends_at="2026-11-25T09:00+08:00"
        ),
        actor_id=None,
    )
    evenings = team_service.get_rotation(session, team=team, name="evenings")
    flows.remove_rotation(session, registry=NOTHING, team_key="desk", name="evenings", actor=admin)
    session.flush()
    assert _rotations(session, "desk") == ["primary"]
    assert session.get(Rotation, evenings.id) is None
    for table in (RotationMember, RotationOverride):
        left = select(table).where(table.rotation_id == evenings.id)
        assert session.exec(left).all() == [], table
    read = team_service.team_read(session, team)
    assert {ann.username, bob.username} <= set(read.members)
    [event] = session.exec(
        select(TimelineEvent).where(TimelineEvent.kind == "rotation.removed")
    ).all()
    assert (event.subject_id, event.actor_id) == (team.id, admin.id)
    assert event.data["members"] == [bob.username, ann.username]
    assert "1 swaps" in event.summary


def test_a_rotation_a_playbook_names_is_refused_naming_the_playbook_and_its_roles(
    session, shipped_playbooks
):
    admin = make_user(session, Role.admin)
    make_incident(session, registry=shipped_playbooks).status = IncidentStatus.resolved
    with pytest.raises(Conflict) as refused:
        flows.remove_rotation(
            session,
            registry=shipped_playbooks,
            team_key="executives",
            name="commander",
            actor=admin,
        )
    assert "playbook product-recall (commander)" in refused.value.message
    assert refused.value.field == "rotation"
    assert "commander" in _rotations(session, "executives")


def test_a_team_s_first_rotation_is_refused_while_a_role_names_the_team_alone(
    session, shipped_playbooks
):
    admin = make_user(session, Role.admin)
    make_duty_managers(session)
    first, *_ = _rotations(session, "duty-managers")
    with pytest.raises(Conflict) as refused:
        flows.remove_rotation(
            session, registry=shipped_playbooks, team_key="duty-managers", name=first, actor=admin
        )
    # Every shipped playbook escalates to the duty managers' team, naming no rotation.
    for loaded in shipped_playbooks.all():
        assert f"playbook {loaded.playbook.key} (" in refused.value.message
    # A later rotation of the same team is nobody's default: it may go.
    extra = make_user(session, Role.duty_manager)
    team = team_service.get_team(session, key="duty-managers")
    team_service.create_rotation(
        session,
        team=team,
        data=RotationCreate(
            name="nights",
            shift="daily",
            handoff_time="21:00",
            anchor_date="2026-11-23",
            members=[extra.username],
        ),
        actor_id=None,
    )
    flows.remove_rotation(
        session, registry=shipped_playbooks, team_key="duty-managers", name="nights", actor=admin
    )
    assert "nights" not in _rotations(session, "duty-managers")


def test_an_open_incident_keeps_the_rotation_its_playbook_named(session, shipped_playbooks):
    admin = make_user(session, Role.admin)
    incident = make_incident(session, registry=shipped_playbooks)
    # The playbook no longer ships (NOTHING), but the open incident still runs on it.
    with pytest.raises(Conflict) as refused:
        flows.remove_rotation(
            session, registry=NOTHING, team_key="executives", name="deputy", actor=admin
        )
    assert f"{incident.number} (" in refused.value.message
    incident.status = IncidentStatus.resolved
    session.add(incident)
    flows.remove_rotation(
        session, registry=NOTHING, team_key="executives", name="deputy", actor=admin
    )
    assert "deputy" not in _rotations(session, "executives")


def test_the_api_removes_a_free_rotation_and_refuses_a_named_one(
    client, session, shipped_playbooks, headers
):
    ann = make_user(session, Role.responder)
    make_team(session, key="desk", rotations={"primary": [ann], "evenings": [ann]})
    make_incident(session, registry=shipped_playbooks)
    removed = client.delete(
        "/api/v1/teams/desk/rotations/evenings", headers=headers(Role.duty_manager)
    )
    assert removed.status_code == 200, removed.text
    assert [rotation["name"] for rotation in removed.json()["rotations"]] == ["primary"]
    refused = client.delete(
        "/api/v1/teams/executives/rotations/commander", headers=headers(Role.duty_manager)
    )
    assert refused.status_code == 409
    assert "product-recall" in refused.text
    missing = client.delete(
        "/api/v1/teams/desk/rotations/evenings", headers=headers(Role.duty_manager)
    )
    assert missing.status_code == 404
