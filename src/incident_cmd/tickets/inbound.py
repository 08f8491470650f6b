"""A customer writing to us by SMS: what no other handler took, the ticket queue files."""

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
        inbound = unfiled_message(session, provider_id=sms.provider_id)
        if inbound is None:
            return None
        if not answerable(inbound.from_address):
            keep_unfiled(session, inbound=inbound)
            return Handled()
        _, answer = flows.from_sms(session, inbound=inbound, registry=self.registry)
        return Handled(answer)


def answerable(sender: str) -> bool:
    """Whether a ticket can answer this sender. A short code, a sender name or a number the
    phone library does not know stays in inbound_messages, unfiled, rather than failing."""
    try:
        normalise_phone(sender)
    except ValueError:
        return False
    return True


def unfiled_message(session: Session, *, provider_id: str) -> InboundMessage | None:
    """The customer's free-text message with this id, if no ticket has taken it yet."""
    return session.exec(
        select(InboundMessage).where(
            InboundMessage.provider_id == provider_id,
            InboundMessage.kind == "message",
            col(InboundMessage.ticket_id).is_(None),
        )
    ).first()


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
