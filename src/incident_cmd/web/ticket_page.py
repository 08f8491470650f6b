"""A ticket's page: the complaint, its SLA targets, its history, the customer's other tickets
and purchases, and a form for every action the API offers on it. Each form goes through the
same service as the API's route, with the same checks (the ``Agent`` roles, then
``access.ensure_may_work_on``; the survey and the tasks check their own). A refused form
changes nothing and comes back with the message next to its field."""

from collections.abc import Callable, Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

from fastapi import APIRouter, Depends, Request, status
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlmodel import Session, col, select

from incident_cmd import clock
from incident_cmd.auth import service as auth_service
from incident_cmd.auth.models import User
from incident_cmd.config import get_settings
from incident_cmd.customers.models import Customer, Purchase
from incident_cmd.deps import SessionDep
from incident_cmd.errors import DomainError, Forbidden
from incident_cmd.incidents import service as incident_service
from incident_cmd.teams.models import Team
from incident_cmd.tickets import access, history, lifecycle, queries, sla, surveys
from incident_cmd.tickets.models import (
    OPEN_TICKET_STATUSES,
    TICKET_TRANSITIONS,
    Ticket,
    TicketStatus,
    TimerKind,
)
from incident_cmd.tickets.schemas import (
    SurveyEntry,
    TaskDone,
    TicketAction,
    TicketAssign,
    TicketPlan,
    TicketReopen,
    TicketResolve,
    TicketVerification,
)
from incident_cmd.timeline import service as timeline
from incident_cmd.web.api import PageUser, templates
from incident_cmd.web.forms import (
    NOT_ALLOWED,
    NUMBER,
    FieldErrors,
    FormInvalid,
    Gettext,
    error_status,
    field_errors,
    filled,
    gettext_for,
    validated,
)
from incident_cmd.web.labels import N_, NAMED_LABELS
from incident_cmd.web.security import csrf_protect
from incident_cmd.web.ticket_display import (
    WORKERS,
    contact_shown,
    countdown,
    customer_shown,
    masks_contacts,
    may_work,
    text_shown,
    ticket_label,
)

router = APIRouter(tags=["web"], include_in_schema=False, dependencies=[Depends(csrf_protect)])

# The button that moves a ticket to each status (resolving has its own form).
MOVES = {
    TicketStatus.acknowledged: N_("Acknowledge: first response given"),
    TicketStatus.in_progress: N_("Start work"),
    TicketStatus.waiting_customer: N_("Wait on the customer"),
    TicketStatus.closed: N_("Close the ticket"),
}

# Each form's fields; a domain error naming another field (the ticket's status) is shown at
# the top of the form.
FORM_FIELDS: Mapping[str, tuple[str, ...]] = {
    "status": ("status", "note"),
    "plan": ("note", "resolve_by"),
    "verify": ("outcome", "note"),
    "resolve": ("resolution", "responsible_department", "compensation_amount"),
    "reopen": ("reason",),
    "appeal": ("reason",),
    "assign": ("user",),
    "survey": ("csat", "nps", "comment", "reason"),
    "task": ("note",),
}
# Where the domain names a field differently from the form.
DOMAIN_FIELDS = {"plan": "note"}
AMOUNT = N_("Enter an amount such as 120.50 (at most two decimals).")


def _may_supervise(session: Session, ticket: Ticket, user: User) -> bool:
    return user.role in WORKERS and access.is_supervisor(session, ticket=ticket, actor=user)


def _team_name(session: Session, key: str, gettext: Gettext) -> str:
    """The team in the reader's language where the catalogs name it, else as it is named."""
    label = NAMED_LABELS["team"].get(key)
    if label is not None:
        return gettext(label)
    team = session.exec(select(Team).where(Team.key == key)).first()
    return team.name if team else key


def _incident_number(session: Session, ticket: Ticket) -> str | None:
    if ticket.incident_id is None:
        return None
    return incident_service.get_incident(session, incident_id=ticket.incident_id).number


