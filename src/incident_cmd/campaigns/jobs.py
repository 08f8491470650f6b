"""The campaigns' background sweeps, as ``scheduler.SWEEPS`` runs them: in the worker's
session and transaction, returning how many rows each handled. The sending itself is the
bulk lane's (``sending.py``), which runs beside the sweeps."""

from sqlmodel import Session

from incident_cmd.campaigns import satisfaction, service


def start_due_campaigns(session: Session) -> int:
    """Sweep: approved campaigns scheduled if their time has not come, else materialised and
    set sending."""
    return service.start_due_campaigns(session)


def finish_campaigns(session: Session) -> int:
    """Sweep: each sending campaign with no delivery left unfinished is completed."""
    return service.finish_campaigns(session)


def run_semiannual_survey(session: Session) -> int:
    """Calendar job: the satisfaction survey of the half-year just ended, once."""
    return satisfaction.run_semiannual_survey(session)
