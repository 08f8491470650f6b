"""Warnings and breaches at the right moments on the project's clock, each once; the clock
stops while a ticket waits on the customer."""

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from incident_cmd.auth.models import User
from incident_cmd.config import PROJECT_ROOT, get_settings
from incident_cmd.tickets import lifecycle
from incident_cmd.tickets.models import TimerKind

MINUTE = timedelta(minutes=1)
SHANGHAI = ZoneInfo("Asia/Shanghai")


def local(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=SHANGHAI)


def test_safety_words_make_a_ticket_urgent(queue):
    ticket = queue.take_in("电饭煲底部冒烟,有焦味")
    assert (ticket.priority, ticket.category, ticket.safety) == ("urgent", "product_quality", True)
    english = queue.take_in("The kettle gave me an electric shock")
    assert english.priority == "urgent" and english.safety


def test_urgent_ticket_warns_breaches_and_escalates_each_once(queue, frozen_clock):
    ticket = queue.take_in("插座漏电")  # Monday 09:00 in Shanghai
    response = queue.timer(ticket, TimerKind.response)
    assert response.due_at == frozen_clock() + 30 * MINUTE
    assignee = queue.session.get(User, ticket.assignee_id).username

    frozen_clock.advance(23 * MINUTE)
    queue.sweep()
    assert queue.events(ticket, "sla.") == []

    frozen_clock.advance(MINUTE)  # 24 minutes: 80 % of the target
    queue.sweep()
    queue.sweep()
    assert queue.events(ticket, "sla.") == ["sla.warned"]
    assert ticket.breach_state == "warning"
    alerts = [m for m in queue.messages(ticket) if m.key.startswith("sla-")]
    assert [m.user_id for m in alerts] == [queue.user(assignee).id]

    frozen_clock.advance(6 * MINUTE)  # 30 minutes: breached, the supervisor hears
    queue.sweep()
    queue.sweep()
    assert queue.events(ticket, "sla.") == ["sla.warned", "sla.breached"]
    assert ticket.breach_state == "breached"
    alerts = [m for m in queue.messages(ticket) if m.key.startswith("sla-")]
    assert alerts[-1].user_id == queue.user(queue.desk.lead).id  # the desk's lead

    frozen_clock.advance(30 * MINUTE)  # twice the target: the duty manager hears
    queue.sweep()
    queue.sweep()
    assert queue.events(ticket, "sla.") == ["sla.warned", "sla.breached", "sla.breached_twice"]
    frozen_clock.advance(timedelta(days=1))
    queue.sweep()
    assert queue.events(ticket, "sla.").count("sla.breached_twice") == 1


def test_a_response_in_time_stops_the_response_clock(queue, frozen_clock):
    ticket = queue.take_in("插座漏电")
    frozen_clock.advance(10 * MINUTE)
    queue.move(ticket, "acknowledged")
    timer = queue.timer(ticket, TimerKind.response)
    assert timer.met_in_time is True and timer.next_action_at is None
    frozen_clock.advance(timedelta(hours=1))
    queue.sweep()
    assert "sla.warned" not in [
        kind
        for kind in queue.events(ticket, "sla.")
        if kind  # resolution's warning is at 80 % of 24 h, not yet
    ]


def test_routine_response_counts_working_hours_only(queue):
    ticket = queue.take_in("包裹还没收到,物流延迟", region="Shanghai")  # routine: 8 working hours
    assert ticket.priority == "routine"
    # Monday 09:00 + 8 working hours = Monday 17:00
    assert queue.timer(ticket, TimerKind.response).due_at == local("2026-11-23 17:00")


def test_waiting_on_the_customer_stops_the_clock(queue, frozen_clock):
    ticket = queue.take_in("电饭煲不工作了")  # important: resolve within 48 h
    resolution = queue.timer(ticket, TimerKind.resolution)
    due = resolution.due_at
    frozen_clock.advance(timedelta(hours=1))
    queue.move(ticket, "acknowledged")
    frozen_clock.advance(timedelta(hours=1))
    queue.move(ticket, "waiting_customer")
    assert resolution.next_action_at is None
    frozen_clock.advance(timedelta(hours=100))  # no warning, no breach while waiting
    queue.sweep()
    assert queue.events(ticket, "sla.") == []
    queue.move(ticket, "in_progress")
    assert resolution.due_at == due + timedelta(hours=100)


def test_a_business_clock_pause_resumes_with_the_working_time_left(queue, frozen_clock):
    ticket = queue.take_in("说明", category="product_quality", priority="routine")
    plan = queue.timer(ticket, TimerKind.handling_plan)  # 9 working hours
    assert plan.due_at == local("2026-11-23 18:00")
    frozen_clock.set(local("2026-11-23 10:00"))
    queue.move(ticket, "acknowledged")
    frozen_clock.set(local("2026-11-23 11:00"))  # 2 working hours used, 7 left
    queue.move(ticket, "waiting_customer")
    frozen_clock.set(local("2026-11-25 15:00"))  # Wednesday afternoon
    queue.move(ticket, "in_progress")
    # 3 hours on Wednesday, 4 on Thursday
    assert plan.due_at == local("2026-11-26 13:00")


