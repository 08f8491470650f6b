"""One small interface, four implementations: sink, Twilio SMS, Twilio voice, SMTP email;
and what the domains need to know of each channel before anything is sent on it."""

import email.utils
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage
from enum import StrEnum
from typing import Annotated, Literal, Protocol
from xml.sax.saxutils import escape

import aiohttp
import aiosmtplib
from pydantic import AfterValidator, WithJsonSchema
from twilio.base import values
from twilio.base.exceptions import TwilioRestException
from twilio.http.async_http_client import AsyncTwilioHttpClient
from twilio.rest import Client

from incident_cmd.config import Settings

# Twilio's answers that will never succeed on a retry (reference/twilio/README.md).
PERMANENT_CODES = {21211, 21606, 21610, 21612, 21614, 30004, 30005, 30006, 30007}
TRANSIENT_CODES = {20429, 30001, 30003, 30008}
UNSUBSCRIBED_CODE = 21610
ERROR_MESSAGE_LENGTH = 500
# RFC 5322 allows 998 characters a line; a subject is kept well inside one folded header.
SUBJECT_LENGTH = 300
ADDRESS_LENGTH = 320


class ChannelName(StrEnum):
    """What a message is sent over; a sink channel stands in for any of them."""

    sms = "sms"
    email = "email"
    voice = "voice"


class Contact(StrEnum):
    """Which of a person's or a customer's addresses a channel sends to."""

    phone = "phone"
    email = "email"


@dataclass(frozen=True)
class ChannelUse:
    reaches: Contact
    # Whether campaigns may send customers their notices on it.
    notices: bool


CHANNEL_USES: Mapping[ChannelName, ChannelUse] = {
    ChannelName.sms: ChannelUse(reaches=Contact.phone, notices=True),
    ChannelName.email: ChannelUse(reaches=Contact.email, notices=True),
    # A call pages a person; a notice to thousands of customers is not read out to them.
    ChannelName.voice: ChannelUse(reaches=Contact.phone, notices=False),
}
NOTICE_CHANNELS = tuple(name for name, use in CHANNEL_USES.items() if use.notices)


def _carries_notices(channel: ChannelName) -> ChannelName:
    if not CHANNEL_USES[channel].notices:
        raise ValueError(
            f"{channel} carries no notices; the channels that do: {', '.join(NOTICE_CHANNELS)}"
        )
    return channel


# A channel campaigns may send notices on (a campaign's, a playbook's notification plan's).
NoticeChannel = Annotated[
    ChannelName,
    AfterValidator(_carries_notices),
    WithJsonSchema({"type": "string", "enum": [name.value for name in NOTICE_CHANNELS]}),
]


class Unsendable(Exception):
    """This one message can never be sent as it is (an injected header, a value out of
    bounds): it fails alone, with this as its reason, and is never retried."""


def reason(text: str) -> str:
    """An error text safe to store: no NUL (PostgreSQL refuses it), bounded in length."""
    return text.replace("\x00", "\\0")[:ERROR_MESSAGE_LENGTH]


def describe(exc: BaseException) -> str:
    return reason(f"{type(exc).__name__}: {exc}")


def check_header_value(field: str, value: str | None, max_length: int) -> None:
    """Refuses what would let a value break out of its header or be cut by a server."""
    if value is None:
        return
    if any(char in value for char in "\r\n\x00"):
        raise Unsendable(f"{field} contains a line break or NUL; a header cannot carry it")
    if len(value) > max_length:
        raise Unsendable(f"{field} is {len(value)} characters long; at most {max_length}")


@dataclass(frozen=True)
class Outbound:
    delivery_id: int
    address: str
    body: str
    subject: str | None = None
    html: str | None = None
    status_callback: str | None = None
    # An email's RFC 8058 one-click unsubscribe: mail programs show it beside the sender.
    unsubscribe_url: str | None = None
    twiml: str | None = None  # voice: what the call does, when more than reading the body


