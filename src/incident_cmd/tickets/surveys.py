"""Satisfaction and the three-level callback: the customer's rating, and the calls back an
unhappy customer gets, as tasks with owners and due times."""

from collections.abc import Sequence
from datetime import timedelta

from sqlmodel import Session, col, select

from incident_cmd import clock
from incident_cmd.auth.models import User
from incident_cmd.errors import Conflict, Forbidden, NotFound
from incident_cmd.tickets.access import ensure_may_work_on, is_supervisor, owner
from incident_cmd.tickets.history import record
from incident_cmd.tickets.models import Ticket, TicketTask
from incident_cmd.tickets.policy import seconds, service_levels
from incident_cmd.tickets.schemas import SurveyAnswer, SurveyEntry


def _scores(answer: SurveyAnswer) -> str:
    return f"CSAT {answer.csat or '-'}, NPS {answer.nps if answer.nps is not None else '-'}"


def _store_survey(
    session: Session,
    *,
    ticket: Ticket,
    answer: SurveyAnswer,
    summary: str,
    actor_id: int | None,
    data: dict,
) -> Ticket:
    if ticket.resolved_at is None:
        raise Conflict(f"{ticket.number} is not resolved; there is nothing to rate yet")
    if ticket.surveyed_at is not None:
        return ticket  # the first answer counts; a repeated message changes nothing
    ticket.csat, ticket.nps, ticket.survey_comment = answer.csat, answer.nps, answer.comment
    ticket.surveyed_at = clock.now()
    session.add(ticket)
    record(
        session,
        ticket=ticket,
        kind="ticket.survey",
        summary=summary,
        actor_id=actor_id,
        data={"csat": answer.csat, "nps": answer.nps, **data},
    )
    if answer.csat is not None and answer.csat <= 2:
        _open_callbacks(session, ticket)
    return ticket


def record_survey(session: Session, *, ticket: Ticket, answer: SurveyAnswer, via: str) -> Ticket:
    """The customer's own answer, by SMS reply."""
    return _store_survey(
        session,
        ticket=ticket,
        answer=answer,
        summary=f"satisfaction by {via}: {_scores(answer)}",
        actor_id=None,
        data={"via": via},
    )


def enter_survey(session: Session, *, ticket: Ticket, entry: SurveyEntry, actor: User) -> Ticket:
    """An answer the customer gave another way (a call, a letter), entered by a supervisor
    with the reason: the agent whose work is rated never enters it."""
    if not is_supervisor(session, ticket=ticket, actor=actor):
        raise Forbidden(
            f"only the customer (by SMS) or a supervisor of team {ticket.team_key!r} "
            "(its lead or a duty manager) records the satisfaction of a ticket"
        )
    return _store_survey(
        session,
        ticket=ticket,
        answer=entry,
        summary=f"satisfaction entered by {actor.username}: {_scores(entry)}; "
        f"reason: {entry.reason}",
        actor_id=actor.id,
        data={"via": "supervisor", "entered_by": actor.username, "reason": entry.reason},
    )


def _open_callbacks(session: Session, ticket: Ticket) -> None:
    """Seeds 001: an unhappy customer is called back by the agent within an hour, the
    supervisor within a day and a senior manager within two."""
    now = clock.now()
    for callback in service_levels().callbacks:
        caller = owner(session, ticket=ticket, who=callback.who)
        session.add(
            TicketTask(
                ticket_id=ticket.id,
                key=f"callback_{callback.key}",
                owner_id=caller.id if caller else None,
                due_at=now + timedelta(seconds=seconds(callback.within)),
            )
        )
        record(
            session,
            ticket=ticket,
            kind="ticket.callback",
            summary=f"callback by {callback.key.replace('_', ' ')} "
            f"({caller.username if caller else 'nobody on duty'}) due within {callback.within}",
            actor_id=None,
            data={"key": callback.key, "owner": caller.username if caller else None},
        )


def tasks_of(session: Session, *, ticket: Ticket) -> Sequence[TicketTask]:
    return session.exec(
        select(TicketTask).where(TicketTask.ticket_id == ticket.id).order_by(col(TicketTask.id))
    ).all()


def complete_task(
    session: Session, *, ticket: Ticket, task_id: int, note: str, actor: User
) -> TicketTask:
    task = session.get(TicketTask, task_id)
    if task is None or task.ticket_id != ticket.id:
        raise NotFound(f"{ticket.number} has no task {task_id}")
    if task.owner_id != actor.id:
        ensure_may_work_on(session, ticket=ticket, actor=actor)
    if task.done_at is None:
        task.done_at, task.done_by, task.note = clock.now(), actor.id, note
        session.add(task)
        record(
            session,
            ticket=ticket,
            kind="ticket.task_done",
            summary=f"{task.key.replace('_', ' ')} done: {note}",
            actor_id=actor.id,
            data={"task": task.key, "note": note},
        )
    return task
