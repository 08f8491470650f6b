from fastapi import APIRouter, Query, status

from incident_cmd import clock
from incident_cmd.deps import AnyUser, Manager, SessionDep
from incident_cmd.errors import error_responses
from incident_cmd.fields import Moment
from incident_cmd.incidents import flows as incident_flows
from incident_cmd.playbooks.api import RegistryDep
from incident_cmd.teams import service
from incident_cmd.teams.schemas import (
    MemberAdd,
    OnCallRead,
    OverrideCreate,
    RotationCreate,
    RotationUpdate,
    TeamCreate,
    TeamRead,
    TeamUpdate,
)

router = APIRouter(prefix="/api/v1/teams", tags=["teams"])


@router.get("", response_model=list[TeamRead])
def list_teams(session: SessionDep, _: AnyUser) -> list[TeamRead]:
    return [service.team_read(session, team) for team in service.list_teams(session)]


@router.post(
    "",
    response_model=TeamRead,
    status_code=status.HTTP_201_CREATED,
    responses=error_responses(404, 409),
)
def create_team(body: TeamCreate, session: SessionDep, actor: Manager) -> TeamRead:
    team = service.create_team(session, data=body, actor_id=actor.id)
    return service.team_read(session, team)


@router.get("/{key}", response_model=TeamRead)
def get_team(key: str, session: SessionDep, _: AnyUser) -> TeamRead:
    return service.team_read(session, service.get_team(session, key=key))


@router.patch("/{key}", response_model=TeamRead, responses=error_responses(404))
def update_team(key: str, body: TeamUpdate, session: SessionDep, actor: Manager) -> TeamRead:
    team = service.update_team(
        session, team=service.get_team(session, key=key), data=body, actor_id=actor.id
    )
    return service.team_read(session, team)


@router.post(
    "/{key}/members",
    response_model=TeamRead,
    status_code=status.HTTP_201_CREATED,
    responses=error_responses(404, 409),
)
def add_member(key: str, body: MemberAdd, session: SessionDep, actor: Manager) -> TeamRead:
    team = service.get_team(session, key=key)
    service.add_member(session, team=team, username=body.user, actor_id=actor.id)
    return service.team_read(session, team)


@router.delete(
    "/{key}/members/{username}", response_model=TeamRead, responses=error_responses(404, 409)
)
def remove_member(key: str, username: str, session: SessionDep, actor: Manager) -> TeamRead:
    """Refused (409) while the person takes turns in one of the team's rotations."""
    team = service.get_team(session, key=key)
    service.remove_member(session, team=team, username=username, actor_id=actor.id)
    return service.team_read(session, team)


@router.post(
    "/{key}/rotations",
    response_model=TeamRead,
    status_code=status.HTTP_201_CREATED,
    responses=error_responses(409),
)
def create_rotation(
    key: str, body: RotationCreate, session: SessionDep, actor: Manager
) -> TeamRead:
    team = service.get_team(session, key=key)
    service.create_rotation(session, team=team, data=body, actor_id=actor.id)
    return service.team_read(session, team)


@router.patch(
    "/{key}/rotations/{rotation}", response_model=TeamRead, responses=error_responses(404)
)
def update_rotation(
    key: str, rotation: str, body: RotationUpdate, session: SessionDep, actor: Manager
) -> TeamRead:
    team = service.get_team(session, key=key)
    service.update_rotation(session, team=team, name=rotation, data=body, actor_id=actor.id)
    return service.team_read(session, team)


@router.delete(
    "/{key}/rotations/{rotation}", response_model=TeamRead, responses=error_responses(404, 409)
)
def remove_rotation(
    key: str, rotation: str, session: SessionDep, registry: RegistryDep, actor: Manager
) -> TeamRead:
    """Refused (409) while a playbook or an open incident pages through the rotation."""
    incident_flows.remove_rotation(
        session, registry=registry, team_key=key, name=rotation, actor=actor
    )
    return service.team_read(session, service.get_team(session, key=key))


@router.post("/{key}/rotations/{rotation}/overrides", status_code=status.HTTP_201_CREATED)
def add_override(
    key: str, rotation: str, body: OverrideCreate, session: SessionDep, actor: Manager
) -> dict[str, int]:
    team = service.get_team(session, key=key)
    override = service.add_override(
        session, team=team, rotation_name=rotation, data=body, actor_id=actor.id
    )
    return {"id": override.id}


@router.get("/{key}/on-call", response_model=list[OnCallRead])
def on_call(
    key: str,
    session: SessionDep,
    _: AnyUser,
    at: Moment | None = Query(default=None, description="ISO time with offset; now if absent"),
) -> list[OnCallRead]:
    moment = at or clock.now()
    return [
        OnCallRead(
            team=entry.team.key,
            rotation=entry.rotation.name,
            user=entry.user.username,
            source=entry.source,
            shift_start=entry.shift.start,
            shift_end=entry.shift.end,
        )
        for entry in service.on_call(session, team_key=key, at=moment)
    ]
