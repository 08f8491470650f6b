"""Inbound SMS handlers are asked in the order they were registered, until one takes the
message (when the inbox sweep files it); the keypad and status callbacks go to the handlers
registered for them."""

import pytest
from sqlmodel import Session
from twilio.request_validator import RequestValidator

from incident_cmd.config import get_settings
from incident_cmd.integrations.twilio.handlers import (
    Handled,
    InboundSms,
    KeypadPress,
    SmsHandler,
    StatusCallback,
    TwilioHandlers,
)
from tests.plugins.twilio import answer_to, file_inbox

TOKEN = "integration-test-token"
PUBLIC = "https://incident.example.com"
INBOUND = "/webhooks/twilio/inbound"
STATUS = "/webhooks/twilio/status"


@pytest.fixture
def signing(monkeypatch):
    monkeypatch.setenv("INCIDENT_CMD_TWILIO_AUTH_TOKEN", TOKEN)
    monkeypatch.setenv("INCIDENT_CMD_PUBLIC_BASE_URL", PUBLIC)
    get_settings.cache_clear()


def _post_sms(client, body: str):
    params = {"MessageSid": "SMorder1", "From": "+8613900000009", "To": "+15005550006"}
    params["Body"] = body
    signature = RequestValidator(TOKEN).compute_signature(PUBLIC + INBOUND, params)
    return client.post(INBOUND, data=params, headers={"X-Twilio-Signature": signature})


def _handler(name: str, asked: list[str], takes: bool, answer: str | None = None) -> SmsHandler:
    def handle(session: Session, sms: InboundSms) -> Handled | None:
        asked.append(name)
        return Handled(f"{answer} ({sms.body})" if answer else None) if takes else None

    return handle


def _never_pressed(session: Session, press: KeypadPress) -> str | None:
    raise AssertionError("no call was made")


def _no_status(session: Session, callback: StatusCallback) -> bool:
    raise AssertionError("no status callback was posted")


def test_handlers_are_asked_in_order_until_one_takes_the_message(app, client, session, signing):
    asked: list[str] = []
    app.state.twilio_handlers = TwilioHandlers(
        sms=(
            _handler("pages", asked, takes=False),
            _handler("survey", asked, takes=True, answer="Thanks"),
            _handler("tickets", asked, takes=True, answer="Filed"),
        ),
        keypad=_never_pressed,
        status=_no_status,
    )
    response = _post_sms(client, "5")
    assert response.status_code == 200 and "<Message>" not in response.text
    assert asked == []  # the webhook only keeps the message
    assert file_inbox(session, app) == 1
    assert answer_to(session, "SMorder1") == "Thanks (5)"
    assert asked == ["pages", "survey"]


def test_a_message_taken_without_an_answer_ends_the_asking_and_answers_nothing(
    app, client, session, signing
):
    asked: list[str] = []
    app.state.twilio_handlers = TwilioHandlers(
        sms=(_handler("opt-out", asked, takes=True), _handler("tickets", asked, takes=True)),
        keypad=_never_pressed,
        status=_no_status,
    )
    response = _post_sms(client, "STOP")
    assert response.text == '<?xml version="1.0" encoding="UTF-8"?><Response></Response>'
    file_inbox(session, app)
    assert answer_to(session, "SMorder1") is None
    assert asked == ["opt-out"]


def test_a_message_nobody_takes_answers_nothing(app, client, session, signing):
    asked: list[str] = []
    app.state.twilio_handlers = TwilioHandlers(
        sms=(_handler("pages", asked, takes=False),), keypad=_never_pressed, status=_no_status
    )
    assert "<Message>" not in _post_sms(client, "hello").text
    assert file_inbox(session, app) == 1
    assert answer_to(session, "SMorder1") is None
    assert asked == ["pages"]


def test_a_status_callback_reaches_the_registered_handler_typed(app, client, signing):
    received: list[StatusCallback] = []

    def record(session: Session, callback: StatusCallback) -> bool:
        received.append(callback)
        return True

    app.state.twilio_handlers = TwilioHandlers(sms=(), keypad=_never_pressed, status=record)
    params = {"MessageSid": "SMstatus1", "MessageStatus": "undelivered", "ErrorCode": "30003"}
    path = STATUS + "?d=42"
    signature = RequestValidator(TOKEN).compute_signature(PUBLIC + path, params)
    response = client.post(path, data=params, headers={"X-Twilio-Signature": signature})
    assert response.status_code == 204
    assert received == [
        StatusCallback(
            delivery_id=42,
            provider_id="SMstatus1",
            provider_status="undelivered",
            error_code="30003",
        )
    ]


def test_an_unsigned_status_callback_reaches_no_handler(app, client, signing):
    app.state.twilio_handlers = TwilioHandlers(sms=(), keypad=_never_pressed, status=_no_status)
    params = {"MessageSid": "SMstatus2", "MessageStatus": "delivered"}
    assert client.post(STATUS + "?d=1", data=params).status_code == 403


def test_a_key_pressed_on_an_unknown_call_is_not_found_and_asks_no_handler(app, client, signing):
    app.state.twilio_handlers = TwilioHandlers(sms=(), keypad=_never_pressed, status=_no_status)
    path = "/webhooks/twilio/page-voice?m=987654"
    params = {"Digits": "1", "CallSid": "CAunknown"}
    signature = RequestValidator(TOKEN).compute_signature(PUBLIC + path, params)
    response = client.post(path, data=params, headers={"X-Twilio-Signature": signature})
    assert response.status_code == 404
    assert "987654" in response.json()["detail"]
