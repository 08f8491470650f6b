"""A drill across domains: starting declares the drill incident from the scenario's playbook
(paging its roster, marked as a drill, or nobody) and makes its synthetic customers; each
inject acts through the domain it concerns: complaints and SMS replies from the synthetic
customers, an inquiry as a task, new facts on the timeline and in the scope, a seat that does
not answer its page. Nothing a drill does reaches a real customer (see tickets.intake,
campaigns' audiences and the direct lane's sink)."""

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import lru_cache
from pathlib import Path

from sqlmodel import Session, col, select

from incident_cmd import clock
from incident_cmd.auth import service as auth_service
from incident_cmd.auth.models import Role, User
from incident_cmd.auth.service import Usernames
from incident_cmd.campaigns import inbound as campaign_inbound
from incident_cmd.config import FileStamp, directory_stamp, get_settings
from incident_cmd.customers import service as customer_service
from incident_cmd.customers.models import Customer
from incident_cmd.drills import calendar, evaluation, scoring, service
from incident_cmd.drills.evaluation_models import (
    DrillEvaluator,
    DrillRating,
    HotWashNote,
    Improvement,
)
from incident_cmd.drills.loader import LoadedScenario, load_directory
from incident_cmd.drills.models import (
    DrillInject,
    DrillRun,
    DrillSchedule,
    InjectState,
    RunState,
    ScheduleState,
)
from incident_cmd.drills.schema import (
    Complaints,
    FactsChange,
    Inject,
    Inquiry,
    Message,
    Scenario,
    SmsReplies,
    Unresponsive,
)
from incident_cmd.errors import Conflict, Invalid, NotFound
from incident_cmd.i18n import Locale
from incident_cmd.incidents import flows as incident_flows
from incident_cmd.incidents import service as incident_service
from incident_cmd.incidents.models import Incident, RosterAssignment
from incident_cmd.incidents.schemas import IncidentDeclare, Scope
from incident_cmd.messaging import direct
from incident_cmd.messaging.channels import ChannelName
from incident_cmd.messaging.templates import Rendered, templates_for
from incident_cmd.paging import answers as paging_answers
from incident_cmd.playbooks.schema import Playbook
from incident_cmd.playbooks.service import PlaybookRegistry
from incident_cmd.postmortems import drill_requests as postmortem_drill_requests
from incident_cmd.postmortems import followups as postmortem_followups
from incident_cmd.postmortems.models import DrillRequest, FollowUp
from incident_cmd.tickets import intake
from incident_cmd.tickets.models import IntakeChannel
from incident_cmd.tickets.schemas import TicketCreate
from incident_cmd.timeline import service as timeline
from incident_cmd.timeline.models import TimelineEvent

SYNTHETIC_NAMES = ("演练客户", "Drill customer")
SOURCE = "drill"


def scenarios(playbooks: PlaybookRegistry) -> dict[str, LoadedScenario]:
    """The scenario files, read again whenever one changes: a trainer edits them between
    drills, and the calendar's sweeps ask for them every few seconds."""
    directory = get_settings().drill_dir
    return dict(_read_scenarios(directory, playbooks, directory_stamp(directory)))


@lru_cache(maxsize=4)
def _read_scenarios(
    directory: Path, playbooks: PlaybookRegistry, stamp: tuple[tuple[str, FileStamp], ...]
) -> dict[str, LoadedScenario]:
    return load_directory(directory, playbooks)


def _series(incident: Incident) -> str:
    return f"drill-{incident.number}"


def start(
    session: Session, *, playbooks: PlaybookRegistry, scenario_key: str, actor: User
) -> DrillRun:
    loaded = scenarios(playbooks).get(scenario_key)
    if loaded is None:
        raise NotFound(f"no drill scenario {scenario_key!r}", field="scenario")
    scenario = loaded.scenario
    locale = Locale(actor.locale)
    incident = incident_flows.declare(
        session,
        registry=playbooks,
        data=IncidentDeclare(
            playbook=scenario.playbook,
            title=scenario.title.zh_CN if locale == Locale.zh_CN else scenario.title.en,
            severity=scenario.severity,
            scope=Scope(**scenario.scope.model_dump()),
            drill=True,
        ),
        actor=actor,
        page=scenario.page_responders,
    )
    scope = scenario.scope
    bought = [
        customer_service.SyntheticPurchase(product, batch)
        for product in scope.products
        for batch in ([*scope.batches] if scope.batches else [None])
    ]
    customer_service.make_synthetic(
        session,
        series=_series(incident),
        count=scenario.customers,
        names=SYNTHETIC_NAMES,
        purchases=bought,
        regions=scope.regions,
    )
    return service.create_run(session, loaded=loaded, incident_id=incident.id, controller=actor)


