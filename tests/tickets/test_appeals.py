"""Seeds 001 六 (申诉处理流程): an appeal against a ticket's result is registered, investigated by
a designated handler who never handled the ticket, answered with an outcome, and the answer
tells the customer the route to the regulator; its own targets are swept like the ticket's.
No time limit narrows the customer's right to appeal unless the organisation sets one."""

from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlmodel import select

from incident_cmd.auth.models import Role, User
from incident_cmd.config import PROJECT_ROOT, ConfigurationError, get_settings
from incident_cmd.errors import Conflict
from incident_cmd.teams.models import Team, TeamMember
from incident_cmd.tickets import appeals, lifecycle
from incident_cmd.tickets.models import Appeal, SlaTimer, TimerKind
from incident_cmd.tickets.policy import service_levels
from incident_cmd.tickets.schemas import AppealAnswer, AppealCreate, TicketAction, TicketResolve
from incident_cmd.timeline import service as timeline
from tests.factories import bearer, make_team, make_user

SHANGHAI = ZoneInfo("Asia/Shanghai")
DAY = timedelta(days=1)


def local(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=SHANGHAI)


@dataclass
class Desk:
    lead: str  # leads the appeals team: names handlers
    handler: str  # an appeals handler who never touched the desk's tickets


@pytest.fixture
def appeals_desk(queue) -> Desk:
    lead = make_user(queue.session, Role.responder, contactable=True)
    handler = make_user(queue.session, Role.agent, contactable=True)
    make_team(queue.session, key="appeals", lead=lead, members=[lead, handler])
    queue.session.flush()
    return Desk(lead=lead.username, handler=handler.username)


@pytest.fixture
def auth(queue):
    def for_user(username: str) -> dict[str, str]:
        return bearer(queue.session, queue.user(username))

    return for_user


@pytest.fixture
def service_levels_with(monkeypatch, tmp_path):
    def write(old: str, new: str) -> None:
        text = (PROJECT_ROOT / "config" / "service-levels.yaml").read_text(encoding="utf-8")
        assert old in text
        custom = tmp_path / "service-levels.yaml"
        custom.write_text(text.replace(old, new, 1), encoding="utf-8")
        monkeypatch.setenv("INCIDENT_CMD_SERVICE_LEVELS_FILE", str(custom))
        get_settings.cache_clear()

    return write


def resolved(queue, description: str = "电饭煲不工作了", **fields):
    ticket = queue.take_in(description, **fields)
    lifecycle.resolve(
        queue.session,
        ticket=ticket,
        data=TicketResolve(resolution="已寄送维修"),
        actor=queue.session.get_one(User, ticket.assignee_id),
    )
    queue.session.flush()
    return ticket


def register(queue, ticket, **fields) -> Appeal:
    fields.setdefault("grounds", "维修后仍然不工作")
    fields.setdefault("channel", "phone")
    appeal = appeals.register(
        queue.session, ticket=ticket, data=AppealCreate(**fields), actor=queue.user(queue.agent)
    )
    queue.session.flush()
    return appeal


def entries(queue, ticket, kind: str) -> list[dict]:
    return [
        event.data
        for event in timeline.events_for(queue.session, subject_type="ticket", subject_id=ticket.id)
        if event.kind == kind
    ]


def answer_message(queue, ticket, appeal):
    [message] = [m for m in queue.messages(ticket) if m.key.endswith(f"-appeal-{appeal.id}-answer")]
    return message


# --- registration ---------------------------------------------------------------------------------


