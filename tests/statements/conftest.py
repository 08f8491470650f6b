"""A recall declared with its roster filled, the people who take part in a statement (the
spokesperson, the commander on the roster, a duty manager) and those who may not."""

from dataclasses import dataclass

import pytest

from incident_cmd.auth import service as auth_service
from incident_cmd.auth.models import Role, User
from incident_cmd.incidents import service as incident_service
from incident_cmd.incidents.models import Incident
from tests.factories import bearer, make_incident, make_user


@dataclass
class Cast:
    incident: Incident
    spokesperson: User  # of the comms role
    commander: User  # a responder in the commander's seat of the roster
    seated_spokesperson: User  # a responder in the comms_lead seat
    duty: User
    admin: User
    responder: User  # on no seat of this incident
    agent: User
    viewer: User

    @property
    def path(self) -> str:
        return f"/api/v1/incidents/{self.incident.id}/statements"


def seated(session, incident: Incident, role_key: str) -> User:
    seat = incident_service.seat_at(session, incident=incident, role_key=role_key, slot=0)
    assert seat is not None and seat.user_id is not None, role_key
    return auth_service.get_user(session, user_id=seat.user_id)


@pytest.fixture
def cast(session, shipped_playbooks) -> Cast:
    incident = make_incident(session, registry=shipped_playbooks)
    return Cast(
        incident=incident,
        spokesperson=make_user(session, Role.comms),
        commander=seated(session, incident, "commander"),
        seated_spokesperson=seated(session, incident, "comms_lead"),
        duty=make_user(session, Role.duty_manager),
        admin=make_user(session, Role.admin),
        responder=make_user(session, Role.responder),
        agent=make_user(session, Role.agent),
        viewer=make_user(session, Role.viewer),
    )


@pytest.fixture
def auth(session):
    """auth(user) -> Authorization headers of that person."""
    made: dict[int, dict[str, str]] = {}

    def headers(user: User) -> dict[str, str]:
        if user.id not in made:
            made[user.id] = bearer(session, user)
        return made[user.id]

    return headers
