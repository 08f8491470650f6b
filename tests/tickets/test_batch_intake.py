"""Intakes taken in together (``take_in_many``): each ticket ends exactly as it would have
taken in one after another (customer, classification, agent, timers, link, timeline, signal,
acknowledgement), and the batch costs the same number of statements whatever its size."""

import pytest
from sqlalchemy import event
from sqlmodel import Session, col, select

from incident_cmd.customers import service as customer_service
from incident_cmd.customers.models import Customer
from incident_cmd.incidents.models import Incident
from incident_cmd.incidents.schemas import Scope
from incident_cmd.messaging.models import DirectMessage
from incident_cmd.tickets import intake
from incident_cmd.tickets.models import Signal, SlaTimer, Ticket
from incident_cmd.tickets.schemas import TicketCreate
from incident_cmd.timeline.models import TimelineEvent
from tests.factories import make_incident

QUALITY = "PX-200 冒烟"  # product quality, urgent: the recall playbook's trigger counts it


def intakes(queue, drill: Incident) -> list[intake.Intake]:
    """25 complaints about one batch (the recall trigger fires at the 20th), with a customer
    who writes twice, one by email, one in an incident's scope, two of other kinds (one from
    a drill customer's phone); and, one after each of the first 21, a drill's synthetic
    complaints: twenty about the same batch from its ten made-up customers in turn, then one
    in the real incident's scope from a phone new to us."""
    agent = queue.user(queue.agent)
    synthetic = customer_service.make_synthetic(
        queue.session,
        series="batch-drill",
        count=10,
        names=("演练客户", "Drill customer"),
        purchases=[],
        regions=[],
    )
    forms = [
        {"description": QUALITY, "product_model": "PX-200", "batch": "B9", "phone": phone}
        for phone in (f"+86139{number:08d}" for number in range(25))
    ]
    forms[3]["phone"] = forms[1]["phone"]  # the same customer again
    forms[5] = {"description": "快递没收到", "email": "li@example.com"}
    forms[8] = {"description": "电饭煲怎么用", "phone": synthetic[0].phone}
    forms[11] = {"description": "电饭煲不工作了", "product_model": "PX-200", "batch": "B7",
                 "phone": "+8613800000011"}  # fmt: skip
    real = [
        intake.Intake(TicketCreate(channel="phone", **form), agent if number % 2 else None)
        for number, form in enumerate(forms)
    ]
    drilled = [
        intake.Intake(
            TicketCreate(channel="phone", **{**forms[0], "phone": synthetic[number % 10].phone}),
            None,
            drill,
        )
        for number in range(20)
    ] + [
        intake.Intake(
            TicketCreate(channel="phone", **{**forms[11], "phone": "+8613700000021"}), None, drill
        )
    ]
    return [
        *(item for pair in zip(real, drilled, strict=False) for item in pair),
        *real[len(drilled) :],
    ]


# Where the real complaints and the drill's sit in the batch.
REAL = [*range(0, 42, 2), *range(42, 46)]
DRILL = list(range(1, 42, 2))


def outcome(session: Session, tickets: list[Ticket]) -> dict:
    """What the tickets came to, told by their place in the batch rather than by ids and
    numbers (a rolled-back sequence does not give its numbers back)."""
    place = {ticket.id: number for number, ticket in enumerate(tickets)}
    customers = list(dict.fromkeys(ticket.customer_id for ticket in tickets))
    each = []
    for ticket in tickets:
        timers = session.exec(
            select(SlaTimer.kind, SlaTimer.due_at)
            .where(SlaTimer.ticket_id == ticket.id)
            .order_by(col(SlaTimer.kind))
        ).all()
        entries = session.exec(
            select(TimelineEvent.kind, TimelineEvent.summary, TimelineEvent.actor_id)
            .where(TimelineEvent.subject_type == "ticket", TimelineEvent.subject_id == ticket.id)
            .order_by(col(TimelineEvent.id))
        ).all()
        acknowledged = session.exec(
            select(DirectMessage.label, DirectMessage.address, DirectMessage.channel).where(
                DirectMessage.source_id == ticket.id, DirectMessage.source == "ticket"
            )
        ).all()
        each.append(
            {
                "customer": customers.index(ticket.customer_id),
                "fields": (ticket.category, ticket.priority, ticket.safety, ticket.team_key),
                "assignee": ticket.assignee_id,
                "created_by": ticket.created_by,
                "incident": ticket.incident_id,
                "drill": ticket.drill,
                "synthetic": session.get_one(Customer, ticket.customer_id).synthetic,
                "numbered": ticket.number is not None and ticket.number.startswith("TKT-"),
                "timers": list(timers),
                "timeline": list(entries),
                "acknowledged": list(acknowledged),
            }
        )
    signals = [
        (
            signal.open_key,
            signal.count,
            place[signal.first_ticket_id],
            place[signal.last_ticket_id],
            signal.drill,
            signal.incident_id,
        )
        for signal in session.exec(select(Signal).order_by(col(Signal.id)))
    ]
    return {"tickets": each, "signals": signals}


