"""The drills' background sweeps, as ``scheduler.SWEEPS`` runs them: in the worker's session
and transaction, returning how many rows each handled. They read the scenarios with the
playbooks they name, and an inject acts through the domain it concerns, so the work is in
the drills' flows."""

from sqlmodel import Session

from incident_cmd.drills import flows


def fire_due_injects(session: Session) -> int:
    """Sweep: every due inject of a running drill, once across workers."""
    return flows.fire_due_injects(session)


def schedule_by_cadence(session: Session) -> int:
    """Sweep: the drills each scenario's cadence asks for, scheduled once per occurrence."""
    return flows.schedule_by_cadence(session)


def remind_scheduled(session: Session) -> int:
    """Sweep: the reminders due a week and a day before each scheduled drill."""
    return flows.remind_scheduled(session)
