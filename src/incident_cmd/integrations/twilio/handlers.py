"""What the domains register to answer Twilio: inbound SMS handlers, asked in order until one
takes the message, the handler of the voice call's keypad, and the handler of delivery
status callbacks. A handler gets a session (the request's; for SMS, the inbox worker's) and a
typed message; what else it needs it is given when it is made (``wiring.py``)."""

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Annotated, Protocol, runtime_checkable

from fastapi import Depends, Request
from sqlmodel import Session


@dataclass(frozen=True)
class InboundSms:
    """An SMS as Twilio posted it; nothing is stripped or cut yet."""

    provider_id: str
    from_address: str
    to_address: str
    body: str


@dataclass(frozen=True)
class Handled:
    """A handler's word that the message was its own, with the text to answer, if any."""

    answer: str | None = None


class SmsHandler(Protocol):
    def __call__(self, session: Session, sms: InboundSms) -> Handled | None:
        """``Handled`` when the message is this handler's; ``None`` leaves it to the next."""
        ...


@runtime_checkable
class SmsBatchHandler(SmsHandler, Protocol):
    """A handler that can take several messages in one go (the ticket queue takes a storm's
    messages in with a constant number of statements)."""

    def many(self, session: Session, messages: Sequence[InboundSms]) -> list[Handled | None]:
        """What ``__call__`` answers for each message, in order; the messages are from
        distinct senders."""
        ...


@dataclass(frozen=True)
class KeypadPress:
    """A key pressed during a call that read a direct message aloud."""

    message_id: int
    digits: str


class KeypadHandler(Protocol):
    def __call__(self, session: Session, press: KeypadPress) -> str | None:
        """The text to say, or ``None`` when the key means nothing (the call asks again)."""
        ...


@dataclass(frozen=True)
class StatusCallback:
    """Twilio's word on a message it was handed: ``delivery_id`` is the ``d`` the sender put
    in the callback address, when it put one."""

    delivery_id: int | None
    provider_id: str
    provider_status: str
    error_code: str | None


class StatusHandler(Protocol):
    def __call__(self, session: Session, callback: StatusCallback) -> bool:
        """Whether the callback changed anything; a repeated or stale one changes nothing."""
        ...


@dataclass(frozen=True)
class TwilioHandlers:
    sms: Sequence[SmsHandler]
    keypad: KeypadHandler
    status: StatusHandler


def answer_sms(
    session: Session, *, sms: InboundSms, handlers: Sequence[SmsHandler]
) -> Handled | None:
    """Asks each handler in turn; the first to take the message answers it (``None``: no
    handler took it)."""
    [handled] = answer_many(session, messages=[sms], handlers=handlers)
    return handled


def answer_many(
    session: Session, *, messages: Sequence[InboundSms], handlers: Sequence[SmsHandler]
) -> list[Handled | None]:
    """``answer_sms`` for each message of distinct senders: each handler in turn is asked
    about the messages no earlier handler took, all of them at once where it can take
    several (``SmsBatchHandler``)."""
    answers: list[Handled | None] = [None] * len(messages)
    for handler in handlers:
        left = [place for place, handled in enumerate(answers) if handled is None]
        if not left:
            break
        asked = [messages[place] for place in left]
        if isinstance(handler, SmsBatchHandler):
            handled_each = handler.many(session, asked)
        else:
            handled_each = [handler(session, sms) for sms in asked]
        for place, handled in zip(left, handled_each, strict=True):
            answers[place] = handled
    return answers


def registered(request: Request) -> TwilioHandlers:
    return request.app.state.twilio_handlers


HandlersDep = Annotated[TwilioHandlers, Depends(registered)]
