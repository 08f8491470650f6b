"""The review's figures against a hand-worked incident on the frozen clock.

Declared Monday 2026-11-23 01:00 UTC (09:00 in Shanghai). Complaints linked to it came in at
22:50 and 23:30 the evening before and at 01:30; the six paged seats acknowledged 2 to 7
minutes after their pages; the first notice left at 01:25, the first statement was published
at 01:50; resolved at 07:00."""

from datetime import UTC, datetime, timedelta

from sqlmodel import select

from incident_cmd.auth.models import Role
from incident_cmd.campaigns.models import Campaign, Delivery, DeliveryStatus
from incident_cmd.i18n import Locale
from incident_cmd.incidents import flows as incident_flows
from incident_cmd.incidents.models import IncidentStatus
from incident_cmd.incidents.schemas import StatusChange
from incident_cmd.paging import flows as paging_flows
from incident_cmd.paging import queries as paging_queries
from incident_cmd.paging.models import AnswerRoute
from incident_cmd.postmortems import flows
from incident_cmd.statements.models import Statement, StatementStage, StatementStatus
from incident_cmd.tickets.models import SlaTimer
from tests.factories import make_ticket, make_user
from tests.plugins.clock import START


def _at(hour: int, minute: int, day: int = 23) -> datetime:
    return datetime(2026, 11, day, hour, minute, tzinfo=UTC)


def _script(session, registry, frozen_clock, cast):
    incident = cast.incident
    # Complaints: two the evening before (hours 22 and 23), one after the declaration.
    tickets = []
    for created, amount in ((_at(22, 50, 22), 200.0), (_at(23, 30, 22), 150.5), (_at(1, 30), None)):
        ticket = make_ticket(session, registry=registry)
        ticket.incident_id = incident.id
        ticket.created_at = created
        ticket.compensation_amount = amount
        session.add(ticket)
        tickets.append(ticket)
    # Another incident's complaint is not counted.
    stray = make_ticket(session, registry=registry)
    stray.compensation_amount = 999.0
    session.add(stray)
    session.flush()
    timers = session.exec(
        select(SlaTimer)
        .where(SlaTimer.ticket_id.in_([ticket.id for ticket in tickets]))
        .order_by(SlaTimer.id)
    ).all()
    assert len(timers) >= 5
    # Two met in time, one met late, one breached and still open; the rest still running.
    for timer, (met_at, in_time, stage) in zip(
        timers,
        (
            (_at(1, 10), True, 0),
            (_at(1, 20), True, 0),
            (_at(3, 0), False, 2),
            (None, None, 2),
        ),
        strict=False,
    ):
        timer.met_at, timer.met_in_time, timer.stage = met_at, in_time, stage
        session.add(timer)
    for timer in timers[4:]:
        timer.met_at, timer.met_in_time, timer.stage = None, None, 0
        session.add(timer)
    # The six paged seats acknowledge 2, 3, … 7 minutes after the declaration.
    pages = paging_queries.pages_of(session, incident=incident)
    assert len(pages) == 6
    for minutes, page in enumerate(pages, start=2):
        frozen_clock.set(START + timedelta(minutes=minutes))
        target = paging_queries.targets_of(session, page_ids=[page.id])[0]
        paging_flows.acknowledge(session, target=target, via=AnswerRoute.api)
    # The recall SMS: 6 delivered, 1 sent, 1 failed, 1 undelivered, 1 opted out, 1 cancelled.
    campaign = session.exec(
        select(Campaign).where(Campaign.incident_id == incident.id).order_by(Campaign.id)
    ).first()
    statuses = (
        [DeliveryStatus.delivered] * 6
        + [DeliveryStatus.sent, DeliveryStatus.failed, DeliveryStatus.undelivered]
        + [DeliveryStatus.suppressed, DeliveryStatus.cancelled]
    )
    for customer_id, status in enumerate(statuses, start=1):
        sent = status in (DeliveryStatus.delivered, DeliveryStatus.sent)
        session.add(
            Delivery(
                campaign_id=campaign.id,
                customer_id=customer_id,
                address=f"+8613800000{customer_id:03d}",
                name="客户",
                locale=Locale.zh_CN,
                timezone="Asia/Shanghai",
                status=status,
                due_at=START,
                sent_at=_at(1, 25 + customer_id) if sent else None,
            )
        )
    session.add(
        Statement(
            incident_id=incident.id,
            stage=StatementStage.recall_announced,
            status=StatementStatus.published,
            title={"zh-CN": "召回", "en": "Recall"},
            text={"zh-CN": "召回", "en": "Recall"},
            version=1,
            drafted_by=cast.duty.id,
            drafted_at=_at(1, 40),
            published_by=cast.duty.id,
            published_at=_at(1, 51),
        )
    )
    session.flush()
    frozen_clock.set(_at(7, 0))
    incident_flows.transition(
        session,
        incident=incident,
        change=StatusChange(status=IncidentStatus.resolved),
        actor=cast.duty,
    )
    session.flush()
    return incident