def _timers(session: Session, ticket: Ticket, gettext: Gettext) -> list[dict]:
    now = clock.now()
    shown = []
    for timer in sla.timers_of(session, ticket=ticket):
        if timer.met_at is not None:
            state = "met" if timer.met_in_time else "met-late"
        elif timer.paused_at is not None:
            state = "paused"
        else:
            state = countdown([timer], gettext, now).state
        shown.append(
            {
                "timer": timer,
                "state": state,
                "countdown": countdown([timer], gettext, now).text,
            }
        )
    return shown


def _page(
    request: Request,
    session: Session,
    user: User,
    ticket_id: int,
    *,
    failed: str | None = None,
    task_id: int | None = None,
    values: Mapping[str, str] | None = None,
    errors: FieldErrors | None = None,
    status_code: int = 200,
) -> Response:
    ticket = queries.get_ticket(session, ticket_id=ticket_id)
    gettext = gettext_for(user)
    working = may_work(session, ticket=ticket, user=user)
    tasks = surveys.tasks_of(session, ticket=ticket)
    events = timeline.events_for(session, subject_type=history.SUBJECT, subject_id=ticket.id)
    names = auth_service.usernames(
        session,
        ids={ticket.assignee_id}
        | {task.owner_id for task in tasks}
        | {event.actor_id for event in events},
    )
    customer = session.get(Customer, ticket.customer_id)
    purchases = session.exec(
        select(Purchase)
        .where(Purchase.customer_id == ticket.customer_id)
        .order_by(col(Purchase.id))
    ).all()
    timers = sla.timers_of(session, ticket=ticket)
    current = TicketStatus(ticket.status)
    plan_open, verification_open = (
        any(timer.kind == kind and timer.met_at is None for timer in timers)
        for kind in (TimerKind.handling_plan, TimerKind.verification)
    )
    moves = [(target, MOVES[target]) for target in TICKET_TRANSITIONS[current] if target in MOVES]
    shown = {
        "status": working and bool(moves),
        "plan": working and plan_open,
        "verify": working and verification_open and current in OPEN_TICKET_STATUSES,
        "resolve": working and TicketStatus.resolved in TICKET_TRANSITIONS[current],
        "reopen": working and current == TicketStatus.resolved,
        "appeal": working and current == TicketStatus.closed,
        "assign": working,
        "survey": ticket.resolved_at is not None
        and ticket.surveyed_at is None
        and _may_supervise(session, ticket, user),
        "task": any(task.id == task_id and task.done_at is None for task in tasks),
    }
    return templates().TemplateResponse(
        request,
        "ticket.html",
        {
            "organisation": get_settings().organisation_name,
            "user": user,
            "ticket": ticket,
            "customer": customer_shown(customer, user),
            "contact": contact_shown(ticket, user),
            "description": text_shown(ticket.description, user),
            "resolution": text_shown(ticket.resolution, user),
            "assignee": names.of(ticket.assignee_id),
            "countdown": countdown(timers, gettext),
            "timers": _timers(session, ticket, gettext),
            "tasks": [
                {
                    "task": task,
                    "owner": names.of(task.owner_id),
                    "may_finish": task.done_at is None
                    and user.role in WORKERS
                    and (task.owner_id == user.id or working),
                }
                for task in tasks
            ],
            "events": [
                {"event": event, "actor": names.of(event.actor_id)} for event in reversed(events)
            ],
            "masked": masks_contacts(user),
            "team": _team_name(session, ticket.team_key, gettext),
            "incident_number": _incident_number(session, ticket),
            "other_tickets": queries.of_customer(
                session, customer_id=ticket.customer_id, other_than=ticket.id
            ),
            "purchases": purchases,
            "any_action": any(shown[form] for form in shown if form != "task"),
            "moves": moves,
            "shown": shown,
            # A form the page no longer offers (the ticket moved on meanwhile) says why at
            # the top of the page.
            "unplaced": failed is not None and not shown[failed],
            "failed": failed,
            "failed_task": task_id,
            "values": values or {},
            "errors": errors or {},
            "tl": ticket_label,
        },
        status_code=status_code,
    )


