"""Makers of a test's world. Each makes its rows through the services, as the application
would, gives every name it invents a new serial number, and returns what it made. None of them
commits: that is the test's (or its session's) business."""

import io
import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

from sqlmodel import Session, col, select

from incident_cmd import clock
from incident_cmd.auth import service as auth_service
from incident_cmd.auth.models import Role, User
from incident_cmd.auth.schemas import ContactStep, UserCreate
from incident_cmd.customers import service as customer_service
from incident_cmd.customers.models import Customer
from incident_cmd.incidents import flows as incident_flows
from incident_cmd.incidents.models import Incident
from incident_cmd.incidents.schemas import IncidentDeclare, Scope
from incident_cmd.playbooks.schema import Playbook
from incident_cmd.playbooks.service import PlaybookRegistry
from incident_cmd.teams import service as team_service
from incident_cmd.teams.models import Team, TeamMember
from incident_cmd.teams.schemas import RotationCreate, TeamCreate
from incident_cmd.tickets import intake as ticket_intake
from incident_cmd.tickets.models import Ticket
from incident_cmd.tickets.policy import service_levels
from incident_cmd.tickets.schemas import TicketCreate

_serial = itertools.count(1)

SMS_THEN_VOICE = [
    ContactStep(channel="sms", wait_minutes=0),
    ContactStep(channel="voice", wait_minutes=2),
    ContactStep(channel="email", wait_minutes=5),
]
# The rotation a team's roles use when a playbook names none: the team's first.
FIRST_ROTATION = "primary"
# The teams the service-level file and the ticket escalation name.
SERVICE_DESK = "customer-service"
DUTY_MANAGERS = "duty-managers"


def unique(prefix: str) -> str:
    return f"{prefix}{next(_serial)}"


def make_user(
    session: Session,
    role: Role | str = Role.responder,
    *,
    username: str | None = None,
    contactable: bool = False,
    **fields,
) -> User:
    """A user with only the fields given, or, when ``contactable``, with a phone, an email and
    the SMS-then-voice contact policy a paged person has."""
    role = Role(role)
    username = username or unique(role.value.replace("_", "-") + ".")
    if contactable:
        number = next(_serial)
        fields.setdefault("phone", f"+86136{number:08d}")
        fields.setdefault("email", f"{username}@people.example.com")
        fields.setdefault("contact_policy", SMS_THEN_VOICE)
    return auth_service.create_user(
        session, data=UserCreate(username=username, role=role, **fields), actor_id=None
    )


def bearer(session: Session, user: User) -> dict[str, str]:
    """Authorization headers with a new API token of the user."""
    _, secret = auth_service.issue_token(
        session, user=user, name="test", expires_in=None, actor_id=None
    )
    return {"Authorization": f"Bearer {secret}"}


def make_team(
    session: Session,
    *,
    key: str | None = None,
    name: str | None = None,
    timezone: str | None = None,
    lead: User | None = None,
    members: Sequence[User] = (),
    rotations: dict[str, Sequence[User]] | None = None,
    shift: str = "daily",
    handoff: str = "09:00",
    anchor: date | None = None,
) -> Team:
    """A team with its members and rotations (name -> members in turn). Rotations are anchored
    today by default, so each one's first member is on call from today's handoff."""
    key = key or unique("team-")
    team = team_service.create_team(
        session,
        data=TeamCreate(
            key=key,
            name=name or key.replace("-", " ").capitalize(),
            timezone=timezone,
            lead=lead.username if lead else None,
            members=[member.username for member in members],
        ),
        actor_id=None,
    )
    for rotation, people in (rotations or {}).items():
        team_service.create_rotation(
            session,
            team=team,
            data=RotationCreate(
                name=rotation,
                shift=shift,
                handoff_time=handoff,
                anchor_date=anchor or clock.now().date(),
                members=[person.username for person in people],
            ),
            actor_id=None,
        )
    return team


def _team(session: Session, key: str) -> Team | None:
    return session.exec(select(Team).where(Team.key == key)).first()


