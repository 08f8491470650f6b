from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from itertools import pairwise
from zoneinfo import ZoneInfo

from sqlmodel import Session, col, select

from incident_cmd.auth import service as auth_service
from incident_cmd.auth.models import User
from incident_cmd.config import get_settings
from incident_cmd.errors import Conflict, Invalid, NotFound
from incident_cmd.teams.models import (
    Rotation,
    RotationMember,
    RotationOverride,
    ShiftLength,
    Team,
    TeamMember,
)
from incident_cmd.teams.schemas import (
    OverrideCreate,
    RotationCreate,
    RotationRead,
    RotationUpdate,
    TeamCreate,
    TeamRead,
    TeamUpdate,
)
from incident_cmd.timeline import service as timeline

SHIFT_DAYS = {ShiftLength.daily: 1, ShiftLength.weekly: 7}


@dataclass(frozen=True)
class Shift:
    index: int
    start: datetime
    end: datetime


@dataclass(frozen=True)
class OnCall:
    team: Team
    rotation: Rotation
    user: User
    source: str  # "rotation" or "override"
    shift: Shift


def shift_at(rotation: Rotation, zone: ZoneInfo, at: datetime) -> Shift:
    """The shift covering ``at``. Shifts are counted in calendar days of the team's zone, so a
    daylight-saving change moves no handoff off its wall-clock time."""
    hour, minute = (int(part) for part in rotation.handoff_time.split(":"))
    handoff = time(hour, minute)
    length = SHIFT_DAYS[rotation.shift]
    local = at.astimezone(zone)
    day = local.date()
    if local < datetime.combine(day, handoff, zone):
        day -= timedelta(days=1)
    elapsed = (day - rotation.anchor_date).days
    index, into_shift = divmod(elapsed, length)
    start_day = day - timedelta(days=into_shift)
    return Shift(
        index=index,
        start=datetime.combine(start_day, handoff, zone).astimezone(UTC),
        end=datetime.combine(start_day + timedelta(days=length), handoff, zone).astimezone(UTC),
    )


def get_team(session: Session, *, key: str) -> Team:
    team = session.exec(select(Team).where(Team.key == key)).first()
    if team is None:
        raise NotFound(f"no team {key!r}", field="team")
    return team


def list_teams(session: Session) -> Sequence[Team]:
    return session.exec(select(Team).order_by(Team.key)).all()


def _users(session: Session, usernames: list[str], field: str) -> list[User]:
    users = []
    for position, name in enumerate(usernames):
        try:
            users.append(auth_service.get_user_by_username(session, username=name))
        except NotFound as exc:
            raise NotFound(exc.message, field=f"{field}[{position}]") from None
    return users


def create_team(session: Session, *, data: TeamCreate, actor_id: int | None) -> Team:
    if session.exec(select(Team.id).where(Team.key == data.key)).first():
        raise Conflict(f"team {data.key!r} already exists", field="key")
    lead = _users(session, [data.lead], "lead")[0] if data.lead else None
    members = _users(session, data.members, "members")
    team = Team(
        key=data.key,
        name=data.name,
        timezone=data.timezone or get_settings().default_timezone,
        lead_user_id=lead.id if lead else None,
    )
    session.add(team)
    session.flush()
    for user in {user.id: user for user in members}.values():
        session.add(TeamMember(team_id=team.id, user_id=user.id))
    timeline.append(
        session,
        subject_type="team",
        subject_id=team.id,
        kind="team.created",
        summary=f"team {team.key} created with {len(members)} members",
        actor_id=actor_id,
    )
    return team