def test_an_appeal_is_registered_with_its_grounds_and_its_own_targets(
    client, queue, appeals_desk, auth
):
    ticket = resolved(queue)
    response = client.post(
        f"/api/v1/tickets/{ticket.id}/appeals",
        json={"grounds": "维修后仍然不工作", "channel": "phone"},
        headers=auth(queue.agent),
    )
    assert response.status_code == 201, response.text
    body = response.json()
    assert (body["status"], body["channel"], body["grounds"], body["team"]) == (
        "registered",
        "phone",
        "维修后仍然不工作",
        "appeals",
    )
    assert body["handler"] is None and body["registered_by"] == queue.agent
    customer_name = body["appellant"]
    assert customer_name  # the customer's own name when nobody else appealed for them
    due = {
        timer["kind"]: (datetime.fromisoformat(timer["due_at"]), timer["clock"])
        for timer in body["timers"]
    }
    assert due == {
        # 001 「最迟不超过24小时」: 24 clock hours to respond
        "appeal_response": (local("2026-11-24 09:00"), "calendar"),
        # 3 working days, as the initial verification: Monday 09:00 to Wednesday 18:00
        "appeal_answer": (local("2026-11-25 18:00"), "business"),
    }
    [entry] = entries(queue, ticket, "ticket.appealed")
    assert (entry["appeal_id"], entry["reason"], entry["channel"]) == (
        body["id"],
        "维修后仍然不工作",
        "phone",
    )
    ticket_body = client.get(f"/api/v1/tickets/{ticket.id}", headers=auth(queue.agent)).json()
    assert [appeal["id"] for appeal in ticket_body["appeals"]] == [body["id"]]
    assert ticket_body["status"] == "resolved"  # the appeal leaves the ticket as it is


def test_an_appeal_made_for_the_customer_names_who_made_it(queue, appeals_desk, frozen_clock):
    ticket = resolved(queue)
    frozen_clock.advance(2 * DAY)
    appeal = register(
        queue,
        ticket,
        appellant="王芳的女儿",
        channel="email",
        received_at=local("2026-11-24 20:00"),
    )
    assert (appeal.appellant, appeal.channel) == ("王芳的女儿", "email")
    assert appeal.received_at == local("2026-11-24 20:00")
    assert appeal.registered_at == local("2026-11-25 09:00")


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"channel": "phone"}, "grounds"),
        ({"grounds": "", "channel": "phone"}, "grounds"),
        ({"grounds": "x", "channel": "pigeon"}, "channel"),
        ({"grounds": "x", "channel": "phone", "appellant": "a\nb"}, "appellant"),
        ({"grounds": "x", "channel": "phone", "received_at": "2026-11-23T08:00:00"}, "received_at"),
        (
            {"grounds": "x", "channel": "phone", "received_at": "2026-11-24T09:00:00+08:00"},
            "received_at",
        ),
        (
            {"grounds": "x", "channel": "phone", "received_at": "2026-11-20T09:00:00+08:00"},
            "received_at",
        ),
        ({"grounds": "x", "channel": "phone", "deadline": "soon"}, "deadline"),
    ],
)
def test_a_bad_appeal_names_the_field_and_registers_nothing(
    client, queue, appeals_desk, auth, body, field
):
    ticket = resolved(queue)
    response = client.post(
        f"/api/v1/tickets/{ticket.id}/appeals", json=body, headers=auth(queue.agent)
    )
    assert (response.status_code, response.json()["field"]) == (422, field), response.text
    assert queue.session.exec(select(Appeal)).all() == []
    assert entries(queue, ticket, "ticket.appealed") == []
    assert all(not t.kind.startswith("appeal") for t in queue.session.exec(select(SlaTimer)))


def test_an_open_ticket_is_worked_on_not_appealed(client, queue, appeals_desk, auth):
    ticket = queue.take_in()
    response = client.post(
        f"/api/v1/tickets/{ticket.id}/appeals",
        json={"grounds": "x", "channel": "phone"},
        headers=auth(queue.agent),
    )
    assert (response.status_code, response.json()["field"]) == (409, "status")


def test_one_appeal_is_open_at_a_time_and_a_later_one_has_new_targets(
    queue, appeals_desk, frozen_clock
):
    ticket = resolved(queue)
    first = register(queue, ticket)
    with pytest.raises(Conflict, match=f"appeal {first.id} open") as refused:
        register(queue, ticket, grounds="again")
    assert refused.value.field == "ticket"
    handler = queue.user(appeals_desk.handler)
    appeals.assign(
        queue.session,
        appeal=first,
        ticket=ticket,
        username=appeals_desk.handler,
        actor=queue.user(appeals_desk.lead),
    )
    appeals.answer(
        queue.session,
        appeal=first,
        ticket=ticket,
        data=AppealAnswer(outcome="rejected", answer="检测结果正常"),
        actor=handler,
    )
    queue.session.flush()
    frozen_clock.advance(3 * DAY)
    second = register(queue, ticket, grounds="又坏了")
    assert (first.answered_in_time, first.responded_in_time) == (True, True)
    assert queue.timer(ticket, TimerKind.appeal_response).started_at == second.registered_at
    assert [timer.kind for timer in appeals.timers_of(queue.session, appeal=second)] == [
        TimerKind.appeal_response,
        TimerKind.appeal_answer,
    ]
    assert appeals.timers_of(queue.session, appeal=first) == []


