"""A short-lived copy, in this process, of the public answers anyone may cache: the status
pages and the feeds, which declare ``Cache-Control: public``. During a crisis every customer
notice links to ``/status/{number}``; each copy is answered before the application (its
middleware, a worker thread, a database session, a render) for up to ``SECONDS`` seconds of
the project's clock, so a burst of readers costs one render per page, language and second or
two, not one each.

What is kept: a GET's 200 or 404 whose Cache-Control says public and that sets no cookie,
keyed by path, query and the reader's language (the one thing the public pages vary by: the
switch's cookie, else Accept-Language). One request renders a page at a time: those that come
meanwhile take the copy it replaces, or wait for it when there is none. Conditional requests
go to the application, which answers 304 itself. A statement written in this process drops
every copy at once; one written in another process is seen within ``SECONDS`` (their
Cache-Control already allows any cache 30). A copy carries the headers of the first answer,
its CSP nonce too: the public pages carry no script."""

import asyncio
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import event
from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from incident_cmd import clock
from incident_cmd.statements.models import Statement
from incident_cmd.web import translations

SECONDS = 2
PREFIXES = ("/status", "/api/v2/")
# A bound on what odd query strings can make this process keep.
ENTRIES = 512
KEPT_STATUSES = (200, 404)
CONDITIONAL = ("if-none-match", "if-modified-since")


@dataclass(frozen=True)
class _Copy:
    start: Message
    body: bytes
    until: datetime
    generation: int


class _Generation:
    """How many times this process has written a statement."""

    value = 0


@event.listens_for(Statement, "after_insert")
@event.listens_for(Statement, "after_update")
def _statement_written(*_) -> None:
    _Generation.value += 1


def _public(start: Message) -> bool:
    headers = Headers(raw=start["headers"])
    return (
        start["status"] in KEPT_STATUSES
        and "public" in headers.get("cache-control", "")
        and "set-cookie" not in headers
    )


class PublicResponseCache:
    def __init__(self, app: ASGIApp, *, seconds: float = SECONDS, entries: int = ENTRIES):
        self.app = app
        self._lifetime = timedelta(seconds=seconds)
        self._entries = entries
        self._copies: OrderedDict[tuple[str, bytes, str], _Copy] = OrderedDict()
        # The requests rendering a page now: the others wait for it, or take the last copy.
        self._refreshing: dict[tuple[str, bytes, str], asyncio.Event] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or scope["method"] != "GET"
            or not scope["path"].startswith(PREFIXES)
        ):
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        if any(name in headers for name in CONDITIONAL):
            await self.app(scope, receive, send)
            return
        locale = translations.requested_locale(Request(scope))
        key = (scope["path"], scope["query_string"], locale.value)
        now = clock.now()
        copy = self._copies.get(key)
        if copy is not None and copy.generation != _Generation.value:
            copy = None
        refreshing = self._refreshing.get(key)
        if copy is not None and (copy.until > now or refreshing is not None):
            # Fresh, or another request is rendering its successor: not a second render.
            await self._answer(copy, send)
            return
        if refreshing is not None:
            await refreshing.wait()
            copy = self._copies.get(key)
            if copy is not None and copy.generation == _Generation.value:
                await self._answer(copy, send)
            else:
                await self.app(scope, receive, send)
            return
        self._refreshing[key] = asyncio.Event()
        try:
            await self.app(scope, receive, self._keeping(key, now, send))
        finally:
            self._refreshing.pop(key).set()

    @staticmethod
    async def _answer(copy: _Copy, send: Send) -> None:
        await send(copy.start)
        await send({"type": "http.response.body", "body": copy.body})

    def _keeping(self, key: tuple[str, bytes, str], now: datetime, send: Send) -> Send:
        generation = _Generation.value
        start: Message | None = None
        chunks: list[bytes] = []

        async def keep(message: Message) -> None:
            nonlocal start
            if message["type"] == "http.response.start":
                start = message if _public(message) else None
            elif message["type"] == "http.response.body" and start is not None:
                chunks.append(message.get("body", b""))
                if not message.get("more_body", False):
                    self._copies[key] = _Copy(
                        start, b"".join(chunks), now + self._lifetime, generation
                    )
                    self._copies.move_to_end(key)
                    while len(self._copies) > self._entries:
                        self._copies.popitem(last=False)
            await send(message)

        return keep