@router.get("/tickets/{ticket_id:int}", response_class=HTMLResponse)
def ticket_view(ticket_id: int, request: Request, session: SessionDep, user: PageUser) -> Response:
    return _page(request, session, user, ticket_id)


def _act(
    request: Request,
    session: Session,
    user: User,
    ticket_id: int,
    *,
    form_name: str,
    values: Mapping[str, str],
    action: Callable[[Ticket, Gettext], Any],
    check_access: bool = True,
    task_id: int | None = None,
) -> Response:
    """Runs ``action`` as the API route would, then back to the ticket; a refusal rolls the
    request back and shows the page with the message next to the field at fault."""
    gettext = gettext_for(user)
    try:
        if user.role not in WORKERS:
            raise Forbidden(gettext(NOT_ALLOWED))
        ticket = queries.get_ticket(session, ticket_id=ticket_id)
        if check_access:
            access.ensure_may_work_on(session, ticket=ticket, actor=user)
        action(ticket, gettext)
    except (FormInvalid, DomainError) as exc:
        session.rollback()
        # The ticket's status, when the domain names it, is not the status form's field.
        in_form = [field for field in FORM_FIELDS[form_name] if field != "status"]
        return _page(
            request,
            session,
            user,
            ticket_id,
            failed=form_name,
            task_id=task_id,
            values=values,
            errors=field_errors(exc, fields=in_form, aliases=DOMAIN_FIELDS),
            status_code=error_status(exc),
        )
    return RedirectResponse(
        f"/tickets/{ticket_id}#{form_name}", status_code=status.HTTP_303_SEE_OTHER
    )


async def _values(request: Request, form_name: str) -> dict[str, str]:
    return filled(await request.form(), FORM_FIELDS[form_name])


@router.post("/tickets/{ticket_id:int}/status")
async def change_status(
    ticket_id: int, request: Request, session: SessionDep, user: PageUser
) -> Response:
    values = await _values(request, "status")

    def move(ticket: Ticket, gettext: Gettext) -> None:
        change = validated(TicketAction, values, gettext)
        lifecycle.change_status(session, ticket=ticket, change=change, actor=user)

    return _act(request, session, user, ticket_id, form_name="status", values=values, action=move)


@router.post("/tickets/{ticket_id:int}/plan")
async def handling_plan(
    ticket_id: int, request: Request, session: SessionDep, user: PageUser
) -> Response:
    values = await _values(request, "plan")

    def plan(ticket: Ticket, gettext: Gettext) -> None:
        body = validated(TicketPlan, values, gettext)
        lifecycle.record_handling_plan(
            session, ticket=ticket, plan=body.note, actor=user, resolve_by=body.resolve_by
        )

    return _act(request, session, user, ticket_id, form_name="plan", values=values, action=plan)


@router.post("/tickets/{ticket_id:int}/verification")
async def verification(
    ticket_id: int, request: Request, session: SessionDep, user: PageUser
) -> Response:
    values = await _values(request, "verify")

    def verify(ticket: Ticket, gettext: Gettext) -> None:
        body = validated(TicketVerification, values, gettext)
        lifecycle.record_verification(session, ticket=ticket, verification=body, actor=user)

    return _act(request, session, user, ticket_id, form_name="verify", values=values, action=verify)


def _amount(values: Mapping[str, str], gettext: Gettext) -> dict[str, Any]:
    """The form's amount as the exact decimal the API's JSON number becomes."""
    given = values.get("compensation_amount")
    if given is None:
        return dict(values)
    try:
        amount = Decimal(given.replace(",", "").replace("，", ""))
    except InvalidOperation:
        raise FormInvalid({"compensation_amount": gettext(AMOUNT)}) from None
    return {**values, "compensation_amount": amount}


