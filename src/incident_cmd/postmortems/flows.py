"""The review as people take it up, across domains: the incident says who holds which seat
and moves the status; paging, campaigns, statements and tickets give the figures."""

import statistics
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlmodel import Session, col, func, select

from incident_cmd import clock
from incident_cmd.auth import service as auth_service
from incident_cmd.auth.models import Role, User
from incident_cmd.campaigns import service as campaign_service
from incident_cmd.campaigns.models import Campaign, Delivery
from incident_cmd.campaigns.schemas import CampaignCounts
from incident_cmd.errors import Invalid, NotFound
from incident_cmd.i18n import Locale
from incident_cmd.incidents import service as incident_service
from incident_cmd.incidents.models import Incident, IncidentStatus, TaskStatus
from incident_cmd.incidents.schemas import StatusChange
from incident_cmd.paging import mobilisation
from incident_cmd.paging.models import PageStatus
from incident_cmd.playbooks.service import PlaybookRegistry
from incident_cmd.postmortems import (
    drill_requests,
    followups,
    meetings,
    quarters,
    revisions,
    service,
)
from incident_cmd.postmortems.models import (
    DrillRequest,
    FollowUp,
    FollowUpState,
    PlanRevision,
    Review,
    Section,
)
from incident_cmd.postmortems.schemas import (
    CauseGroup,
    ChecklistItem,
    DrillRequestCreate,
    DrillRequestRead,
    Figures,
    FollowUpCreate,
    FollowUpRead,
    HourCount,
    MeetingRead,
    MonthFigures,
    OpenFollowUp,
    PlanRevisionCreate,
    PlanRevisionRead,
    QuarterIncident,
    Quarterly,
    Rate,
    ReviewRead,
    SeatFigure,
    StarredEntry,
)
from incident_cmd.statements.models import Statement, StatementStatus
from incident_cmd.tickets.models import SlaTimer, Ticket
from incident_cmd.timeline import service as timeline

# Whoever sits on the roster writes the review with the duty managers (the commander
# included); the commander or a duty manager approves it.
EDITOR_ROLES = (Role.duty_manager,)


@dataclass(frozen=True)
class Permissions:
    edit: bool
    approve: bool


def permissions(session: Session, *, incident: Incident, actor: User) -> Permissions:
    seated = incident_service.current_roster(session, incident=incident)
    on_roster = any(seat.user_id == actor.id for seat in seated)
    commands = incident_service.holds_role(
        session, incident=incident, user=actor, roles={incident_service.COMMANDER_ROLE}
    )
    manager = actor.role in EDITOR_ROLES
    return Permissions(edit=manager or on_roster, approve=manager or commands)


def enter_review(session: Session, *, incident: Incident, actor: User, note: str = "") -> Review:
    """A resolved incident goes on into review at once (the status machine's next step), with
    its checklist; one moved back to review (from closed) takes its review up again."""
    if incident.status == IncidentStatus.resolved:
        incident_service.transition(
            session,
            incident=incident,
            change=StatusChange(status=IncidentStatus.in_review, note=note),
            actor=actor,
        )
    return service.start(
        session,
        incident=incident,
        playbook=incident_service.playbook_of(session, incident),
        actor=actor,
    )


def edit_section(
    session: Session, *, incident_id: int, section: Section, text: str, actor: User
) -> Review:
    incident = incident_service.get_incident(session, incident_id=incident_id)
    may = permissions(session, incident=incident, actor=actor)
    return service.edit_section(
        session, incident=incident, section=section, text=text, actor=actor, may_edit=may.edit
    )


def approve(session: Session, *, incident_id: int, note: str, actor: User) -> Review:
    incident = incident_service.get_incident(session, incident_id=incident_id)
    may = permissions(session, incident=incident, actor=actor)
    return service.approve(
        session, incident=incident, note=note, actor=actor, may_approve=may.approve
    )


