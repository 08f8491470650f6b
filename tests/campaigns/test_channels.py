import asyncio
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from incident_cmd.config import get_settings
from incident_cmd.messaging.channels import Outbound, TwilioVoiceChannel, channels_for

CONTRACT = json.loads(
    (Path(__file__).parents[1] / "data" / "twilio_api_v2010_messages_calls.json").read_text()
)
CALLS = CONTRACT["paths"]["/2010-04-01/Accounts/{AccountSid}/Calls.json"]["post"]
CALL_FIELDS = set(
    CALLS["requestBody"]["content"]["application/x-www-form-urlencoded"]["schema"]["properties"]
)
CALL_RESPONSE = set(CONTRACT["components"]["schemas"]["api.v2010.account.call"]["properties"])


def test_voice_call_reads_the_message_through_twilio(twilio):
    async def main():
        channel = TwilioVoiceChannel(get_settings())
        try:
            outcome = await channel.send(
                Outbound(
                    delivery_id=1,
                    address="+8613900000001",
                    body="事件 INC-2026-0001:请按 1 确认 <紧急>",
                )
            )
            found = await channel.find_sent(
                Outbound(delivery_id=1, address="+8613900000001", body=""),
                since=datetime.now(UTC) - timedelta(minutes=5),
            )
            return outcome, found
        finally:
            await channel.close()

    outcome, found = asyncio.run(main())
    assert outcome.kind == "sent" and outcome.provider_id.startswith("CA")
    assert found == outcome.provider_id
    [call] = twilio.fake.state.calls.values()
    assert call["to"] == "+8613900000001"
    assert "&lt;紧急&gt;" in call["twiml"] and call["twiml"].startswith("<Response><Say")
    assert set(call) - {"twiml"} <= CALL_RESPONSE
    assert set(twilio.fake.state.requests[-1]) <= CALL_FIELDS


def test_unconfigured_and_drill_channels_are_sinks(twilio):
    async def main():
        settings = get_settings()
        live = channels_for(settings)
        drill = channels_for(settings, drill=True)
        names = {name: type(channel).__name__ for name, channel in live.items()}
        for channel in live.values():
            await channel.close()
        return names, {type(channel).__name__ for channel in drill.values()}

    live, drill = asyncio.run(main())
    assert live == {
        "sms": "TwilioSmsChannel",
        "voice": "TwilioVoiceChannel",
        "email": "SinkChannel",
    }  # no SMTP host configured
    assert drill == {"SinkChannel"}
