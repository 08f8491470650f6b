"""Declaring an incident from a page, and deciding on a complaint cluster (a signal): declare
the incident it suggests, or dismiss it with a reason. The same flows and the same roles as
the API (``incidents.flows.declare``; ``tickets.flows.declare_from_signal`` and
``tickets.detection.dismiss`` for duty managers and admins). A refused form comes back with
what was typed and the reason next to the field at fault; the request's transaction is rolled
back, so nothing of it stays."""

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Annotated
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Form, Request, status
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError
from sqlmodel import Session

from incident_cmd.auth.models import User
from incident_cmd.config import get_settings
from incident_cmd.customers import service as customer_service
from incident_cmd.deps import SessionDep
from incident_cmd.errors import Conflict, DomainError, Forbidden, Invalid
from incident_cmd.incidents import flows as incident_flows
from incident_cmd.incidents.schemas import IncidentDeclare, Scope
from incident_cmd.playbooks.schema import Playbook
from incident_cmd.playbooks.service import PlaybookRegistry
from incident_cmd.tickets import detection
from incident_cmd.tickets import flows as ticket_flows
from incident_cmd.tickets.models import Signal, SignalStatus, Ticket
from incident_cmd.web.api import PageUser, templates
from incident_cmd.web.board import bilingual, may_declare
from incident_cmd.web.forms import error_status
from incident_cmd.web.labels import N_
from incident_cmd.web.security import csrf_protect

router = APIRouter(tags=["web"], include_in_schema=False, dependencies=[Depends(csrf_protect)])

SCOPE_FIELDS = ("products", "batches", "regions")
# Free entry takes values separated as people type lists in either language.
_SEPARATORS = re.compile(r"[,，、;；\n]+")
# What the page says of a field the flow refused; the flow's own words are English.
FIELD_MESSAGES: Mapping[str, str] = {
    "playbook": N_("Choose one of the playbooks below."),
    "severity": N_("Choose a severity of the chosen playbook."),
    "title": N_("Give the incident a short title."),
    "scope": N_("Name what is affected: this playbook needs the scope marked with *."),
    "reason": N_("Say why the signal is dismissed."),
    "signal": N_("This signal has already been decided."),
}
HOURS_SHOWN = 72


def _manager(user: User) -> None:
    """Who may declare and decide on signals: the API's Manager (duty managers, admins); the
    others get the refusal page."""
    if not may_declare(user):
        raise Forbidden(f"role {user.role!r} may not declare or decide on signals")


def _registry(request: Request) -> PlaybookRegistry:
    return request.app.state.playbooks


@dataclass(frozen=True)
class SeverityChoice:
    key: str
    name: dict[str, str]
    respond_within: str
    resolve_within: str


@dataclass(frozen=True)
class PlaybookChoice:
    key: str
    kind: str
    name: dict[str, str]
    description: dict[str, str] | None
    severities: list[SeverityChoice]
    scope_required: list[str]


def _choice(playbook: Playbook) -> PlaybookChoice:
    return PlaybookChoice(
        key=playbook.key,
        kind=playbook.kind,
        name=bilingual(playbook.name),
        description=bilingual(playbook.description) if playbook.description else None,
        severities=[
            SeverityChoice(
                severity.key,
                bilingual(severity.name),
                severity.respond_within,
                severity.resolve_within,
            )
            for severity in playbook.severities
        ],
        scope_required=list(playbook.scope.require_any),
    )


@dataclass
class DeclareForm:
    """What the person typed, shown again when the form comes back."""

    playbook: str = ""
    severity: str = ""
    title: str = ""
    scope: dict[str, list[str]] = field(default_factory=lambda: {name: [] for name in SCOPE_FIELDS})
    drill: bool = False


def _errors_of(exc: DomainError | ValidationError) -> dict[str, str]:
    """Field name to the message id the page shows next to it."""
    if isinstance(exc, DomainError):
        name = exc.field or "form"
        return {name: FIELD_MESSAGES.get(name, exc.message)}
    errors: dict[str, str] = {}
    for error in exc.errors():
        name = str(error["loc"][0]) if error["loc"] else "form"
        name = "scope" if name in SCOPE_FIELDS else name
        errors.setdefault(name, FIELD_MESSAGES.get(name, error["msg"]))
    return errors


