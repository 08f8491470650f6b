"""What the public feeds carry: the incidents the status page lists, each with every published
statement, and the same incidents in the shapes of Atlassian Statuspage's public API
(``/api/v2/*.json``), so that the tools and widgets that read Statuspage read these too.

Built from ``statements.public`` alone: no person, no drill, nothing the staff wrote for
themselves."""

import hashlib
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from typing import Literal

from pydantic import BaseModel
from sqlmodel import Session, col, select

from incident_cmd.clock import as_utc
from incident_cmd.incidents.models import Incident
from incident_cmd.playbooks.schema import PublicStatus
from incident_cmd.statements import public
from incident_cmd.statements.models import Statement, StatementStatus
from incident_cmd.statements.public import PublicIncident, PublicStatement

# What a feed says it was updated at before anything was ever published: a fixed moment, so
# that the same state always gives the same document.
NEVER = datetime(1970, 1, 1, tzinfo=UTC)
# Statuspage's incidents.json lists the 50 most recent.
INCIDENTS_LISTED = 50

Impact = Literal["none", "minor", "major", "critical"]
ComponentStatus = Literal["operational", "degraded_performance", "partial_outage", "major_outage"]
IMPACT_ORDER: tuple[Impact, ...] = ("none", "minor", "major", "critical")
# How hard an incident of each kind touches a customer: a recall asks them to stop using
# what they bought; an outage or a disaster delays service; complaints touch few.
IMPACT_BY_KIND: Mapping[str, Impact] = {
    "product_recall": "critical",
    "service_outage": "major",
    "natural_disaster": "major",
    "mass_complaint": "minor",
    "complaint_escalation": "minor",
}
COMPONENT_STATUS: Mapping[Impact, ComponentStatus] = {
    "none": "operational",
    "minor": "degraded_performance",
    "major": "partial_outage",
    "critical": "major_outage",
}


def recent_incidents(session: Session, *, now: datetime) -> list[PublicIncident]:
    """The incidents the status page lists (not closed, or closed within its history), the
    most recently updated first, each with every published statement, newest first. Two
    queries."""
    listed = public.status_board(session, now=now)
    if not listed:
        return []
    rows = session.exec(
        select(Statement, Incident.number)
        .join(Incident, col(Incident.id) == col(Statement.incident_id))
        .where(
            col(Incident.number).in_([incident.number for incident in listed]),
            col(Incident.drill).is_(False),
            col(Statement.status) == StatementStatus.published,
        )
        .order_by(col(Statement.incident_id), col(Statement.version).desc())
    ).all()
    versions_by_id = {row.id: row.version for row, _ in rows}
    by_number: dict[str, list[PublicStatement]] = defaultdict(list)
    for row, number in rows:
        if row.version is None or row.published_at is None:
            continue
        by_number[number].append(
            PublicStatement(
                version=row.version,
                stage=row.stage,
                title=row.title,
                text=row.text,
                advice=row.advice,
                published_at=as_utc(row.published_at),
                corrects_version=versions_by_id.get(row.corrects_id) if row.corrects_id else None,
            )
        )
    return [replace(item, statements=tuple(by_number[item.number])) for item in listed]


def in_language(texts: Mapping[str, str], language: str) -> str:
    """A statement's text in the language asked for, else in the other one it was written in."""
    return texts.get(language) or next((text for text in texts.values() if text), "")


# --- Statuspage's shapes ---------------------------------------------------------------------


class StatuspagePage(BaseModel):
    id: str
    name: str
    url: str
    time_zone: str
    updated_at: datetime


class StatuspageStatus(BaseModel):
    indicator: Impact
    description: str


class StatuspageComponent(BaseModel):
    """A product named by an incident the page lists."""

    id: str
    name: str
    status: ComponentStatus
    created_at: datetime
    updated_at: datetime
    position: int
    description: str | None = None
    showcase: bool = False
    start_date: str | None = None
    group_id: str | None = None
    page_id: str
    group: bool = False
    only_show_if_degraded: bool = False


class StatuspageIncidentUpdate(BaseModel):
    id: str
    status: PublicStatus
    body: str
    incident_id: str
    created_at: datetime
    updated_at: datetime
    display_at: datetime
    affected_components: None = None
    deliver_notifications: bool = True


