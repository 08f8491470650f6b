"""The complaint queue for agents: my tickets, my team's and all of them, filtered as the API
filters them and paged by the API's cursor; and the intake form phone agents fill in while the
customer is on the line, taken in through ``tickets.intake.take_in`` as the API takes it."""

import dataclasses
import itertools
from collections.abc import Sequence
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Query, Request, status
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlmodel import Session, col, select

from incident_cmd import clock
from incident_cmd.auth import service as auth_service
from incident_cmd.auth.models import Role, User
from incident_cmd.config import get_settings
from incident_cmd.customers.models import Customer
from incident_cmd.deps import SessionDep
from incident_cmd.errors import DomainError, Invalid
from incident_cmd.fields import INT4_MAX
from incident_cmd.i18n import LOCALES
from incident_cmd.playbooks.api import RegistryDep
from incident_cmd.tickets import intake, queries
from incident_cmd.tickets.models import (
    OPEN_TICKET_STATUSES,
    BreachState,
    IntakeChannel,
    SlaTimer,
    Ticket,
    TicketStatus,
)
from incident_cmd.tickets.policy import CATEGORIES, PRIORITIES
from incident_cmd.tickets.schemas import TicketCreate
from incident_cmd.web import ticket_page
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
from incident_cmd.web.labels import N_
from incident_cmd.web.security import csrf_protect
from incident_cmd.web.ticket_display import WORKERS, countdown, customer_shown, ticket_label

router = APIRouter(tags=["web"], include_in_schema=False, dependencies=[Depends(csrf_protect)])

PAGE_SIZE = 50
# The countdown's text is in whole minutes; its colour changes at its ticket's warning and
# deadline, when the list is fetched again once the server's clock has passed them.
REFRESH_AT_LEAST_EVERY_SECONDS = 60.0
CHANGE_MARGIN_SECONDS = 0.5
TABS = {"mine": N_("My tickets"), "team": N_("My team's"), "all": N_("All tickets")}
REQUESTS = ("return", "exchange", "repair", "refund", "compensation", "information")
INTAKE_FIELDS = (
    "customer_name",
    "phone",
    "email",
    "locale",
    "channel",
    "category",
    "priority",
    "product_model",
    "batch",
    "region",
    "purchase_channel",
    "description",
    "requested",
)
UNKNOWN_USER = N_("No one has this username.")
BAD_VALUE = N_("Not one of the options.")
CONTACT_NEEDED = N_("Give the customer's phone or email.")
STALE_CURSOR = N_("That page link is not valid; here is the first page.")


def _default_tab(user: User) -> str:
    return "mine" if user.role == Role.agent else "all"


def _filters(
    request: Request, session: Session, gettext: Gettext
) -> tuple[queries.QueueFilter, dict, FieldErrors]:
    """The filters in the query string, as the API reads them; what is wrong is named by
    field, and left out of the search."""
    params = request.query_params
    errors: FieldErrors = {}
    chosen: dict = {
        "status": [value for value in params.getlist("status") if value],
        **{
            name: params.get(name, "").strip()
            for name in (
                "priority",
                "category",
                "breach_state",
                "assignee",
                "product_model",
                "batch",
                "incident_id",
            )
        },
    }
    statuses = []
    for value in chosen["status"]:
        if value in TicketStatus.__members__:
            statuses.append(TicketStatus(value))
        else:
            errors["status"] = gettext(BAD_VALUE)
    for name, allowed in (
        ("priority", PRIORITIES),
        ("category", CATEGORIES),
        ("breach_state", tuple(BreachState)),
    ):
        if chosen[name] and chosen[name] not in allowed:
            errors[name] = gettext(BAD_VALUE)
    assignee_id = None
    if chosen["assignee"]:
        assignee_id = session.exec(
            select(User.id).where(User.username == chosen["assignee"])
        ).first()
        if assignee_id is None:
            errors["assignee"] = gettext(UNKNOWN_USER)
    incident_id = None
    if chosen["incident_id"]:
        if chosen["incident_id"].isdigit() and 1 <= int(chosen["incident_id"]) <= INT4_MAX:
            incident_id = int(chosen["incident_id"])
        else:
            errors["incident_id"] = gettext(NUMBER)

    def kept(name: str) -> str | None:
        return chosen[name] or None if name not in errors else None

    filters = queries.QueueFilter(
        statuses=tuple(statuses),
        priority=kept("priority"),
        assignee_id=assignee_id,
        breach_state=BreachState(chosen["breach_state"]) if kept("breach_state") else None,
        product_model=kept("product_model"),
        batch=kept("batch"),
        category=kept("category"),
        incident_id=incident_id,
    )
    return filters, chosen, errors