def add_followup(
    session: Session, *, incident_id: int, data: FollowUpCreate, actor: User
) -> FollowUp:
    incident = incident_service.get_incident(session, incident_id=incident_id)
    may = permissions(session, incident=incident, actor=actor)
    try:
        owner = auth_service.get_user_by_username(session, username=data.owner)
    except NotFound as exc:
        raise Invalid(exc.message, field="owner") from None
    return followups.add_followup(
        session,
        incident=incident,
        title=data.title,
        owner=owner,
        due_on=data.due_on,
        actor=actor,
        may_edit=may.edit,
    )


def complete_followup(
    session: Session, *, incident_id: int, followup_id: int, note: str, actor: User
) -> FollowUp:
    incident = incident_service.get_incident(session, incident_id=incident_id)
    may = permissions(session, incident=incident, actor=actor)
    return followups.complete_followup(
        session,
        incident=incident,
        followup_id=followup_id,
        note=note,
        actor=actor,
        may_edit=may.edit,
    )


# --- the figures -----------------------------------------------------------------------------


def _seconds(start: datetime | None, end: datetime | None) -> int | None:
    if start is None or end is None:
        return None
    return int((end - start).total_seconds())


def _rate(count: int, messages: int) -> Rate:
    return Rate(count=count, rate=round(count / messages, 4) if messages else None)


