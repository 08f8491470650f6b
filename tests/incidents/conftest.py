"""An incident declared through the API, the teams the shipped playbooks page, and tokens for
people in each role."""

from dataclasses import dataclass

import pytest

from incident_cmd.auth import service as auth_service
from incident_cmd.auth.models import Role, User
from tests.factories import bearer, make_playbook_teams, make_user


@dataclass
class People:
    duty: User
    admin: User
    comms: User
    agent: User
    viewer: User


@pytest.fixture
def staffed(session, shipped_playbooks):
    """Every team a shipped playbook names, with its rotations."""
    return make_playbook_teams(session, *(item.playbook for item in shipped_playbooks.all()))


@pytest.fixture
def people(session, staffed) -> People:
    return People(
        duty=make_user(session, Role.duty_manager),
        admin=make_user(session, Role.admin),
        comms=make_user(session, Role.comms),
        agent=make_user(session, Role.agent),
        viewer=make_user(session, Role.viewer),
    )


@pytest.fixture
def as_user(session, people):
    """as_user(user or username) -> Authorization headers of that person."""
    made = {}

    def auth(who: User | str):
        username = who if isinstance(who, str) else who.username
        if username not in made:
            user = auth_service.get_user_by_username(session, username=username)
            made[username] = bearer(session, user)
        return made[username]

    return auth


@pytest.fixture
def incident(client, people, as_user):
    response = client.post(
        "/api/v1/incidents",
        json={
            "playbook": "product-recall",
            "title": "PX-200 overheating",
            "severity": "sev2",
            "scope": {"products": ["PX-200"], "batches": ["B7"]},
        },
        headers=as_user(people.duty),
    )
    assert response.status_code == 201
    return response.json()