@router.post("/tickets/{ticket_id:int}/resolve")
async def resolve(
    ticket_id: int, request: Request, session: SessionDep, user: PageUser
) -> Response:
    values = await _values(request, "resolve")

    def settle(ticket: Ticket, gettext: Gettext) -> None:
        try:
            data = validated(TicketResolve, _amount(values, gettext), gettext)
        except FormInvalid as exc:
            if "compensation_amount" in exc.errors:
                exc.errors["compensation_amount"] = gettext(AMOUNT)
            raise
        lifecycle.resolve(session, ticket=ticket, data=data, actor=user)

    return _act(
        request, session, user, ticket_id, form_name="resolve", values=values, action=settle
    )


async def _again(
    ticket_id: int, request: Request, session: Session, user: User, *, form_name: str
) -> Response:
    """A resolved ticket reopened, or a closed one appealed: the same form, with a reason."""
    values = await _values(request, form_name)
    take_up = lifecycle.reopen if form_name == "reopen" else lifecycle.appeal

    def again(ticket: Ticket, gettext: Gettext) -> None:
        body = validated(TicketReopen, values, gettext)
        take_up(session, ticket=ticket, reason=body.reason, actor=user)

    return _act(request, session, user, ticket_id, form_name=form_name, values=values, action=again)


@router.post("/tickets/{ticket_id:int}/reopen")
async def reopen(ticket_id: int, request: Request, session: SessionDep, user: PageUser) -> Response:
    return await _again(ticket_id, request, session, user, form_name="reopen")


@router.post("/tickets/{ticket_id:int}/appeal")
async def appeal(ticket_id: int, request: Request, session: SessionDep, user: PageUser) -> Response:
    return await _again(ticket_id, request, session, user, form_name="appeal")


@router.post("/tickets/{ticket_id:int}/assign")
async def assign(ticket_id: int, request: Request, session: SessionDep, user: PageUser) -> Response:
    values = await _values(request, "assign")

    def hand_over(ticket: Ticket, gettext: Gettext) -> None:
        body = validated(TicketAssign, values, gettext)
        lifecycle.assign(session, ticket=ticket, username=body.user, actor=user)

    return _act(
        request, session, user, ticket_id, form_name="assign", values=values, action=hand_over
    )


def _scores(values: Mapping[str, str], gettext: Gettext) -> dict[str, Any]:
    """The form's scores as the whole numbers the API's JSON carries."""
    parsed: dict[str, Any] = dict(values)
    errors: FieldErrors = {}
    for name in ("csat", "nps"):
        if name in values:
            try:
                parsed[name] = int(values[name])
            except ValueError:
                errors[name] = gettext(NUMBER)
    if errors:
        raise FormInvalid(errors)
    return parsed


@router.post("/tickets/{ticket_id:int}/survey")
async def survey(ticket_id: int, request: Request, session: SessionDep, user: PageUser) -> Response:
    """As the API: the supervisor check is the survey's own (``surveys.enter_survey``)."""
    values = await _values(request, "survey")

    def rate(ticket: Ticket, gettext: Gettext) -> None:
        entry = validated(SurveyEntry, _scores(values, gettext), gettext, whole_form_field="csat")
        surveys.enter_survey(session, ticket=ticket, entry=entry, actor=user)

    return _act(
        request,
        session,
        user,
        ticket_id,
        form_name="survey",
        values=values,
        action=rate,
        check_access=False,
    )


@router.post("/tickets/{ticket_id:int}/tasks/{task_id:int}/done")
async def task_done(
    ticket_id: int, task_id: int, request: Request, session: SessionDep, user: PageUser
) -> Response:
    """As the API: the task's owner, or whoever may work on the ticket."""
    values = await _values(request, "task")

    def finish(ticket: Ticket, gettext: Gettext) -> None:
        body = validated(TaskDone, values, gettext)
        surveys.complete_task(session, ticket=ticket, task_id=task_id, note=body.note, actor=user)

    return _act(
        request,
        session,
        user,
        ticket_id,
        form_name="task",
        values=values,
        action=finish,
        check_access=False,
        task_id=task_id,
    )
