"""Follow-up actions of a review: added with an owner and a due day, tracked, done, and
reminded by SMS and email once per overdue step until they are."""

from collections.abc import Sequence
from datetime import date

from sqlmodel import Session, col, select

from incident_cmd import clock
from incident_cmd.auth.models import User
from incident_cmd.db import skip_locked
from incident_cmd.errors import Forbidden, Invalid, NotFound
from incident_cmd.incidents.models import Incident
from incident_cmd.postmortems import service
from incident_cmd.postmortems.models import FollowUp, FollowUpState

FOLLOWUP_ADDED = "postmortem.followup_added"
FOLLOWUP_DONE = "postmortem.followup_done"
FOLLOWUP_OVERDUE = "postmortem.followup_overdue"
# Messages about follow-ups go through the direct lane under this source.
FOLLOWUP_SOURCE = "followup"


def followups_of(session: Session, *, incident: Incident) -> Sequence[FollowUp]:
    return session.exec(
        select(FollowUp).where(FollowUp.incident_id == incident.id).order_by(col(FollowUp.id))
    ).all()


def add_followup(
    session: Session,
    *,
    incident: Incident,
    title: str,
    owner: User,
    due_on: date,
    actor: User,
    may_edit: bool,
) -> FollowUp:
    if not may_edit:
        raise Forbidden(
            f"only the commander, a duty manager or a member of the roster of "
            f"{incident.number} may add follow-up actions"
        )
    service.ensure_open(incident)
    service.get_review(session, incident=incident)
    return track_followup(
        session, incident=incident, title=title, owner=owner, due_on=due_on, actor=actor
    )


def track_followup(
    session: Session,
    *,
    incident: Incident,
    title: str,
    owner: User,
    due_on: date,
    actor: User,
) -> FollowUp:
    """A follow-up action on the incident, reminded by the sweep until done, whoever agreed
    it: the review, or a drill's improvement plan (which needs no review of the drill
    incident). Callers check who may add it."""
    if not owner.active:
        raise Invalid(f"user {owner.username!r} is deactivated", field="owner")
    today = clock.now().astimezone(service.organisation_zone()).date()
    if due_on < today:
        raise Invalid(f"due_on {due_on.isoformat()} is before today ({today})", field="due_on")
    due_at = service.end_of_day(due_on)
    followup = FollowUp(
        incident_id=incident.id,
        title=title.strip(),
        owner_id=owner.id,
        due_on=due_on,
        due_at=due_at,
        created_by=actor.id,
        created_at=clock.now(),
        remind_at=due_at,
    )
    session.add(followup)
    session.flush()
    service.record(
        session,
        incident,
        FOLLOWUP_ADDED,
        f"follow-up {followup.id} “{followup.title}” for {owner.username}, due {due_on}",
        actor.id,
        {
            "followup": followup.id,
            "title": followup.title,
            "owner": owner.username,
            "due_on": due_on.isoformat(),
        },
    )
    return followup


def complete_followup(
    session: Session,
    *,
    incident: Incident,
    followup_id: int,
    note: str,
    actor: User,
    may_edit: bool,
) -> FollowUp:
    """Done by its owner or whoever may write the review; a follow-up outlives the closing of
    its incident, so it can be done after."""
    followup = session.get(FollowUp, followup_id)
    if followup is None or followup.incident_id != incident.id:
        raise NotFound(f"{incident.number} has no follow-up {followup_id}")
    if not (may_edit or followup.owner_id == actor.id):
        raise Forbidden(
            f"follow-up {followup_id} is done by its owner, the commander, a duty manager "
            "or a member of the roster"
        )
    if followup.state == FollowUpState.done:
        return followup
    followup.state = FollowUpState.done
    followup.done_at = clock.now()
    followup.done_by = actor.id
    followup.remind_at = None
    session.add(followup)
    suffix = f": {note}" if note else ""
    service.record(
        session,
        incident,
        FOLLOWUP_DONE,
        f"follow-up {followup.id} “{followup.title}” done{suffix}",
        actor.id,
        {"followup": followup.id, "title": followup.title, "note": note},
    )
    return followup


def remind_followups(session: Session, *, limit: int = 500) -> int:
    """Reminds the owner of each open follow-up past its due time, by SMS and email, and puts
    it on its incident's timeline, once per overdue step: at the due time, then every working
    day after, until it is done. A sweep that ran late says the step it is in once, not every
    step it missed.

    On PostgreSQL, concurrent workers skip rows another worker has locked; the messages are
    keyed by the step besides, so no step is sent twice."""
    now = clock.now()
    query = (
        select(FollowUp)
        .where(col(FollowUp.remind_at) <= now, FollowUp.state == FollowUpState.open)
        .order_by(col(FollowUp.remind_at))
        .limit(limit)
    )
    followups = session.exec(skip_locked(session, query)).all()
    owners = {
        user.id: user
        for user in session.exec(
            select(User).where(col(User.id).in_({item.owner_id for item in followups}))
        )
    }
    for followup in followups:
        late_days = followup.reminders
        while service.working_offset(followup.due_at, f"{late_days + 1}wd") <= now:
            late_days += 1
        followup.reminders = late_days + 1
        followup.remind_at = service.working_offset(followup.due_at, f"{late_days + 1}wd")
        session.add(followup)
        incident = session.get_one(Incident, followup.incident_id)
        owner = owners[followup.owner_id]
        service.tell(
            session,
            incident=incident,
            user=owner,
            template="followup_overdue",
            source=FOLLOWUP_SOURCE,
            source_id=followup.id,
            step=str(followup.reminders),
            label=f"follow-up {followup.id} reminder",
            context={
                "followup": followup.title,
                "due_on": followup.due_on.isoformat(),
                "late_days": late_days,
            },
        )
        service.record(
            session,
            incident,
            FOLLOWUP_OVERDUE,
            f"follow-up {followup.id} “{followup.title}” of {owner.username} is "
            f"overdue (due {followup.due_on}, {late_days} working days late)",
            None,
            {
                "followup": followup.id,
                "title": followup.title,
                "owner": owner.username,
                "due_on": followup.due_on.isoformat(),
                "late_days": late_days,
            },
        )
    return len(followups)
