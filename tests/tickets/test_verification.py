"""Seeds 001: the initial verification within 3 working days of intake, substantiated or not,
on the ticket's timeline; and when a complaint cannot be solved at once, the customer told
when it will be, in their language."""

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from incident_cmd.auth.models import Role
from incident_cmd.tickets import lifecycle
from incident_cmd.tickets.models import TimerKind
from incident_cmd.tickets.schemas import TicketResolve, TicketVerification
from incident_cmd.timeline import service as timeline
from tests.factories import bearer, make_user

SHANGHAI = ZoneInfo("Asia/Shanghai")


def local(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=SHANGHAI)


@pytest.fixture
def agent(queue):
    return bearer(queue.session, queue.user(queue.agent))


def entries(queue, ticket, kind: str) -> list[dict]:
    return [
        event.data
        for event in timeline.events_for(queue.session, subject_type="ticket", subject_id=ticket.id)
        if event.kind == kind
    ]


# --- the timer --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("intake", "due", "why"),
    [
        ("2026-11-23 09:00", "2026-11-25 18:00", "Monday morning: Monday to Wednesday"),
        ("2026-11-27 17:00", "2026-12-02 17:00", "Friday afternoon: the weekend does not count"),
        ("2026-11-28 11:00", "2026-12-02 18:00", "a Saturday: from Monday's opening"),
        ("2026-09-30 17:00", "2026-10-10 17:00", "National Day week; Saturday 10 October worked"),
    ],
)
def test_verification_is_due_three_working_days_after_intake(queue, frozen_clock, intake, due, why):
    frozen_clock.set(local(intake))
    ticket = queue.take_in("包裹还没收到")
    timer = queue.timer(ticket, TimerKind.verification)
    assert (timer.due_at, timer.clock) == (local(due), "business"), why


def test_an_unverified_complaint_warns_then_breaches_to_the_supervisor(queue, frozen_clock):
    ticket = queue.take_in("包裹还没收到")  # Monday 09:00: due Wednesday 18:00
    queue.move(ticket, "acknowledged")  # the response is met; verification runs on
    frozen_clock.set(local("2026-11-25 12:00"))  # 21.6 of 27 working hours is 12:36
    queue.sweep()
    assert entries(queue, ticket, "sla.warned") == []
    frozen_clock.set(local("2026-11-25 12:36"))
    queue.sweep()
    assert [entry["timer"] for entry in entries(queue, ticket, "sla.warned")] == ["verification"]
    frozen_clock.set(local("2026-11-25 18:00"))
    queue.sweep()
    [breach] = entries(queue, ticket, "sla.breached")
    assert (breach["timer"], breach["told"]) == ("verification", queue.desk.lead)


def test_waiting_on_the_customer_stops_the_verification_clock(queue, frozen_clock):
    ticket = queue.take_in("包裹还没收到")
    queue.move(ticket, "acknowledged")
    frozen_clock.set(local("2026-11-23 12:00"))  # 3 working hours used, 24 left
    queue.move(ticket, "waiting_customer")
    frozen_clock.set(local("2026-11-30 09:00"))  # a week later, Monday morning
    queue.sweep()
    assert entries(queue, ticket, "sla.breached") == []
    queue.move(ticket, "in_progress")
    assert queue.timer(ticket, TimerKind.verification).due_at == local("2026-12-02 15:00")


def test_resolving_an_unverified_ticket_stops_its_verification_clock(queue, frozen_clock):
    ticket = queue.take_in("包裹还没收到")
    lifecycle.resolve(
        queue.session,
        ticket=ticket,
        data=TicketResolve(resolution="已补发"),
        actor=queue.user(queue.agent),
    )
    assert queue.timer(ticket, TimerKind.verification).next_action_at is None
    frozen_clock.advance(timedelta(days=10))
    queue.sweep()
    assert all(entry["timer"] != "verification" for entry in entries(queue, ticket, "sla.warned"))


# --- the outcome --------------------------------------------------------------------------------


