"""Who may act on a ticket, to whom it may go, who records satisfaction, who reads contacts."""

import json

import pytest

from incident_cmd.auth.models import Role, User
from incident_cmd.tickets import lifecycle, surveys
from incident_cmd.tickets.models import TicketTask
from incident_cmd.tickets.schemas import SurveyAnswer, TicketResolve
from tests.factories import bearer, make_team, make_user


@pytest.fixture
def auth(queue):
    made = {}

    def for_user(username):
        if username not in made:
            made[username] = bearer(queue.session, queue.user(username))
        return made[username]

    return for_user


@pytest.fixture
def outsider(queue) -> str:
    """An agent of another team (a quality desk), not of customer service."""
    agent = make_user(queue.session, Role.agent)
    make_team(queue.session, members=[agent])
    return agent.username


@pytest.fixture
def other_team_lead(queue) -> str:
    """A responder who leads another team (technical support), not customer service."""
    lead = make_user(queue.session, Role.responder)
    make_team(queue.session, lead=lead, members=[lead])
    return lead.username


def _resolved(queue, ticket):
    return lifecycle.resolve(
        queue.session,
        ticket=ticket,
        data=TicketResolve(resolution="replaced the unit"),
        actor=queue.user(queue.desk.duty_manager),
    )


# Every route that changes a ticket, with the body it would accept from the desk.
ACTIONS = {
    "status": lambda desk: {"status": "acknowledged"},
    "assign": lambda desk: {"user": desk.agents[1]},
    "plan": lambda desk: {"note": "replace the unit"},
    "resolve": lambda desk: {"resolution": "replaced"},
    "reopen": lambda desk: {"reason": "still broken"},
    "appeal": lambda desk: {"reason": "not fixed"},
}


@pytest.mark.parametrize("action", ACTIONS)
def test_an_agent_of_another_team_may_read_but_not_act(client, queue, auth, outsider, action):
    ticket = queue.take_in()
    before = queue.events(ticket)
    response = client.post(
        f"/api/v1/tickets/{ticket.id}/{action}",
        json=ACTIONS[action](queue.desk),
        headers=auth(outsider),
    )
    assert response.status_code == 403, response.text
    assert "assigned to you or to your team" in response.json()["detail"]
    assert queue.events(ticket) == before
    read = client.get(f"/api/v1/tickets/{ticket.id}", headers=auth(outsider))
    assert read.status_code == 200 and read.json()["contact"] == ticket.contact


@pytest.mark.parametrize("who", ["other_team_lead", "outsider"])
def test_responders_and_agents_outside_the_team_are_refused(client, queue, auth, request, who):
    ticket = queue.take_in()
    response = client.post(
        f"/api/v1/tickets/{ticket.id}/status",
        json={"status": "acknowledged"},
        headers=auth(request.getfixturevalue(who)),
    )
    assert response.status_code == 403
    assert ticket.status == "new"


@pytest.mark.parametrize("who", ["member", "lead", "duty_manager", "admin"])
def test_the_team_its_lead_duty_managers_and_admins_act(client, queue, auth, who):
    desk = queue.desk
    ticket = queue.take_in()
    assignee, member = desk.agents[1], desk.agents[2]
    lifecycle.assign(
        queue.session, ticket=ticket, username=assignee, actor=queue.user(desk.duty_manager)
    )
    if who == "member":
        username = member
    elif who == "lead":
        username = desk.lead
    else:  # one who oversees every team, without belonging to the desk
        username = make_user(queue.session, who).username
    response = client.post(
        f"/api/v1/tickets/{ticket.id}/status",
        json={"status": "acknowledged"},
        headers=auth(username),
    )
    assert response.status_code == 200, response.text


def test_a_ticket_assigned_to_an_agent_of_another_team_is_theirs_to_work(
    client, queue, auth, outsider
):
    ticket = queue.take_in()
    url = f"/api/v1/tickets/{ticket.id}/status"
    body = {"status": "acknowledged"}
    assert client.post(url, json=body, headers=auth(outsider)).status_code == 403
    lifecycle.assign(
        queue.session, ticket=ticket, username=outsider, actor=queue.user(queue.desk.duty_manager)
    )
    assert client.post(url, json=body, headers=auth(outsider)).status_code == 200


def test_callbacks_are_done_by_the_team_or_the_task_owner_only(client, queue, auth, outsider):
    ticket = queue.take_in()
    _resolved(queue, ticket)
    surveys.record_survey(queue.session, ticket=ticket, answer=SurveyAnswer(csat=1), via="sms")
    tasks = {task.key: task for task in surveys.tasks_of(queue.session, ticket=ticket)}
    base = f"/api/v1/tickets/{ticket.id}/tasks"
    senior = tasks["callback_senior_manager"]
    refused = client.post(
        f"{base}/{senior.id}/done", json={"note": "called"}, headers=auth(outsider)
    )
    assert refused.status_code == 403 and senior.done_at is None
    # The senior manager's callback is the on-call duty manager's, whoever holds the ticket.
    owner = queue.session.get(User, senior.owner_id).username
    done = client.post(f"{base}/{senior.id}/done", json={"note": "called"}, headers=auth(owner))
    assert done.status_code == 200
    assert queue.session.get(TicketTask, senior.id).done_at is not None