def fire_due_injects(session: Session) -> int:
    """Sweep: every due inject of a running drill, once across workers; a complaint wave
    makes the complaints whose moment has come and waits for the rest."""
    claimed = service.claim_due(session)
    playbooks = PlaybookRegistry.from_settings() if claimed else None
    for inject in claimed:
        run = service.get_run(session, run_id=inject.run_id)
        _fire(session, run=run, inject=inject, actor=None, playbooks=playbooks)
    return len(claimed)


def fire_now(
    session: Session, *, playbooks: PlaybookRegistry, run: DrillRun, key: str, actor: User
) -> DrillInject:
    """The controller fires an inject before its time (or hurries a wave to its end)."""
    if run.state != RunState.running:
        raise Conflict(f"drill run {run.id} is {run.state}: injects fire while it runs")
    inject = service.lock_inject(session, run=run, key=key)
    if inject.state not in service.WAITING:
        raise Conflict(f"inject {key!r} is {inject.state}", field="inject")
    inject.due_at = clock.now()
    _fire(session, run=run, inject=inject, actor=actor, playbooks=playbooks, hurry=True)
    return inject


def _fire(
    session: Session,
    *,
    run: DrillRun,
    inject: DrillInject,
    actor: User | None,
    playbooks: PlaybookRegistry | None,
    hurry: bool = False,
) -> None:
    if inject.state == InjectState.pending:
        planned = service.mark_fired(session, run=run, inject=inject, actor=actor)
    else:
        planned = service.inject_of(run, inject)
    incident = incident_service.get_incident(session, incident_id=run.incident_id)
    action = planned.action
    if isinstance(action, Complaints):
        _complaints(session, run, incident, inject, action, playbooks, hurry)
        return
    if isinstance(action, SmsReplies):
        _sms_replies(session, run, incident, inject, action, playbooks)
    elif isinstance(action, Inquiry):
        _inquiry(session, incident, inject, action)
    elif isinstance(action, FactsChange):
        _facts_change(session, run, incident, planned, action)
    elif isinstance(action, Unresponsive):
        _unresponsive(session, run, action)
    elif isinstance(action, Message):
        told = _message(session, incident, inject, action)
        service.record(
            session,
            run=run,
            kind="drill.message",
            summary=f"to the participants: {action.text.en}",
            actor_id=None,
            data={"text": action.text.model_dump(by_alias=True), "told": told},
        )
    service.finish(inject)
    session.add(inject)


def _customers(session: Session, incident: Incident) -> list[Customer]:
    return customer_service.synthetic_customers(session, series=_series(incident))


def _registry(playbooks: PlaybookRegistry | None) -> PlaybookRegistry:
    return playbooks or PlaybookRegistry.from_settings()


def _complaints(
    session: Session,
    run: DrillRun,
    incident: Incident,
    inject: DrillInject,
    action: Complaints,
    playbooks: PlaybookRegistry | None,
    hurry: bool,
) -> None:
    """The complaints whose moment has come (all that are left when ``hurry``), each from the
    next synthetic customer in turn; ``due_at`` moves to the next one's moment."""
    customers = _customers(session, incident)
    spacing = timedelta(minutes=action.over_minutes) / action.count
    now = clock.now()
    while inject.done < action.count and (hurry or inject.due_at <= now):
        customer = customers[inject.done % len(customers)]
        intake.take_in(
            session,
            data=TicketCreate(
                customer_name=customer.name,
                phone=customer.phone,
                locale=customer.locale,
                channel=IntakeChannel.phone,
                category=action.category,
                product_model=action.product,
                batch=action.batch,
                region=action.region or customer.region,
                description=action.texts[inject.done % len(action.texts)],
            ),
            actor=None,
            registry=_registry(playbooks),
            drill=incident,
        )
        inject.done += 1
        inject.due_at += spacing
    if inject.done >= action.count:
        service.finish(inject)
        service.record(
            session,
            run=run,
            kind="drill.wave_done",
            summary=f"inject {inject.key}: all {action.count} synthetic complaints taken in",
            actor_id=None,
            data={"inject": inject.key, "count": action.count},
        )
    session.add(inject)


