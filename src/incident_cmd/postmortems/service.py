"""The review of one incident: started when it is resolved (the playbook's checklist becomes
review tasks), written in sections, approved by the commander or a duty manager, and its
follow-up actions reminded until done. Who holds which seat is the incidents domain's to say:
callers pass what it answered (``may_edit``, ``may_approve``)."""

import re
from collections.abc import Sequence
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlmodel import Session, col, select

from incident_cmd import clock
from incident_cmd.auth.models import User
from incident_cmd.config import get_settings
from incident_cmd.db import skip_locked
from incident_cmd.errors import Conflict, Forbidden, Invalid, NotFound
from incident_cmd.incidents.models import Incident, IncidentStatus, IncidentTask, TaskStatus
from incident_cmd.playbooks.schema import Playbook
from incident_cmd.postmortems.models import FollowUp, FollowUpState, Review, Section
from incident_cmd.timeline import service as timeline
from incident_cmd.timeline.models import TimelineEvent
from incident_cmd.workdays import add_offset, parse_offset

SUBJECT = "incident"
# Review tasks are keyed apart from the playbook's response tasks: a colon is never in a
# playbook key, so "review:recap" cannot collide with a task named "recap".
TASK_PREFIX = "review:"

STARTED = "postmortem.started"
SECTION_EDITED = "postmortem.section_edited"
APPROVED = "postmortem.approved"
APPROVAL_WITHDRAWN = "postmortem.approval_withdrawn"
FOLLOWUP_ADDED = "postmortem.followup_added"
FOLLOWUP_DONE = "postmortem.followup_done"
FOLLOWUP_OVERDUE = "postmortem.followup_overdue"


def _zone() -> ZoneInfo:
    return ZoneInfo(get_settings().default_timezone)


def _working(start: datetime, offset: str) -> datetime:
    return add_offset(start, offset, zone=_zone(), country=get_settings().holiday_country)


def review_due(resolved_at: datetime, due_after_resolution: str) -> datetime:
    """When a checklist item is due. A day count means working days on the organisation's
    holiday calendar: the seeds count after-the-fact work in working days (seed 001:
    “应在接到投诉的3个工作日内进行初步核实”), so ``3d`` and ``3wd`` both land three working days
    after the resolution; minutes and hours stay exact durations."""
    amount, unit = parse_offset(due_after_resolution)
    if unit == "d":
        return _working(resolved_at, f"{amount}wd")
    return _working(resolved_at, due_after_resolution)


def _record(
    session: Session,
    incident: Incident,
    kind: str,
    summary: str,
    actor_id: int | None,
    data: dict | None = None,
) -> TimelineEvent:
    return timeline.append(
        session,
        subject_type=SUBJECT,
        subject_id=incident.id,
        kind=kind,
        summary=summary,
        actor_id=actor_id,
        data=data,
    )


def review_of(session: Session, *, incident: Incident) -> Review | None:
    return session.exec(select(Review).where(Review.incident_id == incident.id)).first()


def get_review(session: Session, *, incident: Incident) -> Review:
    review = review_of(session, incident=incident)
    if review is None:
        raise NotFound(f"{incident.number} has no review yet: it starts when it is resolved")
    return review


def checklist(session: Session, *, incident: Incident) -> Sequence[IncidentTask]:
    return session.exec(
        select(IncidentTask)
        .where(IncidentTask.incident_id == incident.id, IncidentTask.review)
        .order_by(col(IncidentTask.due_at), col(IncidentTask.id))
    ).all()


def start(session: Session, *, incident: Incident, playbook: Playbook, actor: User) -> Review:
    """Opens the review of a resolved incident: the playbook's checklist items not yet on it
    become review tasks due after the resolution. Entering review again (reopened, or back
    from closed) keeps the tasks and written sections, and withdraws an approval, which was
    given to a review that is being taken up again."""
    if incident.resolved_at is None:
        raise Conflict(f"{incident.number} is not resolved; its review starts on resolution")
    review = review_of(session, incident=incident)
    if review is None:
        review = Review(incident_id=incident.id, started_at=clock.now())
        session.add(review)
    elif review.approved_at is not None:
        _withdraw(session, incident, review, actor.id, reopened=True)
    existing = {task.key for task in checklist(session, incident=incident)}
    created = []
    for item in playbook.review:
        key = TASK_PREFIX + item.key
        if key in existing:
            continue
        task = IncidentTask(
            incident_id=incident.id,
            key=key,
            title=item.item.model_dump(by_alias=True),
            role_key=item.role,
            due_at=review_due(incident.resolved_at, item.due_after_resolution),
            review=True,
        )
        session.add(task)
        created.append(task)
    session.flush()
    _record(
        session,
        incident,
        STARTED,
        f"review started with {len(created)} checklist items",
        actor.id,
        {"count": len(created)},
    )
    return review


