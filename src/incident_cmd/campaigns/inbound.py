"""What a customer texts back: opt-out words (STOP and the Chinese carriers' TD, 退订),
START, HELP, a notice's reply options, or free text. Every message is recorded once, and
free text that no ticket has taken yet is left to the handlers after this one."""

import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass

from sqlmodel import Session, col, select

from incident_cmd import clock
from incident_cmd.campaigns.models import Campaign, Delivery, InboundMessage
from incident_cmd.config import get_settings
from incident_cmd.customers.models import Customer
from incident_cmd.i18n import Locale
from incident_cmd.integrations.twilio.handlers import Handled, InboundSms
from incident_cmd.messaging import suppression
from incident_cmd.messaging.channels import ChannelName
from incident_cmd.timeline import service as timeline

# Twilio answers its own opt-out keywords; the words Chinese carriers and customers use
# (退订 = unsubscribe, 取消 = cancel, T/TD = 退订) are confirmed by us.
PROVIDER_STOP_WORDS = {"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT"}
CHINESE_STOP_WORDS = {"T", "TD", "退订", "取消", "取消订阅"}
STOP_WORDS = PROVIDER_STOP_WORDS | CHINESE_STOP_WORDS
START_WORDS = {"START", "YES", "UNSTOP"}
HELP_WORDS = {"HELP", "INFO"}
OPTED_OUT_ANSWER = {
    Locale.zh_CN: "您已退订{organisation}的短信通知。回复START可恢复。",
    Locale.en: "You will get no more texts from {organisation}. Reply START to resume.",
}
REPLY_NOTED = {Locale.zh_CN: "已收到您的回复:", Locale.en: "Thank you, we noted: "}
# Twilio's own limit for a message body; anything longer is kept cut, with a marker.
INBOUND_BODY_LIMIT = 1600
TRUNCATED_MARKER = "…[truncated]"
# What the inbound_messages columns hold; an odd sender is kept cut rather than lost.
INBOUND_ADDRESS_LENGTH = 32


def keyword(text: str) -> str:
    """What a customer typed, as a keyword: full-width letters and digits made plain (NFKC),
    any case, surrounding spaces and punctuation ignored ("ＴＤ", "td。" and "TD" are alike)."""
    word = unicodedata.normalize("NFKC", text).strip().upper()
    punctuation = "".join(char for char in set(word) if unicodedata.category(char).startswith("P"))
    return word.strip(punctuation + " ")


def kept_inbound_body(body: str) -> str:
    """The text as stored: NUL (which PostgreSQL cannot hold) removed, and anything over
    Twilio's limit cut with a visible marker rather than refused."""
    body = body.replace("\x00", "")
    if len(body) <= INBOUND_BODY_LIMIT:
        return body
    return body[: INBOUND_BODY_LIMIT - len(TRUNCATED_MARKER)] + TRUNCATED_MARKER


def kept_inbound_address(address: str) -> str:
    return address.replace("\x00", "")[:INBOUND_ADDRESS_LENGTH]


def _inbound_answer(session: Session, kind: str, word: str, from_address: str) -> str | None:
    settings = get_settings()
    if kind == "help":
        return settings.sms_help_text
    if kind == "stop" and word in CHINESE_STOP_WORDS:
        locale = session.exec(
            select(Customer.locale).where(Customer.phone == from_address).order_by(col(Customer.id))
        ).first()
        template = OPTED_OUT_ANSWER.get(
            Locale(locale or settings.default_locale), OPTED_OUT_ANSWER[Locale.en]
        )
        return template.format(organisation=settings.organisation_name)
    return None


@dataclass(frozen=True)
class Received:
    """The message as kept, and the text to answer it with, if any."""

    message: InboundMessage
    answer: str | None

    @property
    def left_for_tickets(self) -> bool:
        """Free text that no ticket has taken yet."""
        return self.message.kind == "message" and self.message.ticket_id is None


def handle_inbound(
    session: Session, *, provider_id: str, from_address: str, to_address: str, body: str
) -> Received:
    """Opt-out and other keywords, reply options, or a message kept for the ticket queue.
    A repeated webhook for the same message changes nothing. Any sender is kept, a short code
    or a name as much as a phone number."""
    [received] = receive_many(
        session, messages=[InboundSms(provider_id, from_address, to_address, body)]
    )
    return received