def test_figures_of_the_scripted_incident(session, shipped_playbooks, frozen_clock, cast):
    incident = _script(session, shipped_playbooks, frozen_clock, cast)
    figures = flows.figures(session, incident=incident)
    # 22:50 to 01:00: two hours ten minutes.
    assert figures.first_complaint_at == _at(22, 50, 22)
    assert figures.seconds_to_detect == 2 * 3600 + 10 * 60
    assert sorted(seat.seconds_to_ack for seat in figures.seats) == [120, 180, 240, 300, 360, 420]
    assert figures.seconds_to_full_roster == 420
    # The first of the sent messages left at 01:26 (customer 1: 25 + 1 minutes).
    assert figures.first_notice_at == _at(1, 26)
    assert figures.seconds_to_first_notice == 26 * 60
    assert figures.seconds_to_first_statement == 51 * 60
    assert figures.seconds_to_resolution == 6 * 3600
    # Ten messages meant to go (the cancelled one left out).
    assert figures.messages == 10
    assert (figures.delivered.count, figures.delivered.rate) == (6, 0.6)
    assert (figures.failed.count, figures.failed.rate) == (2, 0.2)
    assert (figures.opted_out.count, figures.opted_out.rate) == (1, 0.1)
    assert figures.complaints == 3
    assert [(hour.hour, hour.count) for hour in figures.complaint_curve] == [
        (_at(22, 0, 22), 1),
        (_at(23, 0, 22), 1),
        (_at(0, 0), 0),
        (_at(1, 0), 1),
    ]
    # Decided: two met in time, one met late, one breached: two of four.
    assert (figures.sla_targets_decided, figures.sla_targets_met) == (4, 2)
    assert figures.sla_attainment == 0.5
    assert (figures.compensation_tickets, figures.compensation_total) == (2, 350.5)


def test_an_incident_with_nothing_yet_has_no_figures_to_make_up(session, shipped_playbooks, cast):
    figures = flows.figures(session, incident=cast.incident)
    assert figures.first_complaint_at is None and figures.seconds_to_detect is None
    assert figures.seconds_to_full_roster is None
    assert figures.seconds_to_first_notice is None
    assert figures.seconds_to_first_statement is None
    assert figures.seconds_to_resolution is None
    assert figures.messages == 0 and figures.delivered.rate is None
    assert figures.complaint_curve == [] and figures.sla_attainment is None
    assert (figures.compensation_tickets, figures.compensation_total) == (0, 0)


def test_declared_before_any_complaint_has_no_detection_time(
    session, shipped_playbooks, frozen_clock, cast
):
    frozen_clock.advance(timedelta(hours=1))
    ticket = make_ticket(session, registry=shipped_playbooks, actor=make_user(session, Role.agent))
    ticket.incident_id = cast.incident.id
    session.add(ticket)
    session.flush()
    figures = flows.figures(session, incident=cast.incident)
    assert figures.first_complaint_at == START + timedelta(hours=1)
    assert figures.seconds_to_detect is None
    assert [(hour.hour, hour.count) for hour in figures.complaint_curve] == [(_at(2, 0), 1)]