def test_a_substantiated_complaint_is_recorded_once_in_time(client, agent, queue, frozen_clock):
    ticket = queue.take_in("电饭煲不工作了")
    frozen_clock.set(local("2026-11-25 17:59"))
    body = {"outcome": "substantiated", "note": "维修点确认主板故障"}
    response = client.post(f"/api/v1/tickets/{ticket.id}/verification", json=body, headers=agent)
    assert response.status_code == 200, response.text
    [timer] = [t for t in response.json()["timers"] if t["kind"] == "verification"]
    assert timer["met_in_time"] is True and timer["stage"] == "running"
    assert entries(queue, ticket, "ticket.verified") == [
        {"outcome": "substantiated", "note": "维修点确认主板故障", "in_time": True}
    ]
    again = client.post(
        f"/api/v1/tickets/{ticket.id}/verification",
        json={"outcome": "not_substantiated", "note": "second thoughts"},
        headers=agent,
    )
    assert (again.status_code, again.json()["field"]) == (409, "outcome")
    assert len(entries(queue, ticket, "ticket.verified")) == 1


def test_a_late_verification_is_recorded_as_late(queue, frozen_clock):
    ticket = queue.take_in("包裹还没收到")
    frozen_clock.set(local("2026-11-26 09:01"))  # Thursday: past Wednesday's closing
    lifecycle.record_verification(
        queue.session,
        ticket=ticket,
        verification=TicketVerification(outcome="not_substantiated", note="物流记录显示已签收"),
        actor=queue.user(queue.agent),
    )
    assert queue.timer(ticket, TimerKind.verification).met_in_time is False
    [entry] = entries(queue, ticket, "ticket.verified")
    assert (entry["outcome"], entry["in_time"]) == ("not_substantiated", False)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"outcome": "maybe", "note": "x"}, "outcome"),
        ({"note": "x"}, "outcome"),
        ({"outcome": "substantiated", "note": ""}, "note"),
        ({"outcome": "substantiated"}, "note"),
        ({"outcome": "substantiated", "note": "x", "by": "me"}, "by"),
    ],
)
def test_a_bad_verification_names_the_field_and_changes_nothing(client, agent, queue, body, field):
    ticket = queue.take_in()
    response = client.post(f"/api/v1/tickets/{ticket.id}/verification", json=body, headers=agent)
    assert (response.status_code, response.json()["field"]) == (422, field)
    assert queue.timer(ticket, TimerKind.verification).met_at is None
    assert entries(queue, ticket, "ticket.verified") == []


def test_only_those_who_work_the_ticket_verify_it(client, queue, headers):
    ticket = queue.take_in()
    body = {"outcome": "substantiated", "note": "x"}
    url = f"/api/v1/tickets/{ticket.id}/verification"
    assert client.post(url, json=body, headers=headers(Role.viewer)).status_code == 403
    outsider = bearer(queue.session, make_user(queue.session, Role.agent))
    assert client.post(url, json=body, headers=outsider).status_code == 403
    assert client.post(url, json=body).status_code == 401
    assert entries(queue, ticket, "ticket.verified") == []


def test_a_resolved_ticket_is_not_verified_afterwards(client, agent, queue):
    ticket = queue.take_in()
    client.post(f"/api/v1/tickets/{ticket.id}/resolve", json={"resolution": "换新"}, headers=agent)
    response = client.post(
        f"/api/v1/tickets/{ticket.id}/verification",
        json={"outcome": "substantiated", "note": "x"},
        headers=agent,
    )
    assert (response.status_code, response.json()["field"]) == (409, "status")


# --- the timetable told to the customer -----------------------------------------------------------