def create_rotation(
    session: Session, *, team: Team, data: RotationCreate, actor_id: int | None
) -> Rotation:
    exists = select(Rotation.id).where(Rotation.team_id == team.id, Rotation.name == data.name)
    if session.exec(exists).first():
        raise Conflict(f"team {team.key!r} already has a rotation {data.name!r}", field="name")
    members = _users(session, data.members, "members")
    rotation = Rotation(
        team_id=team.id,
        name=data.name,
        shift=data.shift,
        handoff_time=data.handoff_time,
        anchor_date=data.anchor_date,
    )
    session.add(rotation)
    session.flush()
    _add_turns(session, team, rotation, members)
    timeline.append(
        session,
        subject_type="team",
        subject_id=team.id,
        kind="rotation.created",
        summary=f"{data.shift} rotation {data.name!r} handing off at {data.handoff_time}",
        actor_id=actor_id,
        data={"rotation_id": rotation.id, "members": data.members},
    )
    return rotation


def update_team(session: Session, *, team: Team, data: TeamUpdate, actor_id: int | None) -> Team:
    """Renames the team, moves it to another zone (its rotations then hand off at the same
    clock time there) or changes its lead; records what changed, nothing if nothing did."""
    changes: dict[str, str | None] = {}
    if data.name is not None and data.name != team.name:
        team.name = changes["name"] = data.name
    if data.timezone is not None and data.timezone != team.timezone:
        team.timezone = changes["timezone"] = data.timezone
    if "lead" in data.model_fields_set:
        lead = _users(session, [data.lead], "lead")[0] if data.lead else None
        if (lead.id if lead else None) != team.lead_user_id:
            team.lead_user_id = lead.id if lead else None
            changes["lead"] = lead.username if lead else None
    if not changes:
        return team
    session.add(team)
    timeline.append(
        session,
        subject_type="team",
        subject_id=team.id,
        kind="team.changed",
        summary=f"team {team.key} changed: "
        + ", ".join(f"{field} {value or '-'}" for field, value in changes.items()),
        actor_id=actor_id,
        data=changes,
    )
    return team


def add_member(session: Session, *, team: Team, username: str, actor_id: int | None) -> User:
    user = _users(session, [username], "user")[0]
    if session.get(TeamMember, (team.id, user.id)) is not None:
        raise Conflict(f"{username} is already in team {team.key!r}", field="user")
    session.add(TeamMember(team_id=team.id, user_id=user.id))
    timeline.append(
        session,
        subject_type="team",
        subject_id=team.id,
        kind="team.member_added",
        summary=f"{username} joined team {team.key}",
        actor_id=actor_id,
        data={"user": username},
    )
    return user


def remove_member(session: Session, *, team: Team, username: str, actor_id: int | None) -> None:
    """Takes someone off the team. Refused while they take turns in one of its rotations: the
    rotation would otherwise name someone who is not on the team."""
    user = _users(session, [username], "user")[0]
    membership = session.get(TeamMember, (team.id, user.id))
    if membership is None:
        raise NotFound(f"{username} is not in team {team.key!r}", field="user")
    in_turn = session.exec(
        select(Rotation.name)
        .join(RotationMember, col(RotationMember.rotation_id) == Rotation.id)
        .where(Rotation.team_id == team.id, RotationMember.user_id == user.id)
        .order_by(Rotation.name)
    ).first()
    if in_turn is not None:
        raise Conflict(
            f"{username} takes turns in rotation {in_turn!r}; take them out of it first",
            field="user",
        )
    session.delete(membership)
    timeline.append(
        session,
        subject_type="team",
        subject_id=team.id,
        kind="team.member_removed",
        summary=f"{username} left team {team.key}",
        actor_id=actor_id,
        data={"user": username},
    )


