from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy import case
from sqlmodel import Session, col, func, select

from incident_cmd import clock, numbering
from incident_cmd.auth import service as auth_service
from incident_cmd.auth.models import Role, User
from incident_cmd.config import get_settings
from incident_cmd.db import skip_locked
from incident_cmd.errors import Conflict, Forbidden, Invalid, NotFound
from incident_cmd.incidents.models import (
    OPEN_STATUSES,
    TRANSITIONS,
    AssignmentState,
    Incident,
    IncidentStatus,
    IncidentTask,
    RosterAssignment,
    TaskStatus,
)
from incident_cmd.incidents.schemas import (
    IncidentDeclare,
    ResponderAdd,
    RoleAssign,
    SeverityChange,
    StatusChange,
    UpdatePost,
)
from incident_cmd.playbooks import service as playbook_service
from incident_cmd.playbooks.schema import Playbook, PublicStatus, RosterRole
from incident_cmd.playbooks.service import PlaybookRegistry
from incident_cmd.teams import service as team_service
from incident_cmd.timeline import service as timeline
from incident_cmd.timeline.models import TimelineEvent
from incident_cmd.workdays import add_offset

SUBJECT = "incident"


def _offset(start: datetime, offset: str) -> datetime:
    settings = get_settings()
    return add_offset(
        start, offset, zone=ZoneInfo(settings.default_timezone), country=settings.holiday_country
    )


def _record(
    session: Session,
    incident: Incident,
    kind: str,
    summary: str,
    actor_id: int | None,
    data: dict | None = None,
    public: bool = False,
) -> TimelineEvent:
    return timeline.append(
        session,
        subject_type=SUBJECT,
        subject_id=incident.id,
        kind=kind,
        summary=summary,
        actor_id=actor_id,
        data=data,
        public=public,
    )


def get_incident(session: Session, *, incident_id: int) -> Incident:
    incident = session.get(Incident, incident_id)
    if incident is None:
        raise NotFound(f"no incident with id {incident_id}")
    return incident


def playbook_of(session: Session, incident: Incident) -> Playbook:
    return playbook_service.pinned_playbook(session, content_hash=incident.playbook_hash)


def _fill_role(
    session: Session, incident: Incident, role: RosterRole, at: datetime
) -> list[tuple[RosterAssignment, User | None]]:
    try:
        people = team_service.responders(
            session, team_key=role.team, rotation_name=role.rotation, at=at, count=role.count
        )
        shortfall_note = f"only {{filled}} of {role.count} available in team {role.team!r}"
    except (NotFound, Invalid) as exc:
        people, shortfall_note = [], exc.message
    seats = []
    for slot in range(role.count):
        person = people[slot] if slot < len(people) else None
        seats.append(
            (
                RosterAssignment(
                    incident_id=incident.id,
                    role_key=role.key,
                    slot=slot,
                    user_id=person.id if person else None,
                    state=AssignmentState.assigned if person else AssignmentState.unfilled,
                    note="" if person else shortfall_note.format(filled=len(people)),
                    assigned_at=at,
                ),
                person,
            )
        )
    return seats


