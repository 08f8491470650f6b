"""Where the domains meet the providers: who answers what Twilio posts, and in which order."""

from incident_cmd.campaigns import inbound as keywords
from incident_cmd.campaigns import status as deliveries
from incident_cmd.integrations.twilio.handlers import TwilioHandlers
from incident_cmd.paging import inbound as paging
from incident_cmd.playbooks.service import PlaybookRegistry
from incident_cmd.tickets import inbound as tickets


def twilio_handlers(registry: PlaybookRegistry) -> TwilioHandlers:
    """A paged person answering comes first; then keywords and replies to a notice; what is
    left is a customer writing to us, which the ticket queue takes."""
    return TwilioHandlers(
        sms=(paging.PageAnswers(), keywords.KeywordAnswers(), tickets.SmsIntake(registry)),
        keypad=paging.answer_keypad,
        status=deliveries.record_delivery_status,
    )
