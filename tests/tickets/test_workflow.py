"""Intake over the API, the queue, the lifecycle, surveys, callbacks and reopening (appeals
are tests/tickets/test_appeals.py)."""

from datetime import timedelta

import pytest
from sqlmodel import select

from incident_cmd import clock
from incident_cmd.auth.models import Role, User
from incident_cmd.campaigns.models import InboundMessage
from incident_cmd.config import PROJECT_ROOT, get_settings
from incident_cmd.errors import Conflict
from incident_cmd.tickets import flows, jobs, lifecycle, queries, surveys
from incident_cmd.tickets.models import TicketTask
from incident_cmd.tickets.schemas import SurveyAnswer, TicketResolve
from tests.factories import bearer

DAY = timedelta(days=1)


@pytest.fixture
def agent(queue):
    return bearer(queue.session, queue.user(queue.agent))


def form(**fields):
    return {
        "customer_name": "王芳",
        "phone": "13912345678",
        "channel": "phone",
        "product_model": "PX-200",
        "batch": "B7",
        "description": "电饭煲按键失灵,不工作",
        "requested": "repair",
        **fields,
    }


def test_intake_numbers_classifies_assigns_and_acknowledges(client, agent, queue):
    response = client.post("/api/v1/tickets", json=form(), headers=agent)
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["number"] == "TKT-2026-000001"
    assert (body["category"], body["priority"], body["status"]) == (
        "product_quality",
        "important",
        "new",
    )
    assert body["contact"] == "+8613912345678"
    assert body["assignee"] is not None
    assert {timer["kind"] for timer in body["timers"]} == {
        "response",
        "resolution",
        "close",
        "handling_plan",
        "verification",
    }
    ticket = queries.get_ticket(queue.session, ticket_id=body["id"])
    ack = queue.messages(ticket)[0]
    assert ack.key == f"ticket-{ticket.id}-ack" and ticket.number in ack.body
    assert "2026-11-23 11:00" in ack.body  # 2 hours (003 一般类), in the customer's time zone
    second = client.post("/api/v1/tickets", json=form(description="again"), headers=agent)
    assert second.json()["number"] == "TKT-2026-000002"


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"phone": None}, "body"),
        ({"phone": "12"}, "phone"),
        ({"category": "weather"}, "category"),
        ({"channel": "pigeon"}, "channel"),
        ({"description": ""}, "description"),
        ({"requested": "a pony"}, "requested"),
        ({"colour": "red"}, "colour"),
    ],
)
def test_bad_intake_names_the_field_and_changes_nothing(client, agent, queue, change, field):
    response = client.post("/api/v1/tickets", json=form(**change), headers=agent)
    assert response.status_code == 422
    assert field in response.json()["detail"]
    assert client.get("/api/v1/tickets", headers=agent).json()["items"] == []


def test_viewers_cannot_take_tickets_in(client, headers):
    viewer = headers(Role.viewer)
    assert client.post("/api/v1/tickets", json=form(), headers=viewer).status_code == 403
    assert client.get("/api/v1/tickets", headers=viewer).status_code == 200


def test_least_loaded_assignment_spreads_the_work(queue):
    agents = {queue.user(username).id for username in queue.desk.agents}
    assignees = [queue.take_in().assignee_id for _ in range(2 * len(agents))]
    counts = {assignee: assignees.count(assignee) for assignee in assignees}
    assert set(counts) == agents and set(counts.values()) == {2}  # every agent of the desk


def test_the_queue_filters_and_pages_by_keyset(client, agent, queue):
    for number in range(5):
        queue.take_in(batch="B7" if number % 2 else "B8", product_model="PX-200")
    queue.take_in("插座漏电")
    urgent = client.get("/api/v1/tickets?priority=urgent", headers=agent).json()["items"]
    assert len(urgent) == 1 and urgent[0]["safety"]
    first = client.get("/api/v1/tickets?batch=B7&limit=1", headers=agent).json()
    second = client.get(
        f"/api/v1/tickets?batch=B7&limit=1&cursor={first['next_cursor']}", headers=agent
    ).json()
    assert first["items"][0]["id"] > second["items"][0]["id"]
    assert second["next_cursor"] is None or second["items"]
    mine = client.get(f"/api/v1/tickets?assignee={queue.agent}", headers=agent).json()["items"]
    assert all(item["assignee"] == queue.agent for item in mine)
    assert client.get("/api/v1/tickets?assignee=nobody", headers=agent).status_code == 422


def test_lifecycle_refuses_jumps_and_records_every_change(client, agent, queue):
    ticket = queue.take_in()
    bad = client.post(
        f"/api/v1/tickets/{ticket.id}/status", json={"status": "closed"}, headers=agent
    )
    assert bad.status_code == 409 and bad.json()["field"] == "status"
    for status in ("acknowledged", "in_progress", "waiting_customer", "in_progress"):
        response = client.post(
            f"/api/v1/tickets/{ticket.id}/status", json={"status": status}, headers=agent
        )
        assert response.status_code == 200, response.text
    resolved = client.post(
        f"/api/v1/tickets/{ticket.id}/resolve",
        json={"resolution": "replaced the unit", "responsible_department": "quality"},
        headers=agent,
    )
    assert resolved.json()["status"] == "resolved"
    assert queue.events(ticket, "ticket.status") == ["ticket.status"] * 4
    assert "ticket.resolved" in queue.events(ticket)