def _scope_values(typed: Sequence[str], other: str) -> list[str]:
    """The values picked from the list and those typed in, each once, in that order."""
    values: list[str] = []
    for value in [*typed, *_SEPARATORS.split(other)]:
        value = value.strip()
        if value and value not in values:
            values.append(value)
    return values


def _declare_page(
    request: Request,
    session: Session,
    user: User,
    *,
    form: DeclareForm,
    errors: Mapping[str, str] | None = None,
    status_code: int = status.HTTP_200_OK,
) -> Response:
    return templates().TemplateResponse(
        request,
        "declare.html",
        {
            "organisation": get_settings().organisation_name,
            "user": user,
            "playbooks": [_choice(loaded.playbook) for loaded in _registry(request).all()],
            "known": customer_service.scope_values(session),
            "form": form,
            "errors": errors or {},
        },
        status_code=status_code,
    )


@router.get("/declare", response_class=HTMLResponse)
def declare_form(
    request: Request, session: SessionDep, user: PageUser, playbook: str = ""
) -> Response:
    _manager(user)
    return _declare_page(request, session, user, form=DeclareForm(playbook=playbook))


@router.post("/declare")
def declare(
    request: Request,
    session: SessionDep,
    user: PageUser,
    playbook: Annotated[str, Form(max_length=64)] = "",
    severity: Annotated[str, Form(max_length=100)] = "",
    title: Annotated[str, Form(max_length=1000)] = "",
    products: Annotated[list[str], Form()] = [],  # noqa: B006  # FastAPI copies the default
    batches: Annotated[list[str], Form()] = [],  # noqa: B006
    regions: Annotated[list[str], Form()] = [],  # noqa: B006
    products_other: Annotated[str, Form(max_length=5000)] = "",
    batches_other: Annotated[str, Form(max_length=5000)] = "",
    regions_other: Annotated[str, Form(max_length=5000)] = "",
    drill: Annotated[bool, Form()] = False,
) -> Response:
    _manager(user)
    # A severity is chosen inside its playbook's card ("product-recall:sev1"); one chosen in
    # another card than the playbook's is refused rather than read as the same key.
    severity_playbook, _, severity_key = severity.rpartition(":")
    form = DeclareForm(
        playbook=playbook,
        severity=severity,
        title=title.strip(),
        scope={
            "products": _scope_values(products, products_other),
            "batches": _scope_values(batches, batches_other),
            "regions": _scope_values(regions, regions_other),
        },
        drill=drill,
    )
    try:
        if severity_playbook and playbook and severity_playbook != playbook:
            raise Invalid("a severity of another playbook", field="severity")
        data = IncidentDeclare(
            playbook=playbook,
            title=form.title,
            severity=severity_key,
            scope=Scope(**form.scope),
            drill=drill,
        )
        incident = incident_flows.declare(
            session, registry=_registry(request), data=data, actor=user
        )
    except (DomainError, ValidationError) as exc:
        session.rollback()
        return _declare_page(
            request, session, user, form=form, errors=_errors_of(exc), status_code=error_status(exc)
        )
    return RedirectResponse(f"/incidents/{incident.id}", status_code=status.HTTP_303_SEE_OTHER)


# --- a complaint cluster ---------------------------------------------------------------------


@dataclass(frozen=True)
class HourCount:
    label: str
    count: int


