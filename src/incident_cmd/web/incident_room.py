"""The incident room (``/incidents/{id}``): the whole incident on one screen — its header and
deadlines, the roster and its pages, the tasks, the customer notices with their delivery
funnel, the timeline and the linked tickets — and every action on it as a plain form.

Each action calls the same flow or service with the same role rule as the API route that does
it (``incidents/api.py``, ``campaigns/api.py``); a refusal is shown next to the form that was
sent, with the transaction rolled back. A form posted without JavaScript gets a redirect to the
room (or the room with the error); htmx posts the same form and takes the section it needs
from the answer. Each section is also a fragment (``/incidents/{id}/fragments/<section>``)
that the page fetches again when ``/live/incidents/{id}`` announces a change."""

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Form, HTTPException, Request, status
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError
from sqlmodel import Session, col, func, select

from incident_cmd import clock
from incident_cmd.auth import service as auth_service
from incident_cmd.auth.models import Role, User
from incident_cmd.campaigns import service as campaign_service
from incident_cmd.campaigns.models import Campaign, CampaignStatus, Delivery, DeliveryStatus
from incident_cmd.campaigns.schemas import CampaignCounts, CampaignPreview
from incident_cmd.config import get_settings
from incident_cmd.deps import COMMS_ROLES, SessionDep
from incident_cmd.errors import DomainError, Forbidden, Invalid
from incident_cmd.i18n import Locale
from incident_cmd.incidents import flows as incident_flows
from incident_cmd.incidents import service as incident_service
from incident_cmd.incidents.models import (
    OPEN_STATUSES,
    TRANSITIONS,
    Incident,
    IncidentStatus,
    IncidentTask,
    RosterAssignment,
    TaskStatus,
)
from incident_cmd.incidents.schemas import (
    ResponderAdd,
    RoleAssign,
    SeatPage,
    SeverityChange,
    StatusChange,
    UpdatePost,
)
from incident_cmd.paging import mobilisation
from incident_cmd.paging import queries as paging_queries
from incident_cmd.paging.models import Page, PageStatus
from incident_cmd.playbooks.schema import Playbook
from incident_cmd.statements import service as statements_service
from incident_cmd.statements.models import StatementStatus
from incident_cmd.tickets import detection as ticket_detection
from incident_cmd.tickets import queries as ticket_queries
from incident_cmd.tickets.models import Ticket, TicketStatus
from incident_cmd.timeline import service as timeline
from incident_cmd.timeline.models import TimelineEvent
from incident_cmd.web import deadlines, translations
from incident_cmd.web.api import PageUser, templates
from incident_cmd.web.deadlines import Urgency
from incident_cmd.web.labels import N_
from incident_cmd.web.security import csrf_protect
from incident_cmd.web.status_pages import STAGES
from incident_cmd.web.ticket_display import text_shown

router = APIRouter(tags=["web"], include_in_schema=False, dependencies=[Depends(csrf_protect)])

# The API's role rules (deps.py aliases and the incidents router's SeatHolder); admins may
# do everything.
MANAGERS = (Role.duty_manager,)
UPDATERS = (Role.duty_manager, Role.responder, Role.comms)
SEAT_HOLDERS = (Role.duty_manager, Role.responder, Role.comms, Role.agent)
COMMUNICATORS = COMMS_ROLES

SECTIONS = ("header", "roster", "tasks", "campaigns", "timeline", "tickets")
TIMELINE_LIMIT = 200
LATEST_TICKETS = 5
# The complaint curve starts this long before the declaration (how the rise began) and shows
# at most the last week.
CURVE_BEFORE = timedelta(hours=24)
CURVE_LONGEST = timedelta(days=7)


def _allowed(user: User, roles: Iterable[Role]) -> bool:
    return user.role == Role.admin or user.role in roles


class RoleRefused(Forbidden):
    """The reader's role may not do this at all: said at the top of the room, since the
    form it came from is not shown to them."""


def _require(user: User, roles: Sequence[Role]) -> None:
    if not _allowed(user, roles):
        names = ", ".join(sorted({Role.admin.value, *(role.value for role in roles)}))
        raise RoleRefused(f"role {user.role.value!r} may not do this (allowed: {names})")


# --- words the page builds from numbers ------------------------------------------------------

