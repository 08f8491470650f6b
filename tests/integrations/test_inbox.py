"""The inbound SMS inbox: the webhook keeps the message and answers at once; the worker files
it exactly once, in order per sender, and a worker that dies after claiming loses nothing."""

import threading
from datetime import timedelta

import pytest
from sqlalchemy import event
from sqlmodel import Session, col, func, select

from incident_cmd import db, wiring
from incident_cmd.config import get_settings
from incident_cmd.integrations.twilio import inbox
from incident_cmd.integrations.twilio.handlers import Handled, InboundSms, SmsHandler
from incident_cmd.integrations.twilio.inbox import InboxOutcome, InboxSms
from incident_cmd.tickets.models import Ticket
from incident_cmd.timeline.models import TimelineEvent
from tests.factories import make_service_desk
from tests.plugins.twilio import PUBLIC, SENDER, TOKEN, answer_to, file_inbox, signed

INBOUND = "/webhooks/twilio/inbound"
EMPTY = '<?xml version="1.0" encoding="UTF-8"?><Response></Response>'


@pytest.fixture
def signing(monkeypatch):
    monkeypatch.setenv("INCIDENT_CMD_TWILIO_AUTH_TOKEN", TOKEN)
    monkeypatch.setenv("INCIDENT_CMD_PUBLIC_BASE_URL", PUBLIC)
    get_settings.cache_clear()


def post(client, sender: str, body: str, sid: str):
    params = {"MessageSid": sid, "From": sender, "To": SENDER, "Body": body}
    return client.post(INBOUND, data=params, headers=signed(PUBLIC + INBOUND, params))


def tickets(session: Session) -> list[Ticket]:
    return list(session.exec(select(Ticket).order_by(col(Ticket.id))))


def kept(session: Session) -> list[InboxSms]:
    return list(session.exec(select(InboxSms).order_by(col(InboxSms.id))))


def recording(seen: list[str]) -> tuple[SmsHandler, ...]:
    def record(session: Session, sms: InboundSms) -> Handled | None:
        seen.append(f"{sms.from_address}:{sms.body}")
        return Handled()

    return (record,)


def test_the_webhook_keeps_the_message_and_the_worker_makes_one_ticket(
    app, client, session, queue, signing
):
    response = post(client, "+8613900000777", "电饭煲冒烟了", "SMticket1")
    assert response.status_code == 200 and response.text == EMPTY
    assert tickets(session) == []
    [message] = kept(session)
    assert (message.body, message.processed_at) == ("电饭煲冒烟了", None)

    assert file_inbox(session, app) == 1
    [ticket] = tickets(session)
    assert ticket.description == "电饭煲冒烟了" and ticket.safety
    session.refresh(message)
    assert message.outcome == InboxOutcome.taken and message.processed_at is not None
    assert file_inbox(session, app) == 0
    assert len(tickets(session)) == 1


def test_a_repeated_delivery_of_the_same_message_is_kept_once(app, client, session, queue, signing):
    for _ in range(3):
        assert post(client, "+8613900000778", "水壶漏电", "SMdup1").status_code == 200
    assert len(kept(session)) == 1
    file_inbox(session, app)
    # Twilio retries after the worker filed it: still one message, one ticket.
    assert post(client, "+8613900000778", "水壶漏电", "SMdup1").status_code == 200
    assert file_inbox(session, app) == 0
    assert len(kept(session)) == 1 and len(tickets(session)) == 1


def test_a_signed_post_without_a_message_sid_is_refused_naming_it(client, session, signing):
    params = {"From": "+8613900000779", "To": SENDER, "Body": "hello"}
    response = client.post(INBOUND, data=params, headers=signed(PUBLIC + INBOUND, params))
    assert response.status_code == 422 and "MessageSid" in response.text
    assert kept(session) == []


def test_an_unsigned_post_is_refused_and_keeps_nothing(client, session, signing):
    params = {"MessageSid": "SMforged", "From": "+8613900000779", "To": SENDER, "Body": "STOP"}
    assert client.post(INBOUND, data=params).status_code == 403
    assert kept(session) == []


