"""A fake Twilio the app is configured to send through, and requests signed as Twilio signs
its webhooks."""

from collections.abc import Iterator
from urllib.parse import urlencode

import pytest
from sqlmodel import Session, select
from twilio.request_validator import RequestValidator

from incident_cmd.config import get_settings
from incident_cmd.db import get_engine
from incident_cmd.devtools.fake_twilio import FakeTwilio, RunningFake
from incident_cmd.integrations.twilio import inbox
from incident_cmd.integrations.twilio.inbox import InboxSms
from incident_cmd.messaging.models import DirectMessage

ACCOUNT = "AC" + "1" * 32
TOKEN = "test-auth-token"
SENDER = "+15005550006"
PUBLIC = "https://incident.example.com"


@pytest.fixture
def fake() -> Iterator[RunningFake]:
    with RunningFake(FakeTwilio(account_sid=ACCOUNT, auth_token=TOKEN, callbacks=False)) as running:
        yield running


@pytest.fixture
def twilio(monkeypatch, fake) -> RunningFake:
    for name, value in {
        "TWILIO_ACCOUNT_SID": ACCOUNT,
        "TWILIO_AUTH_TOKEN": TOKEN,
        "TWILIO_SENDER": SENDER,
        "TWILIO_API_BASE": fake.url,
        "PUBLIC_BASE_URL": PUBLIC,
        "SEND_RATE_PER_SECOND": "0",
    }.items():
        monkeypatch.setenv(f"INCIDENT_CMD_{name}", value)
    get_settings.cache_clear()
    return fake


def signed(url: str, params: dict[str, str], token: str = TOKEN) -> dict[str, str]:
    return {"X-Twilio-Signature": RequestValidator(token).compute_signature(url, params)}


INBOUND_URL = f"{PUBLIC}/webhooks/twilio/inbound"


def post_form(client, path, params, headers):
    return client.post(
        path,
        content=urlencode(params),
        headers={"Content-Type": "application/x-www-form-urlencoded", **headers},
    )


def inbound(client, sender, body, sid):
    params = {
        "MessageSid": sid,
        "From": sender,
        "To": SENDER,
        "Body": body,
        "AccountSid": ACCOUNT,
    }
    return post_form(client, "/webhooks/twilio/inbound", params, signed(INBOUND_URL, params))


def file_inbox(session, app) -> int:
    """The worker's ``sms-inbox`` sweep, with the app's handlers, in the test's session."""
    return inbox.drain(session, handlers=tuple(app.state.twilio_handlers.sms))


def answer_to(session, sid: str) -> str | None:
    """What the inbox answered the message with, through the direct lane."""
    kept = session.exec(select(InboxSms).where(InboxSms.provider_id == sid)).first()
    if kept is None:
        return None
    sent = session.exec(
        select(DirectMessage).where(DirectMessage.key == f"sms-inbox-{kept.id}")
    ).first()
    return sent.body if sent else None


def inbound_filed(client, sender, body, sid):
    """Posted as Twilio would, then filed by the inbox sweep on the configured database (for
    clients of apps that use their own sessions): the webhook's response, and the answer the
    worker sent."""
    response = inbound(client, sender, body, sid)
    with Session(get_engine(), expire_on_commit=False) as session:
        file_inbox(session, client.app)
        return response, answer_to(session, sid)
