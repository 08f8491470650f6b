"""The review of one incident: started when it is resolved (the playbook's checklist becomes
review tasks), written in sections, approved by the commander or a duty manager, and its
follow-up actions reminded until done. Who holds which seat is the incidents domain's to say:
callers pass what it answered (``may_edit``, ``may_approve``)."""

import difflib
import re
from collections.abc import Sequence
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlmodel import Session, col, select

from incident_cmd import clock
from incident_cmd.auth.models import User
from incident_cmd.config import get_settings
from incident_cmd.db import skip_locked
from incident_cmd.errors import Conflict, Forbidden, Invalid, NotFound
from incident_cmd.incidents.models import Incident, IncidentStatus, IncidentTask, TaskStatus
from incident_cmd.messaging import direct
from incident_cmd.messaging.channels import ChannelName
from incident_cmd.messaging.templates import templates_for
from incident_cmd.playbooks.loader import LoadedPlaybook, PlaybookInvalid, parse_playbook
from incident_cmd.playbooks.schema import Playbook
from incident_cmd.postmortems.models import (
    DrillRequest,
    DrillRequestState,
    FollowUp,
    FollowUpState,
    PlanRevision,
    Review,
    RevisionState,
    Section,
)
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
MEETING_SET = "postmortem.meeting_set"
MEETING_REMINDED = "postmortem.meeting_reminded"
MEETING_MISSED = "postmortem.meeting_missed"
REVISION_PROPOSED = "postmortem.revision_proposed"
REVISION_ACCEPTED = "postmortem.revision_accepted"
REVISION_REJECTED = "postmortem.revision_rejected"
DRILL_REQUESTED = "postmortem.drill_requested"
DRILL_SCHEDULED = "postmortem.drill_scheduled"
DRILL_CANCELLED = "postmortem.drill_cancelled"

