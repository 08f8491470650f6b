"""Paging actions that reach into the incident: whoever acknowledges a page takes its seat on
the roster (the handover recorded there), whichever way they answered; except a seat the
playbook keeps with its holder (the commander's), for which whoever answered acts."""

from sqlmodel import Session

from incident_cmd.auth.models import User
from incident_cmd.incidents import service as incident_service
from incident_cmd.incidents.models import AssignmentState, Incident, RosterAssignment
from incident_cmd.incidents.schemas import RoleAssign
from incident_cmd.paging import answers
from incident_cmd.paging.answers import Answer
from incident_cmd.paging.models import AnswerRoute, Page, PageTarget
from incident_cmd.timeline import service as timeline


def acknowledge(session: Session, *, target: PageTarget, via: AnswerRoute) -> Answer:
    """The person answers yes: the page closes and they take the seat it was for."""
    answer = answers.acknowledge(session, target=target, via=via)
    if answer.changed:
        _take_seat(session, answer.page, session.get_one(User, target.user_id))
    return answer


def answer(session: Session, *, target: PageTarget, acknowledges: bool, via: AnswerRoute) -> Answer:
    if acknowledges:
        return acknowledge(session, target=target, via=via)
    return answers.decline(session, target=target, via=via)


def answer_by_sms(session: Session, *, from_address: str, body: str) -> str | None:
    """The text to answer a paged person's SMS with; None when it is not an answer to a page."""
    meant = answers.read_sms(session, from_address=from_address, body=body)
    if not isinstance(meant, answers.Meant):
        return meant
    return answer(
        session, target=meant.target, acknowledges=meant.acknowledges, via=AnswerRoute.sms
    ).text


def answer_by_voice(session: Session, *, message_id: int, digits: str) -> Answer | None:
    meant = answers.read_keypad(session, message_id=message_id, digits=digits)
    if meant is None:
        return None
    return answer(
        session, target=meant.target, acknowledges=meant.acknowledges, via=AnswerRoute.voice
    )


def _take_seat(session: Session, page: Page, user: User) -> None:
    seat = session.get_one(RosterAssignment, page.assignment_id)
    if seat.user_id == user.id or seat.state == AssignmentState.relieved:
        return
    incident = session.get_one(Incident, page.incident_id)
    previous = session.get_one(User, seat.user_id).username if seat.user_id else "nobody"
    role = incident_service.playbook_of(session, incident).role(seat.role_key)
    if role is not None and role.acting is not None and seat.user_id is not None:
        # The seat stays with its holder (总经理担任总指挥); the one who answered acts for them.
        timeline.append(
            session,
            subject_type="incident",
            subject_id=incident.id,
            kind="roster.acting",
            summary=f"{user.username} acts as {seat.role_key} while {previous} has not "
            "acknowledged; the seat stays with them unless a duty manager reassigns it",
            actor_id=user.id,
            data={"role": seat.role_key, "user": user.username, "holder": previous},
        )
        return
    replacement = incident_service.assign_role(
        session,
        incident=incident,
        change=RoleAssign(
            role=seat.role_key,
            slot=seat.slot,
            user=user.username,
            note=f"acknowledged the page for this seat ({previous} had not)",
        ),
        actor=user,
    )
    page.assignment_id = replacement.id
    session.add(page)