OutcomeKind = Literal["sent", "transient", "permanent", "unknown"]


@dataclass(frozen=True)
class Outcome:
    kind: OutcomeKind
    provider_id: str | None = None
    error_code: str | None = None
    error_message: str | None = None


class Channel(Protocol):
    name: ChannelName
    sender: str

    async def send(self, message: Outbound) -> Outcome: ...

    async def find_sent(self, message: Outbound, since: datetime) -> str | None:
        """The provider id of this message if the provider already has it."""
        ...

    async def close(self) -> None: ...


class SinkChannel:
    """Sends nothing: the outbox records the message in ``sink_messages``."""

    def __init__(self, name: ChannelName) -> None:
        self.name = name
        self.sender = f"sink:{name}"

    async def send(self, message: Outbound) -> Outcome:
        return Outcome("sent", provider_id=f"SINK{message.delivery_id}")

    async def find_sent(self, message: Outbound, since: datetime) -> str | None:
        return None

    async def close(self) -> None:
        return None


def twilio_client(settings: Settings) -> Client:
    http = AsyncTwilioHttpClient(timeout=settings.twilio_timeout_seconds, pool_connections=False)
    # aiohttp's default pool holds 100 connections; the dispatcher keeps more in flight.
    http.session = aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=settings.dispatch_max_in_flight)
    )
    client = Client(
        settings.twilio_account_sid,
        settings.twilio_auth_token.get_secret_value(),
        http_client=http,
    )
    client.api.base_url = settings.twilio_api_base.rstrip("/")
    return client


def _classify_twilio_error(exc: TwilioRestException) -> Outcome:
    code = exc.code or 0
    message = reason(exc.msg or "")
    if exc.status == 429 or code in TRANSIENT_CODES:
        return Outcome("transient", error_code=str(code or exc.status), error_message=message)
    if exc.status >= 500:
        # The message may exist all the same; the outbox asks before sending again.
        return Outcome("unknown", error_code=str(code or exc.status), error_message=message)
    return Outcome("permanent", error_code=str(code or exc.status), error_message=message)


class TwilioSmsChannel:
    name = ChannelName.sms

    def __init__(self, settings: Settings) -> None:
        self._client = twilio_client(settings)
        self.sender = settings.twilio_sender
        self._uses_service = self.sender.startswith("MG")

    async def send(self, message: Outbound) -> Outcome:
        sender = (
            {"messaging_service_sid": self.sender} if self._uses_service else {"from_": self.sender}
        )
        try:
            created = await self._client.messages.create_async(
                to=message.address,
                body=message.body,
                status_callback=message.status_callback or values.unset,
                **sender,
            )
        except TwilioRestException as exc:
            return _classify_twilio_error(exc)
        except (TimeoutError, aiohttp.ClientError) as exc:
            return Outcome("unknown", error_message=describe(exc))
        return Outcome("sent", provider_id=created.sid)

    async def find_sent(self, message: Outbound, since: datetime) -> str | None:
        messages = await self._client.messages.list_async(
            to=message.address, date_sent_after=since, limit=200
        )
        for candidate in messages:
            if candidate.body == message.body:
                return candidate.sid
        return None

    async def close(self) -> None:
        await self._client.http_client.close()


class TwilioVoiceChannel:
    """Places a call that reads the message (used for paging)."""

    name = ChannelName.voice

    def __init__(self, settings: Settings) -> None:
        self._client = twilio_client(settings)
        self.sender = settings.twilio_sender

    @staticmethod
    def twiml(text: str, language: str = "zh-CN") -> str:
        return f'<Response><Say language="{language}">{escape(text)}</Say></Response>'

    async def send(self, message: Outbound) -> Outcome:
        try:
            call = await self._client.calls.create_async(
                to=message.address,
                from_=self.sender,
                twiml=message.twiml or self.twiml(message.body),
                status_callback=message.status_callback or values.unset,
            )
        except TwilioRestException as exc:
            return _classify_twilio_error(exc)
        except (TimeoutError, aiohttp.ClientError) as exc:
            return Outcome("unknown", error_message=describe(exc))
        return Outcome("sent", provider_id=call.sid)

    async def find_sent(self, message: Outbound, since: datetime) -> str | None:
        calls = await self._client.calls.list_async(to=message.address, start_time_after=since)
        return calls[0].sid if calls else None

    async def close(self) -> None:
        await self._client.http_client.close()


