"""What a person does to an incident, across domains: the service changes the incident, and
paging follows the roster (declaring pages it, a handover re-pages the seat, resolving stands
it down)."""

from sqlmodel import Session

from incident_cmd.auth.models import User
from incident_cmd.incidents import service
from incident_cmd.incidents.models import (
    OPEN_STATUSES,
    Incident,
    IncidentStatus,
    RosterAssignment,
)
from incident_cmd.incidents.schemas import IncidentDeclare, ResponderAdd, RoleAssign, StatusChange
from incident_cmd.paging import pages as paging_pages
from incident_cmd.paging import standdown as paging_standdown
from incident_cmd.playbooks.service import PlaybookRegistry


def declare(
    session: Session, *, registry: PlaybookRegistry, data: IncidentDeclare, actor: User
) -> Incident:
    incident = service.declare(session, registry=registry, data=data, actor=actor)
    paging_pages.page_roster(session, incident=incident, actor_id=actor.id)
    return incident


def assign_role(
    session: Session, *, incident: Incident, change: RoleAssign, actor: User
) -> RosterAssignment:
    previous = service.seat_at(session, incident=incident, role_key=change.role, slot=change.slot)
    seat = service.assign_role(session, incident=incident, change=change, actor=actor)
    if previous is not None and previous.id == seat.id:
        return seat
    if previous is not None:
        paging_standdown.cancel_for_seat(
            session, seat=previous, reason=f"handed over to {change.user}"
        )
    if incident.status in OPEN_STATUSES:
        paging_pages.page_seat(session, seat=seat, actor_id=actor.id)
    return seat


def add_responder(
    session: Session, *, incident: Incident, data: ResponderAdd, actor: User
) -> RosterAssignment:
    seat = service.add_seat(session, incident=incident, data=data, actor=actor)
    if data.page:
        paging_pages.page_seat(session, seat=seat, actor_id=actor.id)
    return seat


def transition(
    session: Session, *, incident: Incident, change: StatusChange, actor: User
) -> Incident:
    service.transition(session, incident=incident, change=change, actor=actor)
    if change.status == IncidentStatus.resolved:
        paging_standdown.stand_down(session, incident=incident, message=change.note, actor=actor)
    return incident
