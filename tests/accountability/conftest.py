"""An incident in review and the people around its accountability: 综合部 (general affairs,
two members), the one general manager, the duty manager who declared it (and proposes
findings), the staff concerned, and a viewer."""

from dataclasses import dataclass

import pytest

from incident_cmd.auth.models import Role, User
from incident_cmd.incidents import flows as incident_flows
from incident_cmd.incidents.models import Incident, IncidentStatus
from incident_cmd.incidents.schemas import StatusChange
from tests.factories import bearer, make_incident, make_team, make_user
from tests.plugins.web import PASSWORD


@dataclass
class Cast:
    incident: Incident
    duty: User  # declared the incident; proposes findings
    ga: User  # 综合部
    ga_other: User  # 综合部, a second member
    gm: User  # 总经理
    staff: User  # concerned by findings
    staff_other: User
    viewer: User

    @property
    def path(self) -> str:
        return f"/api/v1/incidents/{self.incident.id}/accountability"


@pytest.fixture
def cast(session, shipped_playbooks) -> Cast:
    duty = make_user(session, Role.duty_manager, contactable=True, password=PASSWORD)
    ga = make_user(session, Role.responder, password=PASSWORD, locale="en")
    ga_other = make_user(session, Role.responder, password=PASSWORD)
    gm = make_user(session, Role.duty_manager, password=PASSWORD)
    make_team(session, key="general-affairs", lead=ga, members=[ga, ga_other])
    make_team(session, key="general-manager", lead=gm, members=[gm])
    make_team(session, key="after-sales")
    incident = make_incident(session, registry=shipped_playbooks, actor=duty)
    incident_flows.transition(
        session, incident=incident, change=StatusChange(status=IncidentStatus.resolved), actor=duty
    )
    session.flush()
    return Cast(
        incident=incident,
        duty=duty,
        ga=ga,
        ga_other=ga_other,
        gm=gm,
        staff=make_user(session, Role.agent, password=PASSWORD, locale="zh-CN"),
        staff_other=make_user(session, Role.agent, password=PASSWORD, locale="en"),
        viewer=make_user(session, Role.viewer, password=PASSWORD),
    )


@pytest.fixture
def auth(session):
    made: dict[int, dict[str, str]] = {}

    def headers(user: User) -> dict[str, str]:
        if user.id not in made:
            made[user.id] = bearer(session, user)
        return made[user.id]

    return headers


@pytest.fixture
def propose(client, cast, auth):
    """propose(amount, people=[staff], major=False, by=duty) -> the response; people are
    users or usernames."""

    def make(amount, people=None, *, major=False, by=None, **fields):
        body = {
            "people": [getattr(person, "username", person) for person in people or [cast.staff]],
            "departments": ["after-sales"],
            "facts": "The recall notice went out two days late.",
            "loss_amount": 12000,
            "penalty_amount": amount,
            "penalty_kind": "fine",
            "penalty_text": "deducted from the wage",
            "major": major,
        } | fields
        return client.post(f"{cast.path}/findings", json=body, headers=auth(by or cast.duty))

    return make