def _ensure_open(incident: Incident) -> None:
    if incident.status == IncidentStatus.closed:
        raise Conflict(f"{incident.number} is closed; move it back to review to change it")


def _withdraw(
    session: Session,
    incident: Incident,
    review: Review,
    actor_id: int | None,
    *,
    reopened: bool = False,
    section: Section | None = None,
) -> None:
    """The approved text is no longer the text: the review was taken up again, or one of
    its sections changed."""
    review.approved_at = None
    review.approved_by = None
    session.add(review)
    why = "the review was taken up again" if reopened else f"section {section} changed"
    data = {"reopened": True} if reopened else {"section": section.value if section else None}
    _record(
        session, incident, APPROVAL_WITHDRAWN, f"review approval withdrawn: {why}", actor_id, data
    )


def edit_section(
    session: Session,
    *,
    incident: Incident,
    section: Section,
    text: str,
    actor: User,
    may_edit: bool,
) -> Review:
    if not may_edit:
        raise Forbidden(
            f"only the commander, a duty manager or a member of the roster of "
            f"{incident.number} may write its review"
        )
    _ensure_open(incident)
    review = get_review(session, incident=incident)
    text = text.strip()
    if getattr(review, section) == text:
        return review
    setattr(review, section, text)
    session.add(review)
    _record(
        session,
        incident,
        SECTION_EDITED,
        f"review section {section} edited ({len(text)} characters)",
        actor.id,
        {"section": section.value, "text": text, "chars": len(text)},
    )
    if review.approved_at is not None:
        _withdraw(session, incident, review, actor.id, section=section)
    return review


def missing_for_close(session: Session, *, incident: Incident) -> list[str]:
    """What closing the incident still waits for, in words a 409 can say."""
    review = review_of(session, incident=incident)
    if review is None:
        return ["the review has not started (it starts when the incident is resolved)"]
    missing = []
    open_items = [
        task.key.removeprefix(TASK_PREFIX)
        for task in checklist(session, incident=incident)
        if task.status != TaskStatus.done
    ]
    if open_items:
        missing.append(f"review checklist items not done: {', '.join(open_items)}")
    if review.approved_at is None:
        missing.append("the review is not approved by the commander or a duty manager")
    return missing


def ensure_closable(session: Session, *, incident: Incident) -> None:
    missing = missing_for_close(session, incident=incident)
    if missing:
        raise Conflict(f"{incident.number} cannot be closed: {'; '.join(missing)}", field="status")


def approve(
    session: Session, *, incident: Incident, note: str, actor: User, may_approve: bool
) -> Review:
    if not may_approve:
        raise Forbidden(
            f"only the commander of {incident.number} or a duty manager may approve its review"
        )
    if incident.status != IncidentStatus.in_review:
        raise Conflict(
            f"{incident.number} is {incident.status}; a review is approved while in review",
            field="status",
        )
    review = get_review(session, incident=incident)
    if review.approved_at is not None:
        return review
    if not review.summary:
        raise Conflict("write the review's summary before approving it", field="summary")
    review.approved_at = clock.now()
    review.approved_by = actor.id
    session.add(review)
    suffix = f": {note}" if note else ""
    _record(session, incident, APPROVED, f"review approved{suffix}", actor.id, {"note": note})
    return review


# --- follow-up actions -----------------------------------------------------------------------


def followups_of(session: Session, *, incident: Incident) -> Sequence[FollowUp]:
    return session.exec(
        select(FollowUp).where(FollowUp.incident_id == incident.id).order_by(col(FollowUp.id))
    ).all()


