"""The half-yearly satisfaction survey (seeds 001 8-2-3): once per half-year, by itself, to
the customers whose complaints closed in the half-year before (in Shanghai time), through
the campaign engine: opted-out numbers get nothing and quiet hours hold the messages."""

import asyncio
import threading
from datetime import UTC, datetime, timedelta

import pytest
from sqlmodel import select

from incident_cmd import db, scheduler
from incident_cmd.auth import service as auth_service
from incident_cmd.campaigns import satisfaction, service
from incident_cmd.campaigns.models import Campaign, Delivery, DeliveryStatus
from incident_cmd.campaigns.sending import bulk_sender
from incident_cmd.messaging import suppression
from incident_cmd.messaging.channels import ChannelName
from incident_cmd.tickets import intake, lifecycle
from incident_cmd.tickets.schemas import TicketAction, TicketCreate, TicketResolve
from incident_cmd.timeline import service as timeline
from tests.factories import make_service_desk
from tests.plugins.twilio import inbound_filed


def cst(*parts: int) -> datetime:
    """A moment written in Shanghai time (UTC+8, no daylight saving)."""
    return datetime(*parts, tzinfo=UTC) - timedelta(hours=8)


# Closed in the first half of 2026 (its first moment, its last half hour) and not.
H1_FIRST = ("+8613900000001", cst(2026, 1, 1, 0, 0))
H1_LAST = ("+8613900000002", cst(2026, 6, 30, 23, 30))
H2_FIRST = ("+8613900000003", cst(2026, 7, 1, 0, 0))
LAST_YEAR = ("+8613900000004", cst(2025, 12, 31, 23, 59))
OPTED_OUT = ("+8613900000005", cst(2026, 3, 1, 12, 0))
RESOLVED_ONLY = "+8613900000006"


def _closed(queue, phone: str, at: datetime | None):
    ticket = queue.take_in(phone=phone)
    lifecycle.resolve(
        queue.session,
        ticket=ticket,
        data=TicketResolve(resolution="已换新"),
        actor=queue.user(queue.agent),
    )
    if at is not None:
        queue.move(ticket, "closed")
        ticket.closed_at = at
        queue.session.add(ticket)
    return ticket


def _recipients(session, period: str) -> dict[str, str]:
    campaign = session.exec(
        select(Campaign).where(Campaign.name == f"Satisfaction survey {period}")
    ).one()
    return {
        delivery.address: delivery.status
        for delivery in session.exec(select(Delivery).where(Delivery.campaign_id == campaign.id))
    }


def test_one_campaign_per_half_year_to_the_customers_whose_complaints_closed_in_it(
    session, queue, frozen_clock
):
    for phone, at in (H1_FIRST, H1_LAST, H2_FIRST, LAST_YEAR, OPTED_OUT):
        _closed(queue, phone, at)
    _closed(queue, RESOLVED_ONLY, None)
    suppression.suppress(
        session, channel=ChannelName.sms, address=OPTED_OUT[0], reason="replied TD"
    )

    frozen_clock.set(cst(2026, 7, 1, 0, 5))
    assert satisfaction.run_semiannual_survey(session) == 1
    assert satisfaction.run_semiannual_survey(session) == 0  # a second worker, or a second tick
    campaign = session.exec(select(Campaign)).one()
    assert (campaign.name, campaign.status, campaign.created_by) == (
        "Satisfaction survey 2026-H1",
        "approved",
        None,
    )
    assert campaign.audience["closed_from"] == "2026-01-01T00:00:00+08:00"
    assert campaign.audience["closed_until"] == "2026-07-01T00:00:00+08:00"
    assert [
        event.kind
        for event in timeline.events_for(session, subject_type="campaign", subject_id=campaign.id)
    ] == ["campaign.created_by_calendar"]
    service.start_due_campaigns(session)
    session.flush()
    assert _recipients(session, "2026-H1") == {
        H1_FIRST[0]: DeliveryStatus.pending,
        H1_LAST[0]: DeliveryStatus.pending,
        OPTED_OUT[0]: DeliveryStatus.suppressed,
    }

    # Later in the half-year: nothing more. The next half-year's first moment: its survey.
    frozen_clock.set(cst(2026, 12, 31, 23, 59))
    assert satisfaction.run_semiannual_survey(session) == 0
    frozen_clock.set(cst(2027, 1, 1, 0, 0))
    assert satisfaction.run_semiannual_survey(session) == 1
    assert satisfaction.run_semiannual_survey(session) == 0
    service.start_due_campaigns(session)
    session.flush()
    assert _recipients(session, "2026-H2") == {H2_FIRST[0]: DeliveryStatus.pending}


