"""Compiling a situation report from every domain's data, and sending it to the command.

态势报告: while an incident is open the commander and deputy hear, on the playbook's cadence
for its severity and whenever someone asks: where it stands against its deadlines, who has
not acknowledged, tasks done and overdue, how the customer notices are going, new complaints
since the last report and their curve, statements published, and decisions waiting. A short
SMS points to the report; the email carries it whole. Each report is kept as sent."""

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func
from sqlmodel import Session, col, select

from incident_cmd import clock
from incident_cmd.auth.models import User
from incident_cmd.campaigns import service as campaign_service
from incident_cmd.campaigns.models import Campaign, CampaignStatus
from incident_cmd.config import get_settings
from incident_cmd.errors import Conflict, NotFound
from incident_cmd.incidents import service as incident_service
from incident_cmd.incidents.models import (
    OPEN_STATUSES,
    AssignmentState,
    Incident,
    IncidentTask,
    TaskStatus,
)
from incident_cmd.messaging import direct
from incident_cmd.messaging.channels import ChannelName
from incident_cmd.messaging.templates import templates_for
from incident_cmd.paging.models import Page, PageStatus
from incident_cmd.sitreps import service
from incident_cmd.sitreps.models import SituationReport
from incident_cmd.statements.models import Statement, StatementStatus
from incident_cmd.tickets.models import Ticket
from incident_cmd.timeline import service as timeline

SOURCE = "sitrep"
TEMPLATE = "sitrep"
# The seats a report goes to (总指挥, 副总指挥).
RECIPIENT_SEATS = ("commander", "deputy")
# How far back the complaint curve in a report looks.
CURVE_HOURS = 12


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None


def _roster(session: Session, incident: Incident) -> dict[str, Any]:
    seats = incident_service.current_roster(session, incident=incident)
    acknowledged = set(
        session.exec(
            select(Page.assignment_id).where(
                Page.incident_id == incident.id, Page.status == PageStatus.acknowledged
            )
        ).all()
    )
    holders = {
        user.id: user.username
        for user in session.exec(
            select(User).where(col(User.id).in_({seat.user_id for seat in seats} - {None}))
        )
    }
    waiting = [
        {"role": seat.role_key, "person": holders.get(seat.user_id) if seat.user_id else None}
        for seat in seats
        if seat.state == AssignmentState.unfilled or seat.id not in acknowledged
    ]
    return {"seats": len(seats), "acknowledged": len(seats) - len(waiting), "waiting": waiting}


def _tasks(session: Session, incident: Incident, now: datetime) -> dict[str, Any]:
    tasks = incident_service.tasks_of(session, incident=incident)
    done = [task for task in tasks if task.status == TaskStatus.done]
    overdue = [task for task in tasks if task.status == TaskStatus.open and task.due_at <= now]
    return {
        "done": len(done),
        "total": len(tasks),
        "overdue": [_task(task) for task in overdue],
    }


def _task(task: IncidentTask) -> dict[str, Any]:
    return {"key": task.key, "title": task.title, "due_at": task.due_at.isoformat()}


def _campaigns(session: Session, incident: Incident) -> list[dict[str, Any]]:
    campaigns = session.exec(
        select(Campaign).where(Campaign.incident_id == incident.id).order_by(col(Campaign.id))
    ).all()
    shown = []
    for campaign in campaigns:
        counts = campaign_service.campaign_counts(session, campaign=campaign)
        shown.append(
            {
                "name": campaign.name,
                "plan_key": campaign.plan_key,
                "status": campaign.status,
                "recipients": counts.total,
                "sent": counts.sent + counts.delivered,
                "delivered": counts.delivered,
                "failed": counts.failed + counts.undelivered,
                "waiting": counts.pending + counts.sending,
            }
        )
    return shown


def _complaints(
    session: Session, incident: Incident, since: datetime | None, now: datetime
) -> dict[str, Any]:
    linked = select(Ticket.created_at).where(Ticket.incident_id == incident.id)
    total = session.exec(
        select(func.count()).select_from(Ticket).where(Ticket.incident_id == incident.id)
    ).one()
    start = now - timedelta(hours=CURVE_HOURS)
    recent = session.exec(linked.where(col(Ticket.created_at) >= min(start, since or start))).all()
    hour = now.replace(minute=0, second=0, microsecond=0)
    curve = [
        {
            "hour": (hour - timedelta(hours=back)).isoformat(),
            "count": sum(
                1
                for created in recent
                if hour - timedelta(hours=back) <= created < hour - timedelta(hours=back - 1)
            ),
        }
        for back in range(CURVE_HOURS - 1, -1, -1)
    ]
    new = total if since is None else sum(1 for created in recent if created > since)
    return {"linked": total, "new_since_last_report": new, "by_hour": curve}


def _statements(session: Session, incident: Incident) -> dict[str, Any]:
    published = session.exec(
        select(Statement)
        .where(Statement.incident_id == incident.id, Statement.status == StatementStatus.published)
        .order_by(col(Statement.published_at))
    ).all()
    latest = published[-1] if published else None
    return {
        "published": len(published),
        "latest_stage": latest.stage if latest else None,
        "latest_at": _iso(latest.published_at) if latest else None,
    }


def _decisions(session: Session, incident: Incident) -> dict[str, int]:
    """What waits on a person with authority: notices and statements to approve."""
    campaigns = session.exec(
        select(func.count())
        .select_from(Campaign)
        .where(Campaign.incident_id == incident.id, Campaign.status == CampaignStatus.draft)
    ).one()
    statements = session.exec(
        select(func.count())
        .select_from(Statement)
        .where(Statement.incident_id == incident.id, Statement.status == StatementStatus.draft)
    ).one()
    return {"notices_to_approve": campaigns, "statements_to_approve": statements}