def test_messages_are_filed_in_order_per_sender(client, session, signing):
    for number, (sender, body) in enumerate(
        [("+861", "a1"), ("+862", "b1"), ("+861", "a2"), ("+861", "a3"), ("+862", "b2")]
    ):
        post(client, sender, body, f"SMorder{number}")
    seen: list[str] = []
    assert inbox.drain(session, handlers=recording(seen)) == 5
    assert [item for item in seen if item.startswith("+861")] == ["+861:a1", "+861:a2", "+861:a3"]
    assert [item for item in seen if item.startswith("+862")] == ["+862:b1", "+862:b2"]


def test_a_sender_waits_while_another_worker_holds_its_earlier_message(
    client, session, signing, frozen_clock
):
    post(client, "+861", "a1", "SMw1")
    # Another worker claims the first message and dies before filing it.
    assert [item.id for item in inbox.claim(session, limit=1)] == [kept(session)[0].id]
    session.commit()
    post(client, "+861", "a2", "SMw2")
    post(client, "+862", "b1", "SMw3")
    seen: list[str] = []
    assert inbox.drain(session, handlers=recording(seen)) == 1
    assert seen == ["+862:b1"]  # a2 is not filed before a1
    frozen_clock.advance(inbox.LEASE + timedelta(seconds=1))
    assert inbox.drain(session, handlers=recording(seen)) == 2
    assert seen == ["+862:b1", "+861:a1", "+861:a2"]


def test_a_worker_killed_after_claiming_loses_nothing_and_doubles_nothing(
    app, client, session, queue, signing, frozen_clock
):
    post(client, "+8613900000780", "洗衣机漏水", "SMkill1")
    claimed = inbox.claim(session)
    session.commit()
    assert len(claimed) == 1
    # The dead worker's lease still runs: nobody else files the message yet.
    assert file_inbox(session, app) == 0 and tickets(session) == []
    frozen_clock.advance(inbox.LEASE - timedelta(seconds=1))
    assert file_inbox(session, app) == 0
    frozen_clock.advance(timedelta(seconds=2))
    assert file_inbox(session, app) == 1
    assert len(tickets(session)) == 1
    # The first worker, had it only been slow, finds the message done and files nothing.
    assert (
        inbox.process(session, message_id=claimed[0].id, handlers=app.state.twilio_handlers.sms)
        is False
    )
    assert len(tickets(session)) == 1


def test_a_failing_message_is_retried_then_set_aside_without_holding_its_sender_forever(
    client, session, signing, frozen_clock
):
    post(client, "+861", "boom", "SMf1")
    post(client, "+861", "after", "SMf2")
    seen: list[str] = []

    def explode(session: Session, sms: InboundSms) -> Handled | None:
        if sms.body == "boom":
            raise RuntimeError("handler bug")
        seen.append(sms.body)
        return Handled("ok")

    for attempt in range(1, inbox.MAX_ATTEMPTS):
        assert inbox.drain(session, handlers=(explode,)) == 0
        assert seen == []  # "after" waits behind the failed message
        failed = kept(session)[0]
        assert (failed.attempts, failed.processed_at) == (attempt, None)
        assert "handler bug" in (failed.last_error or "")
        frozen_clock.advance(inbox.LEASE)
    assert inbox.drain(session, handlers=(explode,)) == 0
    failed = kept(session)[0]
    assert failed.outcome == InboxOutcome.failed and failed.processed_at is not None
    set_aside = session.exec(
        select(func.count())
        .select_from(TimelineEvent)
        .where(TimelineEvent.kind == "sms.set_aside", TimelineEvent.subject_id == failed.id)
    ).one()
    assert set_aside == 1
    frozen_clock.advance(inbox.LEASE)
    assert inbox.drain(session, handlers=(explode,)) == 1
    assert seen == ["after"]
    assert answer_to(session, "SMf2") == "ok"


def test_a_senders_second_message_joins_the_ticket_its_first_opened_in_the_same_claim(
    app, client, session, queue, signing
):
    post(client, "+8613900000790", "电饭煲冒烟了", "SMr1")
    post(client, "+8613900000791", "快递没收到", "SMr2")
    post(client, "+8613900000790", "还冒烟", "SMr3")
    assert file_inbox(session, app) == 3
    first, second = tickets(session)
    assert (first.contact, second.contact) == ("+8613900000790", "+8613900000791")
    joined = session.exec(
        select(TimelineEvent).where(
            TimelineEvent.subject_id == first.id, TimelineEvent.kind == "ticket.customer_message"
        )
    ).one()
    assert "还冒烟" in joined.summary