def test_a_batch_ends_each_ticket_as_taking_them_in_one_by_one_would(
    queue, shipped_playbooks, frozen_clock
):
    session = queue.session
    incident = make_incident(session, registry=shipped_playbooks)  # scope: PX-200, batch B7
    drill = make_incident(
        session,
        registry=shipped_playbooks,
        scope=Scope(products=["PX-200"], batches=["B9"], regions=["Guangdong"]),
        drill=True,
    )
    items = intakes(queue, drill)
    one_by_one = session.begin_nested()
    singly = [
        intake.take_in(
            session, data=item.data, actor=item.actor, registry=shipped_playbooks, drill=item.drill
        )
        for item in items
    ]
    expected = outcome(session, singly)
    one_by_one.rollback()

    together = intake.take_in_many(session, registry=shipped_playbooks, items=items)

    assert outcome(session, together) == expected
    # What the comparison rests on: the batch did take the paths it compares.
    tickets = expected["tickets"]
    real = [tickets[place] for place in REAL]
    assert real[3]["customer"] == real[1]["customer"]
    assert len({ticket["customer"] for ticket in real}) == 24
    assert real[11]["incident"] == incident.id and real[0]["incident"] is None
    assert len({ticket["assignee"] for ticket in tickets}) == len(queue.desk.agents)
    # The drill's complaints are its made-up customers' (one made for the new phone), linked
    # to the drill incident alone, even the one in the real incident's scope; no real
    # complaint joins the drill incident, whose scope takes them in, nor is a made-up
    # customer's, even from a made-up customer's phone.
    drilled = [tickets[place] for place in DRILL]
    assert {(t["drill"], t["synthetic"], t["incident"]) for t in drilled} == {
        (True, True, drill.id)
    }
    assert len({ticket["customer"] for ticket in drilled}) == 11
    assert not {ticket["customer"] for ticket in drilled} & {t["customer"] for t in real}
    assert {(t["drill"], t["synthetic"]) for t in real} == {(False, False)}
    # The drill's 20th complaint about B9 raises the drill's own signal, on its incident; the
    # 20th real one (three of the first 23 are about something else) the real signal: each
    # counts its own kind only, though the batch mixes them.
    assert expected["signals"] == [
        (f"drill:{drill.id}:product_batch:PX-200:B9", 20, DRILL[0], DRILL[19], True, drill.id),
        ("product_batch:PX-200:B9", 20, REAL[0], REAL[22], False, None),
    ]
    numbers = [ticket.number for ticket in together]
    assert len(set(numbers)) == len(numbers) == 46 and numbers == sorted(numbers)


def test_a_customer_new_to_the_batch_is_made_once(queue, shipped_playbooks):
    phone = "+8613912340000"
    before = len(queue.session.exec(select(Customer)).all())
    made = intake.take_in_many(
        queue.session,
        registry=shipped_playbooks,
        items=[
            intake.Intake(TicketCreate(channel="sms", description=text, phone=phone), None)
            for text in ("第一条", "第二条", "第三条")
        ],
    )
    assert len({ticket.customer_id for ticket in made}) == 1
    assert len(queue.session.exec(select(Customer)).all()) == before + 1


def statements(session: Session, registry, count: int, start: int) -> int:
    seen = 0

    def counted(*_args) -> None:
        nonlocal seen
        seen += 1

    engine = session.get_bind().engine
    event.listen(engine, "before_cursor_execute", counted)
    try:
        intake.take_in_many(
            session,
            registry=registry,
            items=[
                intake.Intake(
                    TicketCreate(
                        channel="phone",
                        description="电饭煲不工作了",
                        phone=f"+86137{start + number:08d}",
                        product_model="PX-900",
                        batch=f"N{start + number}",
                    ),
                    None,
                )
                for number in range(count)
            ],
        )
        session.flush()
    finally:
        event.remove(engine, "before_cursor_execute", counted)
    return seen


def test_a_batch_costs_as_many_statements_as_one_intake(queue, shipped_playbooks, database):
    if database.backend != "postgres":
        pytest.skip(
            "SQLite is in process: a statement costs no round trip, and its driver "
            "writes the rows of a flush one statement each"
        )
    statements(queue.session, shipped_playbooks, 1, 0)  # the year's number series exists
    one = statements(queue.session, shipped_playbooks, 1, 100)
    assert statements(queue.session, shipped_playbooks, 16, 200) == one
    assert statements(queue.session, shipped_playbooks, 50, 300) == one
