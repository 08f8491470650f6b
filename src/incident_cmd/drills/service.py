"""Drill runs and their injects: started, paused, resumed and ended by the controller; each
inject claimed once, when due, by the sweep (or fired at once from the console). Everything
is told on the drill incident's timeline."""

from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from sqlmodel import Session, col, select

from incident_cmd import clock
from incident_cmd.auth.models import User
from incident_cmd.db import skip_locked
from incident_cmd.drills.loader import LoadedScenario
from incident_cmd.drills.models import DrillInject, DrillRun, InjectState, RunState
from incident_cmd.drills.schema import Inject, Scenario
from incident_cmd.errors import Conflict, NotFound
from incident_cmd.timeline import service as timeline
from incident_cmd.timeline.models import TimelineEvent

INCIDENT_SUBJECT = "incident"
STARTED = "drill.started"
PAUSED = "drill.paused"
RESUMED = "drill.resumed"
ENDED = "drill.ended"
INJECT_FIRED = "drill.inject_fired"
# Still to fire: a pause moves them on, an end cancels them.
WAITING = (InjectState.pending, InjectState.firing)


def record(
    session: Session,
    *,
    run: DrillRun,
    kind: str,
    summary: str,
    actor_id: int | None,
    data: dict[str, Any] | None = None,
) -> TimelineEvent:
    """An entry on the drill incident's timeline, where participants and controller see it."""
    return timeline.append(
        session,
        subject_type=INCIDENT_SUBJECT,
        subject_id=run.incident_id,
        kind=kind,
        summary=summary,
        actor_id=actor_id,
        data={"run": run.id, **(data or {})},
    )


def create_run(
    session: Session, *, loaded: LoadedScenario, incident_id: int, controller: User
) -> DrillRun:
    now = clock.now()
    scenario = loaded.scenario
    run = DrillRun(
        scenario_key=scenario.key,
        scenario=loaded.snapshot,
        objectives=loaded.snapshot["objectives"],
        incident_id=incident_id,
        state=RunState.running,
        controller_id=controller.id,
        started_at=now,
    )
    session.add(run)
    session.flush()
    for position, inject in enumerate(scenario.injects):
        session.add(
            DrillInject(
                run_id=run.id,
                key=inject.key,
                position=position,
                offset_minutes=inject.at,
                due_at=now + timedelta(minutes=inject.at),
                state=InjectState.pending,
            )
        )
    session.flush()
    record(
        session,
        run=run,
        kind=STARTED,
        summary=f"drill run {run.id} of scenario {scenario.key} ({scenario.exercise}) started "
        f"by {controller.username}: {len(scenario.injects)} injects, "
        + ("responders paged" if scenario.page_responders else "nobody paged"),
        actor_id=controller.id,
        data={
            "scenario": scenario.key,
            "name": loaded.snapshot["name"],
            "exercise": scenario.exercise,
            "injects": len(scenario.injects),
            "paged": scenario.page_responders,
        },
    )
    return run


def scenario_of(run: DrillRun) -> Scenario:
    return Scenario.model_validate(run.scenario)


def inject_of(run: DrillRun, inject: DrillInject) -> Inject:
    return scenario_of(run).injects[inject.position]


def get_run(session: Session, *, run_id: int, lock: bool = False) -> DrillRun:
    query = select(DrillRun).where(DrillRun.id == run_id)
    run = session.exec(query.with_for_update() if lock else query).first()
    if run is None:
        raise NotFound(f"no drill run with id {run_id}")
    return run


def run_of_incident(session: Session, *, incident_id: int) -> DrillRun | None:
    return session.exec(select(DrillRun).where(DrillRun.incident_id == incident_id)).first()


def list_runs(session: Session, *, limit: int = 100) -> Sequence[DrillRun]:
    return session.exec(select(DrillRun).order_by(col(DrillRun.id).desc()).limit(limit)).all()


def injects_of(session: Session, *, run: DrillRun) -> Sequence[DrillInject]:
    return session.exec(
        select(DrillInject).where(DrillInject.run_id == run.id).order_by(col(DrillInject.position))
    ).all()


def _waiting(session: Session, run: DrillRun) -> Sequence[DrillInject]:
    return session.exec(
        select(DrillInject)
        .where(DrillInject.run_id == run.id, col(DrillInject.state).in_(WAITING))
        .with_for_update()
    ).all()