class SmtpEmailChannel:
    """Multipart text and HTML, a Message-ID derived from the delivery (so that a resend after
    a lost answer carries the same id), and RFC 8058 one-click unsubscribe headers."""

    name = ChannelName.email

    def __init__(self, settings: Settings, timeout: float = 30.0) -> None:
        self._settings = settings
        self._timeout = timeout
        self.sender = settings.smtp_sender
        self._domain = settings.smtp_sender.rpartition("@")[2] or "localhost"

    def build(self, message: Outbound) -> EmailMessage:
        check_header_value("address", message.address, ADDRESS_LENGTH)
        check_header_value("subject", message.subject, SUBJECT_LENGTH)
        check_header_value("unsubscribe link", message.unsubscribe_url, SUBJECT_LENGTH * 4)
        mail = EmailMessage()
        mail["From"] = self.sender
        mail["To"] = message.address
        mail["Subject"] = message.subject or ""
        mail["Date"] = email.utils.formatdate(localtime=False)
        mail["Message-ID"] = f"<delivery-{message.delivery_id}@{self._domain}>"
        if message.unsubscribe_url:
            mail["List-Unsubscribe"] = f"<{message.unsubscribe_url}>"
            mail["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
        mail.set_content(message.body)
        if message.html:
            mail.add_alternative(message.html, subtype="html")
        return mail

    async def send(self, message: Outbound) -> Outcome:
        settings = self._settings
        try:
            mail = self.build(message)
        except Unsendable as exc:
            return Outcome("permanent", error_message=reason(str(exc)))
        try:
            await aiosmtplib.send(
                mail,
                hostname=settings.smtp_host,
                port=settings.smtp_port,
                username=settings.smtp_user or None,
                password=settings.smtp_password.get_secret_value() or None,
                timeout=self._timeout,
            )
        except aiosmtplib.SMTPRecipientsRefused as exc:
            return Outcome("permanent", error_message=reason(str(exc)))
        except aiosmtplib.SMTPResponseException as exc:
            kind: OutcomeKind = "permanent" if 500 <= exc.code < 600 else "transient"
            return Outcome(kind, error_code=str(exc.code), error_message=reason(exc.message))
        except (TimeoutError, aiosmtplib.SMTPException, OSError) as exc:
            return Outcome("transient", error_message=describe(exc))
        return Outcome("sent", provider_id=f"delivery-{message.delivery_id}@{self._domain}")

    async def find_sent(self, message: Outbound, since: datetime) -> str | None:
        return None

    async def close(self) -> None:
        return None


def channels_for(settings: Settings, *, drill: bool = False) -> dict[ChannelName, Channel]:
    """The configured channels; the sink stands in for any that is not configured, and for
    every channel in a drill."""
    twilio_ready = bool(settings.twilio_account_sid and settings.twilio_sender) and not drill
    smtp_ready = bool(settings.smtp_host) and not drill
    return {
        ChannelName.sms: (
            TwilioSmsChannel(settings) if twilio_ready else SinkChannel(ChannelName.sms)
        ),
        ChannelName.voice: (
            TwilioVoiceChannel(settings) if twilio_ready else SinkChannel(ChannelName.voice)
        ),
        ChannelName.email: (
            SmtpEmailChannel(settings) if smtp_ready else SinkChannel(ChannelName.email)
        ),
    }
