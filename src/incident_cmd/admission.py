"""Admission control: at most as many requests at a time as the database pool has connections.

FastAPI runs a request's dependencies, its endpoint and the session's final commit as separate
steps on the worker threads. A request keeps its pooled connection between those steps, so
under a burst larger than the pool every thread could be waiting for a connection that only a
request waiting for a thread could give back. Requests over the limit wait here, on the event
loop, holding nothing. Event streams and static files are let through: they hold no
connection while they last."""

import asyncio

from starlette.types import ASGIApp, Receive, Scope, Send

UNLIMITED_PREFIXES = ("/live/", "/static/")


class AdmissionLimit:
    def __init__(self, app: ASGIApp, *, limit: int) -> None:
        self.app = app
        self.limit = limit
        self._slots = asyncio.Semaphore(limit)
        self._loop: asyncio.AbstractEventLoop | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith(UNLIMITED_PREFIXES):
            await self.app(scope, receive, send)
            return
        loop = asyncio.get_running_loop()
        if loop is not self._loop:
            # A semaphore belongs to one event loop; a test client may bring another.
            self._slots, self._loop = asyncio.Semaphore(self.limit), loop
        async with self._slots:
            await self.app(scope, receive, send)
