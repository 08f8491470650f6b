"""A product recall declared with its roster filled and paged, and the people around it: the
duty manager who declared it, the commander and deputy on its roster, and people on no seat."""

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
    duty: User
    commander: User
    deputy: User
    quality: User
    responder: User  # on no seat of this incident
    viewer: User

    @property
    def path(self) -> str:
        return f"/api/v1/incidents/{self.incident.id}"


def seated(session, incident: Incident, role_key: str) -> User:
    seat = incident_service.seat_at(session, incident=incident, role_key=role_key, slot=0)
    assert seat is not None and seat.user_id is not None, role_key
    return auth_service.get_user(session, user_id=seat.user_id)


@pytest.fixture
def cast(session, shipped_playbooks) -> Cast:
    duty = make_user(session, Role.duty_manager, contactable=True)
    incident = make_incident(session, registry=shipped_playbooks, actor=duty)
    return Cast(
        incident=incident,
        duty=duty,
        commander=seated(session, incident, "commander"),
        deputy=seated(session, incident, "deputy"),
        quality=seated(session, incident, "quality_lead"),
        responder=make_user(session, Role.responder),
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
