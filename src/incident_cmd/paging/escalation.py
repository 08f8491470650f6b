"""Moving a page up its chain when its level did not acknowledge in time or declined."""

from sqlalchemy import update
from sqlmodel import Session, col

from incident_cmd.paging.models import Page, PageTarget
from incident_cmd.paging.pages import choose, open_targets, page_context, record


def _stop_steps(session: Session, page: Page) -> None:
    session.execute(
        update(PageTarget)
        .where(col(PageTarget.page_id) == page.id, col(PageTarget.next_step_at).is_not(None))
        .values(next_step_at=None)
    )


def escalate(session: Session, *, page: Page, reason: str) -> None:
    _stop_steps(session, page)
    page.level += 1
    record(
        session,
        incident_id=page.incident_id,
        kind="page.escalated",
        summary=f"role {page.role_key}: escalating ({reason})",
        data={"page": page.id, "role": page.role_key, "reason": reason},
    )
    reach = choose(session, context=page_context(session, page), fresh=False)
    if reach is not None:
        open_targets(session, reaches=[reach], reason=reason, actor_id=None)
