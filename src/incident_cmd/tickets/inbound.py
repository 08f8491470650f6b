"""A customer writing to us by SMS: what no other handler took, the ticket queue files."""

from dataclasses import dataclass

from sqlmodel import Session

from incident_cmd.auth.schemas import normalise_phone
from incident_cmd.campaigns import inbound as keywords
from incident_cmd.integrations.twilio.handlers import Handled, InboundSms
from incident_cmd.playbooks.service import PlaybookRegistry
from incident_cmd.tickets import flows


@dataclass(frozen=True)
class SmsIntake:
    """Files the customer's message on a ticket, or keeps it unfiled when no ticket could
    answer the sender. Asked after the keywords, which record the message."""

    registry: PlaybookRegistry

    def __call__(self, session: Session, sms: InboundSms) -> Handled | None:
        inbound = keywords.unfiled_message(session, provider_id=sms.provider_id)
        if inbound is None:
            return None
        if not answerable(inbound.from_address):
            keywords.keep_unfiled(session, inbound=inbound)
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
