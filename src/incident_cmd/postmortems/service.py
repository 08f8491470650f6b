"""The review of one incident: started when it is resolved (the playbook's checklist becomes
review tasks), written in sections, approved by the commander or a duty manager; and what
its parts share (the organisation's working clock, the timeline, telling a person by SMS and
email). Its parts are modules of their own: ``followups``, ``meetings``, ``revisions``,
``drill_requests`` and ``quarters``. Who holds which seat is the incidents domain's to say:
callers pass what it answered (``may_edit``, ``may_approve``)."""

from collections.abc import Sequence
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlmodel import Session, col, select

from incident_cmd import clock
from incident_cmd.auth.models import User
from incident_cmd.config import get_settings
from incident_cmd.errors import Conflict, Forbidden, NotFound
from incident_cmd.incidents.models import Incident, IncidentStatus, IncidentTask, TaskStatus
from incident_cmd.messaging import direct
from incident_cmd.messaging.channels import ChannelName
from incident_cmd.messaging.templates import templates_for
from incident_cmd.playbooks.schema import Playbook
from incident_cmd.postmortems.models import Review, Section
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


def organisation_zone() -> ZoneInfo:
    return ZoneInfo(get_settings().default_timezone)


def working_offset(start: datetime, offset: str) -> datetime:
    return add_offset(
        start, offset, zone=organisation_zone(), country=get_settings().holiday_country
    )


def review_due(resolved_at: datetime, due_after_resolution: str) -> datetime:
    """When a checklist item is due. A day count means working days on the organisation's
    holiday calendar: the seeds count after-the-fact work in working days (seed 001:
    “应在接到投诉的3个工作日内进行初步核实”), so ``3d`` and ``3wd`` both land three working days
    after the resolution; minutes and hours stay exact durations."""
    amount, unit = parse_offset(due_after_resolution)
    if unit == "d":
        return working_offset(resolved_at, f"{amount}wd")
    return working_offset(resolved_at, due_after_resolution)


def record(
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
    if review.meeting_at is None:
        # Resolved again after a reopening: the window runs from the new resolution.
        review.meeting_by = meeting_window_end(incident.resolved_at, playbook.review_meeting_within)
        review.meeting_sweep_at = review.meeting_by
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
    record(
        session,
        incident,
        STARTED,
        f"review started with {len(created)} checklist items",
        actor.id,
        {"count": len(created)},
    )
    return review


def ensure_open(incident: Incident) -> None:
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
    record(
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
    ensure_open(incident)
    review = get_review(session, incident=incident)
    text = text.strip()
    if getattr(review, section) == text:
        return review
    setattr(review, section, text)
    session.add(review)
    record(
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
    record(session, incident, APPROVED, f"review approved{suffix}", actor.id, {"note": note})
    return review


def end_of_day(day: date) -> datetime:
    """Midnight after the day, in the organisation's time zone: a follow-up due on a day is
    late from the next morning."""
    return datetime.combine(day + timedelta(days=1), time(), organisation_zone()).astimezone(UTC)


def local_text(moment: datetime, zone: ZoneInfo) -> str:
    return moment.astimezone(zone).strftime("%Y-%m-%d %H:%M %Z")


def review_url(incident: Incident) -> str:
    return f"{get_settings().public_base_url}/incidents/{incident.id}/review"


def tell(
    session: Session,
    *,
    incident: Incident,
    user: User,
    template: str,
    source: str,
    source_id: int,
    step: str,
    label: str,
    context: dict,
) -> bool:
    """Queues the message to the person by SMS and email, each at most once per ``step``
    (the key is unique); ``context`` gets the incident, the link and the organisation, and
    ``local`` renders a moment on the person's own clock. False when they have neither."""
    templates = templates_for(get_settings().template_dir)
    zone = ZoneInfo(user.timezone)
    full = {
        "organisation": get_settings().organisation_name,
        "incident": incident.number,
        "title": incident.title,
        "name": user.display_name,
        "url": review_url(incident),
        "local": lambda moment: local_text(moment, zone),
        **context,
    }
    told = False
    for channel, address in ((ChannelName.sms, user.phone), (ChannelName.email, user.email)):
        if not address or not user.active:
            continue
        direct.enqueue(
            session,
            key=f"{source}-{source_id}-{step}-{user.id}-{channel}",
            source=source,
            source_id=source_id,
            subject=(SUBJECT, incident.id),
            label=f"{label} to {user.username}",
            channel=channel,
            address=address,
            locale=user.locale,
            rendered=templates.render(template, channel, user.locale, full),
            drill=incident.drill,
            user_id=user.id,
        )
        told = True
    return told


def meeting_window_end(resolved_at: datetime, within: int) -> datetime:
    """The end of the ``within``-th working day after the resolution's day, in the
    organisation's time zone: a meeting on that last working day is in time, one on the
    next day is not."""
    last_day = working_offset(resolved_at, f"{within}wd").astimezone(organisation_zone()).date()
    return end_of_day(last_day)


def may_write(incident: Incident, may_edit: bool, what: str) -> None:
    if not may_edit:
        raise Forbidden(
            f"only the commander, a duty manager or a member of the roster of "
            f"{incident.number} may {what}"
        )
