from collections.abc import Sequence
from dataclasses import dataclass
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, status
from fastapi.responses import Response
from sqlmodel import Session, select

from incident_cmd import clock
from incident_cmd.auth import service as auth_service
from incident_cmd.auth.models import User, reads_contact_details
from incident_cmd.batching import GroupCommit
from incident_cmd.customers.masking import mask_contact, mask_text, mask_values
from incident_cmd.deps import (
    AGENT_ROLES,
    Agent,
    AnyUser,
    BearerSecret,
    Manager,
    SessionDep,
    SessionOpener,
    admitted_users,
)
from incident_cmd.errors import Invalid, error_responses
from incident_cmd.fields import DbId
from incident_cmd.playbooks.api import RegistryDep
from incident_cmd.playbooks.service import PlaybookRegistry
from incident_cmd.tickets import (
    access,
    appeals,
    detection,
    flows,
    history,
    intake,
    lifecycle,
    queries,
    review,
    sla,
    surveys,
)
from incident_cmd.tickets.models import (
    Appeal,
    BreachState,
    Signal,
    SignalStatus,
    SlaTimer,
    Ticket,
    TicketStatus,
    TicketTask,
)
from incident_cmd.tickets.schemas import (
    AppealAnswer,
    AppealAssign,
    AppealCreate,
    AppealNote,
    AppealNoteRead,
    AppealRead,
    ReviewNoteCreate,
    ReviewNoteRead,
    ReviewSent,
    SignalDeclare,
    SignalDismiss,
    SignalRead,
    SurveyEntry,
    TaskDone,
    TaskRead,
    TicketAction,
    TicketAssign,
    TicketCreate,
    TicketPage,
    TicketPlan,
    TicketRead,
    TicketReopen,
    TicketResolve,
    TicketSummary,
    TicketVerification,
    TimerRead,
)
from incident_cmd.timeline import service as timeline

router = APIRouter(prefix="/api/v1", tags=["tickets"])


def _summaries(session: Session, tickets: Sequence[Ticket]) -> list[TicketSummary]:
    names = auth_service.usernames(session, ids={ticket.assignee_id for ticket in tickets})
    return [_summary(ticket, names.of(ticket.assignee_id)) for ticket in tickets]


def _summary(ticket: Ticket, assignee: str | None) -> TicketSummary:
    return TicketSummary(
        id=ticket.id,
        number=ticket.number,
        status=ticket.status,
        priority=ticket.priority,
        category=ticket.category,
        safety=ticket.safety,
        product_model=ticket.product_model,
        batch=ticket.batch,
        region=ticket.region,
        assignee=assignee,
        breach_state=ticket.breach_state,
        incident_id=ticket.incident_id,
        created_at=ticket.created_at,
    )


def _timer_read(timer: SlaTimer | sla.NewTimer) -> TimerRead:
    return TimerRead(
        kind=timer.kind,
        clock=timer.clock,
        due_at=timer.due_at,
        stage=sla.STAGES[timer.stage],
        paused=timer.paused_at is not None,
        met_at=timer.met_at,
        met_in_time=timer.met_in_time,
    )


def appeal_read(session: Session, appeal: Appeal, *, masked: bool = False) -> AppealRead:
    """``masked``: the copy for a reader with no need of the customer's contact details."""
    shown = mask_text if masked else str
    notes = appeals.notes_of(session, appeal=appeal)
    names = auth_service.usernames(
        session,
        ids={appeal.registered_by, appeal.handler_id, appeal.answered_by}
        | {by for _, by, _ in notes},
    )
    return AppealRead(
        id=appeal.id,
        ticket_id=appeal.ticket_id,
        status=appeal.status,
        appellant=appeal.appellant,
        channel=appeal.channel,
        grounds=shown(appeal.grounds),
        received_at=appeal.received_at,
        registered_at=appeal.registered_at,
        registered_by=names.of(appeal.registered_by),
        team=appeal.team_key,
        handler=names.of(appeal.handler_id),
        assigned_at=appeal.assigned_at,
        responded_at=appeal.responded_at,
        responded_in_time=appeal.responded_in_time,
        outcome=appeal.outcome,
        answer=appeal.answer and shown(appeal.answer),
        answered_at=appeal.answered_at,
        answered_by=names.of(appeal.answered_by),
        answered_in_time=appeal.answered_in_time,
        timers=[_timer_read(timer) for timer in appeals.timers_of(session, appeal=appeal)],
        notes=[AppealNoteRead(at=at, by=names.of(by), note=shown(note)) for at, by, note in notes],
    )


