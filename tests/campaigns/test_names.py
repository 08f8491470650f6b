"""Long names are kept whole; only the SMS greeting shortens them."""

from sqlmodel import select

from incident_cmd import db
from incident_cmd.messaging.models import SinkMessage
from incident_cmd.messaging.templates import SMS_NAME_LENGTH
from tests.plugins.messaging import dispatch

LONG_NAME = "Maria " + "de los Santos " * 30 + "García"


def test_a_long_name_is_shortened_in_the_sms_greeting_only(world):
    world.import_customers([("CN00001", LONG_NAME, "+8613900000001", "America/New_York", "B7")])
    incident_id = world.declare_recall()
    for plan in ("recall_sms", "recall_email"):
        world.approve_and_start(world.campaign_for(incident_id, plan))
    assert dispatch() == 2
    with db.session_scope() as session:
        sent = {message.channel: message.body for message in session.exec(select(SinkMessage))}
    assert LONG_NAME in sent["email"]
    assert LONG_NAME not in sent["sms"]
    greeting = LONG_NAME[: SMS_NAME_LENGTH - 1] + "…"
    assert f"Dear {greeting}," in sent["sms"]
