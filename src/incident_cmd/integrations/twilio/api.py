"""Twilio's webhooks. The form is awaited on the event loop, but database work never runs
there: a blocked loop could not let an earlier request commit."""

import functools
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, status
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response
from sqlmodel import Session

from incident_cmd.batching import GroupCommit
from incident_cmd.config import get_settings
from incident_cmd.deps import SessionDep, SessionOpener
from incident_cmd.errors import Invalid, NotFound, error_responses
from incident_cmd.fields import DbId
from incident_cmd.i18n import Locale
from incident_cmd.integrations.twilio import twiml
from incident_cmd.integrations.twilio.handlers import (
    HandlersDep,
    InboundSms,
    KeypadHandler,
    KeypadPress,
    StatusCallback,
)
from incident_cmd.integrations.twilio.signature import TwilioForm
from incident_cmd.messaging import direct
from incident_cmd.messaging.models import DirectMessage

router = APIRouter()
# What the inbox column holds; Twilio's SIDs are 34 characters.
MESSAGE_SID_LENGTH = 64


async def inbox_writes(request: Request) -> GroupCommit[InboundSms, None]:
    return request.app.state.inbox_writes


InboxWrites = Annotated[GroupCommit[InboundSms, None], Depends(inbox_writes)]


@router.post(
    "/webhooks/twilio/status",
    tags=["webhooks"],
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    responses=error_responses(400, 403),
)
async def twilio_status(
    session: SessionDep,
    form: TwilioForm,
    handlers: HandlersDep,
    d: Annotated[DbId | None, Query()] = None,
) -> Response:
    callback = StatusCallback(
        delivery_id=d,
        provider_id=form.get("MessageSid", ""),
        provider_status=form.get("MessageStatus", ""),
        error_code=form.get("ErrorCode") or None,
    )
    await run_in_threadpool(functools.partial(handlers.status, session, callback))
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post(
    "/webhooks/twilio/inbound",
    tags=["webhooks"],
    response_class=Response,
    responses={**twiml.TWIML_ANSWER, **error_responses(400, 403, 422)},
)
async def twilio_inbound(
    form: TwilioForm, sessions: SessionOpener, writes: InboxWrites
) -> Response:
    """Kept in the inbox and answered at once with nothing: the worker files the message
    (a page's answer, a keyword, a reply, a ticket) and sends any answer by the direct lane.
    Nothing is read here, and the messages of concurrent requests are kept in one INSERT and
    one commit (``batching``); the request itself takes no worker thread (its dependencies
    are coroutines), so a reply storm costs a thread step and a commit per batch, not three
    thread steps and a commit per message."""
    provider_id = form.get("MessageSid", "")
    if not provider_id or len(provider_id) > MESSAGE_SID_LENGTH:
        raise Invalid("missing or longer than 64 characters", field="MessageSid")
    sms = InboundSms(
        provider_id=provider_id,
        from_address=form.get("From", ""),
        to_address=form.get("To", ""),
        body=form.get("Body", ""),
    )
    await writes.submit(sms, sessions)
    return twiml.message(None)


# Documented with the pages it answers.
@router.post(
    "/webhooks/twilio/page-voice",
    tags=["paging"],
    response_class=Response,
    responses={**twiml.TWIML_ANSWER, **error_responses(400, 403, 404)},
)
async def page_voice(
    session: SessionDep, form: TwilioForm, handlers: HandlersDep, m: Annotated[DbId, Query()]
) -> Response:
    press = KeypadPress(message_id=m, digits=form.get("Digits", ""))
    return await run_in_threadpool(
        functools.partial(_answer_keypad, session, press=press, handler=handlers.keypad)
    )


def _answer_keypad(session: Session, *, press: KeypadPress, handler: KeypadHandler) -> Response:
    message = session.get(DirectMessage, press.message_id)
    if message is None:
        raise NotFound(f"no call for message {press.message_id}")
    said = handler(session, press)
    if said is None:
        # Not a key we know: say so, and ask again.
        lead = "未识别的按键。" if message.locale == Locale.zh_CN else "Key not recognised."
        base_url = get_settings().public_base_url
        return twiml.response(direct.keypad_twiml(message, base_url, lead=lead))
    return twiml.say(said, message.locale)