def ticket_read(session: Session, ticket: Ticket, *, masked: bool = False) -> TicketRead:
    """``masked``: the copy for a reader with no need of the customer's contact details."""
    tasks = surveys.tasks_of(session, ticket=ticket)
    names = auth_service.usernames(session, ids={task.owner_id for task in tasks})
    # ``appealed_at`` is set by the first appeal: a ticket never appealed (every ticket at
    # intake) costs no query.
    appealed = appeals.appeals_of(session, ticket=ticket) if ticket.appealed_at else ()
    return _ticket_read(
        ticket,
        assignee=_summaries(session, [ticket])[0].assignee,
        timers=sla.timers_of(session, ticket=ticket),
        tasks=[(task, names.of(task.owner_id)) for task in tasks],
        appeals=[appeal_read(session, appeal, masked=masked) for appeal in appealed],
        masked=masked,
    )


def taken_read(taken: intake.Taken) -> TicketRead:
    """``ticket_read`` of a ticket just taken in, from what its intake wrote (no tasks, no
    appeals yet): a batch of intakes answers each request without reading anything back."""
    return _ticket_read(
        taken.ticket, assignee=taken.assignee, timers=taken.timers, tasks=[], appeals=[]
    )


def _ticket_read(
    ticket: Ticket,
    *,
    assignee: str | None,
    timers: Sequence[SlaTimer | sla.NewTimer],
    tasks: Sequence[tuple[TicketTask, str | None]],
    appeals: list[AppealRead],
    masked: bool = False,
) -> TicketRead:
    shown = mask_text if masked else str
    now = clock.now()
    return TicketRead(
        **_summary(ticket, assignee).model_dump(),
        customer_id=ticket.customer_id,
        contact=mask_contact(ticket.contact) if masked else ticket.contact,
        channel=ticket.channel,
        purchase_channel=ticket.purchase_channel,
        description=shown(ticket.description),
        requested=ticket.requested,
        team=ticket.team_key,
        first_response_at=ticket.first_response_at,
        resolved_at=ticket.resolved_at,
        closed_at=ticket.closed_at,
        resolution=ticket.resolution and shown(ticket.resolution),
        responsible_department=ticket.responsible_department,
        compensation_amount=ticket.compensation_amount,
        csat=ticket.csat,
        nps=ticket.nps,
        timers=[_timer_read(timer) for timer in timers],
        tasks=[
            TaskRead(
                id=task.id,
                key=task.key,
                owner=owner,
                due_at=task.due_at,
                done_at=task.done_at,
                overdue=task.done_at is None and task.due_at <= now,
            )
            for task, owner in tasks
        ],
        appeals=appeals,
    )


@dataclass(frozen=True)
class ApiIntake:
    """A complaint sent to the API, and the bearer secret of whoever sent it, not yet
    checked."""

    data: TicketCreate
    secret: str


def intake_group(registry: PlaybookRegistry) -> GroupCommit[ApiIntake, intake.Taken]:
    """Concurrent API intakes taken in together, in one transaction (``batching``): their
    callers are checked in one statement, as ``Agent`` would check each, and the intakes of
    those admitted filed as one batch. Checking each request on its own cost a worker thread
    and three round trips (the pool's ping, the token, the commit), more than half of an
    intake's CPU."""

    def file(session: Session, items: Sequence[ApiIntake]) -> list[intake.Taken | Exception]:
        callers = admitted_users(
            session, secrets=[item.secret for item in items], roles=AGENT_ROLES
        )
        filed = iter(
            intake.file_many(
                session,
                registry=registry,
                items=[
                    intake.Intake(item.data, caller)
                    for item, caller in zip(items, callers, strict=True)
                    if isinstance(caller, User)
                ],
            )
        )
        return [next(filed) if isinstance(caller, User) else caller for caller in callers]

    return GroupCommit(file)


async def ticket_intakes(request: Request) -> GroupCommit[ApiIntake, intake.Taken]:
    return request.app.state.ticket_intakes


IntakesDep = Annotated[GroupCommit[ApiIntake, intake.Taken], Depends(ticket_intakes)]


@router.post("/tickets", response_model=TicketRead, status_code=status.HTTP_201_CREATED)
async def create_ticket(
    body: TicketCreate, secret: BearerSecret, sessions: SessionOpener, intakes: IntakesDep
) -> TicketRead:
    """Taken in with the intakes of concurrent requests, in one transaction (``batching``),
    the caller checked there (an agent, a responder or a duty manager), and answered from
    what the batch wrote: a body the schema refuses is answered 422 before it joins one."""
    taken = await intakes.submit(ApiIntake(body, secret), sessions)
    return taken_read(taken)


