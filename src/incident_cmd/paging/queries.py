"""Finding pages and their targets."""

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import case
from sqlmodel import Session, col, func, select

from incident_cmd.auth.models import User
from incident_cmd.errors import NotFound
from incident_cmd.incidents.models import Incident
from incident_cmd.paging.models import ANSWERABLE, Page, PageStatus, PageTarget, TargetStatus


def pages_of(session: Session, *, incident: Incident) -> Sequence[Page]:
    return session.exec(
        select(Page).where(Page.incident_id == incident.id).order_by(col(Page.id))
    ).all()


def latest_page_of(session: Session, *, assignment_id: int) -> Page | None:
    """The roster seat's newest page: the one its page state is read from."""
    return session.exec(
        select(Page).where(Page.assignment_id == assignment_id).order_by(col(Page.id).desc())
    ).first()


def targets_of(session: Session, *, page_ids: list[int]) -> Sequence[PageTarget]:
    if not page_ids:
        return []
    return session.exec(
        select(PageTarget).where(col(PageTarget.page_id).in_(page_ids)).order_by(col(PageTarget.id))
    ).all()


def get_target(session: Session, *, target_id: int) -> PageTarget:
    target = session.get(PageTarget, target_id)
    if target is None:
        raise NotFound(f"no page target {target_id}")
    return target


def open_targets_for(session: Session, *, user: User) -> Sequence[PageTarget]:
    return session.exec(
        select(PageTarget)
        .join(Page, col(Page.id) == PageTarget.page_id)
        .where(
            PageTarget.user_id == user.id,
            PageTarget.status == TargetStatus.open,
            col(Page.status).in_(ANSWERABLE),
        )
        .order_by(col(PageTarget.id))
    ).all()


@dataclass(frozen=True)
class Acknowledgements:
    paged: int  # pages still standing (a handover or a stand-down cancels one)
    acknowledged: int


def acknowledgements(
    session: Session, *, incident_ids: Sequence[int]
) -> dict[int, Acknowledgements]:
    """How many of each incident's standing pages someone acknowledged, in one query."""
    if not incident_ids:
        return {}
    acknowledged = func.sum(case((col(Page.status) == PageStatus.acknowledged, 1), else_=0))
    rows = session.exec(
        select(Page.incident_id, func.count(), acknowledged)
        .where(col(Page.incident_id).in_(incident_ids), Page.status != PageStatus.cancelled)
        .group_by(col(Page.incident_id))
    ).all()
    return {
        incident_id: Acknowledgements(paged, int(done or 0)) for incident_id, paged, done in rows
    }