def test_tickets_go_only_to_active_agents(client, queue, auth):
    desk = queue.desk
    ticket = queue.take_in()
    url = f"/api/v1/tickets/{ticket.id}/assign"
    departed = queue.user(desk.agents[-1])
    departed.active = False
    queue.session.add(departed)
    viewer = make_user(queue.session, Role.viewer).username
    for username, says in [
        (desk.lead, "assigned only to agents"),
        (viewer, "assigned only to agents"),
        (desk.duty_manager, "assigned only to agents"),
        (departed.username, "deactivated"),
        ("nobody", "nobody"),
    ]:
        response = client.post(url, json={"user": username}, headers=auth(desk.duty_manager))
        assert response.status_code == 422, username
        assert response.json()["field"] == "user" and says in response.json()["detail"]
    assert queue.events(ticket, "ticket.assigned") == ["ticket.assigned"]
    moved = client.post(url, json={"user": desk.agents[1]}, headers=auth(desk.duty_manager))
    assert moved.status_code == 200 and moved.json()["assignee"] == desk.agents[1]


def test_agents_never_record_satisfaction_even_on_their_own_ticket(client, queue, auth):
    ticket = queue.take_in()
    _resolved(queue, ticket)
    assignee = queue.session.get(User, ticket.assignee_id).username
    body = {"csat": 5, "nps": 10, "reason": "the customer said so on the phone"}
    response = client.post(f"/api/v1/tickets/{ticket.id}/survey", json=body, headers=auth(assignee))
    assert response.status_code == 403
    assert "supervisor" in response.json()["detail"]
    assert ticket.csat is None and queue.events(ticket, "ticket.survey") == []


def test_a_supervisor_enters_satisfaction_with_a_reason_on_the_timeline(client, queue, auth):
    ticket = queue.take_in()
    _resolved(queue, ticket)
    url = f"/api/v1/tickets/{ticket.id}/survey"
    lead = queue.desk.lead
    reasonless = client.post(url, json={"csat": 4}, headers=auth(lead))
    assert reasonless.status_code == 422 and "reason" in reasonless.json()["detail"]
    entered = client.post(
        url,
        json={"csat": 4, "reason": "rated by phone on the follow-up call"},
        headers=auth(lead),
    )
    assert entered.status_code == 200, entered.text
    assert entered.json()["csat"] == 4
    duty = auth(queue.desk.duty_manager)
    events = client.get(f"/api/v1/tickets/{ticket.id}/timeline", headers=duty).json()
    survey = next(event for event in events if event["kind"] == "ticket.survey")
    assert lead in survey["summary"] and "follow-up call" in survey["summary"]
    assert survey["data"]["entered_by"] == lead
    assert survey["data"]["reason"] == "rated by phone on the follow-up call"


def test_the_lead_of_another_team_does_not_supervise(client, queue, auth, other_team_lead):
    ticket = queue.take_in()
    _resolved(queue, ticket)
    response = client.post(
        f"/api/v1/tickets/{ticket.id}/survey",
        json={"csat": 5, "reason": "told me"},
        headers=auth(other_team_lead),
    )
    assert response.status_code == 403 and ticket.csat is None


@pytest.mark.parametrize("role", [Role.viewer, Role.responder, Role.comms])
def test_roles_without_need_see_contact_details_masked(client, queue, auth, role):
    by_phone = queue.take_in(
        "漏电了,请打 13912345678 或发邮件 wang.fang@qq.com", phone="+8613800000000"
    )
    by_email = queue.take_in("broken", email="john@example.com")
    noted = client.post(
        f"/api/v1/tickets/{by_phone.id}/status",
        json={"status": "acknowledged", "note": "customer asks for a call on 13912345678"},
        headers=auth(queue.agent),
    )
    assert noted.status_code == 200
    viewer = auth(make_user(queue.session, role).username)
    read = client.get(f"/api/v1/tickets/{by_phone.id}", headers=viewer).json()
    assert read["contact"] == "+86 138****0000"
    assert read["description"] == "漏电了,请打 +86 139****5678 或发邮件 w***@qq.com"
    assert read["number"] == by_phone.number  # identifiers are not phone numbers
    mailed = client.get(f"/api/v1/tickets/{by_email.id}", headers=viewer).json()
    assert mailed["contact"] == "j***@example.com"
    everything = json.dumps(
        [
            client.get("/api/v1/tickets", headers=viewer).json(),
            client.get(f"/api/v1/tickets/{by_phone.id}/timeline", headers=viewer).json(),
            client.get(f"/api/v1/tickets/{by_email.id}/timeline", headers=viewer).json(),
            read,
            mailed,
        ],
        ensure_ascii=False,
    )
    for secret in ("13800000000", "13912345678", "wang.fang", "john@"):
        assert secret not in everything
    assert "a call on +86 139****5678" in everything
    # Staff who answer customers, and those who oversee them, see the customer as they are.
    for reader in (queue.agent, make_user(queue.session, Role.duty_manager).username):
        full = client.get(f"/api/v1/tickets/{by_phone.id}", headers=auth(reader)).json()
        assert full["contact"] == "+8613800000000" and "13912345678" in full["description"]


@pytest.mark.parametrize(
    ("role", "masked"),
    [(Role.responder, True), (Role.comms, True), (Role.agent, False), (Role.duty_manager, False)],
)
def test_the_customer_list_shows_contacts_only_to_those_who_answer_customers(
    client, queue, auth, role, masked
):
    queue.take_in("broken", phone="+8613800000000")
    queue.take_in("broken", email="john@example.com")
    listed = client.get(
        "/api/v1/customers", headers=auth(make_user(queue.session, role).username)
    ).json()["items"]
    phones = {item["phone"] for item in listed} - {None}
    emails = {item["email"] for item in listed} - {None}
    if masked:
        assert phones == {"+86 138****0000"} and emails == {"j***@example.com"}
        assert "13800000000" not in json.dumps(listed) and "john@" not in json.dumps(listed)
    else:
        assert phones == {"+8613800000000"} and emails == {"john@example.com"}