def update_rotation(
    session: Session, *, team: Team, name: str, data: RotationUpdate, actor_id: int | None
) -> Rotation:
    """Changes a rotation's shift, handoff, first day or order of turns; whoever takes turns
    joins the team, as when a rotation is created. Records what changed, nothing if nothing
    did. Overrides stay: they name people and periods, not turns."""
    rotation = get_rotation(session, team=team, name=name)
    changes: dict[str, object] = {}
    if data.shift is not None and data.shift != rotation.shift:
        rotation.shift = data.shift
        changes["shift"] = data.shift.value
    if data.handoff_time is not None and data.handoff_time != rotation.handoff_time:
        rotation.handoff_time = changes["handoff_time"] = data.handoff_time
    if data.anchor_date is not None and data.anchor_date != rotation.anchor_date:
        rotation.anchor_date = data.anchor_date
        changes["anchor_date"] = data.anchor_date.isoformat()
    if data.members is not None:
        members = _users(session, data.members, "members")
        if [user.id for user in members] != [
            user.id for user in _rotation_users(session, rotation)
        ]:
            _replace_turns(session, team, rotation, members)
            changes["members"] = data.members
    if not changes:
        return rotation
    session.add(rotation)
    timeline.append(
        session,
        subject_type="team",
        subject_id=team.id,
        kind="rotation.changed",
        summary=f"rotation {rotation.name!r} changed: " + ", ".join(changes),
        actor_id=actor_id,
        data={"rotation_id": rotation.id, "rotation": rotation.name, **changes},
    )
    return rotation


def _replace_turns(session: Session, team: Team, rotation: Rotation, members: list[User]) -> None:
    old = session.exec(select(RotationMember).where(RotationMember.rotation_id == rotation.id))
    for turn in old.all():
        session.delete(turn)
    # The new turns reuse the old positions (the key): the old rows must be gone first.
    session.flush()
    _add_turns(session, team, rotation, members)


def _add_turns(session: Session, team: Team, rotation: Rotation, members: list[User]) -> None:
    """The rotation's turns in order; whoever takes one and is not on the team joins it (once,
    though they may take several turns)."""
    for position, user in enumerate(members):
        session.add(RotationMember(rotation_id=rotation.id, position=position, user_id=user.id))
    for user in {user.id: user for user in members}.values():
        if session.get(TeamMember, (team.id, user.id)) is None:
            session.add(TeamMember(team_id=team.id, user_id=user.id))


def default_rotation(session: Session, *, team: Team) -> Rotation | None:
    """The rotation a playbook role or escalation that names the team but no rotation pages
    through: the team's first."""
    rotations = _rotations(session, team, None)
    return rotations[0] if rotations else None


def remove_rotation(session: Session, *, team: Team, name: str, actor_id: int | None) -> None:
    """Removes the rotation with its turns and swaps; its members stay on the team. Whether
    anything still pages through it is for the caller to ask first (``incidents.flows``)."""
    rotation = get_rotation(session, team=team, name=name)
    members = [user.username for user in _rotation_users(session, rotation)]
    overrides = session.exec(
        select(RotationOverride).where(RotationOverride.rotation_id == rotation.id)
    ).all()
    turns = session.exec(select(RotationMember).where(RotationMember.rotation_id == rotation.id))
    for row in [*overrides, *turns.all()]:
        session.delete(row)
    session.flush()
    session.delete(rotation)
    timeline.append(
        session,
        subject_type="team",
        subject_id=team.id,
        kind="rotation.removed",
        summary=f"rotation {name!r} removed, with its {len(overrides)} swaps",
        actor_id=actor_id,
        data={"rotation_id": rotation.id, "rotation": name, "members": members},
    )


def get_rotation(session: Session, *, team: Team, name: str) -> Rotation:
    rotation = session.exec(
        select(Rotation).where(Rotation.team_id == team.id, Rotation.name == name)
    ).first()
    if rotation is None:
        raise NotFound(f"team {team.key!r} has no rotation {name!r}", field="rotation")
    return rotation