SPAN_DAYS = N_("%(days)s d %(hours)s h")
SPAN_HOURS = N_("%(hours)s h %(minutes)s min")
SPAN_MINUTES = N_("%(minutes)s min")
TIME_LEFT = N_("%(span)s left")
OVERDUE_BY = N_("overdue %(span)s")
# Values the shared labels do not name.
WORDS: Mapping[tuple[str, str], str] = {
    ("task", TaskStatus.open): N_("Open"),
    ("task", TaskStatus.done): N_("Done"),
    ("page", PageStatus.open): N_("Paging"),
    ("page", PageStatus.acknowledged): N_("Page acknowledged"),
    ("page", PageStatus.exhausted): N_("No answer"),
    ("page", PageStatus.cancelled): N_("Page cancelled"),
    ("ticket", TicketStatus.new): N_("New"),
    ("ticket", TicketStatus.acknowledged): N_("First response given"),
    ("ticket", TicketStatus.in_progress): N_("In progress"),
    ("ticket", TicketStatus.waiting_customer): N_("Waiting for the customer"),
    ("ticket", TicketStatus.resolved): N_("Resolved"),
    ("ticket", TicketStatus.closed): N_("Closed"),
}


@dataclass(frozen=True)
class Countdown:
    text: str
    state: Urgency


