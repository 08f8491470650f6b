"""A paged person answering by SMS or on the voice call's keypad."""

from sqlmodel import Session

from incident_cmd.integrations.twilio.handlers import Handled, InboundSms, KeypadPress
from incident_cmd.paging import flows


def answer_page(session: Session, sms: InboundSms) -> Handled | None:
    """Asked first: someone who was paged may be a customer too, but an ACK is an answer."""
    answer = flows.answer_by_sms(session, from_address=sms.from_address, body=sms.body)
    return None if answer is None else Handled(answer)


def answer_keypad(session: Session, press: KeypadPress) -> str | None:
    answer = flows.answer_by_voice(session, message_id=press.message_id, digits=press.digits)
    return None if answer is None else answer.text
