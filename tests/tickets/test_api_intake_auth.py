"""The API's intake checks its callers in its batch (``tickets.api.intake_group``): a caller
it refuses gets 401 or 403 and writes nothing, whatever else its batch writes."""

import asyncio
from contextlib import nullcontext
from datetime import timedelta

import pytest
from fastapi import HTTPException
from sqlmodel import func, select

from incident_cmd import clock
from incident_cmd.auth.models import ApiToken, Role
from incident_cmd.tickets.api import ApiIntake, intake_group
from incident_cmd.tickets.models import Ticket
from incident_cmd.tickets.schemas import TicketCreate
from incident_cmd.timeline.models import TimelineEvent
from tests.factories import bearer, make_user

FORM = {
    "phone": "13912345678",
    "channel": "phone",
    "product_model": "PX-200",
    "batch": "B7",
    "description": "电饭煲按键失灵,不工作",
    "requested": "repair",
}


def created_by(session, ticket_id: int) -> int | None:
    return session.exec(
        select(TimelineEvent.actor_id).where(
            TimelineEvent.subject_type == "ticket",
            TimelineEvent.subject_id == ticket_id,
            TimelineEvent.kind == "ticket.created",
        )
    ).one()


def tickets(session) -> int:
    return session.exec(select(func.count()).select_from(Ticket)).one()


def secret_of(headers: dict[str, str]) -> str:
    return headers["Authorization"].removeprefix("Bearer ")


def test_a_request_without_a_token_is_refused_before_its_batch(client, queue):
    response = client.post("/api/v1/tickets", json=FORM)
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == "Bearer"
    assert tickets(queue.session) == 0


@pytest.mark.parametrize("spoil", ["unknown", "revoked", "expired", "inactive user"])
def test_a_token_that_is_not_live_is_refused_and_writes_nothing(client, queue, spoil):
    user = make_user(queue.session, Role.agent)
    headers = bearer(queue.session, user)
    token = queue.session.exec(select(ApiToken).where(ApiToken.user_id == user.id)).one()
    if spoil == "unknown":
        headers = {"Authorization": "Bearer not-a-token-anyone-was-given"}
    elif spoil == "revoked":
        token.revoked_at = clock.now()
    elif spoil == "expired":
        token.expires_at = clock.now() - timedelta(seconds=1)
    else:
        user.active = False
    queue.session.add_all([token, user])
    response = client.post("/api/v1/tickets", json=FORM, headers=headers)
    assert response.status_code == 401, response.text
    assert response.json()["detail"] == "invalid, expired or revoked token"
    assert tickets(queue.session) == 0


@pytest.mark.parametrize("role", [Role.viewer, Role.comms])
def test_a_role_that_may_not_take_complaints_is_refused(client, queue, role):
    response = client.post(
        "/api/v1/tickets", json=FORM, headers=bearer(queue.session, make_user(queue.session, role))
    )
    assert response.status_code == 403, response.text
    assert tickets(queue.session) == 0


@pytest.mark.parametrize("role", [Role.agent, Role.responder, Role.duty_manager, Role.admin])
def test_the_roles_that_take_complaints_are_admitted_and_their_use_recorded(client, queue, role):
    user = make_user(queue.session, role)
    response = client.post("/api/v1/tickets", json=FORM, headers=bearer(queue.session, user))
    assert response.status_code == 201, response.text
    token = queue.session.exec(select(ApiToken).where(ApiToken.user_id == user.id)).one()
    assert token.last_used_at == clock.now()
    assert created_by(queue.session, response.json()["id"]) == user.id


def test_a_refused_caller_in_a_batch_leaves_the_others_written(queue, shipped_playbooks):
    agent = make_user(queue.session, Role.agent)
    viewer = make_user(queue.session, Role.viewer)
    callers = [
        secret_of(bearer(queue.session, agent)),
        secret_of(bearer(queue.session, viewer)),
        "not-a-token-anyone-was-given",
        secret_of(bearer(queue.session, agent)),
    ]
    group = intake_group(shipped_playbooks)

    async def send_together():
        return await asyncio.gather(
            *(
                group.submit(
                    ApiIntake(TicketCreate(**{**FORM, "batch": f"B{index}"}), secret),
                    lambda: nullcontext(queue.session),
                )
                for index, secret in enumerate(callers)
            ),
            return_exceptions=True,
        )

    first, second, third, fourth = asyncio.run(send_together())
    assert isinstance(second, HTTPException) and second.status_code == 403
    assert isinstance(third, HTTPException) and third.status_code == 401
    assert [first.ticket.batch, fourth.ticket.batch] == ["B0", "B3"]
    assert first.ticket.number < fourth.ticket.number
    assert tickets(queue.session) == 2
    assert created_by(queue.session, fourth.ticket.id) == agent.id
