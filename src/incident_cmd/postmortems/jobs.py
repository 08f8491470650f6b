"""The review's background sweeps, as ``scheduler.SWEEPS`` runs them: in the worker's session
and transaction, returning how many rows each handled. The meetings' sweep tells people of
the incident's roster, so it is a flow."""

from sqlmodel import Session

from incident_cmd.postmortems import flows, followups


def remind_followups(session: Session) -> int:
    """Sweep: the owner of each overdue follow-up is reminded, once per overdue step."""
    return followups.remind_followups(session)


def sweep_meetings(session: Session) -> int:
    """Sweep: attendees reminded before each meeting, duty managers told of each window that
    ended with no meeting set."""
    return flows.sweep_meetings(session)