def declare(
    session: Session, *, registry: PlaybookRegistry, data: IncidentDeclare, actor: User
) -> Incident:
    try:
        loaded = registry.get(data.playbook)
    except NotFound as exc:
        raise Invalid(exc.message, field="playbook") from None
    playbook = loaded.playbook
    severity = playbook.severity(data.severity)
    if severity is None:
        known = ", ".join(item.key for item in playbook.severities)
        raise Invalid(f"unknown severity {data.severity!r} (known: {known})", field="severity")
    required = playbook.scope.require_any
    if required and not any(getattr(data.scope, name) for name in required):
        raise Invalid(
            f"a {playbook.kind} incident needs at least one of scope.{', scope.'.join(required)}",
            field="scope",
        )
    version = playbook_service.pin_version(session, loaded=loaded)
    now = clock.now()
    incident = Incident(
        number=numbering.next_number(session, prefix="INC", year=now.year),
        title=data.title,
        playbook_key=playbook.key,
        playbook_hash=version.content_hash,
        kind=playbook.kind,
        severity=severity.key,
        status=IncidentStatus.declared,
        scope=data.scope.model_dump(),
        drill=data.drill,
        declared_at=now,
        declared_by=actor.id,
        respond_by=_offset(now, severity.respond_within),
        resolve_by=_offset(now, severity.resolve_within),
    )
    session.add(incident)
    session.flush()
    drill = "drill " if data.drill else ""
    _record(
        session,
        incident,
        "incident.declared",
        f"{drill}incident {incident.number} declared from playbook {playbook.key} "
        f"at severity {severity.key}",
        actor.id,
        {
            "playbook_hash": version.content_hash,
            "scope": incident.scope,
            "number": incident.number,
            "playbook": playbook.key,
            "severity": severity.key,
            "drill": data.drill,
        },
    )
    seats = [pair for role in playbook.roles for pair in _fill_role(session, incident, role, now)]
    session.add_all([seat for seat, _ in seats])
    for seat, person in seats:
        _record_seat(session, incident, seat, actor.id, person)
    for task in playbook.tasks:
        session.add(
            IncidentTask(
                incident_id=incident.id,
                key=task.key,
                title=task.title.model_dump(by_alias=True),
                role_key=task.role,
                depends_on=task.depends_on,
                due_at=_offset(now, task.due),
            )
        )
    if playbook.tasks:
        _record(
            session,
            incident,
            "tasks.created",
            f"{len(playbook.tasks)} tasks created",
            actor.id,
            {"count": len(playbook.tasks)},
        )
    session.flush()
    return incident


def _record_seat(
    session: Session,
    incident: Incident,
    seat: RosterAssignment,
    actor_id: int | None,
    user: User | None = None,
):
    if seat.user_id is None:
        _record(
            session,
            incident,
            "roster.unfilled",
            f"role {seat.role_key} seat {seat.slot + 1} unfilled: {seat.note}",
            actor_id,
            {"role": seat.role_key, "slot": seat.slot},
        )
        return
    user = user or session.get_one(User, seat.user_id)
    _record(
        session,
        incident,
        "roster.assigned",
        f"{user.username} assigned to role {seat.role_key}",
        actor_id,
        {"role": seat.role_key, "slot": seat.slot, "user": user.username},
    )


def transition(
    session: Session, *, incident: Incident, change: StatusChange, actor: User
) -> Incident:
    current = IncidentStatus(incident.status)
    target = change.status
    if target not in TRANSITIONS[current]:
        allowed = ", ".join(TRANSITIONS[current]) or "none"
        raise Conflict(
            f"cannot move {incident.number} from {current} to {target} (allowed: {allowed})",
            field="status",
        )
    now = clock.now()
    incident.status = target
    if target == IncidentStatus.resolved:
        incident.resolved_at = now
    elif target == IncidentStatus.active and current in (
        IncidentStatus.resolved,
        IncidentStatus.in_review,
    ):
        incident.resolved_at = None
    if target == IncidentStatus.closed:
        incident.closed_at = now
    elif current == IncidentStatus.closed:
        incident.closed_at = None
    session.add(incident)
    note = f": {change.note}" if change.note else ""
    _record(
        session,
        incident,
        "incident.status",
        f"status {current} → {target}{note}",
        actor.id,
        {"from": current, "to": target, "note": change.note},
    )
    return incident


def _ensure_not_closed(incident: Incident) -> None:
    if incident.status == IncidentStatus.closed:
        raise Conflict(f"{incident.number} is closed; move it back to review to change it")


def change_severity(
    session: Session, *, incident: Incident, change: SeverityChange, actor: User
) -> Incident:
    _ensure_not_closed(incident)
    playbook = playbook_of(session, incident)
    severity = playbook.severity(change.severity)
    if severity is None:
        known = ", ".join(item.key for item in playbook.severities)
        raise Invalid(f"unknown severity {change.severity!r} (known: {known})", field="severity")
    if severity.key == incident.severity:
        return incident
    previous = incident.severity
    incident.severity = severity.key
    incident.respond_by = _offset(incident.declared_at, severity.respond_within)
    incident.resolve_by = _offset(incident.declared_at, severity.resolve_within)
    session.add(incident)
    _record(
        session,
        incident,
        "incident.severity",
        f"severity {previous} → {severity.key}: {change.reason}",
        actor.id,
        {"from": previous, "to": severity.key, "reason": change.reason},
    )
    return incident


