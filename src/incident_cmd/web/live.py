"""Server-sent events for the pages: what changed, as soon as it is committed anywhere.

- ``GET /live/board``: an event named ``board`` for every change to an incident, a signal or
  a campaign.
- ``GET /live/incidents/{incident_id}``: an event named ``incident`` for every change to that
  incident or its campaigns.
- ``GET /live/queue``: an event named ``queue`` for every change to a complaint ticket (taken
  in, assigned, moved on, warned or breached), for the complaint queue.

Each event's data is the ``LiveEvent`` as JSON (subject_type, subject_id, kind, incident_id);
``kind`` ``live.resync`` means events may have been missed and everything shown may be stale.
A page listens with ``hx-ext="sse" sse-connect="/live/board"`` and re-fetches its parts on
``hx-trigger="sse:board"``. A comment line every ``HEARTBEAT_SECONDS`` keeps proxies from
closing a quiet stream; the stream ends when the browser goes away. Only signed-in people get
a stream (the session cookie, as for every page): every role may read the board, the rooms and
the complaint queue. An event names what changed and nothing of it, so it tells no one more
than the page they then fetch, which checks the reader as it always does."""

from collections.abc import AsyncIterator

from fastapi import APIRouter, Depends, Request
from sse_starlette import EventSourceResponse, ServerSentEvent

from incident_cmd.live.events import LiveEvent
from incident_cmd.live.hub import Filter, Hub, Subscription
from incident_cmd.tickets.history import SUBJECT as TICKET_SUBJECT
from incident_cmd.web.api import page_session

# The session cookie's token is checked and nothing more (not ``PageUser``): that is one trip
# through the thread pool while holding a pooled connection, which goes back when the request
# session closes on a limiter of its own. A second trip, to read the user, would let hundreds
# of browsers reconnecting at once deadlock: requests holding every connection would wait for
# threads held by requests waiting for a connection, until the pool timed out.
router = APIRouter(tags=["web"], include_in_schema=False, dependencies=[Depends(page_session)])

HEARTBEAT_SECONDS = 15
BOARD_SUBJECTS = frozenset({"incident", "signal", "campaign"})
# What changes a ticket's row in the queue; not the messages sent about it.
QUEUE_KINDS = ("ticket.", "sla.")


def hub_of(request: Request) -> Hub:
    hub: Hub = request.app.state.live_hub
    return hub


def _on_board(live_event: LiveEvent) -> bool:
    return live_event.subject_type in BOARD_SUBJECTS or live_event.incident_id is not None


def _in_queue(live_event: LiveEvent) -> bool:
    return live_event.subject_type == TICKET_SUBJECT and live_event.kind.startswith(QUEUE_KINDS)


def _of_incident(incident_id: int) -> Filter:
    def accepts(live_event: LiveEvent) -> bool:
        return live_event.incident_id == incident_id

    return accepts


async def _events(subscription: Subscription, name: str) -> AsyncIterator[ServerSentEvent]:
    try:
        async for live_event in subscription:
            yield ServerSentEvent(data=live_event.as_json(), event=name)
    finally:
        subscription.close()


def _stream(request: Request, accepts: Filter, name: str) -> EventSourceResponse:
    # Subscribed before the response starts: a client that has the headers misses nothing.
    subscription = hub_of(request).subscribe(accepts)
    return EventSourceResponse(_events(subscription, name), ping=HEARTBEAT_SECONDS)


@router.get("/live/board")
async def board_events(request: Request) -> EventSourceResponse:
    return _stream(request, _on_board, "board")


@router.get("/live/incidents/{incident_id}")
async def incident_events(request: Request, incident_id: int) -> EventSourceResponse:
    return _stream(request, _of_incident(incident_id), "incident")


@router.get("/live/queue")
async def queue_events(request: Request) -> EventSourceResponse:
    return _stream(request, _in_queue, "queue")
