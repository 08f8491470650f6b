"""Keywords a customer texts back: opt-out, START, HELP and a notice's reply options."""

from sqlmodel import Session

from incident_cmd.campaigns import service
from incident_cmd.integrations.twilio.handlers import Handled, InboundSms


def answer_keyword(session: Session, sms: InboundSms) -> Handled | None:
    """Records every message it is asked about; free text that no ticket has taken yet it
    leaves to the handlers after it."""
    answer = service.handle_inbound(
        session,
        provider_id=sms.provider_id,
        from_address=sms.from_address,
        to_address=sms.to_address,
        body=sms.body,
    )
    if service.unfiled_message(session, provider_id=sms.provider_id) is not None:
        return None
    return Handled(answer)