def current_roster(session: Session, *, incident: Incident) -> Sequence[RosterAssignment]:
    return session.exec(
        select(RosterAssignment)
        .where(
            RosterAssignment.incident_id == incident.id,
            RosterAssignment.state != AssignmentState.relieved,
        )
        .order_by(col(RosterAssignment.id))
    ).all()


def _active_user(session: Session, username: str) -> User:
    try:
        user = auth_service.get_user_by_username(session, username=username)
    except NotFound as exc:
        raise Invalid(exc.message, field="user") from None
    if not user.active:
        raise Invalid(f"user {user.username!r} is deactivated", field="user")
    return user


def seat_at(
    session: Session, *, incident: Incident, role_key: str, slot: int
) -> RosterAssignment | None:
    return session.exec(
        select(RosterAssignment).where(
            RosterAssignment.incident_id == incident.id,
            RosterAssignment.role_key == role_key,
            RosterAssignment.slot == slot,
            RosterAssignment.state != AssignmentState.relieved,
        )
    ).first()


def add_seat(
    session: Session, *, incident: Incident, data: ResponderAdd, actor: User
) -> RosterAssignment:
    """An extra seat beside the playbook's: reinforcement for a role, or an ad hoc role."""
    _ensure_not_closed(incident)
    user = _active_user(session, data.user)
    role = playbook_of(session, incident).role(data.role)
    taken = session.exec(
        select(func.max(RosterAssignment.slot)).where(
            RosterAssignment.incident_id == incident.id, RosterAssignment.role_key == data.role
        )
    ).one()
    first_extra = role.count if role is not None else 0
    seat = RosterAssignment(
        incident_id=incident.id,
        role_key=data.role,
        slot=max(first_extra, (taken + 1) if taken is not None else 0),
        user_id=user.id,
        state=AssignmentState.assigned,
        note=data.note or "added ad hoc",
        assigned_at=clock.now(),
    )
    session.add(seat)
    session.flush()
    _record_seat(session, incident, seat, actor.id)
    return seat


def assign_role(
    session: Session, *, incident: Incident, change: RoleAssign, actor: User
) -> RosterAssignment:
    _ensure_not_closed(incident)
    role = playbook_of(session, incident).role(change.role)
    if role is None:
        raise Invalid(f"playbook has no role {change.role!r}", field="role")
    if change.slot >= role.count:
        raise Invalid(f"role {role.key} has {role.count} seat(s); slots start at 0", field="slot")
    user = _active_user(session, change.user)
    now = clock.now()
    current = seat_at(session, incident=incident, role_key=role.key, slot=change.slot)
    if current is not None:
        if current.user_id == user.id:
            return current
        current.state = AssignmentState.relieved
        current.relieved_at = now
        session.add(current)
        if current.user_id is not None:
            previous = session.get_one(User, current.user_id)
            _record(
                session,
                incident,
                "roster.relieved",
                f"{previous.username} relieved from role {role.key}",
                actor.id,
                {"role": role.key, "slot": change.slot, "user": previous.username},
            )
    seat = RosterAssignment(
        incident_id=incident.id,
        role_key=role.key,
        slot=change.slot,
        user_id=user.id,
        state=AssignmentState.assigned,
        note=change.note,
        assigned_at=now,
    )
    session.add(seat)
    session.flush()
    _record_seat(session, incident, seat, actor.id)
    return seat


def set_public_status(session: Session, *, incident: Incident, status: PublicStatus) -> None:
    """What the incident's API and board say the public was told: the status of its latest
    published statement (the statement's own timeline entry records the change)."""
    incident.public_status = status
    session.add(incident)


def post_update(
    session: Session, *, incident: Incident, update: UpdatePost, actor: User
) -> TimelineEvent:
    return _record(session, incident, "update.internal", update.body, actor.id)


