"""Who may act on a ticket, and who answers for it."""

from sqlmodel import Session, select

from incident_cmd import clock
from incident_cmd.auth.models import Role, User
from incident_cmd.errors import Forbidden
from incident_cmd.teams import service as team_service
from incident_cmd.teams.models import Team, TeamMember
from incident_cmd.tickets.models import Ticket

OVERSEERS = (Role.admin, Role.duty_manager)


def _team_of(session: Session, ticket: Ticket) -> Team | None:
    return session.exec(select(Team).where(Team.key == ticket.team_key)).first()


def may_work_on(session: Session, *, ticket: Ticket, actor: User) -> bool:
    """Its assignee, its team (members and lead), duty managers and admins."""
    if actor.role in OVERSEERS or ticket.assignee_id == actor.id:
        return True
    team = _team_of(session, ticket)
    return team is not None and (
        team.lead_user_id == actor.id or session.get(TeamMember, (team.id, actor.id)) is not None
    )


def ensure_may_work_on(session: Session, *, ticket: Ticket, actor: User) -> None:
    if not may_work_on(session, ticket=ticket, actor=actor):
        raise Forbidden(
            f"{ticket.number} belongs to team {ticket.team_key!r} and is not assigned to you: "
            "you may act only on tickets assigned to you or to your team"
        )


def is_supervisor(session: Session, *, ticket: Ticket, actor: User) -> bool:
    """The lead of the ticket's team, a duty manager or an admin."""
    if actor.role in OVERSEERS:
        return True
    team = _team_of(session, ticket)
    return team is not None and team.lead_user_id == actor.id


def owner(session: Session, *, ticket: Ticket, who: str) -> User | None:
    """The ticket's assignee, its team's lead (the supervisor), or the duty manager on call."""
    if who == "assignee":
        return session.get(User, ticket.assignee_id) if ticket.assignee_id else None
    if who == "supervisor":
        team = team_service.get_team(session, key=ticket.team_key)
        return session.get(User, team.lead_user_id) if team.lead_user_id else None
    on_call = team_service.responders(
        session, team_key="duty-managers", rotation_name=None, at=clock.now(), count=1
    )
    return on_call[0] if on_call else None