# --- the opt-in window ------------------------------------------------------------------------------


def test_no_window_by_default_a_year_late_appeal_is_taken(queue, appeals_desk, frozen_clock):
    ticket = resolved(queue)
    lifecycle.change_status(
        queue.session,
        ticket=ticket,
        change=TicketAction(status="closed"),
        actor=queue.user(queue.agent),
    )
    frozen_clock.advance(400 * DAY)
    appeal = register(queue, ticket)
    assert appeal.status == "registered"


def test_a_configured_window_refuses_only_late_appeals(
    queue, appeals_desk, frozen_clock, service_levels_with
):
    service_levels_with("  window: null\n", "  window: 30d\n")
    ticket = resolved(queue)  # Monday 09:00
    frozen_clock.advance(31 * DAY)
    # Received on the last day of the window and registered later: taken.
    on_time = register(queue, ticket, received_at=local("2026-12-23 09:00"))
    assert on_time.received_at == local("2026-12-23 09:00")
    appeals.assign(
        queue.session,
        appeal=on_time,
        ticket=ticket,
        username=appeals_desk.handler,
        actor=queue.user(appeals_desk.lead),
    )
    appeals.answer(
        queue.session,
        appeal=on_time,
        ticket=ticket,
        data=AppealAnswer(outcome="rejected", answer="x"),
        actor=queue.user(appeals_desk.handler),
    )
    queue.session.flush()
    with pytest.raises(Conflict, match="more than 30d") as refused:
        register(queue, ticket, received_at=local("2026-12-23 09:01"))
    assert refused.value.field == "received_at"
    assert len(entries(queue, ticket, "ticket.appealed")) == 1


# --- the designated handler -------------------------------------------------------------------------


def test_the_handler_is_named_by_a_supervisor_and_is_never_the_tickets_agent(
    client, queue, appeals_desk, auth
):
    ticket = resolved(queue)
    appeal = register(queue, ticket)
    original = queue.session.get_one(User, ticket.assignee_id)
    # Being in the appeals team does not make the ticket's own agent a fit handler.
    team = queue.session.exec(select(Team).where(Team.key == "appeals")).one()
    queue.session.add(TeamMember(team_id=team.id, user_id=original.id))
    queue.session.flush()
    url = f"/api/v1/appeals/{appeal.id}/assign"
    refused = client.post(url, json={"handler": original.username}, headers=auth(appeals_desk.lead))
    assert (refused.status_code, refused.json()["field"]) == (422, "handler")
    assert ticket.number in refused.json()["detail"]
    queue.session.refresh(appeal)
    assert appeal.handler_id is None and entries(queue, ticket, "ticket.appeal_assigned") == []
    stranger = make_user(queue.session, Role.agent)
    outside = client.post(url, json={"handler": stranger.username}, headers=auth(appeals_desk.lead))
    assert (outside.status_code, outside.json()["field"]) == (422, "handler")
    assert "not in the appeals team" in outside.json()["detail"]
    nobody = client.post(url, json={"handler": "nobody"}, headers=auth(appeals_desk.lead))
    assert (nobody.status_code, nobody.json()["field"]) == (422, "handler")
    named = client.post(
        url, json={"handler": appeals_desk.handler}, headers=auth(appeals_desk.lead)
    )
    assert named.status_code == 200, named.text
    assert (named.json()["handler"], named.json()["status"]) == (
        appeals_desk.handler,
        "investigating",
    )
    assert entries(queue, ticket, "ticket.appeal_assigned") == [
        {"appeal_id": appeal.id, "from": None, "to": appeals_desk.handler}
    ]


def test_whoever_resolved_or_was_once_assigned_is_refused_as_handler(queue, appeals_desk):
    ticket = queue.take_in()
    first_agent = queue.session.get_one(User, ticket.assignee_id)
    other = next(name for name in queue.desk.agents if name != first_agent.username)
    lifecycle.assign(
        queue.session, ticket=ticket, username=other, actor=queue.user(queue.desk.duty_manager)
    )
    lifecycle.resolve(
        queue.session,
        ticket=ticket,
        data=TicketResolve(resolution="换新"),
        actor=queue.user(appeals_desk.lead),  # the appeals lead helped out on the ticket
    )
    own = appeals.own_agents(queue.session, ticket=ticket)
    assert own == {first_agent.id, queue.user(other).id, queue.user(appeals_desk.lead).id}


