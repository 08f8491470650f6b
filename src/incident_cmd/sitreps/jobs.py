"""The situation reports' background sweep, as ``scheduler.SWEEPS`` runs it: in the worker's
session and transaction, returning how many reports it sent. Compiling a report reads every
domain, so the work is a flow."""

from sqlmodel import Session

from incident_cmd.sitreps import flows


def send_due_reports(session: Session) -> int:
    """Sweep: each open incident's cadence step, compiled and sent once across workers."""
    return flows.send_due_reports(session)