@dataclasses.dataclass(frozen=True)
class Rows:
    rows: list[dict]
    next_change_seconds: float | None


def _rows(session: Session, placed: Sequence[tuple[Ticket, queries.Place]], reader: User) -> Rows:
    """Each ticket with its customer (as the reader may see them), its assignee and the
    countdown of its most pressing target; three queries for the whole page. Also how soon
    a countdown shown changes colour, or its minutes, when the page should be fetched again."""
    tickets = [ticket for ticket, _ in placed]
    gettext = gettext_for(reader)
    names = auth_service.usernames(session, ids={ticket.assignee_id for ticket in tickets})
    customer_ids = {ticket.customer_id for ticket in tickets}
    customers = {
        customer.id: customer
        for customer in session.exec(select(Customer).where(col(Customer.id).in_(customer_ids)))
    }
    timers: dict[int, list[SlaTimer]] = {}
    for timer in session.exec(
        select(SlaTimer).where(col(SlaTimer.ticket_id).in_([ticket.id for ticket in tickets]))
    ):
        timers.setdefault(timer.ticket_id, []).append(timer)
    now = clock.now()
    rows = [
        {
            "ticket": ticket,
            "customer": customer_shown(customers.get(ticket.customer_id), reader),
            "assignee": names.of(ticket.assignee_id),
            "countdown": countdown(timers.get(ticket.id, []), gettext, now),
        }
        for ticket, _ in placed
    ]
    changes = [
        moment
        for timer in itertools.chain.from_iterable(timers.values())
        if timer.met_at is None and timer.paused_at is None
        for moment in (timer.warn_at, timer.due_at)
        if moment > now
    ]
    return Rows(rows, (min(changes) - now).total_seconds() if changes else None)


def _queue_url(params: Sequence[tuple[str, str]]) -> str:
    return f"/tickets?{urlencode(params)}"


@router.get("/tickets", response_class=HTMLResponse)
def queue_page(
    request: Request,
    session: SessionDep,
    user: PageUser,
    tab: Annotated[str | None, Query(pattern="^(mine|team|all)$")] = None,
    cursor: Annotated[str | None, Query(max_length=80)] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = PAGE_SIZE,
) -> Response:
    """What must be done first at the top (see ``queries.Place``); open tickets unless the
    reader chose statuses. The list refreshes itself (static/queue.js) when ``/live/queue``
    announces a ticket's change and when a countdown shown is due to change."""
    tab = tab or _default_tab(user)
    gettext = gettext_for(user)
    filters, chosen, errors = _filters(request, session, gettext)
    after = None
    if cursor:
        try:
            after = queries.Place.from_cursor(cursor)
        except Invalid:
            errors["cursor"] = gettext(STALE_CURSOR)
    filters = dataclasses.replace(
        filters,
        statuses=filters.statuses or OPEN_TICKET_STATUSES,
        assignee_id=user.id if tab == "mine" else filters.assignee_id,
    )
    placed = queries.by_deadline(
        session,
        filters=filters,
        limit=limit,
        after=after,
        team_member=user if tab == "team" else None,
    )
    shown = _rows(session, placed, user)
    next_cursor = placed[-1][1].cursor() if len(placed) == limit else None
    kept = [(key, value) for key, value in request.query_params.multi_items() if key != "cursor"]
    if "tab" not in request.query_params:
        kept.append(("tab", tab))
    here = [*kept, ("cursor", cursor)] if cursor and after else kept
    explicit_statuses = set(chosen["status"]) != set(OPEN_TICKET_STATUSES) and chosen["status"]
    return templates().TemplateResponse(
        request,
        "tickets.html",
        {
            "organisation": get_settings().organisation_name,
            "user": user,
            "tab": tab,
            "tabs": TABS,
            "rows": shown.rows,
            "refresh_in": _refresh_in(shown.next_change_seconds),
            "chosen": {**chosen, "status": chosen["status"] or list(OPEN_TICKET_STATUSES)},
            "active_filters": sum(
                1
                for name, value in chosen.items()
                if value and (name != "status" or explicit_statuses)
            ),
            "errors": errors,
            "self_url": _queue_url(here),
            "next_url": _queue_url([*kept, ("cursor", next_cursor)]) if next_cursor else None,
            "first_url": _queue_url(kept) if cursor else None,
            "statuses": tuple(TicketStatus),
            "priorities": PRIORITIES,
            "categories": CATEGORIES,
            "breach_states": tuple(BreachState),
            "may_take_in": user.role in WORKERS,
            "tl": ticket_label,
        },
        status_code=400 if errors else 200,
    )


