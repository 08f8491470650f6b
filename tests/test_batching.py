"""Group commit: concurrent requests are written together and each gets its own answer; a
batch that fails is written again a request at a time, so every request gets its result or
its own error, never silence; a request that finds nothing in flight is written at once."""

import asyncio
from contextlib import contextmanager

import httpx
from sqlmodel import select

from incident_cmd import db
from incident_cmd.auth.models import Role
from incident_cmd.batching import GroupCommit
from incident_cmd.tickets.models import Ticket
from tests.factories import bearer, make_service_desk, make_user


class Ledger:
    """A session's stand-in: what was committed, and the batches written."""

    def __init__(self) -> None:
        self.committed: list[str] = []
        self.pending: list[str] = []
        self.batches: list[list[str]] = []

    def commit(self) -> None:
        self.committed += self.pending
        self.pending = []

    def rollback(self) -> None:
        self.pending = []


def filer(ledger: Ledger, poison: str | None = None):
    def file(session, items):
        ledger.batches.append(list(items))
        for item in items:
            if item == poison:
                raise RuntimeError(f"cannot write {item}")
            session.pending.append(item)
        return [item.upper() for item in items]

    return file


def opener(ledger: Ledger):
    @contextmanager
    def sessions():
        yield ledger

    return sessions


async def submit_all(group: GroupCommit, ledger: Ledger, items: list[str]) -> list:
    return await asyncio.gather(
        *(group.submit(item, opener(ledger)) for item in items), return_exceptions=True
    )


def test_concurrent_requests_are_written_together_each_answered_its_own():
    ledger = Ledger()
    group = GroupCommit(filer(ledger), limit=4)
    items = [f"item{number}" for number in range(10)]
    answers = asyncio.run(submit_all(group, ledger, items))
    assert answers == [item.upper() for item in items]
    assert ledger.committed == items
    # All ten arrived at once: batches of the limit, in arrival order.
    assert ledger.batches == [items[0:4], items[4:8], items[8:10]]


def test_a_request_alone_is_written_at_once():
    ledger = Ledger()
    group = GroupCommit(filer(ledger))

    async def one_after_another() -> list[str]:
        return [await group.submit(item, opener(ledger)) for item in ("a", "b")]

    assert asyncio.run(one_after_another()) == ["A", "B"]
    assert ledger.batches == [["a"], ["b"]]


def test_a_failing_batch_is_written_one_by_one_and_loses_nothing():
    ledger = Ledger()
    group = GroupCommit(filer(ledger, poison="bad"))
    answers = asyncio.run(submit_all(group, ledger, ["a", "bad", "c"]))
    assert answers[0] == "A" and answers[2] == "C"
    assert isinstance(answers[1], RuntimeError) and "cannot write bad" in str(answers[1])
    assert ledger.committed == ["a", "c"]
    assert ledger.batches == [["a", "bad", "c"], ["a"], ["bad"], ["c"]]


def test_concurrent_api_intakes_each_get_their_own_ticket(live_server, use_database):
    with db.session_scope() as session:
        make_service_desk(session)
        headers = bearer(session, make_user(session, Role.agent))
    phones = [f"+86139{number:08d}" for number in range(24)]

    async def post_all() -> list[httpx.Response]:
        async with httpx.AsyncClient(base_url=live_server, headers=headers, timeout=30) as http:
            return await asyncio.gather(
                *(
                    http.post(
                        "/api/v1/tickets",
                        json={"phone": phone, "channel": "phone", "description": "电饭煲不工作了"},
                    )
                    for phone in phones
                )
            )

    responses = asyncio.run(post_all())
    assert [response.status_code for response in responses] == [201] * len(phones)
    assert [response.json()["contact"] for response in responses] == phones
    numbers = [response.json()["number"] for response in responses]
    assert len(set(numbers)) == len(phones)
    with db.session_scope() as session:
        stored = {ticket.number: ticket.contact for ticket in session.exec(select(Ticket))}
    assert stored == dict(zip(numbers, phones, strict=True))


def test_a_refused_body_is_answered_422_without_joining_a_batch(client, headers):
    response = client.post(
        "/api/v1/tickets", json={"channel": "phone", "description": ""}, headers=headers("agent")
    )
    assert response.status_code == 422