@router.get("/tickets", response_model=TicketPage)
def ticket_queue(
    session: SessionDep,
    _: AnyUser,
    status_: Annotated[list[TicketStatus] | None, Query(alias="status")] = None,
    priority: str | None = None,
    assignee: str | None = None,
    breach_state: BreachState | None = None,
    product_model: str | None = None,
    batch: str | None = None,
    category: str | None = None,
    incident_id: DbId | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Annotated[DbId | None, Query(description="next_cursor of the previous page")] = None,
) -> TicketPage:
    assignee_id = None
    if assignee is not None:
        assignee_id = session.exec(select(User.id).where(User.username == assignee)).first()
        if assignee_id is None:
            raise Invalid(f"no user {assignee!r}", field="assignee")
    filters = queries.QueueFilter(
        statuses=tuple(status_ or ()),
        priority=priority,
        assignee_id=assignee_id,
        breach_state=breach_state,
        product_model=product_model,
        batch=batch,
        category=category,
        incident_id=incident_id,
    )
    items = queries.queue(session, filters=filters, limit=limit, before_id=cursor)
    next_cursor = items[-1].id if len(items) == limit else None
    return TicketPage(items=_summaries(session, items), next_cursor=next_cursor)


# Every member of staff reads every ticket: whoever a customer reaches answers for their
# complaint (首问负责制, first-contact responsibility). Contact details are read masked by
# those who have no need of them (auth.models.CONTACT_READERS).
@router.get("/tickets/{ticket_id}", response_model=TicketRead)
def get_ticket(ticket_id: DbId, session: SessionDep, reader: AnyUser) -> TicketRead:
    ticket = queries.get_ticket(session, ticket_id=ticket_id)
    return ticket_read(session, ticket, masked=not reads_contact_details(reader))


@router.get("/tickets/{ticket_id}/timeline")
def ticket_timeline(ticket_id: DbId, session: SessionDep, reader: AnyUser) -> list[dict]:
    ticket = queries.get_ticket(session, ticket_id=ticket_id)
    events = timeline.events_for(session, subject_type=history.SUBJECT, subject_id=ticket.id)
    if not reads_contact_details(reader):
        return [
            {
                "at": event.at,
                "kind": event.kind,
                "summary": mask_text(event.summary),
                "data": mask_values(event.data),
            }
            for event in events
        ]
    return [
        {"at": event.at, "kind": event.kind, "summary": event.summary, "data": event.data}
        for event in events
    ]


def _workable(session: Session, ticket_id: int, actor: User) -> Ticket:
    ticket = queries.get_ticket(session, ticket_id=ticket_id)
    access.ensure_may_work_on(session, ticket=ticket, actor=actor)
    return ticket


@router.post(
    "/tickets/{ticket_id}/status", response_model=TicketRead, responses=error_responses(409)
)
def change_status(
    ticket_id: DbId, body: TicketAction, session: SessionDep, actor: Agent
) -> TicketRead:
    ticket = _workable(session, ticket_id, actor)
    return ticket_read(
        session, lifecycle.change_status(session, ticket=ticket, change=body, actor=actor)
    )


@router.post("/tickets/{ticket_id}/assign", response_model=TicketRead)
def assign(ticket_id: DbId, body: TicketAssign, session: SessionDep, actor: Agent) -> TicketRead:
    ticket = _workable(session, ticket_id, actor)
    return ticket_read(
        session, lifecycle.assign(session, ticket=ticket, username=body.user, actor=actor)
    )


@router.post(
    "/tickets/{ticket_id}/verification", response_model=TicketRead, responses=error_responses(409)
)
def verification(
    ticket_id: DbId, body: TicketVerification, session: SessionDep, actor: Agent
) -> TicketRead:
    """The initial verification: substantiated or not, with what was checked."""
    ticket = _workable(session, ticket_id, actor)
    return ticket_read(
        session,
        lifecycle.record_verification(session, ticket=ticket, verification=body, actor=actor),
    )


@router.post("/tickets/{ticket_id}/plan", response_model=TicketRead, responses=error_responses(409))
def handling_plan(
    ticket_id: DbId, body: TicketPlan, session: SessionDep, actor: Agent
) -> TicketRead:
    """The handling plan; with ``resolve_by`` the customer is told that date."""
    ticket = _workable(session, ticket_id, actor)
    return ticket_read(
        session,
        lifecycle.record_handling_plan(
            session, ticket=ticket, plan=body.note, actor=actor, resolve_by=body.resolve_by
        ),
    )