def tasks_of(session: Session, *, incident: Incident) -> Sequence[IncidentTask]:
    return session.exec(
        select(IncidentTask)
        .where(IncidentTask.incident_id == incident.id)
        .order_by(col(IncidentTask.id))
    ).all()


# The role every shipped playbook gives the person in charge (总指挥).
COMMANDER_ROLE = "commander"


def holds_role(session: Session, *, incident: Incident, user: User, roles: set[str]) -> bool:
    """Whether the user holds a seat of one of these roles on the incident's roster now."""
    return (
        session.exec(
            select(RosterAssignment.id).where(
                RosterAssignment.incident_id == incident.id,
                RosterAssignment.user_id == user.id,
                RosterAssignment.state == AssignmentState.assigned,
                col(RosterAssignment.role_key).in_(roles),
            )
        ).first()
        is not None
    )


def may_complete(session: Session, *, incident: Incident, task: IncidentTask, actor: User) -> bool:
    """The holder of the task's role, the commander, duty managers and admins."""
    return actor.role in (Role.admin, Role.duty_manager) or holds_role(
        session, incident=incident, user=actor, roles={task.role_key, COMMANDER_ROLE}
    )


def complete_task(
    session: Session, *, incident: Incident, task_id: int, note: str, actor: User
) -> IncidentTask:
    _ensure_not_closed(incident)
    task = session.get(IncidentTask, task_id)
    if task is None or task.incident_id != incident.id:
        raise NotFound(f"{incident.number} has no task {task_id}")
    if not may_complete(session, incident=incident, task=task, actor=actor):
        raise Forbidden(
            f"task {task.key!r} belongs to role {task.role_key!r}: only its holder on the "
            f"roster of {incident.number}, the commander or a duty manager may complete it"
        )
    if task.status == TaskStatus.done:
        return task
    if task.depends_on is not None:
        dependency = session.exec(
            select(IncidentTask).where(
                IncidentTask.incident_id == incident.id, IncidentTask.key == task.depends_on
            )
        ).one()
        if dependency.status != TaskStatus.done:
            raise Conflict(
                f"task {task.key!r} waits for {dependency.key!r}, which is not done", field="task"
            )
    task.status = TaskStatus.done
    task.completed_at = clock.now()
    task.completed_by = actor.id
    session.add(task)
    suffix = f": {note}" if note else ""
    _record(
        session,
        incident,
        "task.completed",
        f"task {task.key!r} completed{suffix}",
        actor.id,
        {"task": task.key, "note": note},
    )
    return task


@dataclass(frozen=True)
class IncidentFilter:
    statuses: tuple[IncidentStatus, ...] = ()
    kind: str | None = None
    drill: bool | None = None


def list_incidents(
    session: Session, *, filters: IncidentFilter, limit: int, before_id: int | None
) -> Sequence[Incident]:
    """Newest first, keyset-paginated by id."""
    query = select(Incident).order_by(col(Incident.id).desc()).limit(limit)
    if filters.statuses:
        query = query.where(col(Incident.status).in_(filters.statuses))
    if filters.kind is not None:
        query = query.where(Incident.kind == filters.kind)
    if filters.drill is not None:
        query = query.where(Incident.drill == filters.drill)
    if before_id is not None:
        query = query.where(col(Incident.id) < before_id)
    return session.exec(query).all()


def open_incidents(session: Session) -> Sequence[Incident]:
    return list_incidents(
        session, filters=IncidentFilter(statuses=OPEN_STATUSES), limit=200, before_id=None
    )


def open_playbooks(session: Session) -> list[tuple[str, Playbook]]:
    """Each open incident's number and the playbook version it runs on."""
    rows = session.exec(
        select(Incident.number, Incident.playbook_hash)
        .where(col(Incident.status).in_(OPEN_STATUSES))
        .order_by(col(Incident.id))
    ).all()
    return [
        (number, playbook_service.pinned_playbook(session, content_hash=content_hash))
        for number, content_hash in rows
    ]