def make_playbook_teams(
    session: Session, *playbooks: Playbook, per_rotation: int = 2
) -> dict[str, Team]:
    """The teams the playbooks' roles name (by key), for each not made yet: every rotation a
    role names, or the team's first when it names none, staffed by new contactable
    responders; the first of them leads the team."""
    # team key -> rotation name -> how many people it needs, the first rotation first
    wanted: dict[str, dict[str, int]] = {}
    for role in (role for playbook in playbooks for role in playbook.roles):
        rotations = wanted.setdefault(role.team, {})
        name = role.rotation or FIRST_ROTATION
        needed = max(per_rotation, role.count, rotations.get(name, 0))
        if role.rotation is None and name not in rotations:
            rotations = wanted[role.team] = {name: needed, **rotations}
        rotations[name] = needed
    teams = {}
    for key, sizes in wanted.items():
        existing = _team(session, key)
        if existing is not None:
            teams[key] = existing
            continue
        rotations = {
            name: [make_user(session, Role.responder, contactable=True) for _ in range(size)]
            for name, size in sizes.items()
        }
        first = next(iter(rotations.values()))
        teams[key] = make_team(session, key=key, lead=first[0], rotations=rotations)
    return teams


def rotation_members(session: Session, *, team_key: str, rotation: str | None = None) -> list[str]:
    """Usernames of a rotation (the team's first when not named), in turn order."""
    read = team_service.team_read(session, team_service.get_team(session, key=team_key))
    return next(item.members for item in read.rotations if rotation in (None, item.name))


def make_incident(
    session: Session,
    *,
    registry: PlaybookRegistry,
    playbook: str = "product-recall",
    severity: str = "sev1",
    scope: Scope | None = None,
    title: str | None = None,
    drill: bool = False,
    actor: User | None = None,
) -> Incident:
    """An incident declared (and its roster paged) by a duty manager, its roster filled from
    the teams its playbook names, made here where the test did not make them."""
    loaded = registry.get(playbook).playbook
    make_playbook_teams(session, loaded)
    incident = incident_flows.declare(
        session,
        registry=registry,
        actor=actor or make_user(session, Role.duty_manager, contactable=True),
        data=IncidentDeclare(
            playbook=playbook,
            title=title or unique("Incident "),
            severity=severity,
            scope=scope or Scope(products=["PX-200"], batches=["B7"], regions=["Guangdong"]),
            drill=drill,
        ),
    )
    session.flush()
    return incident


def customers_csv(rows: Sequence[tuple[str, str, str, str, str]]) -> str:
    """An import file; rows: (ref, name, phone, timezone, batch), each with a PX-200."""
    lines = ["external_ref,name,phone,email,locale,timezone,region,product_model,batch"]
    for ref, name, phone, zone, batch in rows:
        locale = "zh-CN" if zone == "Asia/Shanghai" else "en"
        lines.append(
            f"{ref},{name},{phone},{ref.lower()}@example.com,{locale},{zone},R1,PX-200,{batch}"
        )
    return "\n".join(lines) + "\n"


def shanghai_customers(count: int, batch: str = "B7", start: int = 0):
    return [
        (f"CN{start + n:05d}", f"客户{start + n}", f"+86139{start + n:08d}", "Asia/Shanghai", batch)
        for n in range(count)
    ]


def new_york_customers(count: int, batch: str = "B7", start: int = 0):
    return [
        (
            f"US{start + n:05d}",
            f"Customer {start + n}",
            f"+1212555{start + n:04d}",
            "America/New_York",
            batch,
        )
        for n in range(count)
    ]


def make_customer(
    session: Session,
    *,
    name: str | None = None,
    phone: str | None = None,
    email: str | None = None,
    locale: str = "zh-CN",
    timezone: str = "Asia/Shanghai",
    region: str = "Guangdong",
    purchases: Sequence[tuple[str, str]] = (("PX-200", "B7"),),
) -> Customer:
    """A customer imported with one row per purchase (product model, batch)."""
    ref = unique("CUST")
    number = next(_serial)
    phone = phone if phone or email else f"+86135{number:08d}"
    header = "external_ref,name,phone,email,locale,timezone,region,product_model,batch,serial"
    details = f"{ref},{name or ref},{phone or ''},{email or ''},{locale},{timezone},{region}"
    lines = [
        f"{details},{model},{batch},{ref}-{position}"
        for position, (model, batch) in enumerate(purchases)
    ] or [f"{details},,,"]
    report = customer_service.import_csv(session, stream=io.StringIO("\n".join([header, *lines])))
    assert report.rejected_total == 0, report.rejected
    return session.exec(select(Customer).where(Customer.external_ref == ref)).one()


