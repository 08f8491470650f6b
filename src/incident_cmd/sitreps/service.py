"""Situation reports as kept: their numbers, their cadence steps, and which step is due."""

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func
from sqlmodel import Session, col, select

from incident_cmd import clock
from incident_cmd.errors import NotFound
from incident_cmd.incidents.models import Incident
from incident_cmd.playbooks.schema import Playbook
from incident_cmd.sitreps.models import SituationReport
from incident_cmd.workdays import UNITS, parse_offset


def cadence(playbook: Playbook, severity: str) -> timedelta | None:
    """How often the command hears, at this severity; None when only on demand."""
    level = playbook.severity(severity)
    if level is None or level.report_every is None:
        return None
    amount, unit = parse_offset(level.report_every)
    return timedelta(**{UNITS[unit]: amount})


def due_step(incident: Incident, every: timedelta, now: datetime) -> datetime | None:
    """The latest cadence step (declaration + n × every, n ≥ 1) reached by ``now``: a worker
    that was down compiles the step it finds due, not every step it missed."""
    steps = (now - incident.declared_at) // every
    return incident.declared_at + steps * every if steps >= 1 else None


def has_step(session: Session, *, incident_id: int, due_at: datetime) -> bool:
    query = select(SituationReport.id).where(
        SituationReport.incident_id == incident_id, SituationReport.due_at == due_at
    )
    return session.exec(query).first() is not None


def reports_of(session: Session, *, incident_id: int) -> Sequence[SituationReport]:
    query = select(SituationReport).where(SituationReport.incident_id == incident_id)
    return session.exec(query.order_by(col(SituationReport.number).desc())).all()


def latest(session: Session, *, incident_id: int) -> SituationReport | None:
    return next(iter(reports_of(session, incident_id=incident_id)), None)


def get_report(session: Session, *, incident_id: int, number: int) -> SituationReport:
    report = session.exec(
        select(SituationReport).where(
            SituationReport.incident_id == incident_id, SituationReport.number == number
        )
    ).first()
    if report is None:
        raise NotFound(f"no situation report {number} on incident {incident_id}")
    return report


def keep(
    session: Session,
    *,
    incident_id: int,
    content: dict[str, Any],
    due_at: datetime | None,
    requested_by: int | None,
) -> SituationReport:
    """Numbers and keeps a report; the caller holds the incident's row lock, so numbers and
    steps cannot race."""
    number = (
        session.exec(
            select(func.max(SituationReport.number)).where(
                SituationReport.incident_id == incident_id
            )
        ).one()
        or 0
    ) + 1
    report = SituationReport(
        incident_id=incident_id,
        number=number,
        due_at=due_at,
        compiled_at=clock.now(),
        requested_by=requested_by,
        content={"number": number, **content},
    )
    session.add(report)
    session.flush()
    return report
