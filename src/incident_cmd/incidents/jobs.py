"""The incidents' background sweep, as ``scheduler.SWEEPS`` runs it: in the worker's session
and transaction, returning how many rows it handled."""

from sqlmodel import Session

from incident_cmd.incidents import service


def mark_overdue_tasks(session: Session) -> int:
    """Sweep: each open task past its due time goes on its incident's timeline, once."""
    return service.mark_overdue_tasks(session)
