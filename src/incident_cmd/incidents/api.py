from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response, status
from sqlmodel import Session

from incident_cmd import clock
from incident_cmd.auth import service as auth_service
from incident_cmd.auth.models import Role, User
from incident_cmd.deps import (
    AnyUser,
    Manager,
    Responder,
    SessionDep,
    allow,
)
from incident_cmd.errors import error_responses
from incident_cmd.fields import DbId
from incident_cmd.i18n import Locale
from incident_cmd.incidents import flows, service
from incident_cmd.incidents.models import TRANSITIONS, Incident, IncidentStatus, TaskStatus
from incident_cmd.incidents.schemas import (
    IncidentDeclare,
    IncidentPage,
    IncidentRead,
    IncidentSummary,
    ResponderAdd,
    RoleAssign,
    RosterSeat,
    SeatPage,
    SeverityChange,
    StatusChange,
    TaskComplete,
    TaskRead,
    TimelineEntry,
    UpdatePost,
)
from incident_cmd.playbooks.api import RegistryDep
from incident_cmd.timeline import service as timeline
from incident_cmd.timeline.schemas import TimelineStarRead

router = APIRouter(prefix="/api/v1/incidents", tags=["incidents"])

# Anyone who may hold a roster seat; the service admits only the task role's holder, the
# commander and duty managers.
SeatHolder = Annotated[
    User, Depends(allow(Role.duty_manager, Role.responder, Role.comms, Role.agent))
]


def _pick(texts: dict[str, str], locale: Locale) -> str:
    return texts.get(locale) or texts.get(Locale.en) or next(iter(texts.values()))


def summary(incident: Incident) -> IncidentSummary:
    return IncidentSummary(
        id=incident.id,
        number=incident.number,
        title=incident.title,
        playbook=incident.playbook_key,
        kind=incident.kind,
        severity=incident.severity,
        status=incident.status,
        public_status=incident.public_status,
        drill=incident.drill,
        declared_at=incident.declared_at,
        scope=incident.scope,
    )


def incident_read(session: Session, incident: Incident, locale: Locale) -> IncidentRead:
    playbook = service.playbook_of(session, incident)
    seats = service.current_roster(session, incident=incident)
    tasks = service.tasks_of(session, incident=incident)
    names = auth_service.usernames(
        session,
        ids={incident.declared_by}
        | {seat.user_id for seat in seats}
        | {task.completed_by for task in tasks},
    )
    now = clock.now()
    roster = []
    for seat in seats:
        role = playbook.role(seat.role_key)
        titles = role.title.model_dump(by_alias=True) if role else {Locale.en.value: seat.role_key}
        roster.append(
            RosterSeat(
                id=seat.id,
                role=seat.role_key,
                title=_pick(titles, locale),
                title_i18n=titles,
                slot=seat.slot,
                user=names.of(seat.user_id),
                state=seat.state,
                note=seat.note,
                page=role.page if role and seat.slot < role.count else True,
                assigned_at=seat.assigned_at,
            )
        )
    return IncidentRead(
        **summary(incident).model_dump(),
        playbook_hash=incident.playbook_hash,
        declared_by=names[incident.declared_by],
        respond_by=incident.respond_by,
        resolve_by=incident.resolve_by,
        resolved_at=incident.resolved_at,
        closed_at=incident.closed_at,
        allowed_transitions=list(TRANSITIONS[IncidentStatus(incident.status)]),
        roster=roster,
        tasks=[
            TaskRead(
                id=task.id,
                key=task.key,
                title=_pick(task.title, locale),
                title_i18n=task.title,
                role=task.role_key,
                depends_on=task.depends_on,
                due_at=task.due_at,
                status=task.status,
                overdue=task.status == TaskStatus.open and task.due_at <= now,
                completed_at=task.completed_at,
                completed_by=names.of(task.completed_by),
            )
            for task in tasks
        ],
    )


@router.post(
    "",
    response_model=IncidentRead,
    status_code=status.HTTP_201_CREATED,
    responses=error_responses(404),
)
def declare(
    body: IncidentDeclare, session: SessionDep, registry: RegistryDep, actor: Manager
) -> IncidentRead:
    incident = flows.declare(session, registry=registry, data=body, actor=actor)
    return incident_read(session, incident, actor.locale)


@router.get("", response_model=IncidentPage)
def list_incidents(
    session: SessionDep,
    _: AnyUser,
    status_: Annotated[list[IncidentStatus] | None, Query(alias="status")] = None,
    kind: str | None = None,
    drill: bool | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Annotated[DbId | None, Query(description="next_cursor of the previous page")] = None,
) -> IncidentPage:
    filters = service.IncidentFilter(statuses=tuple(status_ or ()), kind=kind, drill=drill)
    items = service.list_incidents(session, filters=filters, limit=limit, before_id=cursor)
    next_cursor = items[-1].id if len(items) == limit else None
    return IncidentPage(items=[summary(item) for item in items], next_cursor=next_cursor)


@router.get("/{incident_id}", response_model=IncidentRead)
def get_incident(incident_id: DbId, session: SessionDep, user: AnyUser) -> IncidentRead:
    incident = service.get_incident(session, incident_id=incident_id)
    return incident_read(session, incident, user.locale)