def test_only_supervisors_name_the_handler(client, queue, appeals_desk, auth, headers):
    ticket = resolved(queue)
    appeal = register(queue, ticket)
    url = f"/api/v1/appeals/{appeal.id}/assign"
    body = {"handler": appeals_desk.handler}
    assert client.post(url, json=body, headers=auth(queue.agent)).status_code == 403
    assert client.post(url, json=body, headers=auth(appeals_desk.handler)).status_code == 403
    assert client.post(url, json=body, headers=auth(queue.desk.lead)).status_code == 403
    assert client.post(url, json=body, headers=headers(Role.viewer)).status_code == 403
    assert client.post(url, json=body).status_code == 401
    assert entries(queue, ticket, "ticket.appeal_assigned") == []
    duty = client.post(url, json=body, headers=auth(queue.desk.duty_manager))
    assert duty.status_code == 200, duty.text


def test_only_the_handler_investigates_and_answers(client, queue, appeals_desk, auth, headers):
    ticket = resolved(queue)
    appeal = register(queue, ticket)
    note = {"note": "已电话联系客户"}
    answer = {"outcome": "rejected", "answer": "x"}
    # Nobody has been named yet: nobody answers.
    unnamed = client.post(
        f"/api/v1/appeals/{appeal.id}/notes", json=note, headers=auth(appeals_desk.lead)
    )
    assert unnamed.status_code == 403 and "none has been named" in unnamed.json()["detail"]
    client.post(
        f"/api/v1/appeals/{appeal.id}/assign",
        json={"handler": appeals_desk.handler},
        headers=auth(appeals_desk.lead),
    )
    for who in (
        auth(queue.agent),
        auth(appeals_desk.lead),
        auth(queue.desk.duty_manager),
        headers(Role.viewer),
    ):
        for path, body in (("notes", note), ("answer", answer)):
            response = client.post(f"/api/v1/appeals/{appeal.id}/{path}", json=body, headers=who)
            assert response.status_code == 403, (path, response.text)
    assert (
        client.post(
            f"/api/v1/tickets/{ticket.id}/appeals",
            json={"grounds": "x", "channel": "phone"},
            headers=headers(Role.viewer),
        ).status_code
        == 403
    )
    assert entries(queue, ticket, "ticket.appeal_note") == []
    assert entries(queue, ticket, "ticket.appeal_answered") == []


# --- timers and breaches -----------------------------------------------------------------------------


def test_appeal_targets_warn_the_handler_and_breach_to_the_appeals_lead(
    queue, appeals_desk, frozen_clock
):
    ticket = resolved(queue)  # Monday 09:00
    appeal = register(queue, ticket)
    appeals.assign(
        queue.session,
        appeal=appeal,
        ticket=ticket,
        username=appeals_desk.handler,
        actor=queue.user(appeals_desk.lead),
    )

    def alerts(kind):
        return [
            (entry["timer"], entry["told"])
            for entry in entries(queue, ticket, kind)
            if entry["timer"].startswith("appeal")
        ]

    frozen_clock.set(local("2026-11-24 04:11"))  # 80 % of 24 hours is 04:12
    queue.sweep()
    assert alerts("sla.warned") == []
    frozen_clock.set(local("2026-11-24 04:12"))
    queue.sweep()
    assert alerts("sla.warned") == [("appeal_response", appeals_desk.handler)]
    frozen_clock.set(local("2026-11-24 09:00"))
    queue.sweep()
    assert alerts("sla.breached") == [("appeal_response", appeals_desk.lead)]
    alert = [m for m in queue.messages(ticket) if m.user_id == queue.user(appeals_desk.lead).id]
    assert alert and "appeal response" in alert[-1].body
    frozen_clock.set(local("2026-11-24 09:01"))
    appeals.add_note(
        queue.session,
        appeal=appeal,
        ticket=ticket,
        note="已联系",
        actor=queue.user(appeals_desk.handler),
    )
    assert appeal.responded_in_time is False
    frozen_clock.set(local("2026-11-25 12:36"))  # 80 % of 27 working hours
    queue.sweep()
    assert alerts("sla.warned")[-1] == ("appeal_answer", appeals_desk.handler)
    frozen_clock.set(local("2026-11-25 18:00"))
    queue.sweep()
    assert alerts("sla.breached") == [
        ("appeal_response", appeals_desk.lead),
        ("appeal_answer", appeals_desk.lead),
    ]
    frozen_clock.set(local("2026-11-30 18:00"))  # 27 more working hours: Thu, Fri, Mon
    queue.sweep()
    assert alerts("sla.breached_twice") == [("appeal_answer", queue.desk.duty_manager)]
    assert ticket.breach_state == "breached"


