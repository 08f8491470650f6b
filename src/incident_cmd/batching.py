"""Group commit: concurrent requests that write the same kind of thing are written together,
in one transaction, and each request gets its own answer.

On this machine a request's cost is its round trips to the database, and a statement that
writes sixteen rows costs little more than one that writes one. So the requests that arrive
while a batch is being written wait on the event loop, holding no worker thread, and are
written as the next batch, up to ``limit`` at a time; a request that finds nothing in flight
is written at once, so an idle process adds no latency. One batch is in flight at a time.

A batch is written in the session of its first request (an open session already holds a
pooled connection, so a full pool cannot leave the batch waiting for one) and committed
there. If the batch fails, each of its requests is written alone, so one bad request cannot
fail the others: every request gets its result or its own error, never silence."""

import asyncio
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Generic, TypeVar

from sqlalchemy import inspect
from sqlmodel import Session
from starlette.concurrency import run_in_threadpool

Item = TypeVar("Item")
Result = TypeVar("Result")
Sessions = Callable[[], AbstractContextManager[Session]]
# Writes the items in the session, in order, returning one result an item; never commits. An
# item it refuses on its own (its caller may not write it, say) gets an exception in its
# place, answered to that request alone: the others' writes stand.
Filer = Callable[[Session, Sequence[Item]], Sequence[Result | Exception]]
LIMIT = 50


@dataclass(frozen=True)
class _Waiting(Generic[Item, Result]):
    item: Item
    sessions: Sessions
    answer: "asyncio.Future[Result]"


@dataclass(frozen=True)
class _Outcome(Generic[Result]):
    result: Result | None = None
    error: Exception | None = None


class GroupCommit(Generic[Item, Result]):
    def __init__(self, file: Filer[Item, Result], *, limit: int = LIMIT) -> None:
        self._file = file
        self._limit = limit
        self._waiting: list[_Waiting[Item, Result]] = []
        self._writing: asyncio.Task[None] | None = None

    async def submit(self, item: Item, sessions: Sessions) -> Result:
        """The item's result once its batch is committed; its own error if it failed.
        ``sessions`` opens the session its batch may be written in."""
        loop = asyncio.get_running_loop()
        waiting = _Waiting[Item, Result](item, sessions, loop.create_future())
        self._waiting.append(waiting)
        if self._writing is None or self._writing.done():
            self._writing = loop.create_task(self._write())
        return await waiting.answer

    async def _write(self) -> None:
        while self._waiting:
            batch = self._waiting[: self._limit]
            del self._waiting[: self._limit]
            try:
                outcomes = await run_in_threadpool(self._commit, batch)
            except BaseException as error:
                # Cancelled, or worse: nobody waits in vain.
                for waiting in batch:
                    if not waiting.answer.done():
                        waiting.answer.set_exception(error)
                raise
            for waiting, outcome in zip(batch, outcomes, strict=True):
                if waiting.answer.done():  # the request went away; its write stands
                    continue
                if outcome.error is not None:
                    waiting.answer.set_exception(outcome.error)
                else:
                    waiting.answer.set_result(outcome.result)  # type: ignore[arg-type]

    def _commit(self, batch: list[_Waiting[Item, Result]]) -> list[_Outcome[Result]]:
        with batch[0].sessions() as session:
            try:
                results = self._file(session, [waiting.item for waiting in batch])
                session.commit()
            except Exception as error:
                session.rollback()
                if len(batch) == 1:
                    return [_Outcome(error=error)]
            else:
                return [_outcome(session, result) for result in results]
            outcomes: list[_Outcome[Result]] = []
            for waiting in batch:
                try:
                    [result] = self._file(session, [waiting.item])
                    session.commit()
                except Exception as error:
                    session.rollback()
                    outcomes.append(_Outcome(error=error))
                else:
                    outcomes.append(_outcome(session, result))
            return outcomes


def _outcome(session: Session, result: Result | Exception) -> _Outcome[Result]:
    if isinstance(result, Exception):
        return _Outcome(error=result)
    return _Outcome(_detached(session, result))


def _detached(session: Session, result: Result) -> Result:
    """A row the batch wrote leaves the batch's session: the request it answers reads it in
    its own, and the session it was written in ends with its own request."""
    state = inspect(result, raiseerr=False)
    if state is not None and state.session is session:
        session.expunge(result)
    return result