def _refresh_in(next_change_seconds: float | None) -> float:
    """Seconds until the list is fetched again on its own: just after the next countdown
    changes colour, and at least once a minute so its minutes stay true."""
    if next_change_seconds is None:
        return REFRESH_AT_LEAST_EVERY_SECONDS
    return round(
        min(next_change_seconds + CHANGE_MARGIN_SECONDS, REFRESH_AT_LEAST_EVERY_SECONDS), 1
    )


# --- intake ---------------------------------------------------------------------------------


def _intake_form(
    request: Request, user: User, values: dict, errors: FieldErrors, status_code: int = 200
) -> Response:
    return templates().TemplateResponse(
        request,
        "ticket_new.html",
        {
            "organisation": get_settings().organisation_name,
            "user": user,
            "values": values,
            "errors": errors,
            "channels": tuple(IntakeChannel),
            "categories": CATEGORIES,
            "priorities": PRIORITIES,
            "requests": REQUESTS,
            "locales": LOCALES,
            "tl": ticket_label,
        },
        status_code=status_code,
    )


@router.get("/tickets/new", response_class=HTMLResponse)
def intake_form(request: Request, user: PageUser) -> Response:
    if user.role not in WORKERS:
        refused = {"": gettext_for(user)(NOT_ALLOWED)}
        return _intake_form(request, user, {}, refused, status.HTTP_403_FORBIDDEN)
    return _intake_form(request, user, {"channel": "phone", "requested": "information"}, {})


@router.post("/tickets/new")
async def take_in(
    request: Request, session: SessionDep, registry: RegistryDep, user: PageUser
) -> Response:
    """What the API's POST /tickets does, from the form; on an error nothing is taken in and
    the form comes back filled in, the message next to its field."""
    values = filled(await request.form(), INTAKE_FIELDS)
    gettext = gettext_for(user)
    if user.role not in WORKERS:
        refused = {"": gettext(NOT_ALLOWED)}
        return _intake_form(request, user, values, refused, status.HTTP_403_FORBIDDEN)
    try:
        data = validated(TicketCreate, values, gettext, whole_form_field="phone")
        ticket = intake.take_in(session, data=data, actor=user, registry=registry)
    except (FormInvalid, DomainError) as exc:
        session.rollback()
        errors = field_errors(exc, fields=INTAKE_FIELDS)
        # The schema checks the contact only once every field is valid; the agent hears of
        # every missing field at once.
        if not (values.get("phone") or values.get("email")):
            errors["phone"] = gettext(CONTACT_NEEDED)
        return _intake_form(request, user, values, errors, error_status(exc))
    return RedirectResponse(f"/tickets/{ticket.id}", status_code=status.HTTP_303_SEE_OTHER)


# After /tickets/new, so "new" is never read as a ticket's id.
router.include_router(ticket_page.router)
