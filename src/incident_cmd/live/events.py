"""Live events, queued on the session and announced when its transaction commits.

A transaction's events are coalesced (a subject's kind once, however many rows it wrote) and
sent in as few NOTIFYs as PostgreSQL's payload limit allows: on PostgreSQL with ``pg_notify``
before the commit, which PostgreSQL delivers to its listeners only if the commit succeeds; on
SQLite (one process) to this process's listeners after the commit. A transaction that rolls
back announces nothing.

Events queued inside a savepoint that is rolled back are still announced with the outer
commit: a viewer then fetches a page that did not change, which costs less than tracking
savepoints here."""

import json
import logging
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from sqlalchemy import event, text
from sqlalchemy.orm import SessionTransaction
from sqlmodel import Session

from incident_cmd.db import is_postgres

log = logging.getLogger(__name__)

CHANNEL = "incident_cmd_live"
# PostgreSQL refuses a NOTIFY payload of 8000 bytes or more; this leaves room to spare.
PAYLOAD_LIMIT = 7500
_PENDING = "incident_cmd_live.pending"

EventKey = tuple[str, int, str]


@dataclass(frozen=True)
class LiveEvent:
    """That a subject changed and how; ``incident_id`` is the incident it belongs to, if any.
    Viewers read what changed from the pages, never from the event."""

    subject_type: str
    subject_id: int
    kind: str
    incident_id: int | None = None

    def as_json(self) -> str:
        return json.dumps(asdict(self), separators=(",", ":"))

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> "LiveEvent":
        incident_id = raw.get("incident_id")
        return cls(
            subject_type=str(raw["subject_type"]),
            subject_id=int(raw["subject_id"]),
            kind=str(raw["kind"]),
            incident_id=int(incident_id) if incident_id is not None else None,
        )


# Told to a viewer that may have missed events (it fell behind, or the listener reconnected):
# everything it shows may be stale.
RESYNC = LiveEvent(subject_type="live", subject_id=0, kind="live.resync")


def announce(session: Session, live_event: LiveEvent) -> None:
    """Announces ``live_event`` when the session's transaction commits (once per subject and
    kind in one transaction)."""
    pending: dict[EventKey, LiveEvent] = session.info.setdefault(_PENDING, {})
    key = (live_event.subject_type, live_event.subject_id, live_event.kind)
    pending.setdefault(key, live_event)


def announce_entry(
    session: Session,
    *,
    subject_type: str,
    subject_id: int,
    kind: str,
    data: Mapping[str, Any] | None,
) -> None:
    """Announces a timeline entry; it belongs to an incident if that is its subject, or if its
    data names one (``incident_id``)."""
    named = (data or {}).get("incident_id")
    if subject_type == "incident":
        incident_id: int | None = subject_id
    else:
        incident_id = named if isinstance(named, int) and not isinstance(named, bool) else None
    announce(session, LiveEvent(subject_type, subject_id, kind, incident_id))


def payloads(events: Iterable[LiveEvent]) -> list[str]:
    """JSON arrays of events, each under ``PAYLOAD_LIMIT`` bytes."""
    chunks: list[str] = []
    current: list[str] = []
    size = 2
    for item in events:
        encoded = item.as_json()
        if current and size + len(encoded) + 1 > PAYLOAD_LIMIT:
            chunks.append("[" + ",".join(current) + "]")
            current, size = [], 2
        current.append(encoded)
        size += len(encoded) + 1
    if current:
        chunks.append("[" + ",".join(current) + "]")
    return chunks


def parse(payload: str) -> list[LiveEvent]:
    return [LiveEvent.from_dict(raw) for raw in json.loads(payload)]


# --- announcing ------------------------------------------------------------------------------

Listener = Callable[[Sequence[LiveEvent]], None]
_in_process: set[Listener] = set()
_in_process_lock = threading.Lock()


def listen_in_process(listener: Listener) -> None:
    """Calls ``listener`` (from the committing thread) with each SQLite transaction's events."""
    with _in_process_lock:
        _in_process.add(listener)


def stop_listening_in_process(listener: Listener) -> None:
    with _in_process_lock:
        _in_process.discard(listener)


@event.listens_for(Session, "before_commit")
def _notify(session: Session) -> None:
    if _PENDING not in session.info or not is_postgres(session):
        return
    pending: dict[EventKey, LiveEvent] = session.info.pop(_PENDING)
    for payload in payloads(pending.values()):
        session.execute(
            text("SELECT pg_notify(:channel, :payload)"), {"channel": CHANNEL, "payload": payload}
        )


@event.listens_for(Session, "after_commit")
def _publish_in_process(session: Session) -> None:
    pending: dict[EventKey, LiveEvent] | None = session.info.pop(_PENDING, None)
    if not pending:
        return
    with _in_process_lock:
        listeners = list(_in_process)
    events = list(pending.values())
    for listener in listeners:
        try:
            listener(events)
        except Exception:
            # The change is committed; a listener's failure must not look like the commit's.
            log.exception("a live listener failed")


@event.listens_for(Session, "after_transaction_end")
def _forget_rolled_back(session: Session, transaction: SessionTransaction) -> None:
    # After a commit the events are already gone; what is left was rolled back.
    if transaction.parent is None:
        session.info.pop(_PENDING, None)
