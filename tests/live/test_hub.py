"""Live events reach this process's hub once committed, from this process or (on PostgreSQL)
from any other; rolled-back changes never do; a slow subscriber holds up no one."""

import asyncio
import os
import subprocess
import sys
from collections.abc import Awaitable, Callable

import pytest
from sqlalchemy import Engine, text
from sqlmodel import Session

from incident_cmd.live.events import PAYLOAD_LIMIT, RESYNC, LiveEvent, payloads
from incident_cmd.live.hub import APPLICATION_NAME, Hub, Subscription
from incident_cmd.timeline import service as timeline

# Long enough for a loaded CI machine; every wait ends as soon as its event arrives.
WAIT_SECONDS = 10


def everything(_: LiveEvent) -> bool:
    return True


def append(session: Session, subject_type: str, subject_id: int, kind: str, data=None) -> None:
    timeline.append(
        session,
        subject_type=subject_type,
        subject_id=subject_id,
        kind=kind,
        summary="changed",
        actor_id=None,
        data=data,
    )


def commit_entries(engine: Engine, entries: list[tuple[str, int, str]], data=None) -> None:
    with Session(engine) as session:
        for entry in entries:
            append(session, *entry, data=data)
        session.commit()


async def received(subscription: Subscription, count: int = 1) -> list[LiveEvent]:
    return [await asyncio.wait_for(subscription.next(), WAIT_SECONDS) for _ in range(count)]


def on_hub(engine: Engine, test: Callable[[Hub], Awaitable[None]], **options) -> None:
    async def main() -> None:
        hub = Hub(engine, **options)
        await hub.start()
        try:
            await test(hub)
        finally:
            await hub.stop()

    asyncio.run(main())


def test_a_committed_change_reaches_a_subscriber(fresh_database):
    engine = fresh_database.engine

    async def test(hub: Hub) -> None:
        subscription = hub.subscribe(everything)
        await asyncio.to_thread(commit_entries, engine, [("incident", 7, "incident.updated")])
        assert await received(subscription) == [
            LiveEvent("incident", 7, "incident.updated", incident_id=7)
        ]

    on_hub(engine, test)


def test_a_rolled_back_change_is_never_announced(fresh_database):
    engine = fresh_database.engine

    def roll_back_then_commit() -> None:
        with Session(engine) as session:
            append(session, "incident", 7, "rolled.back")
            session.rollback()
            append(session, "incident", 7, "kept")
            session.commit()

    async def test(hub: Hub) -> None:
        subscription = hub.subscribe(everything)
        await asyncio.to_thread(roll_back_then_commit)
        # Events arrive in commit order: had the first been announced, it would come first.
        assert [event.kind for event in await received(subscription)] == ["kept"]

    on_hub(engine, test)


def test_a_transaction_announces_each_subject_and_kind_once(fresh_database):
    engine = fresh_database.engine
    repeated = [("signal", 3, "signal.updated")] * 5 + [("signal", 3, "signal.closed")]

    async def test(hub: Hub) -> None:
        subscription = hub.subscribe(everything)
        await asyncio.to_thread(commit_entries, engine, repeated)
        await asyncio.to_thread(commit_entries, engine, [("signal", 4, "marker")])
        events = await received(subscription, 3)
        assert [(event.subject_id, event.kind) for event in events] == [
            (3, "signal.updated"),
            (3, "signal.closed"),
            (4, "marker"),
        ]
        assert events[0].incident_id is None

    on_hub(engine, test)


def test_an_entry_whose_data_names_an_incident_belongs_to_it(fresh_database):
    engine = fresh_database.engine

    async def test(hub: Hub) -> None:
        subscription = hub.subscribe(lambda event: event.incident_id == 12)
        await asyncio.to_thread(
            commit_entries, engine, [("ticket", 5, "ticket.linked")], data={"incident_id": 12}
        )
        assert await received(subscription) == [LiveEvent("ticket", 5, "ticket.linked", 12)]

    on_hub(engine, test)


def test_a_large_transaction_is_announced_in_notifications_under_the_limit(fresh_database):
    engine = fresh_database.engine
    entries = [("incident", n, f"bulk.change.{n}") for n in range(400)]
    chunks = payloads(LiveEvent(*entry) for entry in entries)
    assert len(chunks) > 1
    assert all(len(chunk.encode()) < PAYLOAD_LIMIT for chunk in chunks)

    async def test(hub: Hub) -> None:
        subscription = hub.subscribe(everything)
        await asyncio.to_thread(commit_entries, engine, entries)
        events = await received(subscription, len(entries))
        assert [event.subject_id for event in events] == list(range(400))

    on_hub(engine, test, queue_limit=1000)


def test_a_slow_subscriber_does_not_block_another(fresh_database):
    engine = fresh_database.engine
    batches = [[("incident", 1, f"change.{n}.{m}") for m in range(5)] for n in range(6)]

    async def test(hub: Hub) -> None:
        slow = hub.subscribe(everything)
        fast = hub.subscribe(everything)
        for batch in batches:
            await asyncio.to_thread(commit_entries, engine, batch)
            assert [event.kind for event in await received(fast, 5)] == [
                kind for _, _, kind in batch
            ]
        # The slow one read nothing: what waited for it was dropped for one resync.
        assert (await received(slow))[0] == RESYNC

    on_hub(engine, test, queue_limit=8)


def test_an_event_committed_by_another_process_reaches_this_hub(fresh_database):
    if fresh_database.backend != "postgres":
        pytest.skip("on SQLite everything that writes runs in the serving process")
    script = (
        "import incident_cmd.models  # every table, for the foreign keys\n"
        "from incident_cmd.db import session_scope\n"
        "from incident_cmd.timeline import service\n"
        "with session_scope() as session:\n"
        "    service.append(session, subject_type='incident', subject_id=42,\n"
        "                   kind='from.another.process', summary='elsewhere', actor_id=None)\n"
    )
    environment = {**os.environ, "INCIDENT_CMD_DATABASE_URL": fresh_database.url}

    async def test(hub: Hub) -> None:
        subscription = hub.subscribe(everything)
        await asyncio.to_thread(
            subprocess.run, [sys.executable, "-c", script], env=environment, check=True
        )
        assert await received(subscription) == [
            LiveEvent("incident", 42, "from.another.process", 42)
        ]

    on_hub(fresh_database.engine, test)


def test_the_listener_reconnects_and_tells_subscribers_to_resync(fresh_database):
    if fresh_database.backend != "postgres":
        pytest.skip("only PostgreSQL has a listening connection to lose")
    engine = fresh_database.engine

    def drop_listener() -> None:
        with engine.connect() as connection:
            dropped = connection.execute(
                text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND application_name = :name"
                ),
                {"name": APPLICATION_NAME},
            ).all()
        assert dropped == [(True,)]

    async def test(hub: Hub) -> None:
        subscription = hub.subscribe(everything)
        await asyncio.to_thread(drop_listener)
        assert await received(subscription) == [RESYNC]
        await asyncio.to_thread(commit_entries, engine, [("incident", 9, "after.reconnect")])
        assert [event.kind for event in await received(subscription)] == ["after.reconnect"]

    on_hub(engine, test)
