"""A ticket's history: every change to a ticket is told on its timeline."""

from sqlmodel import Session

from incident_cmd.tickets.models import Ticket
from incident_cmd.timeline import service as timeline

SUBJECT = "ticket"


def record(
    session: Session,
    *,
    ticket: Ticket,
    kind: str,
    summary: str,
    actor_id: int | None,
    data: dict | None = None,
) -> None:
    timeline.append(
        session,
        subject_type=SUBJECT,
        subject_id=ticket.id,
        kind=kind,
        summary=summary,
        actor_id=actor_id,
        data=data,
    )