def end_of_day(day: date) -> datetime:
    """Midnight after the day, in the organisation's time zone: a follow-up due on a day is
    late from the next morning."""
    return datetime.combine(day + timedelta(days=1), time(), _zone()).astimezone(UTC)


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
    _ensure_open(incident)
    get_review(session, incident=incident)
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
    today = clock.now().astimezone(_zone()).date()
    if due_on < today:
        raise Invalid(f"due_on {due_on.isoformat()} is before today ({today})", field="due_on")
    due_at = end_of_day(due_on)
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
    _record(
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
    _record(
        session,
        incident,
        FOLLOWUP_DONE,
        f"follow-up {followup.id} “{followup.title}” done{suffix}",
        actor.id,
        {"followup": followup.id, "title": followup.title, "note": note},
    )
    return followup


def remind_followups(session: Session, *, limit: int = 500) -> int:
    """Puts each open follow-up past its due time on its incident's timeline once per overdue
    step: at the due time, then every working day after, until it is done. A sweep that ran
    late says the step it is in once, not every step it missed.

    On PostgreSQL, concurrent workers skip rows another worker has locked."""
    now = clock.now()
    query = (
        select(FollowUp)
        .where(col(FollowUp.remind_at) <= now, FollowUp.state == FollowUpState.open)
        .order_by(col(FollowUp.remind_at))
        .limit(limit)
    )
    followups = session.exec(skip_locked(session, query)).all()
    owners = {
        user.id: user.username
        for user in session.exec(
            select(User).where(col(User.id).in_({item.owner_id for item in followups}))
        )
    }
    for followup in followups:
        late_days = followup.reminders
        while _working(followup.due_at, f"{late_days + 1}wd") <= now:
            late_days += 1
        followup.reminders = late_days + 1
        followup.remind_at = _working(followup.due_at, f"{late_days + 1}wd")
        session.add(followup)
        incident = session.get_one(Incident, followup.incident_id)
        _record(
            session,
            incident,
            FOLLOWUP_OVERDUE,
            f"follow-up {followup.id} “{followup.title}” of {owners[followup.owner_id]} is "
            f"overdue (due {followup.due_on}, {late_days} working days late)",
            None,
            {
                "followup": followup.id,
                "title": followup.title,
                "owner": owners[followup.owner_id],
                "due_on": followup.due_on.isoformat(),
                "late_days": late_days,
            },
        )
    return len(followups)


# --- quarters and causes, for the quarterly review meeting -----------------------------------

QUARTER = re.compile(r"(\d{4})-Q([1-4])")
# A cause tag is a word after "#" (or the full-width "＃") in the causes section, up to a
# space or punctuation: "#供应商来料 #firmware". "#12" is a number, not a tag.
CAUSE_TAG = re.compile(r"[#＃](?!\d)([^\s#＃,，.。;；:：、!！?？()（）\[\]【】\"“”'‘’]+)")


def quarter_bounds(quarter: str) -> tuple[datetime, datetime]:
    """The first moment of the quarter (``2026-Q4``) and of the next one, in the
    organisation's time zone, as UTC."""
    match = QUARTER.fullmatch(quarter)
    if match is None or not 1970 <= int(match[1]) <= 2099:
        raise Invalid(
            f"quarter {quarter!r} is not a quarter like 2026-Q4 (1970 to 2099)", field="quarter"
        )
    year, number = int(match[1]), int(match[2])
    start = datetime(year, 3 * number - 2, 1, tzinfo=_zone())
    end = datetime(year + number // 4, 3 * number % 12 + 1, 1, tzinfo=_zone())
    return start.astimezone(UTC), end.astimezone(UTC)


def quarter_of(moment: datetime) -> str:
    local = moment.astimezone(_zone())
    return f"{local.year}-Q{(local.month - 1) // 3 + 1}"


def month_of(moment: datetime) -> str:
    return moment.astimezone(_zone()).strftime("%Y-%m")


def months_of(quarter: str) -> list[str]:
    start, _ = quarter_bounds(quarter)
    first = start.astimezone(_zone())
    return [f"{first.year}-{first.month + step:02d}" for step in range(3)]


def cause_tags(causes: str) -> list[str]:
    """The cause tags the review's causes section names, each once, in lower case."""
    return list(dict.fromkeys(tag.casefold() for tag in CAUSE_TAG.findall(causes)))