def _sms_replies(
    session: Session,
    run: DrillRun,
    incident: Incident,
    inject: DrillInject,
    action: SmsReplies,
    playbooks: PlaybookRegistry | None,
) -> None:
    """Each text as a synthetic customer's inbound SMS, filed as a real one is (keywords,
    reply options, free text becoming a complaint), but answered through the sink and any
    complaint made a drill complaint."""
    customers = _customers(session, incident)
    tickets = 0
    for position, text in enumerate(action.texts):
        customer = customers[position % len(customers)]
        received = campaign_inbound.handle_inbound(
            session,
            provider_id=f"drill-{inject.id}-{position}",
            from_address=customer.phone or "",
            to_address=SOURCE,
            body=text,
        )
        if received.answer:
            direct.enqueue(
                session,
                key=f"drill-{inject.id}-{position}-answer",
                source=SOURCE,
                source_id=inject.id,
                subject=("customer", customer.id),
                label="answer to a drill SMS",
                channel=ChannelName.sms,
                address=customer.phone or "",
                locale=customer.locale,
                rendered=Rendered(body=received.answer),
                drill=True,
                customer_id=customer.id,
            )
        if received.left_for_tickets:
            ticket = intake.take_in(
                session,
                data=TicketCreate(
                    customer_name=customer.name,
                    phone=customer.phone,
                    locale=customer.locale,
                    channel=IntakeChannel.sms,
                    description=text,
                ),
                actor=None,
                registry=_registry(playbooks),
                drill=incident,
            )
            received.message.ticket_id = ticket.id
            session.add(received.message)
            tickets += 1
    service.record(
        session,
        run=run,
        kind="drill.sms_replies",
        summary=f"inject {inject.key}: {len(action.texts)} SMS from synthetic customers, "
        f"{tickets} became complaints",
        actor_id=None,
        data={"inject": inject.key, "count": len(action.texts), "tickets": tickets},
    )


def _message(session: Session, incident: Incident, inject: DrillInject, action: Message) -> int:
    """Each person seated on the drill's roster gets the controller's message by SMS and email,
    in their language, marked as a drill; keyed by the inject, so firing twice tells once.
    The number of people told."""
    templates = templates_for(get_settings().template_dir)
    seated = {
        seat.user_id
        for seat in incident_service.current_roster(session, incident=incident)
        if seat.user_id is not None
    }
    told = 0
    for user_id in sorted(seated):
        person = session.get(User, user_id)
        if person is None or not person.active:
            continue
        context = {
            "organisation": get_settings().organisation_name,
            "number": incident.number,
            "title": incident.title,
            "name": person.display_name,
            "text": action.text.zh_CN if person.locale == Locale.zh_CN else action.text.en,
            "url": f"{get_settings().public_base_url}/incidents/{incident.id}",
        }
        addresses = ((ChannelName.sms, person.phone), (ChannelName.email, person.email))
        for channel, address in addresses:
            if not address:
                continue
            direct.enqueue(
                session,
                key=f"drill-{inject.id}-message-{person.id}-{channel}",
                source=SOURCE,
                source_id=inject.id,
                subject=("incident", incident.id),
                label=f"drill message to {person.username}",
                channel=channel,
                address=address,
                locale=person.locale,
                rendered=templates.render("drill_message", channel, person.locale, context),
                drill=True,
                user_id=person.id,
            )
        told += 1
    return told