@router.get("/{incident_id}/timeline", response_model=list[TimelineEntry])
def get_timeline(incident_id: DbId, session: SessionDep, _: AnyUser) -> list[TimelineEntry]:
    incident = service.get_incident(session, incident_id=incident_id)
    events = timeline.events_for(session, subject_type=service.SUBJECT, subject_id=incident.id)
    names = auth_service.usernames(session, ids={event.actor_id for event in events})
    return [
        TimelineEntry(
            id=event.id,
            at=event.at,
            actor=names.of(event.actor_id),
            kind=event.kind,
            summary=event.summary,
            public=event.public,
            data=event.data,
        )
        for event in events
    ]


@router.post("/{incident_id}/status", response_model=IncidentRead, responses=error_responses(409))
def change_status(
    incident_id: DbId, body: StatusChange, session: SessionDep, actor: Manager
) -> IncidentRead:
    incident = service.get_incident(session, incident_id=incident_id)
    flows.transition(session, incident=incident, change=body, actor=actor)
    return incident_read(session, incident, actor.locale)


@router.post("/{incident_id}/severity", response_model=IncidentRead, responses=error_responses(409))
def change_severity(
    incident_id: DbId, body: SeverityChange, session: SessionDep, actor: Manager
) -> IncidentRead:
    incident = service.get_incident(session, incident_id=incident_id)
    service.change_severity(session, incident=incident, change=body, actor=actor)
    return incident_read(session, incident, actor.locale)


@router.post("/{incident_id}/roster", response_model=IncidentRead, responses=error_responses(409))
def assign_role(
    incident_id: DbId, body: RoleAssign, session: SessionDep, actor: Manager
) -> IncidentRead:
    incident = service.get_incident(session, incident_id=incident_id)
    flows.assign_role(session, incident=incident, change=body, actor=actor)
    return incident_read(session, incident, actor.locale)


@router.post(
    "/{incident_id}/roster/add",
    response_model=IncidentRead,
    status_code=201,
    responses=error_responses(409),
)
def add_responder(
    incident_id: DbId, body: ResponderAdd, session: SessionDep, actor: Manager
) -> IncidentRead:
    incident = service.get_incident(session, incident_id=incident_id)
    flows.add_responder(session, incident=incident, data=body, actor=actor)
    return incident_read(session, incident, actor.locale)


@router.post(
    "/{incident_id}/roster/page", response_model=IncidentRead, responses=error_responses(409)
)
def page_seat_again(
    incident_id: DbId, body: SeatPage, session: SessionDep, actor: Manager
) -> IncidentRead:
    """Pages a seat again from the start of its escalation chain: its holder declined, did
    not answer in time, or has not answered yet. 409 once someone acknowledged its page."""
    incident = service.get_incident(session, incident_id=incident_id)
    flows.page_again(session, incident=incident, seat=body, actor=actor)
    return incident_read(session, incident, actor.locale)


@router.post(
    "/{incident_id}/updates",
    response_model=TimelineEntry,
    status_code=201,
    responses=error_responses(409),
)
def post_update(
    incident_id: DbId, body: UpdatePost, session: SessionDep, actor: Responder
) -> TimelineEntry:
    incident = service.get_incident(session, incident_id=incident_id)
    event = service.post_update(session, incident=incident, update=body, actor=actor)
    session.flush()
    return TimelineEntry(
        id=event.id,
        at=event.at,
        actor=actor.username,
        kind=event.kind,
        summary=event.summary,
        public=event.public,
        data=event.data,
    )


@router.post(
    "/{incident_id}/tasks/{task_id}/complete",
    response_model=TaskRead,
    responses=error_responses(409),
)
def complete_task(
    incident_id: DbId, task_id: DbId, body: TaskComplete, session: SessionDep, actor: SeatHolder
) -> TaskRead:
    incident = service.get_incident(session, incident_id=incident_id)
    task = service.complete_task(
        session, incident=incident, task_id=task_id, note=body.note, actor=actor
    )
    read = incident_read(session, incident, actor.locale)
    return next(item for item in read.tasks if item.id == task.id)


# Starring marks an entry for the post-incident review; whoever may post an internal update
# may star and unstar.
@router.post(
    "/{incident_id}/timeline/{event_id}/star",
    response_model=TimelineStarRead,
    responses=error_responses(404),
)
def star_entry(
    incident_id: DbId, event_id: DbId, session: SessionDep, actor: Responder
) -> TimelineStarRead:
    incident = service.get_incident(session, incident_id=incident_id)
    event = timeline.entry_of(
        session, subject_type=service.SUBJECT, subject_id=incident.id, event_id=event_id
    )
    marked = timeline.star(session, event=event, actor_id=actor.id)
    names = auth_service.usernames(session, ids={marked.starred_by})
    return TimelineStarRead(
        event_id=event.id, starred_by=names[marked.starred_by], starred_at=marked.starred_at
    )


@router.delete(
    "/{incident_id}/timeline/{event_id}/star",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=error_responses(404),
)
def unstar_entry(
    incident_id: DbId, event_id: DbId, session: SessionDep, actor: Responder
) -> Response:
    incident = service.get_incident(session, incident_id=incident_id)
    event = timeline.entry_of(
        session, subject_type=service.SUBJECT, subject_id=incident.id, event_id=event_id
    )
    timeline.unstar(session, event=event, actor_id=actor.id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