def test_an_unnamed_appeal_warns_the_appeals_lead(queue, appeals_desk, frozen_clock):
    ticket = resolved(queue)
    register(queue, ticket)
    frozen_clock.set(local("2026-11-24 04:12"))
    queue.sweep()
    [warning] = [e for e in entries(queue, ticket, "sla.warned") if e["timer"] == "appeal_response"]
    assert warning["told"] == appeals_desk.lead


# --- outcome and the final answer ----------------------------------------------------------------------


def test_the_answer_is_recorded_and_tells_the_customer_the_regulator_route(
    client, queue, appeals_desk, auth, frozen_clock
):
    chinese = resolved(queue)
    english = resolved(queue, "The kettle is broken", email="kim@example.com", locale="en")
    for ticket, outcome, said in (
        (chinese, "partly_upheld", "申诉部分成立"),
        (english, "upheld", "Your appeal is upheld."),
    ):
        appeal = register(queue, ticket)
        client.post(
            f"/api/v1/appeals/{appeal.id}/assign",
            json={"handler": appeals_desk.handler},
            headers=auth(appeals_desk.lead),
        )
        frozen_clock.advance(timedelta(hours=2))
        noted = client.post(
            f"/api/v1/appeals/{appeal.id}/notes",
            json={"note": "调取维修记录"},
            headers=auth(appeals_desk.handler),
        )
        assert noted.status_code == 200 and noted.json()["responded_in_time"] is True
        assert [n["note"] for n in noted.json()["notes"]] == ["调取维修记录"]
        answered = client.post(
            f"/api/v1/appeals/{appeal.id}/answer",
            json={"outcome": outcome, "answer": "为您免费更换新机"},
            headers=auth(appeals_desk.handler),
        )
        assert answered.status_code == 200, answered.text
        body = answered.json()
        assert (body["status"], body["outcome"], body["answered_by"], body["answered_in_time"]) == (
            "answered",
            outcome,
            appeals_desk.handler,
            True,
        )
        assert body["timers"] == []
        [entry] = entries(queue, ticket, "ticket.appeal_answered")
        assert (entry["outcome"], entry["answer"], entry["in_time"]) == (
            outcome,
            "为您免费更换新机",
            True,
        )
        message = answer_message(queue, ticket, appeal)
        assert said in message.body and "为您免费更换新机" in message.body
        assert "12315" in message.body and ticket.number in message.body
    assert (
        answer_message(queue, chinese, appeals.appeals_of(queue.session, ticket=chinese)[0]).channel
        == "sms"
    )
    assert "市场监督管理部门" in queue.messages(chinese)[-1].body
    mail = answer_message(queue, english, appeals.appeals_of(queue.session, ticket=english)[0])
    assert (mail.channel, mail.locale) == ("email", "en")
    assert "market regulator" in mail.body and "arbitration" in mail.body