@pytest.mark.parametrize("met_after_hours,in_time", [(8, True), (10, False)])
def test_the_handling_plan_target_is_met_or_missed(queue, frozen_clock, met_after_hours, in_time):
    ticket = queue.take_in("说明", category="product_quality", priority="routine")
    frozen_clock.set(local("2026-11-23 09:00") + timedelta(hours=met_after_hours))
    lifecycle.record_handling_plan(
        queue.session, ticket=ticket, plan="replace the unit", actor=queue.user(queue.agent)
    )
    assert queue.timer(ticket, TimerKind.handling_plan).met_in_time is in_time


@pytest.fixture
def service_levels_with(monkeypatch, tmp_path):
    """Points the settings at the shipped service-level file with some lines replaced."""

    def write(*replacements: tuple[str, str]) -> None:
        text = (PROJECT_ROOT / "config" / "service-levels.yaml").read_text(encoding="utf-8")
        for old, new in replacements:
            assert old in text
            text = text.replace(old, new, 1)
        custom = tmp_path / "service-levels.yaml"
        custom.write_text(text, encoding="utf-8")
        monkeypatch.setenv("INCIDENT_CMD_SERVICE_LEVELS_FILE", str(custom))
        get_settings.cache_clear()

    return write


ROUTINE_RESPONSE = "respond: {within: 8h, clock: calendar}    # 004"


def routine_response(within: str) -> tuple[str, str]:
    return ROUTINE_RESPONSE, f"respond: {{within: {within}, clock: business}}  # 004"


@pytest.mark.parametrize(
    ("intake", "within", "due", "clock", "why"),
    [
        (
            "2026-11-27 19:30",
            "8h",
            "2026-11-28 19:30",
            "calendar",
            "Friday evening: Monday 17:00 on working hours, so 24 hours after intake",
        ),
        (
            "2026-09-30 17:00",
            "2h",
            "2026-10-01 17:00",
            "calendar",
            "eve of National Day: 8 October on working hours, so 24 hours after intake",
        ),
        (
            "2026-11-23 18:00",
            "9h",
            "2026-11-24 18:00",
            "business",
            "Monday after closing: a full working day ends exactly 24 hours later",
        ),
        (
            "2026-11-23 18:00",
            "10h",
            "2026-11-24 18:00",
            "calendar",
            "one working hour more would be Wednesday 10:00",
        ),
        (
            "2026-11-23 09:00",
            "8h",
            "2026-11-23 17:00",
            "business",
            "Monday morning: working hours answer first",
        ),
    ],
)
def test_no_response_is_due_later_than_24_hours_after_intake(
    queue, frozen_clock, service_levels_with, intake, within, due, clock, why
):
    service_levels_with(routine_response(within))
    frozen_clock.set(local(intake))
    ticket = queue.take_in("说明", category="logistics", priority="routine")
    response = queue.timer(ticket, TimerKind.response)
    assert (response.due_at, response.clock) == (local(due), clock), why
    ack = queue.messages(ticket)[0]
    assert local(due).strftime("%Y-%m-%d %H:%M") in ack.body


def test_the_ceiling_warns_and_breaches_on_its_own_24_hours(
    queue, frozen_clock, service_levels_with
):
    service_levels_with(routine_response("8h"))
    frozen_clock.set(local("2026-11-27 20:00"))  # Friday evening
    ticket = queue.take_in("说明", category="logistics", priority="routine")
    frozen_clock.advance(timedelta(hours=19))  # 80 % of 24 hours is 19.2 hours
    queue.sweep()
    assert "sla.warned" not in queue.events(ticket, "sla.")
    frozen_clock.advance(timedelta(minutes=12))
    queue.sweep()
    assert queue.events(ticket, "sla.") == ["sla.warned"]
    frozen_clock.set(local("2026-11-28 20:00"))  # Saturday evening, not Monday
    queue.sweep()
    assert queue.events(ticket, "sla.") == ["sla.warned", "sla.breached"]


@pytest.mark.parametrize("priority", ["urgent", "important", "routine", "consultation"])
@pytest.mark.parametrize(
    "intake", ["2026-11-27 17:59", "2026-11-28 03:00", "2026-09-30 17:30", "2026-11-23 09:00"]
)
def test_every_shipped_priority_answers_within_24_hours(queue, frozen_clock, priority, intake):
    frozen_clock.set(local(intake))
    ticket = queue.take_in("说明", category="logistics", priority=priority)
    assert queue.timer(ticket, TimerKind.response).due_at <= local(intake) + timedelta(hours=24)
