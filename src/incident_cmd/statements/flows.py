"""A statement's steps as people take them: the incident says which seats the person holds
on its roster (its spokesperson, its commander) and which playbook it follows; the
statements service does the rest. Publishing is where a statement goes out to subscribers
and customers in scope."""

from collections.abc import Sequence
from dataclasses import dataclass

from pydantic import ValidationError
from sqlmodel import Session

from incident_cmd.auth.models import User
from incident_cmd.campaigns import service as campaign_service
from incident_cmd.campaigns.models import Campaign
from incident_cmd.campaigns.schemas import Audience, CampaignCreate
from incident_cmd.errors import Invalid
from incident_cmd.incidents import service as incident_service
from incident_cmd.incidents.models import Incident
from incident_cmd.statements import service
from incident_cmd.statements.models import Statement
from incident_cmd.statements.schemas import StatementCorrection, StatementDraft
from incident_cmd.subscriptions import service as subscriptions


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


# The playbook's audiences that name customers from the incident (not a hand-picked list).
IN_SCOPE_AUDIENCES = ("scope_purchasers", "scope_regions", "open_tickets")
CUSTOMER_NOTICE_TEMPLATE = "statement_notice"


def _audiences_in_scope(session: Session, incident: Incident) -> list[tuple[str, Audience]]:
    """(channel, audience) of each of the playbook's notices whose audience follows from the
    incident (its scope, or the complaints linked to it), once each."""
    scope = incident.scope or {}
    found: list[tuple[str, Audience]] = []
    for plan in incident_service.playbook_of(session, incident).notifications:
        if plan.audience not in IN_SCOPE_AUDIENCES:
            continue
        try:
            audience = Audience(
                rule=plan.audience,
                products=scope.get("products") or [],
                batches=scope.get("batches") or [],
                regions=scope.get("regions") or [],
            )
        except ValidationError:
            continue  # the scope does not name what this audience is drawn by
        if all((plan.channel, audience) != item for item in found):
            found.append((plan.channel, audience))
    return found


def customers_in_scope(session: Session, *, incident: Incident) -> bool:
    """Whether publishing may also draft a notice to the customers in the incident's scope."""
    return bool(_audiences_in_scope(session, incident))


def _notify_customers(
    session: Session, *, incident: Incident, statement: Statement, actor: User, audiences
) -> list[Campaign]:
    """Drafts a notice pointing to the statement for the customers in scope: campaigns
    that wait for the usual approval (a drill's go to the sink channels)."""
    return [
        campaign_service.create_campaign(
            session,
            data=CampaignCreate(
                name=f"第{statement.version}次通报 · Statement update {statement.version}",
                channel=channel,
                template=CUSTOMER_NOTICE_TEMPLATE,
                audience=audience,
                incident_id=incident.id,
            ),
            actor=actor,
        )
        for channel, audience in audiences
    ]


def publish(
    session: Session,
    *,
    incident_id: int,
    statement_id: int,
    actor: User,
    notify_customers: bool = False,
) -> Statement:
    """Publishes the statement and queues it for the confirmed subscribers of the incident
    and its products (never for a drill); ``notify_customers`` also drafts a notice to the
    customers in scope, refused before anything is published when the playbook names none."""
    incident = incident_service.get_incident(session, incident_id=incident_id)
    statement = service.get_statement(session, incident=incident, statement_id=statement_id)
    audiences = _audiences_in_scope(session, incident) if notify_customers else []
    if notify_customers and not audiences:
        raise Invalid(
            f"the playbook of {incident.number} names no customers in its scope to notify",
            field="notify_customers",
        )
    published = service.publish(
        session,
        incident=incident,
        statement=statement,
        actor=actor,
        speaks_for_incident=_speaks_for(session, incident, actor),
        commands=_commands(session, incident, actor),
    )
    incident_service.set_public_status(
        session, incident=incident, status=published.stage.public_status
    )
    subscriptions.send_statement(session, incident=incident, statement=published)
    if audiences:
        _notify_customers(
            session, incident=incident, statement=published, actor=actor, audiences=audiences
        )
    return published
