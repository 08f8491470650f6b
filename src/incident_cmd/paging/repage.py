"""Paging a seat again when a duty manager asks: its holder declined, did not answer in
time, or has not answered yet. The seat's standing page is cancelled and a new one starts at
the holder, round one, so the whole escalation chain runs again. A seat whose playbook role is
not paged (brought in when needed) is paged the same way the first time. A page someone
acknowledged is not repeated: the seat is taken."""

from sqlmodel import Session

from incident_cmd.auth.models import User
from incident_cmd.errors import Conflict
from incident_cmd.incidents.models import RosterAssignment
from incident_cmd.paging.models import Page, PageStatus
from incident_cmd.paging.pages import page_seats, record
from incident_cmd.paging.queries import latest_page_of
from incident_cmd.paging.standdown import cancel_for_seat

REASON = "paged again"


def page_again(session: Session, *, seat: RosterAssignment, actor_id: int) -> Page:
    previous = latest_page_of(session, assignment_id=seat.id)
    if previous is not None and previous.status == PageStatus.acknowledged:
        who = session.get_one(User, previous.acknowledged_by).username
        raise Conflict(
            f"{who} already acknowledged the page for role {seat.role_key}; "
            "hand the seat over to page someone else",
            field="role",
        )
    # What the page was before this cancels it: open (maybe escalated past a decline) or
    # exhausted.
    previous_status = previous.status if previous is not None else None
    cancel_for_seat(session, seat=seat, reason=REASON)
    holder = session.get_one(User, seat.user_id).username if seat.user_id is not None else None
    record(
        session,
        incident_id=seat.incident_id,
        kind="page.requested",
        summary=f"role {seat.role_key} paged again from the start of its chain"
        if previous is not None
        else f"role {seat.role_key} paged on request",
        data={
            "role": seat.role_key,
            "slot": seat.slot,
            "user": holder,
            "again": previous is not None,
            "previous": previous_status,
        },
        actor_id=actor_id,
    )
    [page] = page_seats(session, seats=[seat], actor_id=actor_id, reason=REASON, asked=True)
    return page
