"""Time to acknowledge per seat and to the whole paged roster, against the playbook. A seat
handed over after it was answered is measured again from its new holder's page."""

from dataclasses import dataclass
from datetime import datetime

from sqlmodel import Session

from incident_cmd import clock
from incident_cmd.incidents.models import Incident
from incident_cmd.paging.models import Page, PageStatus
from incident_cmd.paging.pages import deadline, incident_playbook
from incident_cmd.paging.queries import pages_of


@dataclass(frozen=True)
class RoleFigure:
    role: str
    slot: int
    target_seconds: int
    paged_at: datetime
    acknowledged_at: datetime | None
    acknowledged_by: int | None
    seconds_to_ack: int | None
    within_target: bool | None
    status: PageStatus


@dataclass(frozen=True)
class Mobilisation:
    roles: list[RoleFigure]
    full_roster_at: datetime | None
    seconds_to_full_roster: int | None
    full_roster_target_seconds: int | None
    within_target: bool | None


def _latest_call(pages: list[Page]) -> list[Page]:
    """The seat's pages since it was last called anew. A page made after the seat had been
    acknowledged (it was handed over to someone else) starts the clock again; escalations
    and pages again while nobody had answered do not, for the seat was waiting all along."""
    start, answered = 0, None
    for index, page in enumerate(pages):
        if answered is not None and answered <= page.created_at:
            start, answered = index, None
        if page.status == PageStatus.acknowledged and page.acknowledged_at is not None:
            answered = min(answered or page.acknowledged_at, page.acknowledged_at)
    return pages[start:]


def mobilisation(session: Session, *, incident: Incident) -> Mobilisation:
    """Time to acknowledge per seat and to the whole paged roster, against the playbook."""
    playbook = incident_playbook(session, incident)
    by_seat: dict[tuple[str, int], list[Page]] = {}
    for page in pages_of(session, incident=incident):
        by_seat.setdefault((page.role_key, page.slot), []).append(page)
    figures = []
    now = clock.now()
    for (role_key, slot), seat_pages in by_seat.items():
        pages = _latest_call(seat_pages)
        role = playbook.role(role_key)
        ack_within = role.ack_within if role else "15m"
        first = pages[0]
        target_seconds = int(
            (deadline(first.created_at, ack_within) - first.created_at).total_seconds()
        )
        acknowledgements = [
            (page.acknowledged_at, page.acknowledged_by)
            for page in pages
            if page.status == PageStatus.acknowledged and page.acknowledged_at is not None
        ]
        last = pages[-1]
        if acknowledgements:
            acknowledged_at, acknowledged_by = acknowledgements[-1]
            seconds = int((acknowledged_at - first.created_at).total_seconds())
            figures.append(
                RoleFigure(
                    role_key,
                    slot,
                    target_seconds,
                    first.created_at,
                    acknowledged_at,
                    acknowledged_by,
                    seconds,
                    seconds <= target_seconds,
                    PageStatus.acknowledged,
                )
            )
        else:
            late = (now - first.created_at).total_seconds() > target_seconds
            figures.append(
                RoleFigure(
                    role_key,
                    slot,
                    target_seconds,
                    first.created_at,
                    None,
                    None,
                    None,
                    False if late else None,
                    last.status,
                )
            )
    live = [figure for figure in figures if figure.status != PageStatus.cancelled]
    if not live:
        return Mobilisation(figures, None, None, None, None)
    target = max(figure.target_seconds for figure in live)
    acknowledged = [figure.acknowledged_at for figure in live if figure.acknowledged_at is not None]
    if len(acknowledged) == len(live):
        full_at = max(acknowledged)
        seconds = int((full_at - incident.declared_at).total_seconds())
        return Mobilisation(figures, full_at, seconds, target, seconds <= target)
    late = (now - incident.declared_at).total_seconds() > target
    return Mobilisation(figures, None, None, target, False if late else None)