def _inquiry(session: Session, incident: Incident, inject: DrillInject, action: Inquiry) -> None:
    who = {"journalist": ("记者", "journalist"), "regulator": ("监管部门", "regulator")}
    zh, en = who[action.source]
    incident_service.add_task(
        session,
        incident=incident,
        key=f"inquiry-{inject.key}"[:64],
        title={
            "zh-CN": f"答复{zh}{action.who}的问询:{action.question.zh_CN}",
            "en": f"Answer the {en} {action.who}: {action.question.en}",
        },
        role_key=action.role,
        due_at=clock.now() + timedelta(minutes=action.due_minutes),
        actor_id=None,
    )


def _facts_change(
    session: Session, run: DrillRun, incident: Incident, planned: Inject, action: FactsChange
) -> None:
    service.record(
        session,
        run=run,
        kind="drill.facts_changed",
        summary=f"new facts: {action.update.en}",
        actor_id=None,
        data={"inject": planned.key, "update": action.update.model_dump(by_alias=True)},
    )
    incident_service.widen_scope(
        session, incident=incident, scope=action.add_scope.model_dump(), actor_id=None
    )


def _unresponsive(session: Session, run: DrillRun, action: Unresponsive) -> None:
    moved = paging_answers.unreachable(
        session,
        incident_id=run.incident_id,
        role_key=action.role,
        reason="drill: the seat holder does not answer",
    )
    run.unresponsive = [*run.unresponsive, action.role]
    session.add(run)
    service.record(
        session,
        run=run,
        kind="drill.unresponsive",
        summary=f"the holder of role {action.role} no longer answers; {moved} open pages "
        "moved up their escalation",
        actor_id=None,
        data={"role": action.role, "pages": moved},
    )


def pause(session: Session, *, run_id: int, actor: User) -> DrillRun:
    return service.pause(
        session, run=service.get_run(session, run_id=run_id, lock=True), actor=actor
    )


def resume(session: Session, *, run_id: int, actor: User) -> DrillRun:
    run = service.get_run(session, run_id=run_id, lock=True)
    return service.resume(session, run=run, actor=actor)


def end(session: Session, *, run_id: int, actor: User) -> Sequence[DrillInject]:
    return service.end(session, run=service.get_run(session, run_id=run_id, lock=True), actor=actor)


# --- evaluation (HSEEP): scores, ratings, the hot wash and the improvement plan --------------


@dataclass(frozen=True)
class Evaluation:
    """Everything the evaluation pages and the after-action report show of one run."""

    run: DrillRun
    incident: Incident
    playbook: Playbook
    scenario: Scenario
    injects: Sequence[DrillInject]
    events: Sequence[TimelineEvent]
    scores: list[scoring.Score]
    ratings: Sequence[DrillRating]
    notes: Sequence[HotWashNote]
    improvements: list[tuple[Improvement, FollowUp]]
    evaluators: Sequence[DrillEvaluator]
    # Everyone who sat on the drill's roster, relieved or not: (role, slot, user id).
    seats: list[tuple[str, int, int]]
    names: Usernames


def evaluate(session: Session, *, run_id: int) -> Evaluation:
    run = service.get_run(session, run_id=run_id)
    incident = incident_service.get_incident(session, incident_id=run.incident_id)
    playbook = incident_service.playbook_of(session, incident)
    injects = service.injects_of(session, run=run)
    events = timeline.events_for(
        session, subject_type=service.INCIDENT_SUBJECT, subject_id=incident.id
    )
    seats = [
        (seat.role_key, seat.slot, seat.user_id)
        for seat in session.exec(
            select(RosterAssignment)
            .where(RosterAssignment.incident_id == incident.id)
            .order_by(col(RosterAssignment.id))
        )
        if seat.user_id is not None
    ]
    ratings = evaluation.ratings_of(session, run=run)
    notes = evaluation.notes_of(session, run=run)
    evaluators = evaluation.evaluators_of(session, run=run)
    items = evaluation.improvements_of(session, run=run)
    followups = {
        item.id: item for item in postmortem_followups.followups_of(session, incident=incident)
    }
    improvements = [(item, followups[item.followup_id]) for item in items]
    names = auth_service.usernames(
        session,
        ids={run.controller_id}
        | {user_id for _, _, user_id in seats}
        | {rating.evaluator_id for rating in ratings}
        | {note.author_id for note in notes}
        | {named.user_id for named in evaluators}
        | {followup.owner_id for _, followup in improvements}
        | {event.actor_id for event in events},
    )
    return Evaluation(
        run=run,
        incident=incident,
        playbook=playbook,
        scenario=service.scenario_of(run),
        injects=injects,
        events=events,
        scores=scoring.score(
            session, run=run, incident=incident, playbook=playbook, injects=injects, events=events
        ),
        ratings=ratings,
        notes=notes,
        improvements=improvements,
        evaluators=evaluators,
        seats=seats,
        names=names,
    )


