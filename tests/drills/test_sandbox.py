"""A drill never reaches a real customer nor touches real data: its notices go to its made-up
customers through the sink, its complaints stay out of the queue, real detection and the
monthly review (while raising a drill signal of their own), and real complaints never join
the drill incident. Staff are paged for real, marked as a drill."""

from datetime import timedelta

from sqlmodel import Session, col, select

from incident_cmd import db
from incident_cmd.campaigns.models import InboundMessage
from incident_cmd.customers.models import Customer
from incident_cmd.drills import flows, service
from incident_cmd.messaging.models import DirectMessage, SinkMessage
from incident_cmd.tickets import detection, intake, queries, review
from incident_cmd.tickets.models import Signal, Ticket
from incident_cmd.tickets.schemas import TicketCreate
from tests.factories import shanghai_customers
from tests.plugins.messaging import dispatch, send_direct

MINUTE = timedelta(minutes=1)
BATCH = "B-DRILL-01"


def real_complaint(world, description: str = "充电宝发烫") -> int:
    with db.session_scope() as session:
        return intake.take_in(
            session,
            data=TicketCreate(
                phone="+8613900000001",
                channel="phone",
                category="product_quality",
                product_model="PX-200",
                batch=BATCH,
                description=description,
            ),
            actor=None,
            registry=world.registry,
        ).id


def fire_now(drills, run_id: int, key: str) -> None:
    with db.session_scope() as session:
        duty = drills.world.user(session, drills.world.duty_manager)
        run = service.get_run(session, run_id=run_id, lock=True)
        flows.fire_now(session, playbooks=drills.world.registry, run=run, key=key, actor=duty)


def test_a_complaint_wave_raises_a_drill_signal_and_stays_out_of_real_work(
    drills, world, frozen_clock
):
    before = real_complaint(world)
    run_id = drills.start("battery-recall")
    incident_id = drills.run(run_id).incident_id
    frozen_clock.advance(2 * MINUTE)
    drills.sweep()
    frozen_clock.advance(10 * MINUTE)
    drills.sweep()
    after = real_complaint(world, "又一个发烫的")
    with Session(db.get_engine()) as session:
        drill_tickets = session.exec(select(Ticket).where(col(Ticket.drill).is_(True))).all()
        assert len(drill_tickets) == 25
        assert {ticket.incident_id for ticket in drill_tickets} == {incident_id}
        customers = {session.get_one(Customer, t.customer_id).synthetic for t in drill_tickets}
        assert customers == {True}
        # Real complaints about the same batch never join the drill incident.
        assert session.get_one(Ticket, before).incident_id is None
        assert session.get_one(Ticket, after).incident_id is None
        signal = session.exec(select(Signal)).one()
        assert signal.drill and signal.incident_id == incident_id and signal.count >= 20
        assert detection.list_signals(session, status=None) == []
        queue = queries.queue(session, filters=queries.QueueFilter(), limit=100, before_id=None)
        assert {ticket.id for ticket in queue} == {before, after}
        ordered = queries.by_deadline(session, filters=queries.QueueFilter(), limit=100)
        assert {ticket.id for ticket, _ in ordered} == {before, after}
        linked = queries.queue(
            session,
            filters=queries.QueueFilter(incident_id=incident_id),
            limit=100,
            before_id=None,
        )
        assert len(linked) == 25
        month = review.monthly_review(session, period="2026-11")
        assert month["opened"] == 2
    assert "drill.signal_raised" in drills.kinds(run_id)


def test_drill_messages_reach_only_synthetic_customers_through_the_sink(
    drills, world, twilio, smtp, frozen_clock
):
    # Real customers bought the very batch the drill is about.
    world.import_customers(shanghai_customers(5, batch=BATCH))
    run_id = drills.start("battery-recall")
    incident_id = drills.run(run_id).incident_id
    for plan in ("recall_sms", "recall_email"):
        world.approve_and_start(world.campaign_for(incident_id, plan))
    dispatch()
    fire_now(drills, run_id, "first_wave")  # 25 complaints, each acknowledged to its customer
    fire_now(drills, run_id, "replies")  # customers text back
    fire_now(drills, run_id, "commander_away")
    send_direct()
    with Session(db.get_engine()) as session:
        synthetic = session.exec(select(Customer).where(col(Customer.synthetic).is_(True))).all()
        real = session.exec(select(Customer).where(col(Customer.synthetic).is_(False))).all()
        sunk = session.exec(select(SinkMessage)).all()
        replies = session.exec(select(InboundMessage)).all()
        acks = session.exec(select(DirectMessage).where(DirectMessage.source == "ticket")).all()
    real_addresses = {c.phone for c in real} | {c.email for c in real}
    synthetic_addresses = {c.phone for c in synthetic} | {c.email for c in synthetic}
    twilio_to = {message["to"] for message in twilio.fake.state.messages.values()}
    smtp_to = {address for recipients, _ in smtp.messages for address in recipients}
    # Nothing to any customer, real or made up, went to Twilio or the SMTP server...
    assert not (twilio_to | smtp_to) & (real_addresses | synthetic_addresses)
    # ...while staff were paged for real, marked as a drill.
    assert twilio_to
    assert all(
        message["body"].startswith(("【演练】", "[DRILL]"))
        for message in twilio.fake.state.messages.values()
    )
    # The notices (SMS and email), the complaints' acknowledgements and the answers to the
    # replies went to the sink, to the made-up customers.
    sunk_to = {message.address for message in sunk}
    assert sunk_to <= synthetic_addresses
    assert len([m for m in sunk if m.delivery_id is not None]) == 80  # 40 SMS + 40 emails
    assert len(acks) == 25 + 1 and all(ack.drill and ack.status == "sent" for ack in acks)
    assert {message.address for message in sunk if message.delivery_id is None} >= {
        ack.address for ack in acks
    }
    assert {reply.kind for reply in replies} == {"reply", "message", "stop"}
    kinds = drills.kinds(run_id)
    assert "drill.sms_replies" in kinds
    assert "page.unreachable" in kinds and "drill.unresponsive" in kinds
