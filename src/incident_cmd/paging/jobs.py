"""Paging's background sweeps: the next contact step of each target whose wait is over, and
the escalation of each page whose level went unacknowledged. Both claim their rows with
SKIP LOCKED, so several workers never repeat a step."""

from collections.abc import Sequence
from typing import TypeVar

from sqlmodel import Session, col, select
from sqlmodel.sql.expression import SelectOfScalar

from incident_cmd import clock
from incident_cmd.db import skip_locked
from incident_cmd.paging.escalation import escalate
from incident_cmd.paging.models import Page, PageStatus, PageTarget, TargetStatus
from incident_cmd.paging.pages import page_context, run_steps

Row = TypeVar("Row")


def _claim(session: Session, query: SelectOfScalar[Row]) -> Sequence[Row]:
    return session.exec(skip_locked(session, query)).all()


def run_contact_steps(session: Session, *, limit: int = 200) -> int:
    """Sweep: the next contact step of every open target whose wait is over."""
    targets = _claim(
        session,
        select(PageTarget)
        .where(
            PageTarget.status == TargetStatus.open,
            col(PageTarget.next_step_at) <= clock.now(),
        )
        .order_by(col(PageTarget.next_step_at))
        .limit(limit),
    )
    queued = 0
    for target in targets:
        context = page_context(session, session.get_one(Page, target.page_id))
        queued += run_steps(session, target=target, context=context)
    return queued


def escalate_due_pages(session: Session, *, limit: int = 200) -> int:
    """Sweep: every open page whose level went unacknowledged for its wait moves up."""
    pages = _claim(
        session,
        select(Page)
        .where(Page.status == PageStatus.open, col(Page.escalate_at) <= clock.now())
        .order_by(col(Page.escalate_at))
        .limit(limit),
    )
    for page in pages:
        escalate(session, page=page, reason="no acknowledgement in time")
    return len(pages)