# Messages this domain sends through the direct lane, by source.
FOLLOWUP_SOURCE = "followup"
MEETING_SOURCE = "review-meeting"
# The attendees are reminded this long before the meeting; a meeting set closer than that
# has only its invitation.
MEETING_REMINDER_LEAD = timedelta(hours=1)


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
        while _working(followup.due_at, f"{late_days + 1}wd") <= now:
            late_days += 1
        followup.reminders = late_days + 1
        followup.remind_at = _working(followup.due_at, f"{late_days + 1}wd")
        session.add(followup)
        incident = session.get_one(Incident, followup.incident_id)
        owner = owners[followup.owner_id]
        tell(
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
        _record(
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


# --- the review meeting (复盘会) -----------------------------------------------------------


def meeting_window_end(resolved_at: datetime, within: int) -> datetime:
    """The end of the ``within``-th working day after the resolution's day, in the
    organisation's time zone: a meeting on that last working day is in time, one on the
    next day is not."""
    last_day = _working(resolved_at, f"{within}wd").astimezone(_zone()).date()
    return end_of_day(last_day)


def set_meeting(
    session: Session,
    *,
    incident: Incident,
    at: datetime,
    attendees: Sequence[str],
    actor: User,
    may_set: bool,
) -> tuple[Review, bool]:
    """Sets (or moves) the meeting, inside its window while the window is open; once the
    window has passed unmet, at any later time (it is late, and says so). True with the
    review when the time changed, so the attendees are to be invited."""
    if not may_set:
        raise Forbidden(
            f"only the commander of {incident.number} or a duty manager sets its review meeting"
        )
    _ensure_open(incident)
    review = get_review(session, incident=incident)
    now = clock.now()
    zone = _zone()
    if at.tzinfo is None:
        raise Invalid("meeting_at needs a time zone offset", field="meeting_at")
    if at <= now:
        raise Invalid(f"meeting_at {local_text(at, zone)} is not in the future", field="meeting_at")
    window = review.meeting_by
    late = window is not None and now >= window
    if window is not None and not late and at >= window:
        last_day = (window - timedelta(days=1)).astimezone(zone).date()
        raise Invalid(
            f"meeting_at {local_text(at, zone)} is outside the review meeting window: the "
            f"meeting is held by the end of {last_day.isoformat()} ({zone.key})",
            field="meeting_at",
        )
    if review.meeting_at == at:
        return review, False
    moved = review.meeting_at is not None
    review.meeting_at = at
    review.meeting_set_by = actor.id
    review.meeting_sets += 1
    remind_at = at - MEETING_REMINDER_LEAD
    review.meeting_sweep_at = remind_at if remind_at > now else None
    session.add(review)
    _record(
        session,
        incident,
        MEETING_SET,
        f"review meeting {'moved to' if moved else 'set for'} {at.isoformat()}"
        + (" (after its window)" if late else "")
        + f", attendees: {', '.join(attendees) or 'none'}",
        actor.id,
        {"at": at.isoformat(), "moved": moved, "late": late, "attendees": list(attendees)},
    )
    return review, True


def due_meetings(session: Session, *, limit: int = 100) -> Sequence[Review]:
    """Reviews the meeting sweep has work on now, claimed: on PostgreSQL another worker
    skips them until this transaction ends."""
    query = (
        select(Review)
        .where(col(Review.meeting_sweep_at) <= clock.now())
        .order_by(col(Review.meeting_sweep_at))
        .limit(limit)
    )
    return session.exec(skip_locked(session, query)).all()


def meeting_swept(
    session: Session, *, incident: Incident, review: Review, told: Sequence[str] | None
) -> None:
    """The sweep's step on the meeting is done: the reminder before it, or, with no meeting
    set when the window ended, the duty managers told; ``told`` None when the incident was
    closed first and no one was."""
    review.meeting_sweep_at = None
    session.add(review)
    if told is None:
        return
    if review.meeting_at is None:
        _record(
            session,
            incident,
            MEETING_MISSED,
            f"review meeting not set within its window (ended {review.meeting_by}); "
            f"told {', '.join(told) or 'nobody'}",
            None,
            {"told": list(told)},
        )
    else:
        _record(
            session,
            incident,
            MEETING_REMINDED,
            f"review meeting at {review.meeting_at.isoformat()}: attendees reminded "
            f"({', '.join(told) or 'nobody'})",
            None,
            {"at": review.meeting_at.isoformat(), "told": list(told)},
        )


# --- plan revisions (修订预案) -------------------------------------------------------------


def _may_write(incident: Incident, may_edit: bool, what: str) -> None:
    if not may_edit:
        raise Forbidden(
            f"only the commander, a duty manager or a member of the roster of "
            f"{incident.number} may {what}"
        )


def _key_line(text: str) -> int:
    for number, line in enumerate(text.splitlines(), start=1):
        if line.startswith("key:"):
            return number
    return 1


def propose_revision(
    session: Session,
    *,
    incident: Incident,
    current: LoadedPlaybook,
    finding: str,
    text: str,
    actor: User,
    may_edit: bool,
) -> PlanRevision:
    """Keeps the proposed file text once the playbook loader accepts it as it would at
    startup; every problem is refused with its line and field, and nothing is kept."""
    _may_write(incident, may_edit, "propose a playbook revision")
    _ensure_open(incident)
    get_review(session, incident=incident)
    # Browsers send a textarea's lines ending in CRLF; the files end theirs in LF.
    text = text.replace("\r\n", "\n")
    if not text.endswith("\n"):
        text += "\n"
    name = current.path.name
    try:
        loaded = parse_playbook(text, Path(name), get_settings().template_dir)
    except PlaybookInvalid as exc:
        raise Invalid("; ".join(str(problem) for problem in exc.problems), field="text") from None
    if loaded.playbook.key != current.playbook.key:
        raise Invalid(
            f"{name}:{_key_line(text)}: key: a revision of {current.playbook.key!r} keeps its "
            f"key (not {loaded.playbook.key!r})",
            field="text",
        )
    if text == current_text(current.path):
        raise Invalid(f"the proposal is {name} as it is: nothing is revised", field="text")
    revision = PlanRevision(
        incident_id=incident.id,
        playbook_key=current.playbook.key,
        playbook_file=name,
        finding=finding.strip(),
        proposed_text=text,
        proposed_by=actor.id,
        proposed_at=clock.now(),
    )
    session.add(revision)
    session.flush()
    _record(
        session,
        incident,
        REVISION_PROPOSED,
        f"playbook revision {revision.id} of {revision.playbook_key} proposed: {revision.finding}",
        actor.id,
        {"revision": revision.id, "playbook": revision.playbook_key, "finding": revision.finding},
    )
    return revision


def current_text(path: Path) -> str:
    """The file as it is now; empty when it is gone (the diff then adds it whole)."""
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return ""


def revision_diff(revision: PlanRevision) -> str:
    """The proposal as a unified diff against the playbook file as it is now, for a person
    to apply in git; empty once the file matches it."""
    directory = get_settings().playbook_dir
    path = directory / revision.playbook_file
    return "".join(
        difflib.unified_diff(
            current_text(path).splitlines(keepends=True),
            revision.proposed_text.splitlines(keepends=True),
            fromfile=f"a/{directory.name}/{revision.playbook_file}",
            tofile=f"b/{directory.name}/{revision.playbook_file}",
        )
    )


def revisions_of(session: Session, *, incident: Incident) -> Sequence[PlanRevision]:
    return session.exec(
        select(PlanRevision)
        .where(PlanRevision.incident_id == incident.id)
        .order_by(col(PlanRevision.id))
    ).all()


def _revision(session: Session, incident: Incident, revision_id: int) -> PlanRevision:
    revision = session.get(PlanRevision, revision_id)
    if revision is None or revision.incident_id != incident.id:
        raise NotFound(f"{incident.number} has no playbook revision {revision_id}")
    return revision


def decide_revision(
    session: Session,
    *,
    incident: Incident,
    revision_id: int,
    accept: bool,
    note: str,
    actor: User,
    may_decide: bool,
) -> PlanRevision:
    if not may_decide:
        raise Forbidden(
            f"only the commander of {incident.number} or a duty manager decides a playbook revision"
        )
    _ensure_open(incident)
    revision = _revision(session, incident, revision_id)
    state = RevisionState.accepted if accept else RevisionState.rejected
    if revision.state == state:
        return revision
    if revision.state != RevisionState.proposed:
        raise Conflict(
            f"playbook revision {revision_id} is already {revision.state}", field="state"
        )
    revision.state = state
    revision.decided_by = actor.id
    revision.decided_at = clock.now()
    revision.decision_note = note.strip()
    session.add(revision)
    suffix = f": {revision.decision_note}" if revision.decision_note else ""
    _record(
        session,
        incident,
        REVISION_ACCEPTED if accept else REVISION_REJECTED,
        f"playbook revision {revision.id} of {revision.playbook_key} {state}{suffix}",
        actor.id,
        {
            "revision": revision.id,
            "playbook": revision.playbook_key,
            "note": revision.decision_note,
        },
    )
    return revision


# --- drill requests (安排演练) -------------------------------------------------------------


def request_drill(
    session: Session,
    *,
    incident: Incident,
    playbook_key: str,
    reason: str,
    wanted_by: date,
    revision_id: int | None,
    actor: User,
    may_edit: bool,
) -> DrillRequest:
    """A drill of the playbook, or of an accepted revision of it (the revision names the
    playbook), wanted by a day in the organisation's time zone."""
    _may_write(incident, may_edit, "request a drill")
    _ensure_open(incident)
    get_review(session, incident=incident)
    if revision_id is not None:
        revision = session.get(PlanRevision, revision_id)
        if revision is None or revision.incident_id != incident.id:
            raise Invalid(
                f"{incident.number} has no playbook revision {revision_id}", field="revision"
            )
        if revision.state != RevisionState.accepted:
            raise Invalid(
                f"playbook revision {revision_id} is {revision.state}: a drill is of an "
                "accepted revision",
                field="revision",
            )
        playbook_key = revision.playbook_key
    today = clock.now().astimezone(_zone()).date()
    if wanted_by < today:
        raise Invalid(
            f"wanted_by {wanted_by.isoformat()} is before today ({today})", field="wanted_by"
        )
    request = DrillRequest(
        incident_id=incident.id,
        playbook_key=playbook_key,
        reason=reason.strip(),
        wanted_by=wanted_by,
        revision_id=revision_id,
        requested_by=actor.id,
        requested_at=clock.now(),
    )
    session.add(request)
    session.flush()
    _record(
        session,
        incident,
        DRILL_REQUESTED,
        f"drill {request.id} of {playbook_key} requested by {wanted_by}: {request.reason}",
        actor.id,
        {
            "request": request.id,
            "playbook": playbook_key,
            "wanted_by": wanted_by.isoformat(),
            "reason": request.reason,
            "revision": revision_id,
        },
    )
    return request


def drill_requests_of(session: Session, *, incident: Incident) -> Sequence[DrillRequest]:
    return session.exec(
        select(DrillRequest)
        .where(DrillRequest.incident_id == incident.id)
        .order_by(col(DrillRequest.id))
    ).all()


def cancel_drill_request(
    session: Session, *, incident: Incident, request_id: int, actor: User, may_edit: bool
) -> DrillRequest:
    _may_write(incident, may_edit, "cancel a drill request")
    request = session.get(DrillRequest, request_id)
    if request is None or request.incident_id != incident.id:
        raise NotFound(f"{incident.number} has no drill request {request_id}")
    if request.state == DrillRequestState.cancelled:
        return request
    if request.state != DrillRequestState.requested:
        raise Conflict(
            f"drill request {request_id} is {request.state}: the drill is cancelled there",
            field="state",
        )
    request.state = DrillRequestState.cancelled
    request.cancelled_by = actor.id
    request.cancelled_at = clock.now()
    session.add(request)
    _record(
        session,
        incident,
        DRILL_CANCELLED,
        f"drill request {request.id} of {request.playbook_key} cancelled",
        actor.id,
        {"request": request.id, "playbook": request.playbook_key},
    )
    return request


def open_drill_requests(session: Session) -> Sequence[DrillRequest]:
    """Drill requests no exercise has been scheduled for yet, the most pressing first: for
    the drills to take up."""
    return session.exec(
        select(DrillRequest)
        .where(DrillRequest.state == DrillRequestState.requested)
        .order_by(col(DrillRequest.wanted_by), col(DrillRequest.id))
    ).all()


def mark_drill_request_scheduled(
    session: Session, *, request_id: int, scheduled_for: datetime, actor_id: int | None = None
) -> DrillRequest:
    """The drills scheduled an exercise for the request (or moved it); on the timeline of the
    incident whose review asked for it. A cancelled request is not scheduled."""
    request = session.exec(
        select(DrillRequest).where(DrillRequest.id == request_id).with_for_update()
    ).first()
    if request is None:
        raise NotFound(f"no drill request {request_id}")
    if request.state == DrillRequestState.cancelled:
        raise Conflict(f"drill request {request_id} was cancelled", field="state")
    if request.scheduled_for == scheduled_for:
        return request
    request.state = DrillRequestState.scheduled
    request.scheduled_for = scheduled_for
    request.scheduled_at = clock.now()
    session.add(request)
    incident = session.get_one(Incident, request.incident_id)
    _record(
        session,
        incident,
        DRILL_SCHEDULED,
        f"drill request {request.id} of {request.playbook_key} scheduled for "
        f"{scheduled_for.isoformat()}",
        actor_id,
        {
            "request": request.id,
            "playbook": request.playbook_key,
            "at": scheduled_for.isoformat(),
        },
    )
    return request


DRILL_UNSCHEDULED = "postmortem.drill_unscheduled"


def reopen_drill_request(
    session: Session, *, request_id: int, actor_id: int | None = None
) -> DrillRequest:
    """The drill scheduled for the request was cancelled on the drill calendar: the request
    is open again, for another drill to answer it, and the incident's timeline says so."""
    request = session.exec(
        select(DrillRequest).where(DrillRequest.id == request_id).with_for_update()
    ).first()
    if request is None:
        raise NotFound(f"no drill request {request_id}")
    if request.state != DrillRequestState.scheduled:
        return request
    request.state, request.scheduled_for, request.scheduled_at = (
        DrillRequestState.requested,
        None,
        None,
    )
    session.add(request)
    _record(
        session,
        session.get_one(Incident, request.incident_id),
        DRILL_UNSCHEDULED,
        f"the drill scheduled for drill request {request.id} of {request.playbook_key} was "
        "cancelled; the request is open again",
        actor_id,
        {"request": request.id, "playbook": request.playbook_key},
    )
    return request
