"""Background work: APScheduler's short sweeps, and the dispatcher's sending loop. Each sweep
claims due rows and acts on them in its own transaction, so a crash loses nothing and several
workers can run side by side."""

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from sqlmodel import Session

from incident_cmd.config import get_settings
from incident_cmd.db import get_engine, session_scope
from incident_cmd.incidents import service as incident_service
from incident_cmd.notify import service as notify_service
from incident_cmd.notify.direct import DirectLane
from incident_cmd.notify.dispatcher import Dispatcher
from incident_cmd.paging import service as paging_service
from incident_cmd.tickets import review as ticket_review
from incident_cmd.tickets import service as ticket_service

log = logging.getLogger(__name__)

Sweep = Callable[[Session], int]

SWEEPS: dict[str, Sweep] = {
    "page-steps": paging_service.run_contact_steps,
    "page-escalations": paging_service.escalate_due_pages,
    "incident-task-overdue": incident_service.mark_overdue_tasks,
    "sla-timers": ticket_service.sweep_timers,
    "ticket-task-overdue": ticket_service.mark_overdue_tasks,
    "monthly-review": ticket_review.run_monthly_review,
    "campaign-start": notify_service.start_due_campaigns,
    "campaign-finish": notify_service.finish_campaigns,
}


def run_sweep(name: str) -> int:
    try:
        with session_scope() as session:
            handled = SWEEPS[name](session)
    except Exception:
        # A failing sweep must not stop the scheduler; the rows stay due and are retried.
        log.exception("sweep %s failed", name)
        return 0
    if handled:
        log.info("sweep %s handled %d rows", name, handled)
    return handled


@dataclass
class Background:
    scheduler: AsyncIOScheduler
    dispatcher: Dispatcher
    direct: DirectLane
    stop_event: asyncio.Event
    sending: asyncio.Task

    async def stop(self) -> None:
        self.scheduler.shutdown(wait=False)
        self.stop_event.set()
        await asyncio.to_thread(self.direct.stop)
        await self.sending
        await self.dispatcher.close()


def start_background(
    loop: asyncio.AbstractEventLoop, *, direct_process: bool = False
) -> Background:
    interval = get_settings().sweep_interval_seconds
    scheduler = AsyncIOScheduler(event_loop=loop, timezone="UTC")
    for name in SWEEPS:
        scheduler.add_job(
            run_sweep,
            "interval",
            seconds=interval,
            args=[name],
            id=name,
            max_instances=1,
            coalesce=True,
        )
    scheduler.start()
    direct = DirectLane(separate_process=direct_process)
    direct.start()
    dispatcher = Dispatcher(get_engine())
    stop_event = asyncio.Event()
    sending = loop.create_task(_send_forever(dispatcher, stop_event))
    return Background(scheduler, dispatcher, direct, stop_event, sending)


async def _send_forever(dispatcher: Dispatcher, stop_event: asyncio.Event) -> None:
    while not stop_event.is_set():
        try:
            await dispatcher.run(stop_event)
        except Exception:
            log.exception("dispatcher failed; restarting it")
            await asyncio.sleep(1)