def may_join_hot_wash(session: Session, *, run: DrillRun, user: User) -> bool:
    """Staff took part in the drill in some seat or desk; a viewer only from its roster."""
    if user.role != Role.viewer:
        return True
    incident = incident_service.get_incident(session, incident_id=run.incident_id)
    return any(
        seat.user_id == user.id
        for seat in incident_service.current_roster(session, incident=incident)
    )


def name_evaluator(session: Session, *, run_id: int, username: str, actor: User) -> None:
    run = service.get_run(session, run_id=run_id)
    try:
        user = auth_service.get_user_by_username(session, username=username.strip())
    except NotFound as exc:
        raise Invalid(exc.message, field="username") from None
    evaluation.name_evaluator(session, run=run, user=user, actor=actor)


def rate(
    session: Session, *, run_id: int, objective_key: str, rating: str, notes: str, actor: User
) -> DrillRating:
    run = service.get_run(session, run_id=run_id)
    return evaluation.rate(
        session, run=run, objective_key=objective_key, rating=rating, notes=notes, actor=actor
    )


def add_hot_wash_note(
    session: Session, *, run_id: int, kind: str, text: str, actor: User
) -> HotWashNote:
    run = service.get_run(session, run_id=run_id)
    return evaluation.add_note(
        session,
        run=run,
        kind=kind,
        text=text,
        actor=actor,
        may_write=may_join_hot_wash(session, run=run, user=actor),
    )


IMPROVEMENT_TITLE_MAX = 500


def add_improvement(
    session: Session,
    *,
    run_id: int,
    title: str,
    owner: str,
    due_on: date,
    objective_key: str | None,
    actor: User,
) -> Improvement:
    """An improvement plan item: a follow-up on the drill incident, owned and due, which the
    follow-up reminder sweep chases until it is done (as a review's follow-ups are)."""
    run = service.get_run(session, run_id=run_id)
    evaluation.check_improvement(session, run=run, objective_key=objective_key, actor=actor)
    title = title.strip()
    if not title:
        raise Invalid("say what is to be improved", field="title")
    if len(title) > IMPROVEMENT_TITLE_MAX:
        raise Invalid(
            f"the title is {len(title)} characters, at most {IMPROVEMENT_TITLE_MAX}",
            field="title",
        )
    try:
        person = auth_service.get_user_by_username(session, username=owner.strip())
    except NotFound as exc:
        raise Invalid(exc.message, field="owner") from None
    incident = incident_service.get_incident(session, incident_id=run.incident_id)
    followup = postmortem_followups.track_followup(
        session, incident=incident, title=title, owner=person, due_on=due_on, actor=actor
    )
    return evaluation.link_improvement(
        session, run=run, followup_id=followup.id, objective_key=objective_key
    )


def complete_improvement(
    session: Session, *, run_id: int, followup_id: int, actor: User
) -> FollowUp:
    """An item of the run's plan done, by its owner or whoever may plan improvements; its
    follow-up stops being reminded."""
    run = service.get_run(session, run_id=run_id)
    if followup_id not in {
        item.followup_id for item in evaluation.improvements_of(session, run=run)
    }:
        raise NotFound(f"drill run {run.id} has no improvement plan item {followup_id}")
    incident = incident_service.get_incident(session, incident_id=run.incident_id)
    return postmortem_followups.complete_followup(
        session,
        incident=incident,
        followup_id=followup_id,
        note="",
        actor=actor,
        may_edit=evaluation.may_rate(session, run=run, user=actor),
    )


# --- the calendar (drills.calendar): what a scheduled drill does to the other domains -----------


def _scenario(playbooks: PlaybookRegistry, key: str) -> LoadedScenario:
    loaded = scenarios(playbooks).get(key)
    if loaded is None:
        raise NotFound(f"no drill scenario {key!r}", field="scenario")
    return loaded


