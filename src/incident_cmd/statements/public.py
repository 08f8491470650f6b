"""What the public may read: the published statements of incidents that are not drills, with
the incident's number, kind and scope. Nothing here names a person or carries anything the
staff wrote for themselves (the incident's title, internal updates): the public pages and
feeds are built from these shapes alone."""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlmodel import Session, col, func, select

from incident_cmd.incidents.models import Incident
from incident_cmd.statements.models import Statement, StatementStage, StatementStatus

# How far back the status page's history reaches.
HISTORY_DAYS = 90


@dataclass(frozen=True)
class PublicStatement:
    version: int
    stage: StatementStage
    title: dict[str, str]
    text: dict[str, str]
    advice: dict[str, str]
    published_at: datetime
    corrects_version: int | None = None
    corrected_by_version: int | None = None


@dataclass(frozen=True)
class PublicIncident:
    number: str
    kind: str
    products: tuple[str, ...]
    batches: tuple[str, ...]
    regions: tuple[str, ...]
    declared_at: datetime
    # Newest first; only the latest when read for the status page's list.
    statements: tuple[PublicStatement, ...]

    @property
    def latest(self) -> PublicStatement | None:
        return self.statements[0] if self.statements else None

    @property
    def ongoing(self) -> bool:
        return self.latest is None or not self.latest.stage.final


@dataclass(frozen=True)
class Freshness:
    """When what a public page shows last changed, and a tag that changes with it."""

    last_modified: datetime | None
    tag: str


def _published():
    return (
        col(Statement.status) == StatementStatus.published,
        col(Statement.drill).is_(False),
    )


def _incident(incident: Incident | Any, statements: Sequence[PublicStatement]) -> PublicIncident:
    scope = incident.scope or {}
    return PublicIncident(
        number=incident.number,
        kind=incident.kind,
        products=tuple(scope.get("products") or ()),
        batches=tuple(scope.get("batches") or ()),
        regions=tuple(scope.get("regions") or ()),
        declared_at=incident.declared_at,
        statements=tuple(statements),
    )


def _statement(row: Statement, versions_by_id: dict[int, int] | None = None) -> PublicStatement:
    if row.version is None or row.published_at is None:
        raise ValueError(f"statement {row.id} is not published")
    return PublicStatement(
        version=row.version,
        stage=row.stage,
        title=row.title,
        text=row.text,
        advice=row.advice,
        published_at=row.published_at,
        corrects_version=(versions_by_id or {}).get(row.corrects_id) if row.corrects_id else None,
    )


def board_freshness(session: Session) -> Freshness:
    """For the status page: every published statement counts (publishing one changes it)."""
    latest, count = session.exec(
        select(func.max(Statement.published_at), func.count()).where(*_published())
    ).one()
    stamp = latest.timestamp() if latest else 0
    return Freshness(last_modified=latest, tag=f"{count}-{stamp:.6f}")


def status_board(session: Session, *, now: datetime) -> list[PublicIncident]:
    """Every incident whose latest statement is not final, and those whose final statement
    came out in the last ``HISTORY_DAYS`` days, each with its latest statement only, the
    most recently updated first. One query."""
    latest = (
        select(col(Statement.incident_id), func.max(Statement.version).label("version"))
        .where(*_published())
        .group_by(col(Statement.incident_id))
        .subquery()
    )
    final = [stage for stage in StatementStage if stage.final]
    rows = session.exec(
        select(Statement, Incident)
        .join(
            latest,
            (col(Statement.incident_id) == latest.c.incident_id)
            & (col(Statement.version) == latest.c.version),
        )
        .join(Incident, col(Incident.id) == col(Statement.incident_id))
        .where(
            col(Incident.drill).is_(False),
            col(Statement.stage).not_in(final)
            | (col(Statement.published_at) >= now - timedelta(days=HISTORY_DAYS)),
        )
        .order_by(col(Statement.published_at).desc())
    ).all()
    return [_incident(incident, [_statement(statement)]) for statement, incident in rows]


def incident_by_number(session: Session, *, number: str) -> PublicIncident | None:
    """An incident as the public sees it, with every published statement, newest first;
    None for a number that does not exist or names a drill. Two queries."""
    incident = session.exec(
        select(Incident).where(Incident.number == number, col(Incident.drill).is_(False))
    ).first()
    if incident is None:
        return None
    rows = session.exec(
        select(Statement)
        .where(Statement.incident_id == incident.id, *_published())
        .order_by(col(Statement.version).desc())
    ).all()
    versions_by_id = {row.id: row.version for row in rows if row.version is not None}
    statements = [_statement(row, versions_by_id) for row in rows]
    corrected_by = {
        item.corrects_version: item.version for item in statements if item.corrects_version
    }
    statements = [
        PublicStatement(**{**vars(item), "corrected_by_version": corrected_by.get(item.version)})
        for item in statements
    ]
    return _incident(incident, statements)


def incident_freshness(incident: PublicIncident) -> Freshness:
    """For an incident's page: its statements (publishing one changes it), else when it was
    declared."""
    latest = incident.latest
    moment = latest.published_at if latest else incident.declared_at
    version = latest.version if latest else 0
    return Freshness(
        last_modified=moment, tag=f"{incident.number}-{version}-{moment.timestamp():.6f}"
    )