class StatuspageIncident(BaseModel):
    id: str
    name: str
    status: PublicStatus
    created_at: datetime
    updated_at: datetime
    monitoring_at: datetime | None
    resolved_at: datetime | None
    impact: Impact
    shortlink: str
    started_at: datetime
    page_id: str
    incident_updates: list[StatuspageIncidentUpdate]
    components: list[StatuspageComponent]


class StatuspageStatusAnswer(BaseModel):
    page: StatuspagePage
    status: StatuspageStatus


class StatuspageIncidents(BaseModel):
    page: StatuspagePage
    incidents: list[StatuspageIncident]


class StatuspageSummary(BaseModel):
    page: StatuspagePage
    components: list[StatuspageComponent]
    incidents: list[StatuspageIncident]
    scheduled_maintenances: list[None]
    status: StatuspageStatus


def impact_of(incident: PublicIncident) -> Impact:
    return IMPACT_BY_KIND.get(incident.kind, "minor")


def indicator(incidents: Sequence[PublicIncident]) -> Impact:
    """The worst impact among the incidents still open; none when all are closed."""
    impacts = [impact_of(item) for item in incidents if item.ongoing]
    return max(impacts, key=IMPACT_ORDER.index, default="none")


def page_id(base_url: str) -> str:
    """A stable identifier of this status page: its address, hashed."""
    return hashlib.sha256(base_url.encode()).hexdigest()[:12]


def component_id(product: str) -> str:
    return "product-" + hashlib.sha256(product.encode()).hexdigest()[:12]


def components(incidents: Sequence[PublicIncident], *, page: str) -> list[StatuspageComponent]:
    """Every product the listed incidents name, in name order, as bad as the worst open
    incident naming it (operational once all are closed)."""
    named: dict[str, list[PublicIncident]] = defaultdict(list)
    for item in incidents:
        for product in item.products:
            named[product].append(item)
    shaped = []
    for position, product in enumerate(sorted(named), start=1):
        naming = named[product]
        moments = [statement.published_at for item in naming for statement in item.statements]
        shaped.append(
            StatuspageComponent(
                id=component_id(product),
                name=product,
                status=COMPONENT_STATUS[indicator(naming)],
                created_at=min(moments, default=NEVER),
                updated_at=max(moments, default=NEVER),
                position=position,
                page_id=page,
            )
        )
    return shaped


def _body(statement: PublicStatement, language: str, advice_heading: str) -> str:
    text = in_language(statement.text, language)
    advice = in_language(statement.advice, language) if statement.advice else ""
    return f"{text}\n\n{advice_heading}\n{advice}" if advice else text


def statuspage_incident(
    incident: PublicIncident,
    *,
    language: str,
    base_url: str,
    page: str,
    advice_heading: str,
    product_components: Mapping[str, StatuspageComponent],
) -> StatuspageIncident:
    """One incident as Statuspage gives it: its id is its number; it was created when its
    first statement came out; each published statement is an update, newest first."""
    statements = incident.statements
    latest, first = statements[0], statements[-1]
    monitoring = [
        item.published_at
        for item in statements
        if item.stage.public_status == PublicStatus.monitoring
    ]
    return StatuspageIncident(
        id=incident.number,
        name=in_language(latest.title, language),
        status=latest.stage.public_status,
        created_at=first.published_at,
        updated_at=latest.published_at,
        monitoring_at=min(monitoring, default=None),
        resolved_at=None if incident.ongoing else latest.published_at,
        impact=impact_of(incident),
        shortlink=f"{base_url}/status/{incident.number}",
        started_at=first.published_at,
        page_id=page,
        incident_updates=[
            StatuspageIncidentUpdate(
                id=f"{incident.number}-{item.version}",
                status=item.stage.public_status,
                body=_body(item, language, advice_heading),
                incident_id=incident.number,
                created_at=item.published_at,
                updated_at=item.published_at,
                display_at=item.published_at,
            )
            for item in statements
        ],
        components=[
            product_components[product]
            for product in incident.products
            if product in product_components
        ],
    )
