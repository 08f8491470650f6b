"""The campaign funnel moves live while the bulk lane sends: one progress event per campaign
for each batch of outcomes it writes, not one per message."""

import asyncio

from incident_cmd import db
from incident_cmd.campaigns.sending import PROGRESS_EVENT
from incident_cmd.config import get_settings
from incident_cmd.live.events import LiveEvent
from incident_cmd.live.hub import Hub
from incident_cmd.timeline import service as timeline
from tests.factories import shanghai_customers
from tests.plugins.messaging import dispatch

WAIT_SECONDS = 10


def commit_marker() -> None:
    with db.session_scope() as session:
        timeline.append(
            session,
            subject_type="incident",
            subject_id=0,
            kind="marker",
            summary="marker",
            actor_id=None,
        )


def test_sending_announces_progress_once_per_batch(world, twilio, monkeypatch):
    monkeypatch.setenv("INCIDENT_CMD_DISPATCH_BATCH_SIZE", "5")
    get_settings.cache_clear()
    world.import_customers(shanghai_customers(12, "B7"))
    incident_id = world.declare_recall(batches=("B7",))
    campaign_id = world.campaign_for(incident_id, "recall_sms")
    world.approve_and_start(campaign_id)

    async def main() -> list[LiveEvent]:
        hub = Hub(db.get_engine())
        await hub.start()
        try:
            subscription = hub.subscribe(lambda event: event.incident_id is not None)
            assert await asyncio.to_thread(dispatch) == 12
            await asyncio.to_thread(commit_marker)
            heard = []
            while not heard or heard[-1].kind != "marker":
                heard.append(await asyncio.wait_for(subscription.next(), WAIT_SECONDS))
            return heard[:-1]
        finally:
            await hub.stop()

    # Twelve messages in batches of five are three batches of outcomes.
    assert (
        asyncio.run(main()) == [LiveEvent("campaign", campaign_id, PROGRESS_EVENT, incident_id)] * 3
    )
