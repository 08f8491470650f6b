"""The board: every open incident with its clocks and figures, and the complaint clusters
waiting for a duty manager's decision. It is what the command center has on the wall, so it
is read often: each kind of figure is one grouped query for all open incidents, never one
query per incident. Drills are shown apart, so no one mistakes one for the real thing."""

from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response
from sqlmodel import Session

from incident_cmd import clock
from incident_cmd.auth.models import Role, User
from incident_cmd.campaigns import service as campaign_service
from incident_cmd.campaigns.models import CampaignStatus
from incident_cmd.campaigns.service import NoticeProgress
from incident_cmd.config import get_settings
from incident_cmd.deps import SessionDep
from incident_cmd.i18n import Locale
from incident_cmd.incidents import service as incident_service
from incident_cmd.incidents.models import Incident, IncidentStatus
from incident_cmd.incidents.service import RosterFill, TaskLoad
from incident_cmd.paging import queries as paging_queries
from incident_cmd.paging.queries import Acknowledgements
from incident_cmd.playbooks import service as playbook_service
from incident_cmd.playbooks.schema import Bilingual
from incident_cmd.playbooks.service import PlaybookRegistry
from incident_cmd.tickets import detection
from incident_cmd.tickets import queries as ticket_queries
from incident_cmd.tickets.models import Signal, SignalStatus
from incident_cmd.web.api import PageUser, templates
from incident_cmd.web.deadlines import Deadline, deadline
from incident_cmd.web.security import csrf_protect

router = APIRouter(tags=["web"], include_in_schema=False, dependencies=[Depends(csrf_protect)])

# Who declares incidents and decides on complaint clusters: the API's Manager (and admins).
DECLARER_ROLES = (Role.admin, Role.duty_manager)


def may_declare(user: User) -> bool:
    return user.role in DECLARER_ROLES


def bilingual(text: Bilingual) -> dict[str, str]:
    """A playbook text keyed by locale, for ``texts[page_locale()]`` in a template."""
    return {Locale.zh_CN: text.zh_CN, Locale.en: text.en}


def playbook_of_key(registry: PlaybookRegistry, key: str) -> dict[str, str] | None:
    """The name of a playbook this process serves, or None for one it no longer does."""
    loaded = next((item for item in registry.all() if item.playbook.key == key), None)
    return bilingual(loaded.playbook.name) if loaded else None


@dataclass(frozen=True)
class BoardRow:
    incident: Incident
    severity: dict[str, str]
    age_seconds: int
    response: Deadline
    resolution: Deadline
    roster: RosterFill
    acknowledgements: Acknowledgements
    tasks: TaskLoad
    notices: NoticeProgress | None
    complaints: int

    @property
    def notices_awaiting_approval(self) -> int:
        return self.notices.by_status.get(CampaignStatus.draft, 0) if self.notices else 0

    @property
    def notices_sending(self) -> int:
        if self.notices is None:
            return 0
        return self.notices.by_status.get(CampaignStatus.sending, 0) + self.notices.by_status.get(
            CampaignStatus.paused, 0
        )

    @property
    def notices_done(self) -> int:
        return self.notices.by_status.get(CampaignStatus.completed, 0) if self.notices else 0

    @property
    def notices_waiting(self) -> int:
        """Approved or scheduled, not started."""
        if self.notices is None:
            return 0
        statuses = self.notices.by_status
        return statuses.get(CampaignStatus.approved, 0) + statuses.get(CampaignStatus.scheduled, 0)

    @property
    def sent_percent(self) -> int | None:
        if self.notices is None or not self.notices.in_flight_total:
            return None
        return self.notices.in_flight_done * 100 // self.notices.in_flight_total


@dataclass(frozen=True)
class SignalRow:
    signal: Signal
    playbook: dict[str, str] | None
    age_seconds: int


@dataclass(frozen=True)
class Board:
    incidents: list[BoardRow]
    drills: list[BoardRow]
    signals: list[SignalRow]
    open_signals: int


def _rows(session: Session, incidents: list[Incident], now: datetime) -> list[BoardRow]:
    ids = [incident.id for incident in incidents]
    roster = incident_service.roster_fill(session, incident_ids=ids)
    tasks = incident_service.open_task_load(session, incident_ids=ids, now=now)
    acknowledged = paging_queries.acknowledgements(session, incident_ids=ids)
    notices = campaign_service.notice_progress(session, incident_ids=ids)
    complaints = ticket_queries.linked_counts(session, incident_ids=ids)
    rows = []
    for incident in incidents:
        # Pinned versions are cached per process: no query once a version has been seen.
        playbook = playbook_service.pinned_playbook(session, content_hash=incident.playbook_hash)
        severity = playbook.severity(incident.severity)
        rows.append(
            BoardRow(
                incident=incident,
                severity=bilingual(severity.name) if severity else {},
                age_seconds=int((now - incident.declared_at).total_seconds()),
                # Responding means someone moved the incident on from declared.
                response=deadline(
                    start=incident.declared_at,
                    due=incident.respond_by,
                    now=now,
                    met=incident.status != IncidentStatus.declared,
                ),
                resolution=deadline(
                    start=incident.declared_at, due=incident.resolve_by, now=now, met=False
                ),
                roster=roster.get(incident.id, RosterFill(0, 0)),
                acknowledgements=acknowledged.get(incident.id, Acknowledgements(0, 0)),
                tasks=tasks.get(incident.id, TaskLoad(0, 0)),
                notices=notices.get(incident.id),
                complaints=complaints.get(incident.id, 0),
            )
        )
    return rows


def _severity_order(row: BoardRow) -> tuple[str, int]:
    # sev1 before sev2; the newest first within a severity.
    return (row.incident.severity, -row.incident.id)


def board(session: Session, *, registry: PlaybookRegistry, with_signals: bool) -> Board:
    now = clock.now()
    rows = sorted(
        _rows(session, list(incident_service.open_incidents(session)), now), key=_severity_order
    )
    open_signals = detection.list_signals(session, status=SignalStatus.open)
    return Board(
        incidents=[row for row in rows if not row.incident.drill],
        drills=[row for row in rows if row.incident.drill],
        signals=[
            SignalRow(
                signal,
                playbook_of_key(registry, signal.playbook_key),
                int((now - signal.raised_at).total_seconds()),
            )
            for signal in open_signals
        ]
        if with_signals
        else [],
        open_signals=len(open_signals),
    )


def _context(request: Request, session: Session, user: User) -> dict[str, object]:
    return {
        "organisation": get_settings().organisation_name,
        "user": user,
        "now_local": clock.now().astimezone(ZoneInfo(user.timezone)).strftime("%H:%M"),
        "board": board(
            session, registry=request.app.state.playbooks, with_signals=may_declare(user)
        ),
        "may_declare": may_declare(user),
    }


@router.get("/", response_class=HTMLResponse)
def landing(request: Request, session: SessionDep, user: PageUser) -> Response:
    return templates().TemplateResponse(request, "board.html", _context(request, session, user))


@router.get("/board/fragment", response_class=HTMLResponse)
def board_fragment(request: Request, session: SessionDep, user: PageUser) -> Response:
    """The board's body, fetched again when the live stream says something changed."""
    return templates().TemplateResponse(
        request, "board_fragment.html", _context(request, session, user)
    )
