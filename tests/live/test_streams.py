"""The pages' event streams, from a real server: a signed-in viewer hears what is committed
(here by the test, as any other writer), filtered to the stream it opened."""

import asyncio
import json
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import pytest

from incident_cmd import db
from incident_cmd.app import create_app
from incident_cmd.auth import service as auth_service
from incident_cmd.auth.models import Role, TokenKind
from incident_cmd.deps import SESSION_COOKIE
from incident_cmd.devtools.local_server import running_server
from incident_cmd.timeline import service as timeline
from tests.factories import make_user

# Every read ends as soon as its line arrives; this only bounds a failing test.
READ_TIMEOUT = httpx.Timeout(10.0)


@pytest.fixture
def server(use_database, shipped_playbooks) -> Iterator[str]:
    with running_server(create_app(registry=shipped_playbooks, run_worker=False)) as url:
        yield url


@pytest.fixture
def viewer(use_database) -> dict[str, str]:
    """The session cookie of a signed-in responder."""
    with db.session_scope() as session:
        user = make_user(session, Role.responder)
        _, secret = auth_service.issue_token(
            session,
            user=user,
            name="web login",
            kind=TokenKind.session,
            expires_in=None,
            actor_id=user.id,
        )
    return {SESSION_COOKIE: secret}


def commit(*entries: tuple[str, int, str], data=None) -> None:
    with db.session_scope() as session:
        for subject_type, subject_id, kind in entries:
            timeline.append(
                session,
                subject_type=subject_type,
                subject_id=subject_id,
                kind=kind,
                summary="changed",
                actor_id=None,
                data=data,
            )


def first_event(response: httpx.Response) -> tuple[str | None, dict]:
    name = None
    for line in response.iter_lines():
        if line.startswith("event:"):
            name = line.removeprefix("event:").strip()
        elif line.startswith("data:"):
            return name, json.loads(line.removeprefix("data:"))
    raise AssertionError("the stream ended without an event")


@contextmanager
def opened(server: str, cookies: dict[str, str], path: str) -> Iterator[httpx.Response]:
    with (
        httpx.Client(base_url=server, cookies=cookies, timeout=READ_TIMEOUT) as browser,
        browser.stream("GET", path) as response,
    ):
        yield response


def test_an_incident_stream_carries_that_incident_and_not_another(server, viewer):
    with opened(server, viewer, "/live/incidents/7") as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        commit(("incident", 8, "incident.updated"))
        commit(("campaign", 3, "campaign.approved"), ("incident", 7, "campaign.approved"))
        assert first_event(response) == (
            "incident",
            {
                "subject_type": "incident",
                "subject_id": 7,
                "kind": "campaign.approved",
                "incident_id": 7,
            },
        )


def test_the_board_stream_carries_incidents_signals_and_campaigns(server, viewer):
    with opened(server, viewer, "/live/board") as response:
        commit(("user", 1, "token.issued"))
        commit(("signal", 4, "signal.detected"))
        assert first_event(response) == (
            "board",
            {
                "subject_type": "signal",
                "subject_id": 4,
                "kind": "signal.detected",
                "incident_id": None,
            },
        )


def test_many_viewers_opening_their_streams_at_once_all_get_them(server, viewer):
    """More than the database pool's connections and the thread pool's threads together: a
    stream that held a connection across two thread-pool trips would deadlock here."""
    viewers = 80

    async def open_all() -> list[int]:
        limits = httpx.Limits(max_connections=viewers)
        async with httpx.AsyncClient(
            base_url=server, cookies=viewer, limits=limits, timeout=READ_TIMEOUT
        ) as browser:
            streams = [browser.stream("GET", "/live/board") for _ in range(viewers)]
            responses = await asyncio.gather(*(stream.__aenter__() for stream in streams))
            statuses = [response.status_code for response in responses]
            for stream in streams:
                await stream.__aexit__(None, None, None)
            return statuses

    assert asyncio.run(open_all()) == [200] * viewers


def test_a_stream_is_refused_to_someone_not_signed_in(client):
    for path in ("/live/board", "/live/incidents/7"):
        response = client.get(path, follow_redirects=False)
        assert response.status_code == 303
        assert response.headers["location"] == "/login"
        assert not response.headers.get("content-type", "").startswith("text/event-stream")