@dataclass(frozen=True)
class Wording:
    """Durations and countdowns in the reader's language, from the project clock."""

    locale: Locale
    now: datetime

    def gettext(self, message: str) -> str:
        return translations.translations(self.locale).gettext(message)

    def span(self, seconds: float) -> str:
        minutes = max(0, int(seconds // 60))
        days, rest = divmod(minutes, 24 * 60)
        hours, minutes = divmod(rest, 60)
        if days:
            return self.gettext(SPAN_DAYS) % {"days": days, "hours": hours}
        if hours:
            return self.gettext(SPAN_HOURS) % {"hours": hours, "minutes": minutes}
        return self.gettext(SPAN_MINUTES) % {"minutes": minutes}

    def countdown(self, *, start: datetime, due: datetime) -> Countdown:
        """Time left until ``due`` (or past it), coloured by the board's rule for a deadline
        set at ``start``."""
        clock = deadlines.deadline(start=start, due=due, now=self.now)
        if clock.seconds_left < 0:
            text = self.gettext(OVERDUE_BY) % {"span": self.span(-clock.seconds_left)}
        else:
            text = self.gettext(TIME_LEFT) % {"span": self.span(clock.seconds_left)}
        return Countdown(text, clock.urgency)

    def age(self, since: datetime) -> str:
        return self.span((self.now - since).total_seconds())

    def word(self, kind: str, value: str) -> str:
        """A task's, page's, public or ticket status (``kind``) in the reader's words."""
        return self.gettext(WORDS.get((kind, value), value.replace("_", " ")))

    def pick(self, texts: Mapping[str, str]) -> str:
        return texts.get(self.locale) or texts.get(Locale.en) or next(iter(texts.values()), "")


# --- what the reader may do ------------------------------------------------------------------


@dataclass(frozen=True)
class Permissions:
    manage: bool  # status, severity, handover, reinforcement: duty managers
    post_internal: bool
    communicate: bool  # preview and move campaigns
    see_contacts: bool  # a viewer reads the room, not people's phone numbers
    star: bool  # mark timeline entries for the review: whoever may post an internal update

    @classmethod
    def of(cls, user: User) -> "Permissions":
        return cls(
            manage=_allowed(user, MANAGERS),
            post_internal=_allowed(user, UPDATERS),
            communicate=_allowed(user, COMMUNICATORS),
            see_contacts=user.role != Role.viewer,
            star=_allowed(user, UPDATERS),
        )


# The form name of a refusal shown above the sections.
PAGE_FORM = "page"


@dataclass(frozen=True)
class FormError:
    """A refusal, shown inside the form that was sent (``form``), next to ``field``."""

    form: str
    message: str
    field: str | None = None


# --- the sections ----------------------------------------------------------------------------


@dataclass(frozen=True)
class SeatView:
    seat: RosterAssignment
    title: str
    person: User | None
    page: Page | None
    figure: mobilisation.RoleFigure | None
    waiting: Countdown | None  # an unanswered page against the role's ack_within
    ack_target: str | None
    ack_took: str | None
    may_hand_over: bool  # a playbook seat (an extra seat is ended, not handed over)
    # Paging it (again) from the start of its chain: nobody acknowledged its page yet.
    may_page: bool


@dataclass(frozen=True)
class PagingFigures:
    """The roster's paging as ``/api/v1/incidents/{id}/paging`` reports it, in words: how long
    the whole paged roster took (or has been waiting) to acknowledge, against the playbook."""

    standing: int  # pages not cancelled by a handover or a stand-down
    acknowledged: int
    full_roster_took: str | None
    waiting: str | None  # since the declaration, while someone has not acknowledged
    target: str | None
    within_target: bool | None  # None while the target can still be met
    pages_sent: int
    escalations: int  # further people paged when a page went unanswered or was declined


@dataclass(frozen=True)
class TaskView:
    task: IncidentTask
    title: str
    role_title: str
    due: Countdown | None
    waits_for: str | None  # the open dependency's title: why it cannot be completed yet
    may_complete: bool
    completed_by: str | None


@dataclass(frozen=True)
class FunnelStage:
    key: str
    label: str
    value: int


@dataclass(frozen=True)
class CampaignView:
    campaign: Campaign
    counts: CampaignCounts
    funnel: list[FunnelStage]
    created_by: str | None
    approved_by: str | None
    actions: list[str]
    preview: CampaignPreview | None

    def funnel_json(self) -> dict[str, Any]:
        return {
            "stages": [
                {"key": stage.key, "name": stage.label, "value": stage.value}
                for stage in self.funnel
            ]
        }


class TimelineGroup(StrEnum):
    roster = "roster"
    tasks = "tasks"
    campaigns = "campaigns"
    status = "status"


TIMELINE_GROUPS: Mapping[TimelineGroup, tuple[str, tuple[str, ...]]] = {
    TimelineGroup.roster: (N_("Roster and paging"), ("roster.", "page.", "message.")),
    TimelineGroup.tasks: (N_("Tasks"), ("task.", "tasks.")),
    TimelineGroup.campaigns: (N_("Customer notices"), ("campaign.",)),
    TimelineGroup.status: (N_("Status and updates"), ("incident.", "update.")),
}


# ?timeline=starred: only the entries marked for the post-incident review.
STARRED = "starred"
STARRED_LABEL = N_("Starred for the review")


def _group_of(kind: str) -> TimelineGroup | None:
    for group, (_, prefixes) in TIMELINE_GROUPS.items():
        if kind.startswith(prefixes):
            return group
    return None


@dataclass(frozen=True)
class TimelineItem:
    event: TimelineEvent
    actor: str | None
    group: TimelineGroup | None
    starred_by: str | None  # who starred it for the review, if anyone did
    starred: bool
    may_star: bool  # a star's own entry is not starred

    @property
    def star_action(self) -> str:
        return "unstar" if self.starred else "star"


@dataclass
class Room:
    """What the room's templates read; each section fills in its own part."""

    incident: Incident
    playbook: Playbook
    user: User
    wording: Wording
    may: Permissions
    preview_id: int | None = None
    timeline_group: TimelineGroup | None = None
    timeline_starred: bool = False
    error: FormError | None = None
    values: dict[str, Any] = field(default_factory=dict)


def _header(session: Session, room: Room) -> dict[str, Any]:
    incident, wording = room.incident, room.wording
    severity = room.playbook.severity(incident.severity)
    still_open = incident.status in OPEN_STATUSES
    return {
        "severity_name": wording.pick(severity.name.model_dump(by_alias=True))
        if severity
        else incident.severity,
        "severities": [
            (item.key, wording.pick(item.name.model_dump(by_alias=True)))
            for item in room.playbook.severities
        ],
        "age": wording.age(incident.declared_at),
        "respond_countdown": wording.countdown(start=incident.declared_at, due=incident.respond_by)
        if incident.status == IncidentStatus.declared
        else None,
        "resolve_countdown": wording.countdown(start=incident.declared_at, due=incident.resolve_by)
        if still_open
        else None,
        "transitions": TRANSITIONS[incident.status],
        **_statements_at_a_glance(session, incident),
    }


def _statements_at_a_glance(session: Session, incident: Incident) -> dict[str, Any]:
    """What the public was last told, and how many statements wait for a second person or
    for publishing."""
    statements = statements_service.statements_of(session, incident=incident)
    published = [item for item in statements if item.status == StatementStatus.published]
    return {
        "last_statement": max(published, key=lambda item: item.version or 0, default=None),
        "statements_waiting": len(statements) - len(published),
        "stages": STAGES,
    }


def _latest_page_by_seat(pages: Sequence[Page]) -> dict[int, Page]:
    latest: dict[int, Page] = {}
    for page in pages:  # oldest first: the last one wins
        latest[page.assignment_id] = page
    return latest


def _role_title(playbook: Playbook, role_key: str, wording: Wording) -> str:
    role = playbook.role(role_key)
    return wording.pick(role.title.model_dump(by_alias=True)) if role else role_key


def _roster(session: Session, room: Room) -> dict[str, Any]:
    incident, wording = room.incident, room.wording
    seats = incident_service.current_roster(session, incident=incident)
    people = {
        user.id: user
        for user in (
            session.get_one(User, user_id)
            for user_id in {seat.user_id for seat in seats if seat.user_id is not None}
        )
    }
    all_pages = paging_queries.pages_of(session, incident=incident)
    pages = _latest_page_by_seat(all_pages)
    paged = mobilisation.mobilisation(session, incident=incident)
    figures = {(figure.role, figure.slot): figure for figure in paged.roles}
    views = []
    for seat in seats:
        figure = figures.get((seat.role_key, seat.slot))
        role = room.playbook.role(seat.role_key)
        page = pages.get(seat.id)
        waiting = None
        if page is not None and figure is not None and page.status == PageStatus.open:
            waiting = wording.countdown(
                start=figure.paged_at,
                due=figure.paged_at + timedelta(seconds=figure.target_seconds),
            )
        views.append(
            SeatView(
                seat=seat,
                title=_role_title(room.playbook, seat.role_key, wording),
                person=people.get(seat.user_id) if seat.user_id is not None else None,
                page=page,
                figure=figure,
                waiting=waiting,
                ack_target=wording.span(figure.target_seconds) if figure else None,
                ack_took=wording.span(figure.seconds_to_ack)
                if figure and figure.seconds_to_ack is not None
                else None,
                may_hand_over=room.may.manage
                and incident.status != IncidentStatus.closed
                and role is not None
                and seat.slot < role.count,
                may_page=room.may.manage
                and incident.status in OPEN_STATUSES
                and (page is None or page.status != PageStatus.acknowledged),
            )
        )
    candidates = []
    if room.may.manage:
        candidates = [
            user
            for user in auth_service.list_users(session)
            if user.active and user.role in (Role.admin, *SEAT_HOLDERS)
        ]
    return {
        "seats": views,
        "paging": _paging_figures(session, room, paged, all_pages),
        "candidates": candidates,
        "playbook_roles": [
            (role.key, wording.pick(role.title.model_dump(by_alias=True)))
            for role in room.playbook.roles
        ],
    }


def _paging_figures(
    session: Session, room: Room, paged: mobilisation.Mobilisation, pages: Sequence[Page]
) -> PagingFigures | None:
    if not pages:
        return None
    wording = room.wording
    standing = [figure for figure in paged.roles if figure.status != PageStatus.cancelled]
    targets = paging_queries.targets_of(session, page_ids=[page.id for page in pages])
    complete = paged.seconds_to_full_roster is not None
    return PagingFigures(
        standing=len(standing),
        acknowledged=sum(1 for figure in standing if figure.acknowledged_at is not None),
        full_roster_took=wording.span(paged.seconds_to_full_roster)
        if paged.seconds_to_full_roster is not None
        else None,
        waiting=None if complete or not standing else wording.age(room.incident.declared_at),
        target=wording.span(paged.full_roster_target_seconds)
        if paged.full_roster_target_seconds is not None
        else None,
        within_target=paged.within_target,
        pages_sent=len(pages),
        escalations=sum(1 for target in targets if target.level or target.round),
    )


def _tasks(session: Session, room: Room) -> dict[str, Any]:
    incident, wording = room.incident, room.wording
    tasks = incident_service.tasks_of(session, incident=incident)
    by_key = {task.key: task for task in tasks}
    names = auth_service.usernames(session, ids={task.completed_by for task in tasks})
    may_hold = _allowed(room.user, SEAT_HOLDERS) and incident.status != IncidentStatus.closed
    views = []
    for task in tasks:
        still_open = task.status == TaskStatus.open
        dependency = by_key.get(task.depends_on) if task.depends_on else None
        waits = dependency is not None and dependency.status != TaskStatus.done
        views.append(
            TaskView(
                task=task,
                title=wording.pick(task.title),
                role_title=_role_title(room.playbook, task.role_key, wording),
                # Tasks are set when the incident is declared, due at offsets from then.
                due=wording.countdown(start=incident.declared_at, due=task.due_at)
                if still_open
                else None,
                waits_for=wording.pick(dependency.title) if dependency and waits else None,
                may_complete=still_open
                and may_hold
                and incident_service.may_complete(
                    session, incident=incident, task=task, actor=room.user
                ),
                completed_by=names.of(task.completed_by),
            )
        )
    return {
        "tasks": views,
        "overdue_tasks": sum(1 for view in views if view.due and view.due.state == "overdue"),
    }


# The delivery funnel, in the order a message moves through it.
FUNNEL: tuple[tuple[str, str], ...] = (
    ("pending", N_("Waiting to send")),
    ("deferred", N_("Held for quiet hours")),
    ("sending", N_("Sending")),
    ("sent", N_("Sent")),
    ("delivered", N_("Delivered")),
    ("failed", N_("Failed")),
    ("suppressed", N_("Opted out")),
    ("cancelled", N_("Cancelled")),
)
CAMPAIGN_ACTIONS: Mapping[str, tuple[CampaignStatus, ...]] = {
    "approve": (CampaignStatus.draft,),
    "pause": (CampaignStatus.sending, CampaignStatus.scheduled, CampaignStatus.approved),
    "resume": (CampaignStatus.paused,),
    "cancel": (
        CampaignStatus.draft,
        CampaignStatus.approved,
        CampaignStatus.scheduled,
        CampaignStatus.sending,
        CampaignStatus.paused,
    ),
}
CAMPAIGN_HANDLERS: Mapping[str, Callable[..., Campaign]] = {
    "approve": campaign_service.approve,
    "pause": campaign_service.pause,
    "resume": campaign_service.resume,
    "cancel": campaign_service.cancel,
}


def _held_for_quiet_hours(
    session: Session, campaign_ids: list[int], now: datetime
) -> dict[int, int]:
    """Messages never tried whose due time the bulk lane pushed to the end of their
    recipient's quiet hours (a retry after a failure has attempts)."""
    if not campaign_ids:
        return {}
    rows = session.exec(
        select(Delivery.campaign_id, func.count())
        .where(
            col(Delivery.campaign_id).in_(campaign_ids),
            Delivery.status == DeliveryStatus.pending,
            Delivery.attempts == 0,
            col(Delivery.due_at) > now,
        )
        .group_by(col(Delivery.campaign_id))
    ).all()
    return dict(rows)


def _funnel(counts: CampaignCounts, held: int, wording: Wording) -> list[FunnelStage]:
    values = {
        "pending": counts.pending - held,
        "deferred": held,
        "sending": counts.sending,
        "sent": counts.sent,
        "delivered": counts.delivered,
        "failed": counts.failed + counts.undelivered,
        "suppressed": counts.suppressed,
        "cancelled": counts.cancelled,
    }
    return [FunnelStage(key, wording.gettext(label), values[key]) for key, label in FUNNEL]


def _campaigns(session: Session, room: Room) -> dict[str, Any]:
    campaigns = list(campaign_service.list_campaigns(session, incident_id=room.incident.id))
    campaigns.reverse()  # in the order the playbook drafted them
    held = _held_for_quiet_hours(session, [item.id for item in campaigns], room.wording.now)
    names = auth_service.usernames(
        session,
        ids={item.created_by for item in campaigns} | {item.approved_by for item in campaigns},
    )
    views = []
    for campaign in campaigns:
        preview = None
        if room.may.communicate and room.preview_id == campaign.id:
            preview = campaign_service.preview(session, campaign=campaign)
        counts = campaign_service.campaign_counts(session, campaign=campaign)
        views.append(
            CampaignView(
                campaign=campaign,
                counts=counts,
                funnel=_funnel(counts, held.get(campaign.id, 0), room.wording),
                created_by=names.of(campaign.created_by),
                approved_by=names.of(campaign.approved_by),
                actions=[
                    action
                    for action, sources in CAMPAIGN_ACTIONS.items()
                    if room.may.communicate and campaign.status in sources
                ],
                preview=preview,
            )
        )
    return {"campaigns": views}


def _timeline(session: Session, room: Room) -> dict[str, Any]:
    read = timeline.starred_events if room.timeline_starred else timeline.events_for
    events = read(session, subject_type=incident_service.SUBJECT, subject_id=room.incident.id)
    chosen = [
        event
        for event in reversed(events)
        if room.timeline_group is None or _group_of(event.kind) == room.timeline_group
    ][:TIMELINE_LIMIT]
    stars = timeline.stars_among(session, event_ids=[event.id for event in chosen])
    names = auth_service.usernames(
        session,
        ids={event.actor_id for event in chosen} | {star.starred_by for star in stars.values()},
    )
    items = []
    for event in chosen:
        star = stars.get(event.id)
        items.append(
            TimelineItem(
                event,
                names.of(event.actor_id),
                _group_of(event.kind),
                starred_by=names.of(star.starred_by) if star else None,
                starred=star is not None,
                may_star=event.kind not in (timeline.STARRED, timeline.UNSTARRED),
            )
        )
    return {
        "timeline": items,
        "timeline_groups": [(group, label) for group, (label, _) in TIMELINE_GROUPS.items()],
        "timeline_filter": STARRED if room.timeline_starred else room.timeline_group or "",
        "starred_label": STARRED_LABEL,
    }


def _tickets(session: Session, room: Room) -> dict[str, Any]:
    incident_id = room.incident.id
    latest: Sequence[Ticket] = ticket_queries.queue(
        session,
        filters=ticket_queries.QueueFilter(incident_id=incident_id),
        limit=LATEST_TICKETS,
        before_id=None,
    )
    count = ticket_queries.linked_counts(session, incident_ids=[incident_id]).get(incident_id, 0)
    return {
        "tickets": latest,
        # The customers' words, their contact details masked as the ticket page masks them.
        "descriptions": {ticket.id: text_shown(ticket.description, room.user) for ticket in latest},
        "ticket_count": count,
        "curve": _complaint_curve(session, room),
    }


@dataclass(frozen=True)
class ComplaintCurve:
    """Complaints per hour in the incident's scope, each hour labelled in the reader's zone,
    and which hour it was declared in."""

    labels: list[str]
    counts: list[int]
    declared: str | None  # the declaration hour's label, when it is on the chart
    since: datetime

    @property
    def total(self) -> int:
        return sum(self.counts)

    def chart_json(self, wording: Wording) -> dict[str, Any]:
        return {
            "labels": self.labels,
            "counts": self.counts,
            "declared": self.declared,
            "series": wording.gettext(CURVE_SERIES),
            "declaredName": wording.gettext(CURVE_DECLARED),
        }


CURVE_SERIES = N_("Complaints")
CURVE_DECLARED = N_("Declared at")


def _complaint_curve(session: Session, room: Room) -> ComplaintCurve:
    incident = room.incident
    ended = None if incident.status in OPEN_STATUSES else incident.closed_at or incident.resolved_at
    until = ended or room.wording.now
    since = max(incident.declared_at - CURVE_BEFORE, until - CURVE_LONGEST)
    by_hour = ticket_detection.complaints_by_hour(
        session, scope=incident.scope, since=since, until=until, drill=incident.drill
    )
    zone = ZoneInfo(room.user.timezone)

    def label(key: str) -> str:
        hour = datetime.strptime(key, ticket_detection.HOUR_KEY).replace(tzinfo=UTC)
        return hour.astimezone(zone).strftime("%m-%d %H:%M")

    declared_key = incident.declared_at.strftime(ticket_detection.HOUR_KEY)
    return ComplaintCurve(
        labels=[label(key) for key in by_hour],
        counts=list(by_hour.values()),
        declared=label(declared_key) if declared_key in by_hour else None,
        since=since,
    )


BUILDERS: Mapping[str, Callable[[Session, Room], dict[str, Any]]] = {
    "header": _header,
    "roster": _roster,
    "tasks": _tasks,
    "campaigns": _campaigns,
    "timeline": _timeline,
    "tickets": _tickets,
}


# --- rendering -------------------------------------------------------------------------------


def _timeline_group(value: str | None) -> TimelineGroup | None:
    try:
        return TimelineGroup(value) if value else None
    except ValueError:
        return None


def _room(
    session: Session,
    user: User,
    incident_id: int,
    *,
    preview: int | None = None,
    timeline_filter: str | None = None,
    error: FormError | None = None,
) -> Room:
    incident = incident_service.get_incident(session, incident_id=incident_id)
    return Room(
        incident=incident,
        playbook=incident_service.playbook_of(session, incident),
        user=user,
        wording=Wording(Locale(user.locale), clock.now()),
        may=Permissions.of(user),
        preview_id=preview,
        timeline_group=_timeline_group(timeline_filter),
        timeline_starred=timeline_filter == STARRED,
        error=error,
    )


def _render(
    request: Request,
    session: Session,
    room: Room,
    *,
    template: str,
    sections: Sequence[str],
    status_code: int = status.HTTP_200_OK,
) -> Response:
    context: dict[str, Any] = {
        "organisation": get_settings().organisation_name,
        "user": room.user,
        "incident": room.incident,
        "room": room,
        "may": room.may,
        "wording": room.wording,
        "error": room.error,
    }
    for section in sections:
        context |= BUILDERS[section](session, room)
    return templates().TemplateResponse(request, template, context, status_code=status_code)


@router.get("/incidents/{incident_id}", response_class=HTMLResponse)
def incident_room(
    incident_id: int,
    request: Request,
    session: SessionDep,
    user: PageUser,
    preview: int | None = None,
    timeline: str | None = None,
) -> Response:
    room = _room(session, user, incident_id, preview=preview, timeline_filter=timeline)
    return _render(request, session, room, template="incident.html", sections=SECTIONS)


@router.get("/incidents/{incident_id}/fragments/{section}", response_class=HTMLResponse)
def incident_room_section(
    incident_id: int,
    section: str,
    request: Request,
    session: SessionDep,
    user: PageUser,
    preview: int | None = None,
    timeline: str | None = None,
) -> Response:
    if section not in SECTIONS:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no section {section!r}")
    room = _room(session, user, incident_id, preview=preview, timeline_filter=timeline)
    return _render(request, session, room, template=f"room_{section}.html", sections=[section])


# --- actions ---------------------------------------------------------------------------------


def _refusal(form: str, exc: DomainError | ValidationError) -> tuple[FormError, int]:
    if isinstance(exc, ValidationError):
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or None
        return FormError(form, first["msg"], where), status.HTTP_400_BAD_REQUEST
    # The pages answer a form that is not valid with 400, as a browser expects.
    code = status.HTTP_400_BAD_REQUEST if exc.status_code == 422 else exc.status_code
    where = PAGE_FORM if isinstance(exc, RoleRefused) else form
    return FormError(where, exc.message, exc.field), code


def _act(
    request: Request,
    session: Session,
    user: User,
    incident_id: int,
    *,
    form: str,
    section: str,
    action: Callable[[Incident], object],
    query: str = "",
) -> Response:
    """Runs ``action`` on the incident; on success back to the room (redirect-after-post),
    on a refusal the room again with the reason in the form, and nothing changed."""
    incident = incident_service.get_incident(session, incident_id=incident_id)
    try:
        action(incident)
        session.flush()
    except (DomainError, ValidationError) as exc:
        session.rollback()
        error, code = _refusal(form, exc)
        room = _room(session, user, incident_id, error=error)
        return _render(
            request, session, room, template="incident.html", sections=SECTIONS, status_code=code
        )
    return RedirectResponse(
        f"/incidents/{incident_id}{query}#room-{section}", status_code=status.HTTP_303_SEE_OTHER
    )


Text = Annotated[str, Form(max_length=5000)]


@router.post("/incidents/{incident_id}/status")
def change_status(
    incident_id: int,
    request: Request,
    session: SessionDep,
    user: PageUser,
    new_status: Annotated[str, Form(alias="status", max_length=32)] = "",
    note: Text = "",
) -> Response:
    def action(incident: Incident) -> None:
        _require(user, MANAGERS)
        change = StatusChange.model_validate({"status": new_status, "note": note})
        incident_flows.transition(session, incident=incident, change=change, actor=user)

    return _act(request, session, user, incident_id, form="status", section="header", action=action)


@router.post("/incidents/{incident_id}/severity")
def change_severity(
    incident_id: int,
    request: Request,
    session: SessionDep,
    user: PageUser,
    severity: Annotated[str, Form(max_length=32)] = "",
    reason: Text = "",
) -> Response:
    def action(incident: Incident) -> None:
        _require(user, MANAGERS)
        change = SeverityChange(severity=severity, reason=reason)
        incident_service.change_severity(session, incident=incident, change=change, actor=user)

    return _act(
        request, session, user, incident_id, form="severity", section="header", action=action
    )


@router.post("/incidents/{incident_id}/updates")
def post_update(
    incident_id: int,
    request: Request,
    session: SessionDep,
    user: PageUser,
    body: Text = "",
) -> Response:
    def action(incident: Incident) -> None:
        _require(user, UPDATERS)
        update = UpdatePost.model_validate({"body": body.strip()})
        incident_service.post_update(session, incident=incident, update=update, actor=user)

    return _act(
        request, session, user, incident_id, form="update-internal", section="header", action=action
    )


@router.post("/incidents/{incident_id}/roster")
def hand_over(
    incident_id: int,
    request: Request,
    session: SessionDep,
    user: PageUser,
    role: Annotated[str, Form(max_length=64)] = "",
    slot: Annotated[int, Form(ge=0, le=100)] = 0,
    person: Annotated[str, Form(alias="user", max_length=64)] = "",
    note: Text = "",
) -> Response:
    def action(incident: Incident) -> None:
        _require(user, MANAGERS)
        change = RoleAssign(role=role, slot=slot, user=person, note=note)
        incident_flows.assign_role(session, incident=incident, change=change, actor=user)

    return _act(
        request,
        session,
        user,
        incident_id,
        form=f"handover-{role}-{slot}",
        section="roster",
        action=action,
    )


@router.post("/incidents/{incident_id}/roster/page")
def page_again(
    incident_id: int,
    request: Request,
    session: SessionDep,
    user: PageUser,
    role: Annotated[str, Form(max_length=64)] = "",
    slot: Annotated[int, Form(ge=0, le=100)] = 0,
) -> Response:
    def action(incident: Incident) -> None:
        _require(user, MANAGERS)
        seat = SeatPage(role=role, slot=slot)
        incident_flows.page_again(session, incident=incident, seat=seat, actor=user)

    return _act(
        request,
        session,
        user,
        incident_id,
        form=f"page-{role}-{slot}",
        section="roster",
        action=action,
    )


@router.post("/incidents/{incident_id}/roster/add")
def add_responder(
    incident_id: int,
    request: Request,
    session: SessionDep,
    user: PageUser,
    role: Annotated[str, Form(max_length=64)] = "",
    person: Annotated[str, Form(alias="user", max_length=64)] = "",
    note: Text = "",
    page: Annotated[bool, Form()] = False,
) -> Response:
    def action(incident: Incident) -> None:
        _require(user, MANAGERS)
        data = ResponderAdd(role=role, user=person, note=note, page=page)
        incident_flows.add_responder(session, incident=incident, data=data, actor=user)

    return _act(
        request, session, user, incident_id, form="add-responder", section="roster", action=action
    )


@router.post("/incidents/{incident_id}/tasks/{task_id}/complete")
def complete_task(
    incident_id: int,
    task_id: int,
    request: Request,
    session: SessionDep,
    user: PageUser,
    note: Text = "",
) -> Response:
    def action(incident: Incident) -> None:
        _require(user, SEAT_HOLDERS)
        incident_service.complete_task(
            session, incident=incident, task_id=task_id, note=note.strip(), actor=user
        )

    return _act(
        request, session, user, incident_id, form=f"task-{task_id}", section="tasks", action=action
    )


@router.post("/incidents/{incident_id}/campaigns/{campaign_id}/{verb}")
def campaign_action(
    incident_id: int,
    campaign_id: int,
    verb: str,
    request: Request,
    session: SessionDep,
    user: PageUser,
    note: Text = "",
) -> Response:
    handler = CAMPAIGN_HANDLERS.get(verb)
    if handler is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no campaign action {verb!r}")

    def action(incident: Incident) -> None:
        _require(user, COMMUNICATORS)
        campaign = campaign_service.get_campaign(session, campaign_id=campaign_id)
        if campaign.incident_id != incident.id:
            raise Invalid(f"campaign {campaign_id} is not one of {incident.number}'s")
        handler(session, campaign=campaign, actor=user, note=note.strip())

    return _act(
        request,
        session,
        user,
        incident_id,
        form=f"campaign-{campaign_id}",
        section="campaigns",
        action=action,
    )


@router.post("/incidents/{incident_id}/timeline/{event_id}/{verb}")
def star_entry(
    incident_id: int,
    event_id: int,
    verb: Literal["star", "unstar"],
    request: Request,
    session: SessionDep,
    user: PageUser,
    shown: Annotated[str, Form(alias="timeline", max_length=32)] = "",
) -> Response:
    """Stars an entry for the post-incident review, or takes its star back; back to the
    timeline as it was filtered."""

    def action(incident: Incident) -> None:
        _require(user, UPDATERS)
        event = timeline.entry_of(
            session,
            subject_type=incident_service.SUBJECT,
            subject_id=incident.id,
            event_id=event_id,
        )
        mark = timeline.star if verb == "star" else timeline.unstar
        mark(session, event=event, actor_id=user.id)

    known = shown == STARRED or _timeline_group(shown) is not None
    return _act(
        request,
        session,
        user,
        incident_id,
        # Every refusal here (no such entry, a star's own entry) concerns an entry that has
        # no toggle to show it beside.
        form=PAGE_FORM,
        section="timeline",
        action=action,
        query=f"?timeline={shown}" if known else "",
    )
