"""Satisfaction and the three-level callback: the customer's rating, and the calls back an
unhappy customer gets, as tasks with owners and due times.

Seeds 003 「收集滿意度(NPS/CSAT)」: the customer is asked both. CSAT (1-5, how satisfied) is
asked first; NPS (0-10, how likely to recommend us) is asked once the CSAT answer is in, so
an SMS reply is read as the answer to the one question still open for that sender. A reply
may carry both scores at once ("5 9": CSAT, then NPS) while CSAT is the open question. By
email the customer gets a link to a small form asking both (``survey_url``)."""

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Literal

from itsdangerous import BadSignature, URLSafeSerializer
from sqlalchemy import ColumnElement
from sqlmodel import Session, col, select

from incident_cmd import clock
from incident_cmd.auth.models import User
from incident_cmd.campaigns.models import InboundMessage
from incident_cmd.config import get_settings
from incident_cmd.customers.models import Customer
from incident_cmd.errors import Conflict, Forbidden, NotFound
from incident_cmd.i18n import Locale
from incident_cmd.messaging.channels import ChannelName
from incident_cmd.messaging.models import DirectMessage, DirectMessageStatus
from incident_cmd.tickets.access import ensure_may_work_on, is_supervisor, owner
from incident_cmd.tickets.history import record
from incident_cmd.tickets.models import Ticket, TicketTask
from incident_cmd.tickets.notices import SOURCE, out_of_quiet_hours, to_customer
from incident_cmd.tickets.policy import seconds, service_levels
from incident_cmd.tickets.schemas import SurveyAnswer, SurveyEntry

Question = Literal["csat", "nps"]
# Seeds 003 「對不滿意反饋,啟動"三級回訪"」: CSAT 1-2 and NPS detractors (0-6) are the
# unhappy answers.
UNHAPPY_CSAT = 2
DETRACTOR_NPS = 6
CALLBACK_PREFIX = "callback_"


def csat_key(ticket: Ticket) -> str:
    return f"ticket-{ticket.id}-survey-{ticket.reopened_count}"


def nps_key(ticket: Ticket) -> str:
    return f"ticket-{ticket.id}-nps-{ticket.reopened_count}"


# --- reading a reply --------------------------------------------------------------------

# One or two whole numbers, each optionally followed by 分 ("points"), separated by spaces,
# commas, slashes, the Chinese enumeration comma or a 分; nothing else ("1000" is no "100 0").
_SCORES = re.compile(r"([-+]?\d{1,3})\s*分?(?:(?:\s*[,/;、]\s*|\s+|(?<=分))([-+]?\d{1,3})\s*分?)?")


@dataclass(frozen=True)
class Unreadable:
    """A reply that is a number but not an answer to the open question (out of range, or
    two scores where one was asked): the customer is told what we can read."""

    question: Question


def read_reply(text: str, *, question: Question) -> SurveyAnswer | Unreadable | None:
    """The scores in an SMS reply to the open ``question``. ``None`` when the reply is not
    made of numbers (words are a message for the ticket queue, not a rating).

    Full-width digits count as digits ("５"), surrounding spaces and punctuation are
    ignored ("4.", "５！")."""
    plain = unicodedata.normalize("NFKC", text).strip()
    # A sign is kept: "-1" is a number out of range, not a 1.
    punctuation = "".join(c for c in set(plain) if unicodedata.category(c)[0] == "P")
    plain = plain.strip(punctuation.replace("-", "") + " ")
    found = _SCORES.fullmatch(plain)
    if found is None:
        return None
    first = int(found.group(1))
    second = int(found.group(2)) if found.group(2) is not None else None
    if question == "csat" and second is None:
        return SurveyAnswer(csat=first) if 1 <= first <= 5 else Unreadable("csat")
    if question == "csat" and second is not None:
        if 1 <= first <= 5 and 0 <= second <= 10:
            return SurveyAnswer(csat=first, nps=second)
        return Unreadable("csat")
    if second is None and 0 <= first <= 10:
        return SurveyAnswer(nps=first)
    return Unreadable("nps")


HINTS = {
    ("csat", Locale.zh_CN): "请回复 1-5 之间的一个数字(5 为非常满意)。",
    ("csat", Locale.en): "Please reply with one number from 1 to 5 (5 = very satisfied).",
    ("nps", Locale.zh_CN): "请回复 0-10 之间的一个数字(10 为非常愿意推荐)。",
    ("nps", Locale.en): "Please reply with one number from 0 to 10 (10 = extremely likely).",
}


def _questions_sent() -> tuple[ColumnElement[bool], ...]:
    return (
        col(DirectMessage.source) == SOURCE,
        col(DirectMessage.status) == DirectMessageStatus.sent,
        col(DirectMessage.key).like("ticket-%-survey-%")
        | col(DirectMessage.key).like("ticket-%-nps-%"),
    )


def asked(session: Session, *, addresses: Sequence[str]) -> set[str]:
    """Which of these addresses were ever sent a survey question: only they may be answering
    one, and a reply storm's senders are looked up in one statement."""
    return set(
        session.exec(
            select(DirectMessage.address)
            .where(col(DirectMessage.address).in_(addresses), *_questions_sent())
            .distinct()
        )
    )


def open_question(session: Session, *, address: str) -> tuple[Ticket, Question] | None:
    """The survey question we last sent to this address that has no answer yet, and its
    ticket. Only one is open per ticket, since NPS is asked after CSAT is answered."""
    rows = session.exec(
        select(Ticket, DirectMessage.key)
        .join(DirectMessage, col(DirectMessage.source_id) == Ticket.id)
        .where(
            DirectMessage.address == address,
            *_questions_sent(),
            col(Ticket.resolved_at).is_not(None),
        )
        .order_by(col(DirectMessage.id).desc())
        .limit(20)
    ).all()
    for ticket, key in rows:
        if "-nps-" in key and ticket.nps is None:
            return ticket, "nps"
        if "-survey-" in key and ticket.csat is None:
            return ticket, "csat"
    return None