def _hour(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def complaint_curve(created: Sequence[datetime]) -> list[HourCount]:
    """Linked complaints per hour, every hour from the first to the last (none left out)."""
    if not created:
        return []
    counts = Counter(_hour(moment) for moment in created)
    hour, last = min(counts), max(counts)
    curve = []
    while hour <= last:
        curve.append(HourCount(hour=hour, count=counts.get(hour, 0)))
        hour += timedelta(hours=1)
    return curve


def figures(session: Session, *, incident: Incident) -> Figures:
    """Detection counts from the first complaint linked to the incident; the rest from the
    declaration. Rates are of the messages the incident's campaigns made, cancelled ones left
    out (they were never meant to go): delivered, failed (failed or undelivered) and opted out
    (suppressed: the recipient had unsubscribed or replied STOP)."""
    declared = incident.declared_at
    created = list(
        session.exec(
            select(Ticket.created_at)
            .where(Ticket.incident_id == incident.id)
            .order_by(col(Ticket.created_at))
        )
    )
    first_complaint = created[0] if created else None
    # Declared before any complaint came: nothing to detect from.
    to_detect = _seconds(first_complaint, declared)
    if to_detect is not None and to_detect < 0:
        to_detect = None
    paged = mobilisation.mobilisation(session, incident=incident)
    seats = [
        SeatFigure(
            role=figure.role,
            slot=figure.slot,
            seconds_to_ack=figure.seconds_to_ack,
            target_seconds=figure.target_seconds,
            within_target=figure.within_target,
        )
        for figure in paged.roles
        if figure.status != PageStatus.cancelled or figure.acknowledged_at is not None
    ]
    campaigns = session.exec(select(Campaign).where(Campaign.incident_id == incident.id)).all()
    totals = CampaignCounts()
    for campaign in campaigns:
        counts = campaign_service.campaign_counts(session, campaign=campaign)
        for name, value in counts.model_dump().items():
            setattr(totals, name, getattr(totals, name) + value)
    messages = totals.total - totals.cancelled
    first_notice = session.exec(
        select(func.min(Delivery.sent_at))
        .join(Campaign, col(Campaign.id) == Delivery.campaign_id)
        .where(Campaign.incident_id == incident.id)
    ).one()
    first_statement = session.exec(
        select(func.min(Statement.published_at)).where(
            Statement.incident_id == incident.id, Statement.status == StatementStatus.published
        )
    ).one()
    timers = session.exec(
        select(SlaTimer)
        .join(Ticket, col(Ticket.id) == SlaTimer.ticket_id)
        .where(Ticket.incident_id == incident.id)
    ).all()
    # A target is decided once met (in time or late) or breached.
    decided = [timer for timer in timers if timer.met_at is not None or timer.stage >= 2]
    met = sum(1 for timer in decided if timer.met_in_time)
    paid = [
        amount
        for amount in session.exec(
            select(Ticket.compensation_amount).where(
                Ticket.incident_id == incident.id, col(Ticket.compensation_amount) > 0
            )
        )
        if amount is not None
    ]
    return Figures(
        first_complaint_at=first_complaint,
        seconds_to_detect=to_detect,
        seats=seats,
        seconds_to_full_roster=paged.seconds_to_full_roster,
        first_notice_at=first_notice,
        seconds_to_first_notice=_seconds(declared, first_notice),
        first_statement_at=first_statement,
        seconds_to_first_statement=_seconds(declared, first_statement),
        seconds_to_resolution=_seconds(declared, incident.resolved_at),
        messages=messages,
        delivered=_rate(totals.delivered, messages),
        failed=_rate(totals.failed + totals.undelivered, messages),
        opted_out=_rate(totals.suppressed, messages),
        complaints=len(created),
        complaint_curve=complaint_curve(created),
        sla_targets_decided=len(decided),
        sla_targets_met=met,
        sla_attainment=round(met / len(decided), 4) if decided else None,
        compensation_tickets=len(paid),
        compensation_total=round(sum(paid), 2),
    )


# --- the whole review ------------------------------------------------------------------------


def _pick(texts: dict[str, str], locale: str) -> str:
    return texts.get(locale) or texts.get(Locale.en) or next(iter(texts.values()), "")


def review_read(session: Session, *, incident_id: int, locale: str) -> ReviewRead:
    incident = incident_service.get_incident(session, incident_id=incident_id)
    review = service.get_review(session, incident=incident)
    tasks = service.checklist(session, incident=incident)
    holders = {
        seat.role_key: seat.user_id
        for seat in reversed(incident_service.current_roster(session, incident=incident))
        if seat.user_id is not None
    }
    actions = followups.followups_of(session, incident=incident)
    starred = timeline.starred_events(session, subject_type=service.SUBJECT, subject_id=incident.id)
    proposals = revisions.revisions_of(session, incident=incident)
    drills = drill_requests.drill_requests_of(session, incident=incident)
    names = auth_service.usernames(
        session,
        ids={review.approved_by, review.meeting_set_by}
        | {person for item in proposals for person in (item.proposed_by, item.decided_by)}
        | {item.requested_by for item in drills}
        | set(holders.values())
        | {task.completed_by for task in tasks}
        | {person for item in actions for person in (item.owner_id, item.created_by)}
        | {item.done_by for item in actions}
        | {event.actor_id for event in starred},
    )
    now = clock.now()
    missing = service.missing_for_close(session, incident=incident)
    return ReviewRead(
        incident_id=incident.id,
        number=incident.number,
        status=incident.status,
        started_at=review.started_at,
        sections={section: getattr(review, section) for section in Section},
        checklist=[
            ChecklistItem(
                task_id=task.id,
                key=task.key.removeprefix(service.TASK_PREFIX),
                item=_pick(task.title, locale),
                item_i18n=task.title,
                role=task.role_key,
                owner=names.of(holders.get(task.role_key)),
                due_at=task.due_at,
                done=task.status == TaskStatus.done,
                overdue=task.status == TaskStatus.open and task.due_at <= now,
                completed_at=task.completed_at,
                completed_by=names.of(task.completed_by),
            )
            for task in tasks
        ],
        checklist_complete=all(task.status == TaskStatus.done for task in tasks),
        approved_at=review.approved_at,
        approved_by=names.of(review.approved_by),
        closable=not missing and incident.status == IncidentStatus.in_review,
        missing=missing,
        starred=[
            StarredEntry(
                id=event.id,
                at=event.at,
                kind=event.kind,
                summary=event.summary,
                actor=names.of(event.actor_id),
            )
            for event in starred
        ],
        followups=[
            FollowUpRead(
                id=item.id,
                title=item.title,
                owner=names[item.owner_id],
                due_on=item.due_on,
                due_at=item.due_at,
                state=item.state,
                overdue=item.state == FollowUpState.open and item.due_at <= now,
                reminders=item.reminders,
                created_by=names[item.created_by],
                created_at=item.created_at,
                done_at=item.done_at,
                done_by=names.of(item.done_by),
            )
            for item in actions
        ],
        figures=figures(session, incident=incident),
        meeting=MeetingRead(
            within_working_days=incident_service.playbook_of(
                session, incident
            ).review_meeting_within,
            by=review.meeting_by,
            at=review.meeting_at,
            set_by=names.of(review.meeting_set_by),
            late=review.meeting_at is None
            and review.meeting_by is not None
            and now >= review.meeting_by,
            attendees=[person.username for person in attendees(session, incident=incident)],
        ),
        revisions=[revision_read(item, names) for item in proposals],
        drill_requests=[drill_request_read(item, names) for item in drills],
    )


def revision_read(revision: PlanRevision, names: auth_service.Usernames) -> PlanRevisionRead:
    return PlanRevisionRead(
        id=revision.id,
        playbook=revision.playbook_key,
        file=revision.playbook_file,
        finding=revision.finding,
        state=revision.state,
        proposed_by=names[revision.proposed_by],
        proposed_at=revision.proposed_at,
        decided_by=names.of(revision.decided_by),
        decided_at=revision.decided_at,
        decision_note=revision.decision_note,
        diff=revisions.revision_diff(revision),
        text=revision.proposed_text,
    )


def drill_request_read(request: DrillRequest, names: auth_service.Usernames) -> DrillRequestRead:
    return DrillRequestRead(
        id=request.id,
        incident_id=request.incident_id,
        playbook=request.playbook_key,
        reason=request.reason,
        wanted_by=request.wanted_by,
        revision=request.revision_id,
        state=request.state,
        requested_by=names[request.requested_by],
        requested_at=request.requested_at,
        scheduled_for=request.scheduled_for,
    )


# --- the review meeting (复盘会) -----------------------------------------------------------


def attendees(session: Session, *, incident: Incident) -> list[User]:
    """Everyone seated on the roster, each once, in seat order."""
    seats = incident_service.current_roster(session, incident=incident)
    ordered = list(dict.fromkeys(seat.user_id for seat in seats if seat.user_id is not None))
    users = {
        user.id: user
        for user in session.exec(select(User).where(col(User.id).in_(ordered)))
        if user.active
    }
    return [users[user_id] for user_id in ordered if user_id in users]


def _invite(
    session: Session,
    *,
    incident: Incident,
    review: Review,
    people: Sequence[User],
    reminder: bool,
) -> list[str]:
    """The invitation (keyed by the setting, so a moved meeting invites again) or the
    reminder before it."""
    assert review.meeting_at is not None
    told = []
    for person in people:
        if service.tell(
            session,
            incident=incident,
            user=person,
            template="review_meeting",
            source=meetings.MEETING_SOURCE,
            source_id=review.id,
            step=f"{'reminder' if reminder else 'invite'}{review.meeting_sets}",
            label=f"review meeting of {incident.number}",
            context={
                "at": review.meeting_at,
                "moved": review.meeting_sets > 1,
                "reminder": reminder,
            },
        ):
            told.append(person.username)
    return told


def set_meeting(session: Session, *, incident_id: int, meeting_at: datetime, actor: User) -> Review:
    """The commander or a duty manager sets the meeting; the roster is invited by SMS and
    email with the time on each person's clock (the messaging layer sends no attachments, so
    no calendar file), once each time the time changes."""
    incident = incident_service.get_incident(session, incident_id=incident_id)
    may = permissions(session, incident=incident, actor=actor)
    people = attendees(session, incident=incident)
    review, changed = meetings.set_meeting(
        session,
        incident=incident,
        at=meeting_at,
        attendees=[person.username for person in people],
        actor=actor,
        may_set=may.approve,
    )
    if changed:
        _invite(
            session,
            incident=incident,
            review=review,
            people=people,
            reminder=False,
        )
    return review


def duty_managers(session: Session) -> list[User]:
    return [
        person
        for person in auth_service.list_users(session)
        if person.active and person.role == Role.duty_manager
    ]


def sweep_meetings(session: Session) -> int:
    """Sweep: reminds the attendees before each meeting, and tells the duty managers of each
    window that ended with no meeting set; once each, across workers (the reviews are
    claimed, the messages keyed by step)."""
    reviews = meetings.due_meetings(session)
    for review in reviews:
        incident = incident_service.get_incident(session, incident_id=review.incident_id)
        if incident.status == IncidentStatus.closed:
            # Closed before its meeting came: nobody is to be called to it any more.
            meetings.meeting_swept(session, incident=incident, review=review, told=None)
            continue
        if review.meeting_at is None:
            told = [
                person.username
                for person in duty_managers(session)
                if service.tell(
                    session,
                    incident=incident,
                    user=person,
                    template="review_meeting_missed",
                    source=meetings.MEETING_SOURCE,
                    source_id=review.id,
                    step="missed",
                    label=f"review meeting of {incident.number} not set",
                    context={"by": review.meeting_by},
                )
            ]
        else:
            told = _invite(
                session,
                incident=incident,
                review=review,
                people=attendees(session, incident=incident),
                reminder=True,
            )
        meetings.meeting_swept(session, incident=incident, review=review, told=told)
    return len(reviews)


# --- plan revisions and drill requests -----------------------------------------------------


def propose_revision(
    session: Session,
    *,
    incident_id: int,
    data: PlanRevisionCreate,
    registry: PlaybookRegistry,
    actor: User,
) -> PlanRevision:
    incident = incident_service.get_incident(session, incident_id=incident_id)
    may = permissions(session, incident=incident, actor=actor)
    try:
        current = registry.get(data.playbook)
    except NotFound as exc:
        raise Invalid(exc.message, field="playbook") from None
    return revisions.propose_revision(
        session,
        incident=incident,
        current=current,
        finding=data.finding,
        text=data.text,
        actor=actor,
        may_edit=may.edit,
    )


def decide_revision(
    session: Session, *, incident_id: int, revision_id: int, accept: bool, note: str, actor: User
) -> PlanRevision:
    incident = incident_service.get_incident(session, incident_id=incident_id)
    may = permissions(session, incident=incident, actor=actor)
    return revisions.decide_revision(
        session,
        incident=incident,
        revision_id=revision_id,
        accept=accept,
        note=note,
        actor=actor,
        may_decide=may.approve,
    )


def request_drill(
    session: Session,
    *,
    incident_id: int,
    data: DrillRequestCreate,
    registry: PlaybookRegistry,
    actor: User,
) -> DrillRequest:
    incident = incident_service.get_incident(session, incident_id=incident_id)
    may = permissions(session, incident=incident, actor=actor)
    playbook_key = data.playbook or incident_service.playbook_of(session, incident).key
    if data.revision is None:
        try:
            registry.get(playbook_key)
        except NotFound as exc:
            raise Invalid(exc.message, field="playbook") from None
    return drill_requests.request_drill(
        session,
        incident=incident,
        playbook_key=playbook_key,
        reason=data.reason,
        wanted_by=data.wanted_by,
        revision_id=data.revision,
        actor=actor,
        may_edit=may.edit,
    )


def cancel_drill_request(
    session: Session, *, incident_id: int, request_id: int, actor: User
) -> DrillRequest:
    incident = incident_service.get_incident(session, incident_id=incident_id)
    may = permissions(session, incident=incident, actor=actor)
    return drill_requests.cancel_drill_request(
        session, incident=incident, request_id=request_id, actor=actor, may_edit=may.edit
    )


# --- the quarterly review meeting (售后复盘会) ------------------------------------------------


def _median(values: list[int | None]) -> int | None:
    known = [value for value in values if value is not None]
    return int(statistics.median(known)) if known else None


def _month(month: str, incidents: Sequence[Figures]) -> MonthFigures:
    messages = sum(item.messages for item in incidents)
    decided = sum(item.sla_targets_decided for item in incidents)
    met = sum(item.sla_targets_met for item in incidents)
    return MonthFigures(
        month=month,
        incidents=len(incidents),
        seconds_to_detect=_median([item.seconds_to_detect for item in incidents]),
        seconds_to_ack=_median([seat.seconds_to_ack for item in incidents for seat in item.seats]),
        seconds_to_full_roster=_median([item.seconds_to_full_roster for item in incidents]),
        seconds_to_first_notice=_median([item.seconds_to_first_notice for item in incidents]),
        seconds_to_first_statement=_median([item.seconds_to_first_statement for item in incidents]),
        seconds_to_resolution=_median([item.seconds_to_resolution for item in incidents]),
        messages=messages,
        delivered=_rate(sum(item.delivered.count for item in incidents), messages),
        failed=_rate(sum(item.failed.count for item in incidents), messages),
        opted_out=_rate(sum(item.opted_out.count for item in incidents), messages),
        complaints=sum(item.complaints for item in incidents),
        sla_targets_decided=decided,
        sla_targets_met=met,
        sla_attainment=round(met / decided, 4) if decided else None,
        compensation_total=round(sum(item.compensation_total for item in incidents), 2),
    )


def quarterly(session: Session, *, quarter: str) -> Quarterly:
    """The quarter's incidents (declared in it, in the organisation's time zone), drills left
    out: seed 003 “每季度召开‘售后复盘会’,结合NPS调研、投诉数据、工单分析,识别流程痛点”. Their
    counts, each month's figures, the follow-ups still open, and the causes that recur: by
    incident kind, and by the cause tags the reviews' causes sections name (``#tag``)."""
    start, end = quarters.quarter_bounds(quarter)
    declared = session.exec(
        select(Incident)
        .where(col(Incident.declared_at) >= start, col(Incident.declared_at) < end)
        .order_by(col(Incident.declared_at), col(Incident.id))
    ).all()
    incidents = [incident for incident in declared if not incident.drill]
    ids = [incident.id for incident in incidents]
    causes = {
        review.incident_id: review.causes
        for review in session.exec(select(Review).where(col(Review.incident_id).in_(ids)))
    }
    tags = {incident.id: quarters.cause_tags(causes.get(incident.id, "")) for incident in incidents}
    figured = {incident.id: figures(session, incident=incident) for incident in incidents}
    by_month: dict[str, list[Figures]] = defaultdict(list)
    for incident in incidents:
        by_month[quarters.month_of(incident.declared_at)].append(figured[incident.id])
    followups = session.exec(
        select(FollowUp)
        .where(col(FollowUp.incident_id).in_(ids), FollowUp.state == FollowUpState.open)
        .order_by(col(FollowUp.due_at), col(FollowUp.id))
    ).all()
    owners = auth_service.usernames(session, ids={item.owner_id for item in followups})
    numbers = {incident.id: incident.number for incident in incidents}
    by_kind: dict[str, list[str]] = defaultdict(list)
    by_tag: dict[str, list[str]] = defaultdict(list)
    for incident in incidents:
        by_kind[incident.kind].append(incident.number)
        for tag in tags[incident.id]:
            by_tag[tag].append(incident.number)
    now = clock.now()

    def groups(grouped: dict[str, list[str]]) -> list[CauseGroup]:
        # The most frequent first; ties by name, so the report reads the same every time.
        ordered = sorted(grouped.items(), key=lambda item: (-len(item[1]), item[0]))
        return [CauseGroup(key=key, incidents=members) for key, members in ordered]

    return Quarterly(
        quarter=quarter,
        starts_at=start,
        ends_at=end,
        incidents=[
            QuarterIncident(
                id=incident.id,
                number=incident.number,
                title=incident.title,
                kind=incident.kind,
                playbook=incident.playbook_key,
                severity=incident.severity,
                status=incident.status,
                declared_at=incident.declared_at,
                month=quarters.month_of(incident.declared_at),
                cause_tags=tags[incident.id],
            )
            for incident in incidents
        ],
        drills_excluded=len(declared) - len(incidents),
        by_kind=dict(Counter(incident.kind for incident in incidents).most_common()),
        by_severity=dict(sorted(Counter(incident.severity for incident in incidents).items())),
        months=[_month(month, by_month[month]) for month in quarters.months_of(quarter)],
        open_followups=[
            OpenFollowUp(
                incident_id=item.incident_id,
                number=numbers[item.incident_id],
                title=item.title,
                owner=owners[item.owner_id],
                due_on=item.due_on,
                overdue=item.due_at <= now,
            )
            for item in followups
        ],
        causes_by_kind=groups(by_kind),
        cause_tags=groups(by_tag),
        untagged=[incident.number for incident in incidents if not tags[incident.id]],
    )
