"""What people add to a drill run's evaluation: evaluators named, their P/S/M/U ratings of
the objectives with notes, the hot wash's notes, and the improvement plan's items (each a
review follow-up, made by the flow). Every change is told on the drill incident's timeline.

Who may rate: duty managers and admins (who control drills), the run's controller, and the
people the controller named as evaluators. Ratings may be given while the drill runs (an
evaluator watches it) and after. The hot wash is right after the drill: its notes are taken
once the run has ended, from anyone but a viewer (a viewer on the drill's roster too)."""

from collections.abc import Sequence

from sqlmodel import Session, col, select

from incident_cmd import clock
from incident_cmd.auth.models import Role, User
from incident_cmd.drills.evaluation_models import (
    DrillEvaluator,
    DrillRating,
    HotWashNote,
    Improvement,
    NoteKind,
    Rating,
)
from incident_cmd.drills.models import DrillRun, RunState
from incident_cmd.drills.service import record, scenario_of
from incident_cmd.errors import Conflict, Forbidden, Invalid

RATED = "drill.rated"
EVALUATOR_NAMED = "drill.evaluator_named"
HOTWASH_NOTE = "drill.hotwash_note"
EVALUATOR_ROLES = (Role.admin, Role.duty_manager)
NOTES_MAX = 2000


def evaluators_of(session: Session, *, run: DrillRun) -> Sequence[DrillEvaluator]:
    return session.exec(
        select(DrillEvaluator)
        .where(DrillEvaluator.run_id == run.id)
        .order_by(col(DrillEvaluator.id))
    ).all()


def may_rate(session: Session, *, run: DrillRun, user: User) -> bool:
    if user.role in EVALUATOR_ROLES or user.id == run.controller_id:
        return True
    return any(named.user_id == user.id for named in evaluators_of(session, run=run))


def may_name_evaluators(run: DrillRun, user: User) -> bool:
    return user.role in EVALUATOR_ROLES or user.id == run.controller_id


def name_evaluator(session: Session, *, run: DrillRun, user: User, actor: User) -> DrillEvaluator:
    if not may_name_evaluators(run, actor):
        raise Forbidden("only the controller, a duty manager or an admin names evaluators")
    if not user.active:
        raise Invalid(f"user {user.username!r} is deactivated", field="username")
    existing = next((e for e in evaluators_of(session, run=run) if e.user_id == user.id), None)
    if existing is not None:
        return existing
    named = DrillEvaluator(run_id=run.id, user_id=user.id, named_by=actor.id, named_at=clock.now())
    session.add(named)
    session.flush()
    record(
        session,
        run=run,
        kind=EVALUATOR_NAMED,
        summary=f"{user.username} named evaluator of drill run {run.id} by {actor.username}",
        actor_id=actor.id,
        data={"user": user.username},
    )
    return named


def ratings_of(session: Session, *, run: DrillRun) -> Sequence[DrillRating]:
    return session.exec(
        select(DrillRating).where(DrillRating.run_id == run.id).order_by(col(DrillRating.id))
    ).all()


def parse_rating(value: str) -> Rating:
    try:
        return Rating(value.strip().upper())
    except ValueError:
        names = ", ".join(rating.value for rating in Rating)
        raise Invalid(f"rating {value!r} is not one of {names}", field="rating") from None