def pause(session: Session, *, run: DrillRun, actor: User) -> DrillRun:
    if run.state != RunState.running:
        raise Conflict(f"drill run {run.id} is {run.state}, not running", field="state")
    run.state, run.paused_at = RunState.paused, clock.now()
    session.add(run)
    record(
        session,
        run=run,
        kind=PAUSED,
        summary=f"drill paused by {actor.username}",
        actor_id=actor.id,
    )
    return run


def resume(session: Session, *, run: DrillRun, actor: User) -> DrillRun:
    """The injects still to fire move on by the time the drill stood paused, so each keeps
    its place in the exercise's own time."""
    if run.state != RunState.paused or run.paused_at is None:
        raise Conflict(f"drill run {run.id} is {run.state}, not paused", field="state")
    paused_for = clock.now() - run.paused_at
    waiting = _waiting(session, run)
    for inject in waiting:
        inject.due_at += paused_for
        session.add(inject)
    seconds = int(paused_for.total_seconds())
    run.state, run.paused_at = RunState.running, None
    run.paused_seconds += seconds
    session.add(run)
    record(
        session,
        run=run,
        kind=RESUMED,
        summary=f"drill resumed by {actor.username} after {seconds} s paused; "
        f"{len(waiting)} injects moved on",
        actor_id=actor.id,
        data={"seconds": seconds, "moved": len(waiting)},
    )
    return run


def end(session: Session, *, run: DrillRun, actor: User) -> list[DrillInject]:
    """Stops the exercise: what had not fired never will. Returns the injects cancelled."""
    if run.state == RunState.ended:
        raise Conflict(f"drill run {run.id} has ended", field="state")
    now = clock.now()
    if run.paused_at is not None:
        run.paused_seconds += int((now - run.paused_at).total_seconds())
    cancelled = list(_waiting(session, run))
    for inject in cancelled:
        inject.state = InjectState.cancelled
        session.add(inject)
    run.state, run.paused_at, run.ended_at = RunState.ended, None, now
    session.add(run)
    record(
        session,
        run=run,
        kind=ENDED,
        summary=f"drill ended by {actor.username}; {len(cancelled)} injects not fired",
        actor_id=actor.id,
        data={"cancelled": len(cancelled)},
    )
    return cancelled


def claim_due(session: Session, *, limit: int = 50) -> Sequence[DrillInject]:
    """The injects due now of running drills, locked for this worker (on PostgreSQL another
    worker skips them), oldest first."""
    query = (
        select(DrillInject)
        .join(DrillRun, col(DrillRun.id) == DrillInject.run_id)
        .where(
            col(DrillInject.state).in_(WAITING),
            col(DrillInject.due_at) <= clock.now(),
            DrillRun.state == RunState.running,
        )
        .order_by(col(DrillInject.due_at), col(DrillInject.id))
        .limit(limit)
    )
    return session.exec(skip_locked(session, query, of=DrillInject)).all()


def lock_inject(session: Session, *, run: DrillRun, key: str) -> DrillInject:
    inject = session.exec(
        select(DrillInject)
        .where(DrillInject.run_id == run.id, DrillInject.key == key)
        .with_for_update()
    ).first()
    if inject is None:
        raise NotFound(f"drill run {run.id} has no inject {key!r}", field="inject")
    return inject


def mark_fired(
    session: Session, *, run: DrillRun, inject: DrillInject, actor: User | None
) -> Inject:
    """The inject's first moment: it is on the timeline with what it does and what the
    participants are expected to do."""
    planned = inject_of(run, inject)
    now = clock.now()
    inject.fired_at, inject.fired_by = now, actor.id if actor else None
    inject.state = InjectState.firing
    session.add(inject)
    late = int((now - inject.due_at).total_seconds()) if actor is None else 0
    record(
        session,
        run=run,
        kind=INJECT_FIRED,
        summary=f"inject {inject.key} ({planned.action.type}) fired"
        + (f" early by {actor.username}" if actor else f" at +{inject.offset_minutes} min")
        + f": {planned.description.en} Expected: {planned.expected_action.en}",
        actor_id=actor.id if actor else None,
        data={
            "inject": inject.key,
            "type": planned.action.type,
            "offset": inject.offset_minutes,
            "early": actor is not None,
            "late_seconds": late,
            "description": planned.description.model_dump(by_alias=True),
            "expected": planned.expected_action.model_dump(by_alias=True),
        },
    )
    return planned


def finish(inject: DrillInject) -> None:
    inject.state = InjectState.fired