def make_duty_managers(session: Session) -> Team:
    """The duty managers' team that pages escalate to and tickets' senior callbacks go to,
    where the test has not made it: one contactable duty manager, its lead and its rotation."""
    team = _team(session, DUTY_MANAGERS)
    if team is None:
        manager = make_user(session, Role.duty_manager, contactable=True)
        team = make_team(session, key=DUTY_MANAGERS, lead=manager, rotations={"primary": [manager]})
    return team


@dataclass(frozen=True)
class ServiceDesk:
    """The complaint desk's people by username (names outlive the session that made them):
    its lead, who supervises its tickets; its active agents, in the order they were made;
    and the duty manager on call, who answers for the desk's tickets above the lead."""

    lead: str
    agents: list[str]
    duty_manager: str


def _make_complaint_teams(session: Session, desk: Team) -> None:
    """The teams the service-level file routes categories to (technical support, quality),
    where the test has not made them: led by the desk's lead, the desk's agents members (so
    they work those complaints too), paged through a rotation of two responders as
    make_playbook_teams would make it."""
    agents = session.exec(
        select(User)
        .join(TeamMember, col(TeamMember.user_id) == User.id)
        .where(TeamMember.team_id == desk.id, User.role == Role.agent)
    ).all()
    lead = session.get(User, desk.lead_user_id) if desk.lead_user_id else None
    for key in sorted(set(service_levels().assignment.teams.values()) - {SERVICE_DESK}):
        if _team(session, key) is None:
            responders = [make_user(session, Role.responder, contactable=True) for _ in range(2)]
            make_team(
                session,
                key=key,
                lead=lead,
                members=agents,
                rotations={FIRST_ROTATION: responders},
            )


def make_service_desk(session: Session, *, agents: int = 2) -> ServiceDesk:
    """The complaint desk the service-level file assigns tickets to, and the duty managers'
    team tickets escalate to, where the test has not made them."""
    desk = _team(session, SERVICE_DESK)
    if desk is None:
        lead = make_user(session, Role.responder, contactable=True)
        people = [make_user(session, Role.agent, contactable=True) for _ in range(agents)]
        desk = make_team(
            session, key=SERVICE_DESK, lead=lead, rotations={"lead": [lead], "agents": people}
        )
    make_duty_managers(session)
    _make_complaint_teams(session, desk)
    session.flush()
    desk_agents = session.exec(
        select(User.username)
        .join(TeamMember, col(TeamMember.user_id) == User.id)
        .where(TeamMember.team_id == desk.id, User.role == Role.agent, col(User.active))
        .order_by(col(User.id))
    ).all()
    [on_call] = team_service.responders(
        session, team_key=DUTY_MANAGERS, rotation_name=None, at=clock.now(), count=1
    )
    lead_user = session.get(User, desk.lead_user_id) if desk.lead_user_id else None
    if lead_user is None:
        raise LookupError(f"the team {SERVICE_DESK!r} has no lead")
    return ServiceDesk(
        lead=lead_user.username, agents=list(desk_agents), duty_manager=on_call.username
    )


def make_ticket(
    session: Session,
    *,
    registry: PlaybookRegistry,
    actor: User | None = None,
    description: str = "电饭煲不工作了",
    channel: str = "phone",
    **fields,
) -> Ticket:
    """A ticket taken in through intake by the actor (a new agent unless given), with the
    service desk made where the test did not make it."""
    make_service_desk(session)
    if "phone" not in fields and "email" not in fields:
        fields["phone"] = f"+86134{next(_serial):08d}"
    ticket = ticket_intake.take_in(
        session,
        data=TicketCreate(description=description, channel=channel, **fields),
        registry=registry,
        actor=actor or make_user(session, Role.agent),
    )
    session.flush()
    return ticket