def _name_of(playbooks: PlaybookRegistry) -> Callable[[str], Mapping[str, str]]:
    """A scenario's name in both languages, read from the files once and only if asked; the
    key where the file is gone."""
    read: dict[str, LoadedScenario] = {}

    def name(key: str) -> Mapping[str, str]:
        if not read:
            read.update(scenarios(playbooks))
        loaded = read.get(key)
        return loaded.snapshot["name"] if loaded else {"en": key, "zh-CN": key}

    return name


def schedule_by_cadence(session: Session) -> int:
    """Sweep: the drills each scenario's cadence asks for, scheduled once per occurrence."""
    return calendar.schedule_by_cadence(
        session, scenarios=scenarios(PlaybookRegistry.from_settings())
    )


def remind_scheduled(session: Session) -> int:
    """Sweep: the reminders due a week and a day before each scheduled drill."""
    return calendar.remind_due(session, name_of=_name_of(PlaybookRegistry.from_settings()))


def schedule_drill(
    session: Session,
    *,
    playbooks: PlaybookRegistry,
    scenario_key: str,
    at: datetime,
    controller: User | None,
    participants: Sequence[User],
    actor: User,
    request_id: int | None = None,
) -> DrillSchedule:
    """A drill put on the calendar by hand; for a review's drill request, of a scenario that
    exercises the playbook the request names, and the request marked scheduled."""
    loaded = _scenario(playbooks, scenario_key)
    request = None
    if request_id is not None:
        request = session.get(DrillRequest, request_id)
        if request is None:
            raise NotFound(f"no drill request {request_id}", field="request")
        if request.playbook_key != loaded.scenario.playbook:
            raise Invalid(
                f"drill request {request_id} asks for the {request.playbook_key} playbook; "
                f"scenario {scenario_key} exercises {loaded.scenario.playbook}",
                field="scenario",
            )
    row = calendar.schedule(
        session,
        loaded=loaded,
        at=at,
        controller=controller,
        participants=participants,
        actor=actor,
        request_id=request_id,
    )
    if request is not None:
        postmortem_drill_requests.mark_drill_request_scheduled(
            session, request_id=request.id, scheduled_for=row.at, actor_id=actor.id
        )
    return row


def move_scheduled(
    session: Session,
    *,
    playbooks: PlaybookRegistry,
    schedule_id: int,
    at: datetime,
    controller: User | None,
    participants: Sequence[User],
    actor: User,
) -> DrillSchedule:
    row = calendar.get_schedule(session, schedule_id=schedule_id, lock=True)
    calendar.move(
        session,
        row=row,
        name=_name_of(playbooks)(row.scenario_key),
        at=at,
        controller=controller,
        participants=participants,
        actor=actor,
    )
    if row.request_id is not None:
        postmortem_drill_requests.mark_drill_request_scheduled(
            session, request_id=row.request_id, scheduled_for=row.at, actor_id=actor.id
        )
    return row


def cancel_scheduled(
    session: Session, *, playbooks: PlaybookRegistry, schedule_id: int, actor: User
) -> DrillSchedule:
    """Off the calendar; the review's request it answered is open again."""
    row = calendar.get_schedule(session, schedule_id=schedule_id, lock=True)
    calendar.cancel(session, row=row, name=_name_of(playbooks)(row.scenario_key), actor=actor)
    if row.request_id is not None:
        postmortem_drill_requests.reopen_drill_request(
            session, request_id=row.request_id, actor_id=actor.id
        )
    return row


def start_scheduled(
    session: Session, *, playbooks: PlaybookRegistry, schedule_id: int, actor: User
) -> DrillRun:
    """The scheduled drill starts as any drill does, its starter the controller."""
    row = calendar.get_schedule(session, schedule_id=schedule_id, lock=True)
    if row.state != ScheduleState.scheduled:
        raise Conflict(f"scheduled drill {row.id} is {row.state}", field="state")
    run = start(session, playbooks=playbooks, scenario_key=row.scenario_key, actor=actor)
    calendar.mark_started(session, row=row, run=run, actor=actor)
    return run