def test_half_years_are_counted_in_the_organisations_zone():
    assert satisfaction.half_year_before(cst(2026, 7, 1, 0, 0))[0] == "2026-H1"
    # 2026-06-30 23:59 in Shanghai is still the first half: the survey is of 2025-H2.
    assert satisfaction.half_year_before(cst(2026, 6, 30, 23, 59))[0] == "2025-H2"
    assert satisfaction.half_year_before(cst(2026, 1, 1, 0, 0))[0] == "2025-H2"
    assert satisfaction.half_year_before(cst(2025, 12, 31, 23, 59))[0] == "2025-H1"


def _dispatch() -> int:
    async def main() -> int:
        dispatcher = bulk_sender(db.get_engine())
        try:
            return await dispatcher.drain()
        finally:
            await dispatcher.close()

    return asyncio.run(main())


def test_the_sweep_waits_for_the_morning_and_reads_the_replies(
    world, twilio, client_factory, frozen_clock
):
    phone = "+8613900000011"
    with db.session_scope() as session:
        desk = make_service_desk(session)
        agent = auth_service.get_user_by_username(session, username=desk.agents[0])
        ticket = intake.take_in(
            session,
            data=TicketCreate(description="洗衣机漏水", channel="phone", phone=phone),
            registry=world.registry,
            actor=agent,
        )
        session.flush()
        lifecycle.resolve(
            session, ticket=ticket, data=TicketResolve(resolution="已修好"), actor=agent
        )
        lifecycle.change_status(
            session, ticket=ticket, change=TicketAction(status="closed"), actor=agent
        )
    # Closed on 2026-11-23. On 2027-01-01 at 00:30 in Shanghai, inside the quiet hours, the
    # scheduler's runs, each in its own transaction as two workers' would be, make one survey.
    frozen_clock.set(cst(2027, 1, 1, 0, 30))
    assert scheduler.run_sweep("semiannual-survey") == 1
    assert scheduler.run_sweep("semiannual-survey") == 0
    assert scheduler.run_sweep("campaign-start") == 1
    _dispatch()
    assert [m for m in twilio.fake.state.messages.values() if m["to"] == phone] == []
    with db.session_scope() as session:
        [delivery] = session.exec(select(Delivery)).all()
    assert delivery.status == DeliveryStatus.pending
    assert delivery.due_at == cst(2027, 1, 1, 8, 0)  # the end of the quiet hours

    frozen_clock.set(cst(2027, 1, 1, 8, 0))
    _dispatch()
    [sent] = [m["body"] for m in twilio.fake.state.messages.values() if m["to"] == phone]
    assert "请回复 1-5" in sent and "回复TD退订" in sent
    _, answer = inbound_filed(client_factory(), phone, "４", "SMhalf")
    assert answer == "已收到您的回复:满意"
    with db.session_scope() as session:
        replied = session.get_one(Delivery, delivery.id)
    assert replied.reply == "4"


def test_workers_sweeping_at_once_make_one_survey(use_database, frozen_clock, database):
    if database.backend != "postgres":
        pytest.skip("several workers sweep only on PostgreSQL; SQLite runs one worker")
    frozen_clock.set(cst(2026, 7, 1, 0, 0))
    made: list[int] = []
    errors: list[BaseException] = []
    start = threading.Barrier(4)

    def worker() -> None:
        try:
            start.wait()
            with db.session_scope() as session:
                made.append(satisfaction.run_semiannual_survey(session))
        except BaseException as exc:  # reported by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == [] and sorted(made) == [0, 0, 0, 1]
    with db.session_scope() as session:
        assert [c.name for c in session.exec(select(Campaign))] == ["Satisfaction survey 2026-H1"]