@dataclass(frozen=True)
class SmsOutcome:
    ticket: Ticket
    answer: str | None  # what to text back, if anything


def answer_by_sms(session: Session, *, inbound: InboundMessage) -> SmsOutcome | None:
    """A customer's SMS read as a survey answer, if a survey question is open for the sender
    and the text is a rating. Called by the inbound routing before the text is filed as a
    message; ``None`` leaves the message to it."""
    waiting = open_question(session, address=inbound.from_address)
    if waiting is None:
        return None
    ticket, question = waiting
    reading = read_reply(inbound.body, question=question)
    if reading is None:
        return None
    inbound.ticket_id = ticket.id
    session.add(inbound)
    if isinstance(reading, Unreadable):
        record(
            session,
            ticket=ticket,
            kind="ticket.survey_unreadable",
            summary=f"survey reply {inbound.body!r} is no {question.upper()} score",
            actor_id=None,
            data={"question": question, "text": inbound.body, "inbound": inbound.id},
        )
        locale = session.get_one(Customer, ticket.customer_id).locale
        return SmsOutcome(ticket, HINTS[(reading.question, Locale(locale))])
    record_survey(session, ticket=ticket, answer=reading, via=ChannelName.sms)
    return SmsOutcome(ticket, None)


# --- asking -----------------------------------------------------------------------------


def _serializer() -> URLSafeSerializer:
    return URLSafeSerializer(get_settings().signing_key, salt="ticket-survey")


def survey_token(ticket: Ticket) -> str:
    return _serializer().dumps({"t": ticket.id})


def survey_url(ticket: Ticket) -> str:
    return f"{get_settings().public_base_url.rstrip('/')}/survey/{survey_token(ticket)}"


def ticket_from_token(session: Session, *, token: str) -> Ticket:
    """The ticket a survey link was made for. The link answers one ticket's survey once
    (the first answer counts), so it needs no expiry; a forged or altered one is refused."""
    try:
        payload = _serializer().loads(token)
    except BadSignature:
        raise Forbidden("this survey link is not valid", field="token") from None
    ticket = session.get(Ticket, payload.get("t")) if isinstance(payload, dict) else None
    if ticket is None:
        raise Forbidden("this survey link is not valid", field="token")
    return ticket


def invitation_values(ticket: Ticket) -> dict[str, str]:
    """What the survey message is rendered with besides the ticket: the form's link."""
    return {"survey_url": survey_url(ticket)}


def _ask_nps(session: Session, ticket: Ticket) -> None:
    """The second question, by SMS only: by email the form asks both at once."""
    if "@" in ticket.contact:
        return
    customer = session.get_one(Customer, ticket.customer_id)
    to_customer(
        session,
        ticket=ticket,
        customer=customer,
        template="ticket_nps",
        key=nps_key(ticket),
        values={},
        due_at=out_of_quiet_hours(clock.now(), customer),
    )


# --- recording --------------------------------------------------------------------------


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
    # Each score's first answer counts; a repeated message changes nothing.
    csat = answer.csat if ticket.csat is None else None
    nps = answer.nps if ticket.nps is None else None
    if csat is None and nps is None:
        return ticket
    if csat is not None:
        ticket.csat = csat
    if nps is not None:
        ticket.nps = nps
    if answer.comment:
        ticket.survey_comment = answer.comment
    ticket.surveyed_at = ticket.surveyed_at or clock.now()
    session.add(ticket)
    record(
        session,
        ticket=ticket,
        kind="ticket.survey",
        summary=summary,
        actor_id=actor_id,
        data={"csat": csat, "nps": nps, **data},
    )
    if csat is not None and csat <= UNHAPPY_CSAT:
        _open_callbacks(session, ticket, because=f"CSAT {csat}")
    if nps is not None and nps <= DETRACTOR_NPS:
        _open_callbacks(session, ticket, because=f"NPS {nps}")
    if csat is not None and ticket.nps is None and data.get("via") == ChannelName.sms:
        _ask_nps(session, ticket)
    return ticket


def record_survey(
    session: Session, *, ticket: Ticket, answer: SurveyAnswer, via: ChannelName
) -> Ticket:
    """The customer's own answer, by SMS reply or the emailed form."""
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


def _open_callbacks(session: Session, ticket: Ticket, *, because: str) -> None:
    """Seeds 003 「三級回訪」: an unhappy customer is called back by the agent within an hour,
    the supervisor within a day and a senior manager within two. Once per ticket, whether
    the CSAT, the NPS or both were unhappy."""
    opened = session.exec(
        select(TicketTask.id).where(
            TicketTask.ticket_id == ticket.id,
            col(TicketTask.key).startswith(CALLBACK_PREFIX),
        )
    ).first()
    if opened is not None:
        return
    now = clock.now()
    for callback in service_levels().callbacks:
        caller = owner(session, ticket=ticket, who=callback.who)
        session.add(
            TicketTask(
                ticket_id=ticket.id,
                key=f"{CALLBACK_PREFIX}{callback.key}",
                owner_id=caller.id if caller else None,
                due_at=now + timedelta(seconds=seconds(callback.within)),
            )
        )
        record(
            session,
            ticket=ticket,
            kind="ticket.callback",
            summary=f"callback by {callback.key.replace('_', ' ')} "
            f"({caller.username if caller else 'nobody on duty'}) due within "
            f"{callback.within}, after {because}",
            actor_id=None,
            data={
                "key": callback.key,
                "owner": caller.username if caller else None,
                "because": because,
            },
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
