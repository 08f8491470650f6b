"""A burst of signed-in requests, more than the database pool's connections and the worker
threads together, is all answered: no request holds a pooled connection while it waits for a
thread, so the two pools cannot wait on each other."""

import asyncio

import httpx
import pytest

from incident_cmd import db
from incident_cmd.auth import service as auth_service
from incident_cmd.auth.models import Role, TokenKind
from incident_cmd.deps import SESSION_COOKIE
from tests.factories import bearer, make_user

BURST = 80
TIMEOUT = httpx.Timeout(20.0)


def _all_at_once(url: str, path: str, **client) -> list[int]:
    async def run() -> list[int]:
        limits = httpx.Limits(max_connections=BURST)
        async with httpx.AsyncClient(base_url=url, limits=limits, timeout=TIMEOUT, **client) as c:
            responses = await asyncio.gather(*(c.get(path) for _ in range(BURST)))
            return [response.status_code for response in responses]

    return asyncio.run(run())


@pytest.fixture
def agent(use_database):
    with db.session_scope() as session:
        user = make_user(session, Role.agent)
        _, cookie = auth_service.issue_token(
            session,
            user=user,
            name="web login",
            kind=TokenKind.session,
            expires_in=None,
            actor_id=user.id,
        )
        return {"cookies": {SESSION_COOKIE: cookie}, "headers": bearer(session, user)}


def test_a_burst_of_page_loads_is_all_answered(live_server, agent):
    assert _all_at_once(live_server, "/tickets", cookies=agent["cookies"]) == [200] * BURST


def test_a_burst_of_api_calls_is_all_answered(live_server, agent):
    assert _all_at_once(live_server, "/api/v1/tickets", headers=agent["headers"]) == [200] * BURST