def test_a_round_of_strangers_is_looked_up_in_as_many_statements_however_many(
    app, client, session, queue, signing
):
    """A reply storm's round is looked up by each handler at once (is the sender staff? was
    the message kept already? which notice does it answer? was it asked a survey? has it an
    open ticket?), not a message at a time. (Inserts are not counted: SQLite's driver writes
    the ORM's new rows one statement each.)"""
    lookups: list[str] = []

    def counted(_connection, _cursor, statement, *_args) -> None:
        if statement.lstrip().upper().startswith("SELECT"):
            lookups.append(statement)

    def filed(count: int, start: int) -> int:
        for number in range(start, start + count):
            post(
                client, f"+86139{number:08d}", "收到召回通知,我的电饭煲是这个批次吗", f"SMs{number}"
            )
        lookups.clear()
        event.listen(session.get_bind(), "before_cursor_execute", counted)
        try:
            assert file_inbox(session, app) == count
        finally:
            event.remove(session.get_bind(), "before_cursor_execute", counted)
        return len(lookups)

    filed(2, 0)  # the first round of a session also reads what later ones find cached
    assert filed(4, 100) == filed(12, 200)
    assert len(tickets(session)) == 18


class Batching:
    """A handler that takes several messages at once, and fails on a poisoned one."""

    def __init__(self) -> None:
        self.rounds: list[list[str]] = []

    def __call__(self, session: Session, sms: InboundSms) -> Handled | None:
        [handled] = self.many(session, [sms])
        return handled

    def many(self, session: Session, messages) -> list[Handled | None]:
        self.rounds.append([sms.body for sms in messages])
        if any(sms.body == "poison" for sms in messages):
            raise RuntimeError("handler bug")
        return [Handled() for _ in messages]


def test_a_poisoned_round_is_filed_one_by_one_and_holds_only_its_sender(client, session, signing):
    for number, (sender, body) in enumerate(
        [("+861", "a1"), ("+862", "poison"), ("+863", "c1"), ("+862", "b2"), ("+861", "a2")]
    ):
        post(client, sender, body, f"SMp{number}")
    handler = Batching()
    assert inbox.drain(session, handlers=(handler,)) == 3
    # The first round together, then each of its messages alone; the poisoned sender's second
    # message waits behind it, the others' go on together.
    assert handler.rounds == [["a1", "poison", "c1"], ["a1"], ["poison"], ["c1"], ["a2"]]
    by_body = {message.body: message for message in kept(session)}
    assert by_body["poison"].attempts == 1 and by_body["poison"].processed_at is None
    assert by_body["b2"].processed_at is None
    assert all(by_body[body].processed_at is not None for body in ("a1", "c1", "a2"))


def test_two_workers_file_every_message_once(use_database, shipped_playbooks, database):
    if database.backend != "postgres":
        pytest.skip("several workers drain the inbox only on PostgreSQL; SQLite runs one")
    with db.session_scope() as setup:
        make_service_desk(setup)
        inbox.store(
            setup,
            [
                InboundSms(f"SMtwo{number}", f"+86135{number % 30:08d}", SENDER, f"第{number}条")
                for number in range(90)
            ],
        )
    handlers = tuple(wiring.twilio_handlers(shipped_playbooks).sms)
    filed: list[int] = []
    errors: list[BaseException] = []

    def worker(start: threading.Barrier) -> None:
        try:
            start.wait()
            with Session(db.get_engine(), expire_on_commit=False) as own:
                while count := inbox.drain(own, handlers=handlers, limit=7):
                    filed.append(count)
        except BaseException as error:  # reported by the assertion below
            errors.append(error)

    barrier = threading.Barrier(2)
    threads = [threading.Thread(target=worker, args=(barrier,)) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    with db.session_scope() as check:
        assert inbox.waiting(check) == 0
        assert sum(filed) == 90
        made = check.exec(select(Ticket).order_by(col(Ticket.id))).all()
        # Thirty senders, three messages each: one ticket a sender, the rest join it.
        assert sorted(ticket.contact for ticket in made) == sorted(
            f"+86135{number:08d}" for number in range(30)
        )
        joined = check.exec(
            select(func.count())
            .select_from(TimelineEvent)
            .where(TimelineEvent.kind == "ticket.customer_message")
        ).one()
        assert joined == 60