def mark_overdue_tasks(session: Session, *, limit: int = 500) -> int:
    """Puts each open task that passed its due time on its incident's timeline, once.

    On PostgreSQL, concurrent workers skip rows another worker has locked."""
    now = clock.now()
    query = (
        select(IncidentTask)
        .where(
            IncidentTask.status == TaskStatus.open,
            col(IncidentTask.overdue_at).is_(None),
            col(IncidentTask.due_at) <= now,
        )
        .order_by(col(IncidentTask.due_at))
        .limit(limit)
    )
    query = skip_locked(session, query)
    tasks = session.exec(query).all()
    for task in tasks:
        task.overdue_at = now
        session.add(task)
        incident = session.get_one(Incident, task.incident_id)
        _record(
            session,
            incident,
            "task.overdue",
            f"task {task.key!r} is overdue (due {task.due_at.isoformat()})",
            None,
            {"task": task.key, "role": task.role_key, "due": task.due_at.isoformat()},
        )
    return len(tasks)


@dataclass(frozen=True)
class RosterFill:
    seats: int
    filled: int


def roster_fill(session: Session, *, incident_ids: Sequence[int]) -> dict[int, RosterFill]:
    """Current seats and how many have someone in them, for many incidents in one query."""
    if not incident_ids:
        return {}
    rows = session.exec(
        select(
            RosterAssignment.incident_id, func.count(), func.count(col(RosterAssignment.user_id))
        )
        .where(
            col(RosterAssignment.incident_id).in_(incident_ids),
            RosterAssignment.state != AssignmentState.relieved,
        )
        .group_by(col(RosterAssignment.incident_id))
    ).all()
    return {incident_id: RosterFill(seats, filled) for incident_id, seats, filled in rows}


@dataclass(frozen=True)
class TaskLoad:
    open: int
    overdue: int


def open_task_load(
    session: Session, *, incident_ids: Sequence[int], now: datetime
) -> dict[int, TaskLoad]:
    """Open tasks and those of them past their due time, for many incidents in one query."""
    if not incident_ids:
        return {}
    overdue = func.sum(case((col(IncidentTask.due_at) <= now, 1), else_=0))
    rows = session.exec(
        select(IncidentTask.incident_id, func.count(), overdue)
        .where(
            col(IncidentTask.incident_id).in_(incident_ids),
            IncidentTask.status == TaskStatus.open,
        )
        .group_by(col(IncidentTask.incident_id))
    ).all()
    return {incident_id: TaskLoad(count, int(late or 0)) for incident_id, count, late in rows}


def add_task(
    session: Session,
    *,
    incident: Incident,
    key: str,
    title: dict[str, str],
    role_key: str,
    due_at: datetime,
    actor_id: int | None,
) -> IncidentTask:
    """A task the playbook did not list, for one of the roster's roles (a drill's inquiry
    from the press or a regulator, for the seat that speaks for the company)."""
    _ensure_not_closed(incident)
    task = IncidentTask(
        incident_id=incident.id, key=key, title=title, role_key=role_key, due_at=due_at
    )
    session.add(task)
    session.flush()
    _record(
        session,
        incident,
        "task.added",
        f"task {key!r} added for role {role_key}, due {due_at.isoformat()}",
        actor_id,
        {"task": key, "title": title, "role": role_key, "due_at": due_at.isoformat()},
    )
    return task


def widen_scope(
    session: Session, *, incident: Incident, scope: dict[str, list[str]], actor_id: int | None
) -> list[str]:
    """Adds the values to the incident's scope (a second batch affected, another region);
    returns what was new."""
    _ensure_not_closed(incident)
    widened = {name: list(values) for name, values in incident.scope.items()}
    added = []
    for name, values in scope.items():
        for value in values:
            if value not in widened.setdefault(name, []):
                widened[name].append(value)
                added.append(f"{name}:{value}")
    if added:
        incident.scope = widened
        session.add(incident)
        _record(
            session,
            incident,
            "incident.scope_widened",
            f"scope widened: {', '.join(added)}",
            actor_id,
            {"added": added, "scope": widened},
        )
    return added


def numbers_of(session: Session, *, ids: Sequence[int]) -> dict[int, str]:
    """Each incident's number, in one query."""
    if not ids:
        return {}
    return dict(
        session.exec(select(Incident.id, Incident.number).where(col(Incident.id).in_(ids))).all()
    )