def compile_content(
    session: Session, *, incident: Incident, previous: SituationReport | None
) -> dict[str, Any]:
    now = clock.now()
    return {
        "incident": incident.number,
        "title": incident.title,
        "drill": incident.drill,
        "at": now.isoformat(),
        "status": incident.status,
        "severity": incident.severity,
        "declared_at": incident.declared_at.isoformat(),
        "respond_by": incident.respond_by.isoformat(),
        "resolve_by": incident.resolve_by.isoformat(),
        "resolve_overdue": now > incident.resolve_by,
        "roster": _roster(session, incident),
        "tasks": _tasks(session, incident, now),
        "campaigns": _campaigns(session, incident),
        "complaints": _complaints(
            session, incident, previous.compiled_at if previous else None, now
        ),
        "statements": _statements(session, incident),
        "decisions": _decisions(session, incident),
    }


def _recipients(session: Session, incident: Incident) -> list[User]:
    seats = [
        seat
        for seat in incident_service.current_roster(session, incident=incident)
        if seat.role_key in RECIPIENT_SEATS and seat.user_id is not None
    ]
    users = {
        user.id: user
        for user in session.exec(
            select(User).where(col(User.id).in_([seat.user_id for seat in seats]))
        )
    }
    # Each person once, in seat order (one person may hold both seats).
    ordered = dict.fromkeys(seat.user_id for seat in seats if seat.user_id in users)
    return [users[user_id] for user_id in ordered if users[user_id].active]


def report_url(incident: Incident, report: SituationReport) -> str:
    return f"{get_settings().public_base_url}/incidents/{incident.id}/reports/{report.number}"


def _local_times(content: dict[str, Any], zone: ZoneInfo) -> dict[str, Any]:
    """The report's moments on the recipient's clock, for the message."""

    def local(moment: str) -> str:
        return datetime.fromisoformat(moment).astimezone(zone).strftime("%Y-%m-%d %H:%M")

    return {
        "local": {key: local(content[key]) for key in ("at", "respond_by", "resolve_by")},
        "overdue_tasks": [
            task | {"due_local": local(task["due_at"])} for task in content["tasks"]["overdue"]
        ],
    }


def _send(session: Session, incident: Incident, report: SituationReport) -> list[str]:
    templates = templates_for(get_settings().template_dir)
    context = {
        **report.content,
        "organisation": get_settings().organisation_name,
        "url": report_url(incident, report),
    }
    told = []
    for user in _recipients(session, incident):
        context |= _local_times(report.content, ZoneInfo(user.timezone))
        for channel, address in ((ChannelName.sms, user.phone), (ChannelName.email, user.email)):
            if not address:
                continue
            direct.enqueue(
                session,
                key=f"{SOURCE}-{report.id}-{user.id}-{channel}",
                source=SOURCE,
                source_id=report.id,
                subject=("incident", incident.id),
                label=f"situation report {report.number} to {user.username}",
                channel=channel,
                address=address,
                locale=user.locale,
                rendered=templates.render(TEMPLATE, channel, user.locale, context),
                drill=incident.drill,
                user_id=user.id,
            )
        told.append(user.username)
    return told


def _compile_and_send(
    session: Session,
    *,
    incident: Incident,
    due_at: datetime | None,
    actor: User | None,
) -> SituationReport:
    previous = service.latest(session, incident_id=incident.id)
    report = service.keep(
        session,
        incident_id=incident.id,
        content=compile_content(session, incident=incident, previous=previous),
        due_at=due_at,
        requested_by=actor.id if actor else None,
    )
    told = _send(session, incident, report)
    timeline.append(
        session,
        subject_type="incident",
        subject_id=incident.id,
        kind="sitrep.compiled",
        summary=f"situation report {report.number} "
        + ("on the cadence" if due_at else f"asked for by {actor.username if actor else '-'}")
        + (f", sent to {', '.join(told)}" if told else ", nobody in the command seats to send to"),
        actor_id=actor.id if actor else None,
        data={"number": report.number, "scheduled": due_at is not None, "told": told},
    )
    return report


def _locked(session: Session, incident_id: int) -> Incident:
    """The incident with its row locked: its reports are numbered one at a time."""
    incident = session.exec(
        select(Incident).where(Incident.id == incident_id).with_for_update()
    ).first()
    if incident is None:
        raise NotFound(f"no incident with id {incident_id}")
    return incident


def on_demand(session: Session, *, incident_id: int, actor: User) -> SituationReport:
    incident = _locked(session, incident_id)
    if incident.status not in OPEN_STATUSES:
        raise Conflict(
            f"{incident.number} is {incident.status}: situation reports are for open incidents",
            field="status",
        )
    return _compile_and_send(session, incident=incident, due_at=None, actor=actor)


def send_due_reports(session: Session) -> int:
    """Sweep: each open incident's cadence step, compiled and sent once across workers."""
    now = clock.now()
    sent = 0
    for candidate in incident_service.open_incidents(session):
        playbook = incident_service.playbook_of(session, candidate)
        every = service.cadence(playbook, candidate.severity)
        step = service.due_step(candidate, every, now) if every else None
        if step is None or service.has_step(session, incident_id=candidate.id, due_at=step):
            continue
        incident = _locked(session, candidate.id)
        if service.has_step(session, incident_id=incident.id, due_at=step):
            continue  # another worker compiled it while this one waited for the lock
        _compile_and_send(session, incident=incident, due_at=step, actor=None)
        sent += 1
    return sent


def reports(session: Session, *, incident_id: int) -> tuple[Incident, Sequence[SituationReport]]:
    incident = incident_service.get_incident(session, incident_id=incident_id)
    return incident, service.reports_of(session, incident_id=incident.id)