def _resolve(queue, ticket, **fields):
    return lifecycle.resolve(
        queue.session,
        ticket=ticket,
        data=TicketResolve(resolution="fixed", **fields),
        actor=queue.user(queue.agent),
    )


def test_the_survey_goes_out_a_day_after_resolution_in_the_customers_daytime(queue, frozen_clock):
    ticket = queue.take_in()
    frozen_clock.advance(timedelta(hours=12))  # 21:00 in Shanghai: quiet hours start
    _resolve(queue, ticket)
    resolved = next(m for m in queue.messages(ticket) if "resolved" in m.key)
    survey = next(m for m in queue.messages(ticket) if "survey" in m.key)
    # 21:00 is quiet already: the resolution notice waits for 08:00 on Tuesday; the survey,
    # 24 hours after resolution, would be 21:00 on Tuesday: it waits for 08:00 Wednesday.
    assert "fixed" in resolved.body
    assert resolved.due_at.isoformat() == "2026-11-24T00:00:00+00:00"
    assert survey.due_at.isoformat() == "2026-11-25T00:00:00+00:00"


def test_a_dissatisfied_answer_opens_the_three_level_callback(queue, frozen_clock):
    ticket = queue.take_in()
    _resolve(queue, ticket)
    surveys.record_survey(queue.session, ticket=ticket, answer=SurveyAnswer(csat=2), via="sms")
    tasks = surveys.tasks_of(queue.session, ticket=ticket)
    now = frozen_clock()
    assert [(task.key, task.due_at - now) for task in tasks] == [
        ("callback_agent", timedelta(hours=1)),
        ("callback_supervisor", timedelta(hours=24)),
        ("callback_senior_manager", timedelta(hours=48)),
    ]
    owners = [queue.session.get(User, t.owner_id).username for t in tasks]
    assert owners[0] == queue.session.get(User, ticket.assignee_id).username
    assert owners[1] == queue.desk.lead
    assert owners[2] == queue.desk.duty_manager
    # A repeated answer changes nothing.
    surveys.record_survey(queue.session, ticket=ticket, answer=SurveyAnswer(csat=5), via="sms")
    assert ticket.csat == 2 and len(surveys.tasks_of(queue.session, ticket=ticket)) == 3
    frozen_clock.advance(timedelta(hours=2))
    assert jobs.mark_overdue_tasks(queue.session) == 1
    assert jobs.mark_overdue_tasks(queue.session) == 0
    surveys.complete_task(
        queue.session,
        ticket=ticket,
        task_id=tasks[1].id,
        note="called, apologised",
        actor=queue.user(queue.desk.lead),
    )
    assert tasks[1].done_at == frozen_clock()


def test_a_satisfied_answer_opens_no_callback(queue):
    ticket = queue.take_in()
    _resolve(queue, ticket)
    surveys.record_survey(
        queue.session, ticket=ticket, answer=SurveyAnswer(csat=4, nps=9), via="sms"
    )
    assert queue.session.exec(select(TicketTask)).all() == []


def test_reopen_within_the_window_and_not_after(queue, frozen_clock):
    ticket = queue.take_in()
    _resolve(queue, ticket)
    frozen_clock.advance(6 * DAY)
    lifecycle.reopen(
        queue.session, ticket=ticket, reason="broke again", actor=queue.user(queue.agent)
    )
    assert ticket.status == "in_progress" and ticket.reopened_count == 1
    _resolve(queue, ticket)
    frozen_clock.advance(8 * DAY)
    with pytest.raises(Conflict, match="more than 7d"):
        lifecycle.reopen(queue.session, ticket=ticket, reason="late", actor=queue.user(queue.agent))


def _inbound(queue, body: str, phone: str, sid: str) -> InboundMessage:
    message = InboundMessage(
        provider_id=sid,
        from_address=phone,
        to_address="+15005550006",
        body=body,
        kind="message",
        received_at=clock.now(),
    )
    queue.session.add(message)
    queue.session.flush()
    return message


def test_an_sms_becomes_a_ticket_then_joins_it(queue):
    phone = "+8613900000777"
    first, _ = flows.from_sms(
        queue.session, inbound=_inbound(queue, "水壶漏电了", phone, "SM1"), registry=queue.registry
    )
    assert (first.channel, first.priority, first.contact) == ("sms", "urgent", phone)
    again, _ = flows.from_sms(
        queue.session, inbound=_inbound(queue, "请尽快", phone, "SM2"), registry=queue.registry
    )
    assert again.id == first.id
    assert "ticket.customer_message" in queue.events(first)


def test_round_robin_assignment_takes_turns(queue, monkeypatch, tmp_path):
    shipped = (PROJECT_ROOT / "config" / "service-levels.yaml").read_text(encoding="utf-8")
    custom = tmp_path / "service-levels.yaml"
    custom.write_text(shipped.replace("strategy: least_loaded", "strategy: round_robin"))
    monkeypatch.setenv("INCIDENT_CMD_SERVICE_LEVELS_FILE", str(custom))
    get_settings.cache_clear()
    first = queue.take_in()
    lifecycle.assign(
        queue.session,
        ticket=first,
        username=queue.agent,
        actor=queue.user(queue.desk.duty_manager),
    )
    agents = len(queue.desk.agents)
    turns = [queue.take_in().assignee_id for _ in range(2 * agents - 1)]
    # Turns go on regardless of load: every agent twice in twice as many tickets.
    assert len(set(turns[:agents])) == agents and turns[agents:] == turns[: agents - 1]
    assert "ticket.assigned" in queue.events(first)