@router.post(
    "/tickets/{ticket_id}/resolve", response_model=TicketRead, responses=error_responses(409)
)
def resolve(ticket_id: DbId, body: TicketResolve, session: SessionDep, actor: Agent) -> TicketRead:
    ticket = _workable(session, ticket_id, actor)
    return ticket_read(session, lifecycle.resolve(session, ticket=ticket, data=body, actor=actor))


@router.post(
    "/tickets/{ticket_id}/reopen", response_model=TicketRead, responses=error_responses(409)
)
def reopen(ticket_id: DbId, body: TicketReopen, session: SessionDep, actor: Agent) -> TicketRead:
    ticket = _workable(session, ticket_id, actor)
    return ticket_read(
        session, lifecycle.reopen(session, ticket=ticket, reason=body.reason, actor=actor)
    )


@router.post(
    "/tickets/{ticket_id}/survey", response_model=TicketRead, responses=error_responses(409)
)
def survey(ticket_id: DbId, body: SurveyEntry, session: SessionDep, actor: Agent) -> TicketRead:
    """An answer the customer gave by phone or letter, entered by a supervisor of the ticket's
    team (its lead, a duty manager) with the reason; customers answer by SMS themselves."""
    ticket = queries.get_ticket(session, ticket_id=ticket_id)
    return ticket_read(
        session, surveys.enter_survey(session, ticket=ticket, entry=body, actor=actor)
    )


@router.post("/tickets/{ticket_id}/tasks/{task_id}/done", response_model=TicketRead)
def task_done(
    ticket_id: DbId, task_id: DbId, body: TaskDone, session: SessionDep, actor: Agent
) -> TicketRead:
    ticket = queries.get_ticket(session, ticket_id=ticket_id)
    surveys.complete_task(session, ticket=ticket, task_id=task_id, note=body.note, actor=actor)
    return ticket_read(session, ticket)


# --- appeals (seeds 001 六, 申诉处理流程) ------------------------------------------------------


# Whoever the customer reaches registers their appeal (首问负责制), as with a complaint.
@router.post(
    "/tickets/{ticket_id}/appeals",
    response_model=AppealRead,
    status_code=status.HTTP_201_CREATED,
    responses=error_responses(409),
)
def register_appeal(
    ticket_id: DbId, body: AppealCreate, session: SessionDep, actor: Agent
) -> AppealRead:
    ticket = queries.get_ticket(session, ticket_id=ticket_id)
    return appeal_read(session, appeals.register(session, ticket=ticket, data=body, actor=actor))


@router.get("/tickets/{ticket_id}/appeals", response_model=list[AppealRead])
def ticket_appeals(ticket_id: DbId, session: SessionDep, reader: AnyUser) -> list[AppealRead]:
    ticket = queries.get_ticket(session, ticket_id=ticket_id)
    masked = not reads_contact_details(reader)
    return [
        appeal_read(session, appeal, masked=masked)
        for appeal in appeals.appeals_of(session, ticket=ticket)
    ]


@router.get("/appeals/{appeal_id}", response_model=AppealRead)
def get_appeal(appeal_id: DbId, session: SessionDep, reader: AnyUser) -> AppealRead:
    appeal = appeals.get_appeal(session, appeal_id=appeal_id)
    return appeal_read(session, appeal, masked=not reads_contact_details(reader))


def _appeal_and_ticket(session: Session, appeal_id: int) -> tuple[Appeal, Ticket]:
    appeal = appeals.get_appeal(session, appeal_id=appeal_id)
    return appeal, queries.get_ticket(session, ticket_id=appeal.ticket_id)


@router.post(
    "/appeals/{appeal_id}/assign", response_model=AppealRead, responses=error_responses(409)
)
def assign_appeal(
    appeal_id: DbId, body: AppealAssign, session: SessionDep, actor: Agent
) -> AppealRead:
    """A duty manager, an admin or the appeals team's lead names the handler."""
    appeal, ticket = _appeal_and_ticket(session, appeal_id)
    return appeal_read(
        session,
        appeals.assign(session, appeal=appeal, ticket=ticket, username=body.handler, actor=actor),
    )


@router.post(
    "/appeals/{appeal_id}/notes", response_model=AppealRead, responses=error_responses(409)
)
def appeal_note(appeal_id: DbId, body: AppealNote, session: SessionDep, actor: Agent) -> AppealRead:
    """The handler's investigation notes; the first meets the respond-by target."""
    appeal, ticket = _appeal_and_ticket(session, appeal_id)
    return appeal_read(
        session,
        appeals.add_note(session, appeal=appeal, ticket=ticket, note=body.note, actor=actor),
    )


