"""A statement's steps as people take them: the incident says which seats the person holds
on its roster (its spokesperson, its commander) and which playbook it follows; the
statements service does the rest. Publishing is where a statement goes out to subscribers
and customers in scope."""

from collections.abc import Sequence
from dataclasses import dataclass

from sqlmodel import Session

from incident_cmd.auth.models import User
from incident_cmd.incidents import service as incident_service
from incident_cmd.incidents.models import Incident
from incident_cmd.statements import service
from incident_cmd.statements.models import Statement
from incident_cmd.statements.schemas import StatementCorrection, StatementDraft


def _holds(session: Session, incident: Incident, actor: User, seat: str) -> bool:
    return incident_service.holds_role(session, incident=incident, user=actor, roles={seat})


def _speaks_for(session: Session, incident: Incident, actor: User) -> bool:
    return _holds(session, incident, actor, service.SPOKESPERSON_SEAT)


def _commands(session: Session, incident: Incident, actor: User) -> bool:
    return _holds(session, incident, actor, incident_service.COMMANDER_ROLE)


@dataclass(frozen=True)
class Permissions:
    """What the person may do with the incident's statements (the same rules the steps
    enforce), for a page to offer only those."""

    draft: bool
    approve: bool
    publish: bool


def permissions(session: Session, *, incident: Incident, actor: User) -> Permissions:
    speaks = _speaks_for(session, incident, actor)
    commands = _commands(session, incident, actor)
    return Permissions(
        draft=service.may_draft(actor, speaks_for_incident=speaks),
        approve=service.may_approve(actor, commands=commands),
        publish=service.may_publish(actor, speaks_for_incident=speaks, commands=commands),
    )


def statements(session: Session, *, incident_id: int) -> tuple[Incident, Sequence[Statement]]:
    incident = incident_service.get_incident(session, incident_id=incident_id)
    return incident, service.statements_of(session, incident=incident)


def draft(session: Session, *, incident_id: int, data: StatementDraft, actor: User) -> Statement:
    incident = incident_service.get_incident(session, incident_id=incident_id)
    return service.draft(
        session,
        incident=incident,
        playbook=incident_service.playbook_of(session, incident),
        data=data,
        actor=actor,
        speaks_for_incident=_speaks_for(session, incident, actor),
    )


def correct(
    session: Session,
    *,
    incident_id: int,
    statement_id: int,
    data: StatementCorrection,
    actor: User,
) -> Statement:
    incident = incident_service.get_incident(session, incident_id=incident_id)
    corrected = service.get_statement(session, incident=incident, statement_id=statement_id)
    return service.correct(
        session,
        incident=incident,
        playbook=incident_service.playbook_of(session, incident),
        corrected=corrected,
        data=data,
        actor=actor,
        speaks_for_incident=_speaks_for(session, incident, actor),
    )


def approve(session: Session, *, incident_id: int, statement_id: int, actor: User) -> Statement:
    incident = incident_service.get_incident(session, incident_id=incident_id)
    statement = service.get_statement(session, incident=incident, statement_id=statement_id)
    return service.approve(
        session,
        incident=incident,
        statement=statement,
        actor=actor,
        commands=_commands(session, incident, actor),
    )


def publish(session: Session, *, incident_id: int, statement_id: int, actor: User) -> Statement:
    incident = incident_service.get_incident(session, incident_id=incident_id)
    statement = service.get_statement(session, incident=incident, statement_id=statement_id)
    return service.publish(
        session,
        incident=incident,
        statement=statement,
        actor=actor,
        speaks_for_incident=_speaks_for(session, incident, actor),
        commands=_commands(session, incident, actor),
    )
