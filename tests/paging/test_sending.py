"""The paging lane against the Twilio-compatible server: what goes out, crashes, two workers."""

import asyncio
import threading
import time
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
from sqlmodel import select

from incident_cmd import clock, db
from incident_cmd.messaging.direct import LEASE, direct_sender
from incident_cmd.messaging.models import DirectMessage, DirectMessageStatus
from incident_cmd.paging import jobs
from incident_cmd.scheduler import DirectLane
from tests.factories import shanghai_customers
from tests.plugins.messaging import send_direct
from tests.plugins.paging import declare_recall
from tests.plugins.twilio import PUBLIC

MINUTE = timedelta(minutes=1)


def declare(registry, drill: bool = False) -> int:
    with db.session_scope() as session:
        return declare_recall(session, registry, drill=drill).id


def sweep() -> None:
    with db.session_scope() as session:
        jobs.run_contact_steps(session)
    with db.session_scope() as session:
        jobs.escalate_due_pages(session)


def direct_messages() -> list[DirectMessage]:
    with db.session_scope() as session:
        return list(session.exec(select(DirectMessage).order_by(DirectMessage.id)))


def test_pages_reach_the_provider_with_code_link_and_keypad(world, twilio, frozen_clock):
    declare(world.registry)
    assert send_direct() == 6  # six paged roles, an SMS each
    messages = direct_messages()
    assert {message.status for message in messages} == {DirectMessageStatus.sent}
    sent = list(twilio.fake.state.messages.values())
    assert len(sent) == 6
    assert all(f"{PUBLIC}/page/" in message["body"] for message in sent)
    assert {message.provider_id for message in messages} == set(twilio.fake.state.messages)
    frozen_clock.advance(2 * MINUTE)
    sweep()
    assert send_direct() == 6  # the voice step of each
    calls = list(twilio.fake.state.calls.values())
    assert len(calls) == 6
    voice = next(message for message in direct_messages() if message.channel == "voice")
    call = next(call for call in calls if call["to"] == voice.address)
    assert f"/webhooks/twilio/page-voice?m={voice.id}" in call["twiml"]
    assert "<Gather" in call["twiml"] and 'numDigits="1"' in call["twiml"]


def test_drill_pages_go_to_real_people_marked_as_drill(world, twilio):
    declare(world.registry, drill=True)
    send_direct()
    bodies = [message["body"] for message in twilio.fake.state.messages.values()]
    assert len(bodies) == 6
    assert all(body.startswith(("【演练】", "[DRILL]")) for body in bodies)


def test_the_paging_lane_does_not_wait_behind_a_campaign(world, twilio):
    world.import_customers(shanghai_customers(300))
    campaign_id = world.campaign_for(world.declare_recall(), "recall_sms")
    world.approve_and_start(campaign_id)  # 300 customer messages due now
    declare(world.registry)
    # Both recalls page their six roles: the world's declares through the same flow.
    assert send_direct() == 12
    assert len(twilio.fake.state.messages) == 12  # pages only: the campaign is another lane
    assert world.counts(campaign_id).pending == 300


def test_worker_killed_between_steps_resumes_without_paging_twice(world, twilio, frozen_clock):
    declare(world.registry)
    send_direct()
    frozen_clock.advance(2 * MINUTE)
    # A worker dies inside the sweep, before committing: nothing of its work remains.
    with pytest.raises(RuntimeError), db.session_scope() as session:
        assert jobs.run_contact_steps(session) == 6
        raise RuntimeError("killed")
    assert {message.channel for message in direct_messages()} == {"sms"}

    # The next worker's sweep queues the voice steps; one worker claims a call, places it
    # and dies before writing down what happened.
    sweep()

    async def send_and_die() -> None:
        sender = direct_sender(db.get_engine())
        try:
            claimed, _ = await asyncio.to_thread(sender.claim, 1)
            await sender.handle(claimed[0])
        finally:
            await sender.close()

    asyncio.run(send_and_die())
    assert len(twilio.fake.state.calls) == 1

    # Restarted: the lease runs out, the call is found at the provider, not placed again.
    frozen_clock.advance(LEASE + timedelta(seconds=1))
    sweep()
    send_direct()
    frozen_clock.advance(5 * MINUTE)  # the rest of the chain carries on
    sweep()
    send_direct()
    calls = Counter(call["to"] for call in twilio.fake.state.calls.values())
    assert len(calls) == 6 and set(calls.values()) == {1}
    keys = [message.key for message in direct_messages()]
    assert len(keys) == len(set(keys))
    texts = Counter(message["body"] for message in twilio.fake.state.messages.values())
    assert set(texts.values()) == {1}  # every SMS page (each has its own code) went once
    assert {message.status for message in direct_messages()} == {DirectMessageStatus.sent}


def test_two_workers_on_postgres_run_each_step_once(world, twilio, frozen_clock, database):
    if database.backend != "postgres":
        pytest.skip("several workers sweep only on PostgreSQL")
    twilio.fake.state.latency = 0.01
    for _ in range(4):
        declare(world.registry)
    errors: list[BaseException] = []

    def worker(start: threading.Barrier) -> None:
        try:
            start.wait()
            sweep()
            send_direct()
        except BaseException as exc:  # reported by the assertion below
            errors.append(exc)

    for _ in range(5):  # contact steps and escalations come due as the clock moves
        barrier = threading.Barrier(2)
        threads = [threading.Thread(target=worker, args=(barrier,)) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        frozen_clock.advance(timedelta(seconds=150))
    assert errors == []
    messages = direct_messages()
    assert len({message.key for message in messages}) == len(messages)
    texts = Counter(message["body"] for message in twilio.fake.state.messages.values())
    assert set(texts.values()) == {1}
    sent_sms = [m for m in messages if m.channel == "sms" and m.status == DirectMessageStatus.sent]
    assert len(texts) == len(sent_sms) > 24


def _wait_for(condition, seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)  # polling another thread or process, not controlling time


@pytest.mark.parametrize("separate_process", [True, False], ids=["process", "thread"])
def test_the_running_lane_sends_pages_as_they_are_declared(
    world, twilio, use_database, separate_process
):
    lane = DirectLane(separate_process=separate_process)
    # The lane runs on the real clock (a separate process cannot share a test's clock).
    with clock.use(lambda: datetime.now(UTC)):
        lane.start()
        try:
            declare(world.registry)
            _wait_for(lambda: len(twilio.fake.state.messages) == 6, 60, "six pages")
            _wait_for(
                lambda: {m.status for m in direct_messages()} == {DirectMessageStatus.sent},
                30,
                "the outcomes to be recorded",
            )
        finally:
            lane.stop()
    assert not lane._runner.is_alive()