def add_override(
    session: Session, *, team: Team, rotation_name: str, data: OverrideCreate, actor_id: int | None
) -> RotationOverride:
    rotation = get_rotation(session, team=team, name=rotation_name)
    user = _users(session, [data.user], "user")[0]
    override = RotationOverride(
        rotation_id=rotation.id,
        user_id=user.id,
        starts_at=data.starts_at,
        ends_at=data.ends_at,
        reason=data.reason,
        created_by=actor_id,
    )
    session.add(override)
    session.flush()
    timeline.append(
        session,
        subject_type="team",
        subject_id=team.id,
        kind="rotation.override",
        summary=f"{user.username} covers {rotation.name!r} "
        f"from {data.starts_at.isoformat()} to {data.ends_at.isoformat()}",
        actor_id=actor_id,
        data={"override_id": override.id, "reason": data.reason},
    )
    return override


def _rotation_users(session: Session, rotation: Rotation) -> list[User]:
    query = (
        select(User)
        .join(RotationMember, col(RotationMember.user_id) == User.id)
        .where(RotationMember.rotation_id == rotation.id)
        .order_by(col(RotationMember.position))
    )
    return list(session.exec(query).all())


def _override_at(session: Session, rotation: Rotation, at: datetime) -> RotationOverride | None:
    # The most recently created override wins where swaps overlap.
    return session.exec(
        select(RotationOverride)
        .where(
            RotationOverride.rotation_id == rotation.id,
            col(RotationOverride.starts_at) <= at,
            col(RotationOverride.ends_at) > at,
        )
        .order_by(col(RotationOverride.id).desc())
    ).first()


def _rotations(session: Session, team: Team, rotation_name: str | None) -> list[Rotation]:
    if rotation_name is not None:
        return [get_rotation(session, team=team, name=rotation_name)]
    query = select(Rotation).where(Rotation.team_id == team.id).order_by(col(Rotation.id))
    return list(session.exec(query).all())


def on_call(
    session: Session, *, team_key: str, at: datetime, rotation_name: str | None = None
) -> list[OnCall]:
    """Who is on call for the team at ``at``: one person per rotation."""
    team = get_team(session, key=team_key)
    zone = ZoneInfo(team.timezone)
    result = []
    for rotation in _rotations(session, team, rotation_name):
        members = _rotation_users(session, rotation)
        if not members:
            continue
        shift = shift_at(rotation, zone, at)
        override = _override_at(session, rotation, at)
        if override is not None:
            user = session.get_one(User, override.user_id)
            result.append(OnCall(team, rotation, user, "override", shift))
        else:
            result.append(
                OnCall(team, rotation, members[shift.index % len(members)], "rotation", shift)
            )
    return result


def responders(
    session: Session, *, team_key: str, rotation_name: str | None, at: datetime, count: int
) -> list[User]:
    """The on-call person first, then whoever follows in the rotation, active users only."""
    team = get_team(session, key=team_key)
    rotations = _rotations(session, team, rotation_name)
    if not rotations:
        raise Invalid(f"team {team_key!r} has no rotation", field="team")
    rotation = rotations[0]
    members = _rotation_users(session, rotation)
    if not members:
        return []
    shift = shift_at(rotation, ZoneInfo(team.timezone), at)
    order: list[User] = []
    override = _override_at(session, rotation, at)
    if override is not None:
        order.append(session.get_one(User, override.user_id))
    start = shift.index % len(members)
    order.extend(members[start:] + members[:start])
    chosen: list[User] = []
    for user in order:
        if user.active and all(user.id != picked.id for picked in chosen):
            chosen.append(user)
        if len(chosen) == count:
            break
    return chosen


def team_read(session: Session, team: Team) -> TeamRead:
    members = session.exec(
        select(User.username)
        .join(TeamMember, col(TeamMember.user_id) == User.id)
        .where(TeamMember.team_id == team.id)
        .order_by(User.username)
    ).all()
    lead = session.get(User, team.lead_user_id) if team.lead_user_id else None
    rotations = [
        RotationRead(
            id=rotation.id,
            name=rotation.name,
            shift=rotation.shift,
            handoff_time=rotation.handoff_time,
            anchor_date=rotation.anchor_date,
            members=[user.username for user in _rotation_users(session, rotation)],
        )
        for rotation in _rotations(session, team, None)
    ]
    return TeamRead(
        id=team.id,
        key=team.key,
        name=team.name,
        timezone=team.timezone,
        lead=lead.username if lead else None,
        members=list(members),
        rotations=rotations,
    )