def rate(
    session: Session, *, run: DrillRun, objective_key: str, rating: str, notes: str, actor: User
) -> DrillRating:
    """The evaluator's rating of one objective; rating it again replaces their earlier one."""
    if not may_rate(session, run=run, user=actor):
        raise Forbidden(
            "only a duty manager, an admin, the controller or a named evaluator rates a drill"
        )
    keys = [objective.key for objective in scenario_of(run).objectives]
    if objective_key not in keys:
        raise Invalid(
            f"drill run {run.id} has no objective {objective_key!r} (it has {', '.join(keys)})",
            field="objective",
        )
    chosen = parse_rating(rating)
    notes = notes.strip()
    if len(notes) > NOTES_MAX:
        raise Invalid(f"notes are {len(notes)} characters, at most {NOTES_MAX}", field="notes")
    given = session.exec(
        select(DrillRating).where(
            DrillRating.run_id == run.id,
            DrillRating.objective_key == objective_key,
            DrillRating.evaluator_id == actor.id,
        )
    ).first()
    now = clock.now()
    if given is None:
        given = DrillRating(
            run_id=run.id,
            objective_key=objective_key,
            evaluator_id=actor.id,
            rating=chosen,
            rated_at=now,
        )
    given.rating, given.notes, given.rated_at = chosen, notes, now
    session.add(given)
    session.flush()
    record(
        session,
        run=run,
        kind=RATED,
        summary=f"objective {objective_key} rated {chosen.value} by {actor.username}"
        + (f": {notes}" if notes else ""),
        actor_id=actor.id,
        data={"objective": objective_key, "rating": chosen.value, "notes": notes},
    )
    return given


def notes_of(session: Session, *, run: DrillRun) -> Sequence[HotWashNote]:
    return session.exec(
        select(HotWashNote).where(HotWashNote.run_id == run.id).order_by(col(HotWashNote.id))
    ).all()


def add_note(
    session: Session, *, run: DrillRun, kind: str, text: str, actor: User, may_write: bool
) -> HotWashNote:
    if not may_write:
        raise Forbidden(
            "the hot wash is for the drill's participants: its roster and the staff who took part"
        )
    if run.state != RunState.ended:
        raise Conflict(
            f"drill run {run.id} is {run.state}; the hot wash opens when it ends", field="state"
        )
    try:
        chosen = NoteKind(kind)
    except ValueError:
        names = ", ".join(item.value for item in NoteKind)
        raise Invalid(f"kind {kind!r} is not one of {names}", field="kind") from None
    text = text.strip()
    if not text:
        raise Invalid("write the note", field="text")
    if len(text) > NOTES_MAX:
        raise Invalid(f"the note is {len(text)} characters, at most {NOTES_MAX}", field="text")
    note = HotWashNote(
        run_id=run.id, kind=chosen, text=text, author_id=actor.id, written_at=clock.now()
    )
    session.add(note)
    session.flush()
    record(
        session,
        run=run,
        kind=HOTWASH_NOTE,
        summary=f"hot-wash note ({chosen.value}) by {actor.username}: {text}",
        actor_id=actor.id,
        data={"note": note.id, "kind": chosen.value, "text": text},
    )
    return note


def improvements_of(session: Session, *, run: DrillRun) -> Sequence[Improvement]:
    return session.exec(
        select(Improvement).where(Improvement.run_id == run.id).order_by(col(Improvement.id))
    ).all()


def check_improvement(
    session: Session, *, run: DrillRun, objective_key: str | None, actor: User
) -> None:
    """What an improvement plan item needs before its follow-up is made."""
    if not may_rate(session, run=run, user=actor):
        raise Forbidden(
            "only a duty manager, an admin, the controller or a named evaluator plans improvements"
        )
    if run.state != RunState.ended:
        raise Conflict(
            f"drill run {run.id} is {run.state}; the improvement plan follows its end",
            field="state",
        )
    keys = [objective.key for objective in scenario_of(run).objectives]
    if objective_key is not None and objective_key not in keys:
        raise Invalid(
            f"drill run {run.id} has no objective {objective_key!r} (it has {', '.join(keys)})",
            field="objective",
        )


def link_improvement(
    session: Session, *, run: DrillRun, followup_id: int, objective_key: str | None
) -> Improvement:
    """The follow-up just made (and told on the timeline) as an item of this run's plan."""
    item = Improvement(run_id=run.id, followup_id=followup_id, objective_key=objective_key)
    session.add(item)
    session.flush()
    return item
