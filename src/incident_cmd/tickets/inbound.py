"""A customer writing to us by SMS: what no other handler took, the ticket queue files."""

from collections.abc import Sequence
from dataclasses import dataclass

from sqlmodel import Session, col, select

from incident_cmd.auth.schemas import normalise_phone
from incident_cmd.campaigns.models import InboundMessage
from incident_cmd.integrations.twilio.handlers import Handled, InboundSms
from incident_cmd.playbooks.service import PlaybookRegistry
from incident_cmd.tickets import flows
from incident_cmd.timeline import service as timeline


@dataclass(frozen=True)
class SmsIntake:
    """Files the customer's message on a ticket, or keeps it unfiled when no ticket could
    answer the sender. Asked after the keywords, which record the message."""

    registry: PlaybookRegistry

    def __call__(self, session: Session, sms: InboundSms) -> Handled | None:
        [handled] = self.many(session, [sms])
        return handled

    def many(self, session: Session, messages: Sequence[InboundSms]) -> list[Handled | None]:
        """The messages of distinct senders, the new tickets among them taken in together."""
        found = unfiled_messages(session, provider_ids=[sms.provider_id for sms in messages])
        handled: list[Handled | None] = [None] * len(messages)
        filing: list[tuple[int, InboundMessage]] = []
        for place, sms in enumerate(messages):
            inbound = found.get(sms.provider_id)
            if inbound is None:
                continue
            if answerable(inbound.from_address):
                filing.append((place, inbound))
            else:
                keep_unfiled(session, inbound=inbound)
                handled[place] = Handled()
        filed = flows.from_sms_many(
            session, inbounds=[inbound for _, inbound in filing], registry=self.registry
        )
        for (place, _), (_, answer) in zip(filing, filed, strict=True):
            handled[place] = Handled(answer)
        return handled


def answerable(sender: str) -> bool:
    """Whether a ticket can answer this sender. A short code, a sender name or a number the
    phone library does not know stays in inbound_messages, unfiled, rather than failing."""
    try:
        normalise_phone(sender)
    except ValueError:
        return False
    return True


def unfiled_messages(session: Session, *, provider_ids: Sequence[str]) -> dict[str, InboundMessage]:
    """The customers' free-text messages with these ids that no ticket has taken yet."""
    if not provider_ids:
        return {}
    return {
        message.provider_id: message
        for message in session.exec(
            select(InboundMessage).where(
                col(InboundMessage.provider_id).in_(provider_ids),
                InboundMessage.kind == "message",
                col(InboundMessage.ticket_id).is_(None),
            )
        )
    }


def keep_unfiled(session: Session, *, inbound: InboundMessage) -> None:
    """A message no ticket can answer (a short code, a sender name): kept, and said so."""
    timeline.append(
        session,
        subject_type="inbound_sms",
        subject_id=inbound.id,
        kind="sms.unfiled",
        summary=f"SMS from {inbound.from_address!r} kept unfiled: a ticket cannot answer "
        "a sender that is not a phone number",
        actor_id=None,
    )