@dataclass(frozen=True)
class OnCallSpan:
    rotation: Rotation
    user: User
    source: str  # "rotation" or "override"
    start: datetime
    end: datetime


def on_call_spans(
    session: Session, *, team: Team, start: datetime, end: datetime
) -> list[OnCallSpan]:
    """Who is on call for each rotation of the team from ``start`` to ``end``, as ``on_call``
    would answer at every moment of it (the newest override wins): one span per person and
    stretch, cut at handoffs and at overrides' starts and ends. Each rotation's members and
    overrides are read once, whatever the length of the period."""
    zone = ZoneInfo(team.timezone)
    spans: list[OnCallSpan] = []
    for rotation in _rotations(session, team, None):
        members = _rotation_users(session, rotation)
        if not members:
            continue
        overrides = session.exec(
            select(RotationOverride)
            .where(
                RotationOverride.rotation_id == rotation.id,
                col(RotationOverride.starts_at) < end,
                col(RotationOverride.ends_at) > start,
            )
            .order_by(col(RotationOverride.id).desc())
        ).all()
        covering = {o.id: session.get_one(User, o.user_id) for o in overrides}
        cuts = {start, end}
        moment = start
        while moment < end:
            moment = shift_at(rotation, zone, moment).end
            cuts.add(min(moment, end))
        for override in overrides:
            cuts |= {max(override.starts_at, start), min(override.ends_at, end)}
        ordered = sorted(cuts)
        for begin, finish in pairwise(ordered):
            swap = next((o for o in overrides if o.starts_at <= begin < o.ends_at), None)
            if swap is not None:
                user, source = covering[swap.id], "override"
            else:
                shift = shift_at(rotation, zone, begin)
                user, source = members[shift.index % len(members)], "rotation"
            last = spans[-1] if spans else None
            same = (rotation.id, user.id, source)
            if last is not None and (last.rotation.id, last.user.id, last.source) == same:
                spans[-1] = OnCallSpan(rotation, user, source, last.start, finish)
            else:
                spans.append(OnCallSpan(rotation, user, source, begin, finish))
    return spans


def overrides_of(
    session: Session, *, team: Team, ending_after: datetime
) -> list[tuple[RotationOverride, Rotation]]:
    """The team's overrides that have not ended by ``ending_after``, soonest first."""
    return [
        (override, rotation)
        for override, rotation in session.exec(
            select(RotationOverride, Rotation)
            .join(Rotation, col(Rotation.id) == RotationOverride.rotation_id)
            .where(Rotation.team_id == team.id, col(RotationOverride.ends_at) > ending_after)
            .order_by(col(RotationOverride.starts_at), col(RotationOverride.id))
        ).all()
    ]


def remove_override(session: Session, *, override_id: int, actor_id: int | None) -> Team:
    """Takes a swap back: the rotation's turn applies again. Returns the override's team."""
    override = session.get(RotationOverride, override_id)
    if override is None:
        raise NotFound(f"no override with id {override_id}", field="override")
    rotation = session.get_one(Rotation, override.rotation_id)
    team = session.get_one(Team, rotation.team_id)
    user = session.get_one(User, override.user_id)
    session.delete(override)
    timeline.append(
        session,
        subject_type="team",
        subject_id=team.id,
        kind="rotation.override_removed",
        summary=f"{user.username} no longer covers {rotation.name!r} "
        f"from {override.starts_at.isoformat()} to {override.ends_at.isoformat()}",
        actor_id=actor_id,
        data={"override_id": override_id, "reason": override.reason},
    )
    return team