def _hours(by_hour: Mapping[str, int], zone: str) -> list[HourCount]:
    """Counts by hour in the reader's zone, the quiet hours between included (a chart with
    gaps left out would hide how sudden the rise was)."""
    if not by_hour:
        return []
    hours = {datetime.strptime(key, "%Y-%m-%dT%H:00Z"): count for key, count in by_hour.items()}
    first, last = min(hours), max(hours)
    first = max(first, last - timedelta(hours=HOURS_SHOWN - 1))
    tz = ZoneInfo(zone)
    shown = []
    at = first
    while at <= last:
        local = at.replace(tzinfo=ZoneInfo("UTC")).astimezone(tz)
        shown.append(HourCount(local.strftime("%m-%d %H:00"), hours.get(at, 0)))
        at += timedelta(hours=1)
    return shown


def _signal_page(
    request: Request,
    session: Session,
    user: User,
    *,
    signal: Signal,
    errors: Mapping[str, str] | None = None,
    typed: Mapping[str, str] | None = None,
    status_code: int = status.HTTP_200_OK,
) -> Response:
    tickets: list[Ticket]
    tickets, by_hour = detection.evidence(session, signal=signal)
    try:
        playbook: PlaybookChoice | None = _choice(
            _registry(request).get(signal.playbook_key).playbook
        )
    except DomainError:
        playbook = None
    hours = _hours(by_hour, user.timezone)
    return templates().TemplateResponse(
        request,
        "signal.html",
        {
            "organisation": get_settings().organisation_name,
            "user": user,
            "signal": signal,
            "is_open": signal.status == SignalStatus.open,
            "playbook": playbook,
            "tickets": tickets,
            "chart": {
                "labels": [hour.label for hour in hours],
                "counts": [hour.count for hour in hours],
            },
            "errors": errors or {},
            "typed": typed or {},
        },
        status_code=status_code,
    )


def _signal_refused(
    request: Request,
    session: Session,
    user: User,
    signal_id: int,
    exc: DomainError | ValidationError,
    typed: Mapping[str, str],
) -> Response:
    """The signal's page again, nothing of the request kept, with the reason next to its field
    and what was typed."""
    session.rollback()
    signal = detection.get_signal(session, signal_id=signal_id)
    return _signal_page(
        request,
        session,
        user,
        signal=signal,
        errors=_errors_of(exc),
        typed=typed,
        status_code=error_status(exc),
    )


@router.get("/signals/{signal_id}", response_class=HTMLResponse)
def signal_page(signal_id: int, request: Request, session: SessionDep, user: PageUser) -> Response:
    _manager(user)
    signal = detection.get_signal(session, signal_id=signal_id)
    return _signal_page(request, session, user, signal=signal)


@router.post("/signals/{signal_id}/declare")
def signal_declare(
    signal_id: int,
    request: Request,
    session: SessionDep,
    user: PageUser,
    severity: Annotated[str, Form(max_length=32)] = "",
    title: Annotated[str, Form(max_length=300)] = "",
) -> Response:
    _manager(user)
    signal = detection.get_signal(session, signal_id=signal_id)
    try:
        if signal.status != SignalStatus.open:
            raise Conflict(f"signal {signal.id} is {signal.status}", field="signal")
        incident = ticket_flows.declare_from_signal(
            session,
            signal=signal,
            registry=_registry(request),
            severity=severity,
            title=title.strip() or None,
            actor=user,
        )
    except (DomainError, ValidationError) as exc:
        typed = {"severity": severity, "title": title}
        return _signal_refused(request, session, user, signal_id, exc, typed)
    return RedirectResponse(f"/incidents/{incident.id}", status_code=status.HTTP_303_SEE_OTHER)


@router.post("/signals/{signal_id}/dismiss")
def signal_dismiss(
    signal_id: int,
    request: Request,
    session: SessionDep,
    user: PageUser,
    reason: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    _manager(user)
    signal = detection.get_signal(session, signal_id=signal_id)
    try:
        if signal.status != SignalStatus.open:
            raise Conflict(f"signal {signal.id} is {signal.status}", field="signal")
        detection.dismiss(session, signal=signal, reason=reason.strip(), actor=user)
    except DomainError as exc:
        return _signal_refused(request, session, user, signal_id, exc, {"reason": reason})
    return RedirectResponse(f"/signals/{signal_id}", status_code=status.HTTP_303_SEE_OTHER)