def test_the_regulator_route_is_the_organisations_own_text(
    queue, appeals_desk, service_levels_with
):
    service_levels_with(
        "    zh-CN: 如您对申诉处理结果仍不满意,可拨打12315",
        "    zh-CN: 如仍不满意,请联系本市消费者协会(电话 96315)。\n    x-was: 如您对申诉处理结果仍不满意,可拨打12315",
    )
    with pytest.raises(ConfigurationError, match="x-was"):
        service_levels()
    # Every language a customer may read needs the route.
    service_levels_with("    en: If you are still not satisfied", "    # en: If you are still")
    with pytest.raises(ConfigurationError, match="regulator_route: give the text in en"):
        service_levels()
    service_levels_with(
        "    zh-CN: 如您对申诉处理结果仍不满意,可拨打12315或登录全国12315平台(www.12315.cn)向市场监督管理部门投诉,也可依法申请仲裁。",
        "    zh-CN: 如仍不满意,请联系本市消费者协会(电话 96315)。",
    )
    ticket = resolved(queue)
    appeal = register(queue, ticket)
    appeals.assign(
        queue.session,
        appeal=appeal,
        ticket=ticket,
        username=appeals_desk.handler,
        actor=queue.user(appeals_desk.lead),
    )
    appeals.answer(
        queue.session,
        appeal=appeal,
        ticket=ticket,
        data=AppealAnswer(outcome="rejected", answer="维持原处理结果的理由"),
        actor=queue.user(appeals_desk.handler),
    )
    queue.session.flush()
    body = answer_message(queue, ticket, appeal).body
    assert "维持原处理结果" in body and "96315" in body and "12315" not in body


def test_an_answer_at_night_waits_for_the_customers_morning(queue, appeals_desk, frozen_clock):
    ticket = resolved(queue)
    appeal = register(queue, ticket)
    appeals.assign(
        queue.session,
        appeal=appeal,
        ticket=ticket,
        username=appeals_desk.handler,
        actor=queue.user(appeals_desk.lead),
    )
    frozen_clock.set(local("2026-11-23 22:30"))
    appeals.answer(
        queue.session,
        appeal=appeal,
        ticket=ticket,
        data=AppealAnswer(outcome="rejected", answer="x"),
        actor=queue.user(appeals_desk.handler),
    )
    queue.session.flush()
    assert answer_message(queue, ticket, appeal).due_at == local("2026-11-24 08:00")


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"outcome": "maybe", "answer": "x"}, "outcome"),
        ({"answer": "x"}, "outcome"),
        ({"outcome": "upheld", "answer": ""}, "answer"),
        ({"outcome": "upheld"}, "answer"),
    ],
)
def test_a_bad_answer_names_the_field_and_tells_nobody(
    client, queue, appeals_desk, auth, body, field
):
    ticket = resolved(queue)
    appeal = register(queue, ticket)
    appeals.assign(
        queue.session,
        appeal=appeal,
        ticket=ticket,
        username=appeals_desk.handler,
        actor=queue.user(appeals_desk.lead),
    )
    response = client.post(
        f"/api/v1/appeals/{appeal.id}/answer", json=body, headers=auth(appeals_desk.handler)
    )
    assert (response.status_code, response.json()["field"]) == (422, field)
    assert [m for m in queue.messages(ticket) if "-appeal-" in m.key] == []
    queue.session.refresh(appeal)
    assert appeal.status == "investigating"


def test_an_answered_appeal_is_not_answered_again(client, queue, appeals_desk, auth):
    ticket = resolved(queue)
    appeal = register(queue, ticket)
    appeals.assign(
        queue.session,
        appeal=appeal,
        ticket=ticket,
        username=appeals_desk.handler,
        actor=queue.user(appeals_desk.lead),
    )
    url = f"/api/v1/appeals/{appeal.id}/answer"
    first = client.post(
        url, json={"outcome": "upheld", "answer": "退款"}, headers=auth(appeals_desk.handler)
    )
    assert first.status_code == 200
    again = client.post(
        url, json={"outcome": "rejected", "answer": "x"}, headers=auth(appeals_desk.handler)
    )
    assert (again.status_code, again.json()["field"]) == (409, "status")
    assert len([m for m in queue.messages(ticket) if "-appeal-" in m.key]) == 1


def test_viewers_read_appeals_with_contact_details_masked(client, queue, appeals_desk, headers):
    ticket = resolved(queue)
    register(queue, ticket, grounds="请回电 13912345678")
    [read] = client.get(f"/api/v1/tickets/{ticket.id}/appeals", headers=headers(Role.viewer)).json()
    assert "13912345678" not in read["grounds"]
    assert (
        client.get(f"/api/v1/appeals/{read['id']}", headers=headers(Role.viewer)).status_code == 200
    )
    assert client.get(f"/api/v1/appeals/{read['id']}").status_code == 401
    assert client.get("/api/v1/appeals/999999", headers=headers(Role.viewer)).status_code == 404