@router.post(
    "/appeals/{appeal_id}/answer", response_model=AppealRead, responses=error_responses(409)
)
def answer_appeal(
    appeal_id: DbId, body: AppealAnswer, session: SessionDep, actor: Agent
) -> AppealRead:
    """The outcome, sent to the customer with the route to the regulator."""
    appeal, ticket = _appeal_and_ticket(session, appeal_id)
    return appeal_read(
        session, appeals.answer(session, appeal=appeal, ticket=ticket, data=body, actor=actor)
    )


# --- signals -------------------------------------------------------------------------------


def signal_read(session: Session, signal: Signal) -> SignalRead:
    tickets, by_hour = detection.evidence(session, signal=signal)
    return SignalRead(
        id=signal.id,
        playbook=signal.playbook_key,
        trigger=signal.trigger_key,
        dimension=signal.dimension,
        scope=signal.scope,
        count=signal.count,
        baseline=signal.baseline,
        window_seconds=signal.window_seconds,
        status=signal.status,
        raised_at=signal.raised_at,
        incident_id=signal.incident_id,
        reason=signal.reason,
        tickets=_summaries(session, tickets),
        counts_by_hour=by_hour,
    )


@router.get("/signals", response_model=list[SignalRead])
def list_signals(
    session: SessionDep,
    _: Manager,
    status_: Annotated[SignalStatus | None, Query(alias="status")] = None,
) -> list[SignalRead]:
    return [
        signal_read(session, signal) for signal in detection.list_signals(session, status=status_)
    ]


@router.get("/signals/{signal_id}", response_model=SignalRead)
def get_signal(signal_id: DbId, session: SessionDep, _: Manager) -> SignalRead:
    return signal_read(session, detection.get_signal(session, signal_id=signal_id))


@router.post(
    "/signals/{signal_id}/declare", response_model=SignalRead, responses=error_responses(409)
)
def declare_from_signal(
    signal_id: DbId, body: SignalDeclare, session: SessionDep, registry: RegistryDep, actor: Manager
) -> SignalRead:
    signal = detection.get_signal(session, signal_id=signal_id)
    flows.declare_from_signal(
        session,
        signal=signal,
        registry=registry,
        severity=body.severity,
        title=body.title,
        actor=actor,
    )
    return signal_read(session, signal)


@router.post(
    "/signals/{signal_id}/dismiss", response_model=SignalRead, responses=error_responses(409)
)
def dismiss_signal(
    signal_id: DbId, body: SignalDismiss, session: SessionDep, actor: Manager
) -> SignalRead:
    signal = detection.get_signal(session, signal_id=signal_id)
    return signal_read(
        session, detection.dismiss(session, signal=signal, reason=body.reason, actor=actor)
    )


# --- the monthly review ---------------------------------------------------------------------


@router.get(
    "/reviews/monthly/{period}",
    responses={
        200: {
            "description": "The review; as CSV with ?format=csv",
            "content": {"text/csv": {"schema": {"type": "string"}}},
        }
    },
)
def monthly_review(
    period: Annotated[str, review.PeriodPath],
    session: SessionDep,
    _: Manager,
    format_: Annotated[str, Query(alias="format", pattern="^(json|csv)$")] = "json",
):
    report = review.monthly_review(session, period=period)
    if format_ == "csv":
        return Response(
            review.as_csv(report),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="review-{period}.csv"'},
        )
    return report


@router.post(
    "/reviews/monthly/{period}/notes",
    response_model=ReviewNoteRead,
    status_code=201,
    responses=error_responses(409),
)
def write_review_note(
    period: Annotated[str, review.PeriodPath],
    body: ReviewNoteCreate,
    session: SessionDep,
    actor: Manager,
) -> ReviewNoteRead:
    """A lesson or an improvement proposal, until the review is sent (409 afterwards)."""
    event = review.add_note(session, period=period, kind=body.kind, text=body.text, actor=actor)
    return ReviewNoteRead(kind=body.kind, text=event.summary, by=actor.username, at=event.at)


@router.post(
    "/reviews/monthly/{period}/send", response_model=ReviewSent, responses=error_responses(409)
)
def send_review(
    period: Annotated[str, review.PeriodPath], session: SessionDep, actor: Manager
) -> dict:
    """Emails the review to the management list, once (409 when it has been sent)."""
    return review.send(session, period=period, actor=actor)
