"""What a person does to an incident, across domains: the service changes the incident,
paging follows the roster (declaring pages it, a handover re-pages the seat, a duty manager
may page a seat again, resolving stands it down), declaring drafts the playbook's customer
notices as campaigns, and resolving opens the review, without which the incident is not
closed."""

from datetime import timedelta

from sqlmodel import Session

from incident_cmd.auth.models import User
from incident_cmd.campaigns import service as campaign_service
from incident_cmd.campaigns.models import Campaign
from incident_cmd.campaigns.schemas import Audience, CampaignCreate
from incident_cmd.errors import Conflict, Invalid
from incident_cmd.incidents import service
from incident_cmd.incidents.models import (
    OPEN_STATUSES,
    TRANSITIONS,
    Incident,
    IncidentStatus,
    RosterAssignment,
)
from incident_cmd.incidents.schemas import (
    IncidentDeclare,
    ResponderAdd,
    RoleAssign,
    SeatPage,
    StatusChange,
)
from incident_cmd.paging import pages as paging_pages
from incident_cmd.paging import repage as paging_repage
from incident_cmd.paging import standdown as paging_standdown
from incident_cmd.paging.models import Page
from incident_cmd.playbooks.schema import NotificationPlan, Playbook
from incident_cmd.playbooks.service import PlaybookRegistry
from incident_cmd.postmortems import flows as postmortem_flows
from incident_cmd.postmortems import service as postmortem_service
from incident_cmd.teams import service as team_service
from incident_cmd.workdays import UNITS, parse_offset


def declare(
    session: Session,
    *,
    registry: PlaybookRegistry,
    data: IncidentDeclare,
    actor: User,
    page: bool = True,
) -> Incident:
    """``page``: False for a drill whose scenario exercises the room without paging anyone."""
    incident = service.declare(session, registry=registry, data=data, actor=actor)
    playbook = service.playbook_of(session, incident)
    _draft_campaigns(session, incident=incident, playbook=playbook, actor=actor)
    if page:
        seats = service.current_roster(session, incident=incident)
        paging_pages.page_seats(session, seats=seats, actor_id=actor.id)
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


def page_again(session: Session, *, incident: Incident, seat: SeatPage, actor: User) -> Page:
    """Pages the seat's holder again (and its chain after them) while nobody acknowledged it."""
    if incident.status not in OPEN_STATUSES:
        raise Conflict(
            f"{incident.number} is {incident.status}: its roster is stood down", field="role"
        )
    held = service.seat_at(session, incident=incident, role_key=seat.role, slot=seat.slot)
    if held is None:
        raise Invalid(
            f"{incident.number} has no seat {seat.slot + 1} of role {seat.role!r}", field="role"
        )
    return paging_repage.page_again(session, seat=held, actor_id=actor.id)


def transition(
    session: Session, *, incident: Incident, change: StatusChange, actor: User
) -> Incident:
    # A move the status machine refuses is refused as such; a close it allows waits for the
    # review.
    if change.status == IncidentStatus.closed and change.status in TRANSITIONS[incident.status]:
        postmortem_service.ensure_closable(session, incident=incident)
    service.transition(session, incident=incident, change=change, actor=actor)
    if change.status == IncidentStatus.resolved:
        paging_standdown.stand_down(
            session,
            incident=incident,
            seats=service.current_roster(session, incident=incident),
            message=change.note,
            actor=actor,
        )
    if change.status in (IncidentStatus.resolved, IncidentStatus.in_review):
        postmortem_flows.enter_review(session, incident=incident, actor=actor)
    return incident


