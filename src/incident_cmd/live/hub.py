"""Each serving process's one listener for live events, and its viewers' subscriptions.

On PostgreSQL the hub keeps a connection of its own that LISTENs on the live channel, so what
any process commits (an API process, a worker, a CLI command) reaches it; when that connection
drops it reconnects with backoff and tells every viewer to fetch everything again, as events
may have been missed meanwhile. On SQLite everything that writes runs in this process, and
the hub hears each commit directly.

A viewer's queue is bounded: a viewer that falls behind drops what waits for it and is told to
fetch everything again, so one slow client never holds up the others or the listener."""

import asyncio
import contextlib
import logging
import weakref
from collections.abc import Callable, Iterable, Sequence

import psycopg
from sqlalchemy import Engine

from incident_cmd.live.events import (
    CHANNEL,
    RESYNC,
    LiveEvent,
    listen_in_process,
    parse,
    stop_listening_in_process,
)

log = logging.getLogger(__name__)

QUEUE_LIMIT = 256
# How the listening connection shows in pg_stat_activity.
APPLICATION_NAME = "incident_cmd live"
FIRST_RETRY_SECONDS = 0.1
LAST_RETRY_SECONDS = 5.0
# How long the listener waits for a notification before it checks that its connection lives.
HEALTH_CHECK_SECONDS = 30.0
# How long ``start`` waits for the first LISTEN before serving without it (it keeps trying).
START_TIMEOUT_SECONDS = 10.0

Filter = Callable[[LiveEvent], bool]


class Subscription:
    """The events one viewer wants, in order, at most ``limit`` waiting."""

    def __init__(self, hub: "Hub", accepts: Filter, limit: int) -> None:
        self._hub = hub
        self._accepts = accepts
        self._queue: asyncio.Queue[LiveEvent] = asyncio.Queue(limit)

    def offer(self, live_event: LiveEvent) -> None:
        if live_event is not RESYNC and not self._accepts(live_event):
            return
        try:
            self._queue.put_nowait(live_event)
        except asyncio.QueueFull:
            # What waits is stale by now: one resync stands for all of it.
            while not self._queue.empty():
                self._queue.get_nowait()
            self._queue.put_nowait(RESYNC)

    async def next(self) -> LiveEvent:
        return await self._queue.get()

    def close(self) -> None:
        self._hub.unsubscribe(self)

    def __aiter__(self) -> "Subscription":
        return self

    async def __anext__(self) -> LiveEvent:
        return await self.next()


class Hub:
    """Started and stopped on the event loop that serves the viewers."""

    def __init__(self, engine: Engine, *, queue_limit: int = QUEUE_LIMIT) -> None:
        self.queue_limit = queue_limit
        self._postgres_url = (
            engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
            if engine.dialect.name == "postgresql"
            else None
        )
        # Weak, so a stream that ended before it could close its subscription leaks nothing.
        self._subscriptions: weakref.WeakSet[Subscription] = weakref.WeakSet()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._listener: asyncio.Task[None] | None = None
        self._listening = asyncio.Event()

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        if self._postgres_url is None:
            listen_in_process(self._hear_in_process)
            return
        self._listener = asyncio.create_task(self._listen(self._postgres_url))
        try:
            await asyncio.wait_for(self._listening.wait(), START_TIMEOUT_SECONDS)
        except TimeoutError:
            log.warning("live updates: not listening yet; still trying")

    async def stop(self) -> None:
        stop_listening_in_process(self._hear_in_process)
        if self._listener is not None:
            self._listener.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._listener
            self._listener = None

    def subscribe(self, accepts: Filter) -> Subscription:
        subscription = Subscription(self, accepts, self.queue_limit)
        self._subscriptions.add(subscription)
        return subscription

    def unsubscribe(self, subscription: Subscription) -> None:
        self._subscriptions.discard(subscription)

    @property
    def subscribers(self) -> int:
        return len(self._subscriptions)

    def fan_out(self, events: Iterable[LiveEvent]) -> None:
        """On the hub's loop: every subscriber is offered every event, none waits."""
        events = list(events)
        for subscription in list(self._subscriptions):
            for live_event in events:
                subscription.offer(live_event)

    def _hear_in_process(self, events: Sequence[LiveEvent]) -> None:
        # Called from whichever thread committed.
        loop = self._loop
        if loop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(self.fan_out, events)

    async def _listen(self, url: str) -> None:
        delay = FIRST_RETRY_SECONDS
        while True:
            try:
                async with await psycopg.AsyncConnection.connect(
                    url, autocommit=True, application_name=APPLICATION_NAME
                ) as conn:
                    await conn.execute(f"LISTEN {CHANNEL}")
                    if self._subscriptions:
                        # Reconnected: whatever was committed while away was not heard.
                        self.fan_out([RESYNC])
                    self._listening.set()
                    delay = FIRST_RETRY_SECONDS
                    await self._hear(conn)
            except (psycopg.Error, OSError) as exc:
                log.warning("live updates: listener lost (%s); retrying in %.1f s", exc, delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, LAST_RETRY_SECONDS)

    async def _hear(self, conn: psycopg.AsyncConnection) -> None:
        while True:
            async for notify in conn.notifies(timeout=HEALTH_CHECK_SECONDS):
                try:
                    events = parse(notify.payload)
                except (ValueError, KeyError, TypeError):
                    log.warning("live updates: unreadable payload %r", notify.payload[:200])
                    continue
                self.fan_out(events)
            # Quiet for a while: a connection that died silently fails here.
            await conn.execute("SELECT 1")
