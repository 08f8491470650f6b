"""A paged person answering by SMS or on the voice call's keypad."""

from collections.abc import Sequence

from sqlmodel import Session, col, select

from incident_cmd.auth.models import User
from incident_cmd.integrations.twilio.handlers import Handled, InboundSms, KeypadPress
from incident_cmd.paging import flows


class PageAnswers:
    """Asked first: someone who was paged may be a customer too, but an ACK is an answer."""

    def __call__(self, session: Session, sms: InboundSms) -> Handled | None:
        answer = flows.answer_by_sms(session, from_address=sms.from_address, body=sms.body)
        return None if answer is None else Handled(answer)

    def many(self, session: Session, messages: Sequence[InboundSms]) -> list[Handled | None]:
        """Only staff are paged: in a reply storm from customers, one statement finds that
        none of the senders is, instead of one a message."""
        senders = [sms.from_address for sms in messages]
        staff = set(session.exec(select(User.phone).where(col(User.phone).in_(senders))))
        return [self(session, sms) if sms.from_address in staff else None for sms in messages]


def answer_keypad(session: Session, press: KeypadPress) -> str | None:
    answer = flows.answer_by_voice(session, message_id=press.message_id, digits=press.digits)
    return None if answer is None else answer.text
