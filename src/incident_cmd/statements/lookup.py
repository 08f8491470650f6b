"""Is my product affected? A customer's model and batch against the scope of the incidents
the company has announced (those with a published statement, never a drill), nothing else.

The playbooks scope incidents by product model, batch and region; none by serial number, so
a product is looked up by its model and batch. An incident is about products when its scope
names products or batches: a product is in it when its model is among the products (if any
are named) and its batch among the batches (if any are named). Regions are the customer's,
not the product's: the answer names them, it cannot check them."""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlmodel import Session

from incident_cmd.statements import public
from incident_cmd.statements.public import PublicIncident


def comparable(label: str) -> str:
    """A label as written by anyone: case, spaces and separators do not count (PX-200 is
    px200)."""
    return "".join(character for character in label.casefold() if character.isalnum())


@dataclass(frozen=True)
class Answer:
    # Incidents still open whose scope takes in the product, most recently updated first.
    affected: tuple[PublicIncident, ...]
    # Closed ones that did (within the status page's history).
    closed: tuple[PublicIncident, ...]


def concerns(incident: PublicIncident, *, model: str, batch: str) -> bool:
    if not (incident.products or incident.batches):
        return False
    model, batch = comparable(model), comparable(batch)
    return (
        not incident.products or model in {comparable(item) for item in incident.products}
    ) and (not incident.batches or batch in {comparable(item) for item in incident.batches})


def answer_for(incidents: Sequence[PublicIncident], *, model: str, batch: str) -> Answer:
    matching = [
        item
        for item in incidents
        if item.latest is not None and concerns(item, model=model, batch=batch)
    ]
    return Answer(
        affected=tuple(item for item in matching if item.ongoing),
        closed=tuple(item for item in matching if not item.ongoing),
    )


def look_up(session: Session, *, model: str, batch: str, now: datetime) -> Answer:
    """Against what the status page lists (open incidents, and those closed within its
    history), each with its latest statement. One query."""
    return answer_for(public.status_board(session, now=now), model=model, batch=batch)