def campaign_from_plan(
    session: Session, *, incident: Incident, plan: NotificationPlan, actor: User
) -> Campaign:
    scope = incident.scope
    if plan.audience == "scope_purchasers":
        audience = Audience(
            rule="scope_purchasers",
            products=scope["products"],
            batches=scope["batches"],
            regions=scope["regions"],
        )
    elif plan.audience == "scope_regions":
        audience = Audience(rule="scope_regions", regions=scope["regions"])
    elif plan.audience == "open_tickets":
        audience = Audience(
            rule="open_tickets",
            products=scope["products"],
            batches=scope["batches"],
            regions=scope["regions"],
        )
    else:
        raise Invalid(
            f"plan {plan.key!r} needs its audience chosen by hand ({plan.audience})", field="plan"
        )
    earlier = None
    if plan.skip_if_replied_to is not None:
        earlier = campaign_service.plan_campaign_id(
            session, incident_id=incident.id, plan_key=plan.skip_if_replied_to
        )
    data = CampaignCreate(
        name=f"{incident.number} {plan.key}",
        channel=plan.channel,
        template=plan.template,
        audience=audience,
        incident_id=incident.id,
        safety_critical=plan.safety_critical,
        notice_class=plan.notice_class,
        two_person_approval=plan.two_person_approval,
        send_at=incident.declared_at + _plan_offset(plan.offset),
        reply_keywords={
            key: label.model_dump(by_alias=True) for key, label in plan.reply_keywords.items()
        },
    )
    return campaign_service.create_campaign(
        session, data=data, actor=actor, plan_key=plan.key, skip_if_replied_to=earlier
    )


def _plan_offset(offset: str) -> timedelta:
    amount, unit = parse_offset(offset)
    if unit == "wd":
        return timedelta(days=amount)
    return timedelta(**{UNITS[unit]: amount})


# What of the incident's scope an audience needs before its notice can be drafted.
SCOPE_NEEDED = {"scope_purchasers": ("products", "batches"), "scope_regions": ("regions",)}


def _draft_campaigns(
    session: Session, *, incident: Incident, playbook: Playbook, actor: User
) -> list[Campaign]:
    """Draft campaigns for every plan whose audience follows from the incident: its scope, or
    the complaints linked to it (which a mass complaint brings and any incident may gain)."""
    drafts = []
    for plan in playbook.notifications:
        if plan.audience == "open_tickets" or any(
            incident.scope.get(name) for name in SCOPE_NEEDED.get(plan.audience, ())
        ):
            drafts.append(campaign_from_plan(session, incident=incident, plan=plan, actor=actor))
    return drafts


def _pages_through(playbook: Playbook, team_key: str, rotation: str, is_default: bool) -> list[str]:
    """The roles of ``playbook`` that page through the team's rotation: by its name, or by
    naming the team alone (a role's own team, or its escalation's duty team) when it is the
    team's default rotation."""
    roles = []
    for role in playbook.roles:
        named = role.team == team_key and (
            role.rotation == rotation or (role.rotation is None and is_default)
        )
        on_duty = role.escalation.duty_team == team_key and is_default
        if named or on_duty:
            roles.append(role.key)
    return roles


def remove_rotation(
    session: Session, *, registry: PlaybookRegistry, team_key: str, name: str, actor: User
) -> None:
    """Removes a team's rotation, refused while a playbook or an open incident pages through
    it: its roles would find nobody on call, and an escalation would skip its step."""
    team = team_service.get_team(session, key=team_key)
    rotation = team_service.get_rotation(session, team=team, name=name)
    default = team_service.default_rotation(session, team=team)
    is_default = default is not None and default.id == rotation.id
    users = [
        f"playbook {loaded.playbook.key} ({', '.join(roles)})"
        for loaded in registry.all()
        if (roles := _pages_through(loaded.playbook, team.key, name, is_default))
    ] + [
        f"{number} ({', '.join(roles)})"
        for number, playbook in service.open_playbooks(session)
        if (roles := _pages_through(playbook, team.key, name, is_default))
    ]
    if users:
        raise Conflict(
            f"rotation {name!r} of team {team.key!r} is paged through by {'; '.join(users)}: "
            "change the playbook, or wait for the incident to close, first",
            field="rotation",
        )
    team_service.remove_rotation(session, team=team, name=name, actor_id=actor.id)