def test_the_customer_is_told_the_planned_date_in_their_language(client, agent, queue):
    chinese = queue.take_in("电饭煲不工作了")
    english = queue.take_in("The kettle is broken", email="kim@example.com", locale="en")
    for ticket in (chinese, english):
        response = client.post(
            f"/api/v1/tickets/{ticket.id}/plan",
            json={"note": "寄回检测后换新", "resolve_by": "2026-11-30"},
            headers=agent,
        )
        assert response.status_code == 200, response.text
        assert entries(queue, ticket, "ticket.timetable") == [{"resolve_by": "2026-11-30"}]
        [plan] = entries(queue, ticket, "ticket.plan")
        assert (plan["resolve_by"], plan["in_time"]) == ("2026-11-30", True)
    [told] = [m for m in queue.messages(chinese) if m.key.endswith("-plan-1")]
    assert (told.channel, told.locale) == ("sms", "zh-CN")
    assert "计划于 2026-11-30 前解决" in told.body and chinese.number in told.body
    [mail] = [m for m in queue.messages(english) if m.key.endswith("-plan-1")]
    assert (mail.channel, mail.address) == ("email", "kim@example.com")
    assert "resolve it by 2026-11-30" in mail.body


def test_a_new_date_is_told_again_the_same_date_once(queue, frozen_clock):
    ticket = queue.take_in("包裹还没收到")  # no handling-plan target: the date alone is asked
    actor = queue.user(queue.agent)
    for day in ("2026-11-26", "2026-11-26", "2026-11-28", "2026-11-26"):
        lifecycle.record_handling_plan(
            queue.session,
            ticket=ticket,
            plan="补发",
            actor=actor,
            resolve_by=datetime.fromisoformat(day).date(),
        )
    queue.session.flush()
    told = [m.body for m in queue.messages(ticket) if "-plan-" in m.key]
    assert ["2026-11-26" in told[0], "2026-11-28" in told[1], "2026-11-26" in told[2]] == [True] * 3
    assert len(told) == 3
    assert [entry["resolve_by"] for entry in entries(queue, ticket, "ticket.timetable")] == [
        "2026-11-26",
        "2026-11-28",
        "2026-11-26",
    ]
    assert len(entries(queue, ticket, "ticket.plan")) == 4


def test_a_date_told_at_night_waits_for_the_customers_morning(queue, frozen_clock):
    ticket = queue.take_in()
    frozen_clock.set(local("2026-11-23 22:30"))
    lifecycle.record_handling_plan(
        queue.session,
        ticket=ticket,
        plan="换新",
        actor=queue.user(queue.agent),
        resolve_by=datetime(2026, 11, 27).date(),
    )
    queue.session.flush()
    [told] = [m for m in queue.messages(ticket) if "-plan-" in m.key]
    assert told.due_at == local("2026-11-24 08:00")


@pytest.mark.parametrize(
    ("body", "status", "field"),
    [
        ({"note": "x", "resolve_by": "2026-11-22"}, 422, "resolve_by"),  # yesterday in Shanghai
        ({"note": "x", "resolve_by": "next week"}, 422, "resolve_by"),
        ({"note": "", "resolve_by": "2026-11-30"}, 422, "note"),
        ({"note": "x"}, 409, "plan"),  # no handling-plan target and no date
    ],
)
def test_a_bad_plan_names_the_field_and_tells_nobody(client, agent, queue, body, status, field):
    ticket = queue.take_in("包裹还没收到")  # logistics: no handling-plan target
    response = client.post(f"/api/v1/tickets/{ticket.id}/plan", json=body, headers=agent)
    assert (response.status_code, response.json()["field"]) == (status, field)
    assert [m for m in queue.messages(ticket) if "-plan-" in m.key] == []
    assert entries(queue, ticket, "ticket.plan") == entries(queue, ticket, "ticket.timetable") == []


def test_no_date_is_promised_on_a_closed_ticket(client, agent, queue):
    ticket = queue.take_in("包裹还没收到")
    client.post(f"/api/v1/tickets/{ticket.id}/resolve", json={"resolution": "补发"}, headers=agent)
    response = client.post(
        f"/api/v1/tickets/{ticket.id}/plan",
        json={"note": "x", "resolve_by": "2026-11-30"},
        headers=agent,
    )
    assert (response.status_code, response.json()["field"]) == (409, "status")