def receive_many(session: Session, *, messages: Sequence[InboundSms]) -> list[Received]:
    """``handle_inbound`` for messages of distinct senders, looked up together: the ones
    already kept, and the notices their senders reply to, in two statements rather than two
    a message (a reply storm's worker takes them a few hundred at a time)."""
    previous = {
        message.provider_id: message
        for message in session.exec(
            select(InboundMessage).where(
                col(InboundMessage.provider_id).in_([sms.provider_id for sms in messages])
            )
        )
    }
    senders = [kept_inbound_address(sms.from_address) for sms in messages]
    latest = _latest_sent(session, addresses=senders)
    return [
        _receive(session, sms, previous=previous.get(sms.provider_id), latest=latest.get(sender))
        for sms, sender in zip(messages, senders, strict=True)
    ]


def _latest_sent(session: Session, *, addresses: Sequence[str]) -> dict[str, Delivery]:
    """The last notice sent to each address, which a reply answers."""
    latest: dict[str, Delivery] = {}
    for delivery in session.exec(
        select(Delivery)
        .where(col(Delivery.address).in_(addresses), col(Delivery.sent_at).is_not(None))
        .order_by(col(Delivery.sent_at).desc())
    ):
        latest.setdefault(delivery.address, delivery)
    return latest


def _receive(
    session: Session,
    sms: InboundSms,
    *,
    previous: InboundMessage | None,
    latest: Delivery | None,
) -> Received:
    from_address = kept_inbound_address(sms.from_address)
    to_address = kept_inbound_address(sms.to_address)
    body = kept_inbound_body(sms.body)
    word = keyword(body)
    if previous is not None:
        return Received(previous, _inbound_answer(session, previous.kind, word, from_address))
    kind, answer = "message", None
    if word in STOP_WORDS:
        kind = "stop"
        suppression.suppress(
            session, channel=ChannelName.sms, address=from_address, reason=f"replied {word}"
        )
        _record_on_customer(session, from_address, "sms.opted_out", f"replied {word}: opted out")
    elif word in START_WORDS:
        kind = "start"
        suppression.unsuppress(session, channel=ChannelName.sms, address=from_address)
        _record_on_customer(session, from_address, "sms.opted_in", f"replied {word}: opted in")
    elif word in HELP_WORDS:
        kind = "help"
    elif latest is not None and word in _keywords(session, latest):
        kind = "reply"
        label = _keywords(session, latest)[word]
        latest.reply, latest.replied_at = word, clock.now()
        session.add(latest)
        answer = REPLY_NOTED[latest.locale] + label.get(latest.locale, label.get("en", word))
    answer = answer or _inbound_answer(session, kind, word, from_address)
    message = InboundMessage(
        provider_id=sms.provider_id,
        from_address=from_address,
        to_address=to_address,
        body=body,
        kind=kind,
        delivery_id=latest.id if latest else None,
        received_at=clock.now(),
    )
    session.add(message)
    return Received(message, answer)


def _record_on_customer(session: Session, phone: str, kind: str, summary: str) -> None:
    customer_id = session.exec(select(Customer.id).where(Customer.phone == phone)).first()
    if customer_id is not None:
        timeline.append(
            session,
            subject_type="customer",
            subject_id=customer_id,
            kind=kind,
            summary=summary,
            actor_id=None,
        )


def _keywords(session: Session, delivery: Delivery) -> dict[str, dict[str, str]]:
    campaign = session.get(Campaign, delivery.campaign_id)
    if campaign is None:
        raise LookupError(f"delivery {delivery.id} has no campaign")
    return {key.upper(): label for key, label in (campaign.reply_keywords or {}).items()}


class KeywordAnswers:
    """The keywords' handler: records every message it is asked about."""

    def __call__(self, session: Session, sms: InboundSms) -> Handled | None:
        [handled] = self.many(session, [sms])
        return handled

    def many(self, session: Session, messages: Sequence[InboundSms]) -> list[Handled | None]:
        return [
            None if received.left_for_tickets else Handled(received.answer)
            for received in receive_many(session, messages=messages)
        ]
