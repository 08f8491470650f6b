"""Background work: APScheduler's short sweeps, the bulk lane's sending loop and the direct
lane beside it. Each sweep claims due rows and acts on them in its own transaction, so a crash
loses nothing and several workers can run side by side."""

import asyncio
import logging
import multiprocessing
import multiprocessing.synchronize
import os
import signal
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from sqlmodel import Session

from incident_cmd import aio, wiring
from incident_cmd.campaigns import jobs as campaign_jobs
from incident_cmd.campaigns.sending import bulk_sender
from incident_cmd.config import get_settings
from incident_cmd.db import get_engine, session_scope
from incident_cmd.drills import jobs as drill_jobs
from incident_cmd.incidents import jobs as incident_jobs
from incident_cmd.integrations.twilio import inbox
from incident_cmd.integrations.twilio.handlers import SmsHandler
from incident_cmd.messaging.direct import direct_sender
from incident_cmd.messaging.outbox import Sender
from incident_cmd.paging import jobs as paging_jobs
from incident_cmd.playbooks.service import PlaybookRegistry
from incident_cmd.postmortems import jobs as postmortem_jobs
from incident_cmd.sitreps import jobs as sitrep_jobs
from incident_cmd.tickets import jobs as ticket_jobs

log = logging.getLogger(__name__)

Sweep = Callable[[Session], int]

SWEEPS: dict[str, Sweep] = {
    "page-steps": paging_jobs.run_contact_steps,
    "page-escalations": paging_jobs.escalate_due_pages,
    "incident-task-overdue": incident_jobs.mark_overdue_tasks,
    "review-followup-reminders": postmortem_jobs.remind_followups,
    "review-meetings": postmortem_jobs.sweep_meetings,
    "sla-timers": ticket_jobs.sweep_timers,
    "ticket-task-overdue": ticket_jobs.mark_overdue_tasks,
    "monthly-review": ticket_jobs.run_monthly_review,
    "monthly-review-send": ticket_jobs.send_due_review,
    "situation-reports": sitrep_jobs.send_due_reports,
    "semiannual-survey": campaign_jobs.run_semiannual_survey,
    "campaign-start": campaign_jobs.start_due_campaigns,
    "campaign-finish": campaign_jobs.finish_campaigns,
    "drill-injects": drill_jobs.fire_due_injects,
    "drill-cadence": drill_jobs.schedule_by_cadence,
    "drill-reminders": drill_jobs.remind_scheduled,
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


# Inbound SMS are answered (a page acknowledged, STOP confirmed) when this sweep files them:
# it looks more often than the others.
INBOX_INTERVAL_SECONDS = 1.0


def run_inbox(handlers: tuple[SmsHandler, ...]) -> int:
    """The ``sms-inbox`` sweep: files what the webhook kept, a transaction per message."""
    try:
        with Session(get_engine(), expire_on_commit=False) as session:
            handled = inbox.drain(session, handlers=handlers)
    except Exception:
        log.exception("sweep sms-inbox failed")
        return 0
    if handled:
        log.info("sweep sms-inbox filed %d messages", handled)
    return handled


LaneStop = multiprocessing.synchronize.Event | threading.Event


def run_lane(stop: LaneStop, parent_pid: int | None = None) -> None:
    """Runs the direct lane until ``stop`` (a threading or multiprocessing Event) is set, or
    the parent process is gone."""
    if parent_pid is not None:
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
        logging.getLogger("twilio").setLevel(logging.WARNING)
        # The parent decides when the lane stops; a Ctrl-C reaches the whole process group.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, lambda *_: stop.set())

        def watch_parent() -> None:
            while not stop.wait(1.0):
                if os.getppid() != parent_pid:
                    stop.set()

        threading.Thread(target=watch_parent, daemon=True).start()
    aio.run(_lane(stop))


async def _lane(stop) -> None:
    while not stop.is_set():
        sender = direct_sender(get_engine())
        try:
            await sender.run(stop)
        except Exception:
            log.exception("direct lane failed; restarting it")
            await asyncio.sleep(1)
        finally:
            await sender.close()


class DirectLane:
    """The direct lane beside the dispatcher, never behind it: in a process of its own for
    workers (no shared interpreter lock with a dispatcher at full speed), or on a thread with
    its own event loop where one process does everything (``serve`` on SQLite)."""

    def __init__(self, *, separate_process: bool) -> None:
        self._stop: LaneStop
        self._runner: multiprocessing.process.BaseProcess | threading.Thread
        if separate_process:
            context = multiprocessing.get_context("spawn")
            self._stop = context.Event()
            self._runner = context.Process(
                target=run_lane, args=(self._stop, os.getpid()), name="direct-lane", daemon=True
            )
        else:
            self._stop = threading.Event()
            self._runner = threading.Thread(
                target=run_lane, args=(self._stop,), name="direct-lane", daemon=True
            )

    def start(self) -> None:
        self._runner.start()

    def stop(self, timeout: float = 30) -> None:
        self._stop.set()
        self._runner.join(timeout)


@dataclass
class Background:
    scheduler: AsyncIOScheduler
    dispatcher: Sender
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
    loop: asyncio.AbstractEventLoop,
    *,
    direct_process: bool = False,
    sms_handlers: Sequence[SmsHandler] | None = None,
) -> Background:
    """``sms_handlers`` are the web app's where it runs the sweeps itself; a worker makes its
    own from the playbook directory in the settings."""
    interval = get_settings().sweep_interval_seconds
    scheduler = AsyncIOScheduler(event_loop=loop, timezone="UTC")
    handlers = tuple(sms_handlers or wiring.twilio_handlers(PlaybookRegistry.from_settings()).sms)
    scheduler.add_job(
        run_inbox,
        "interval",
        seconds=min(interval, INBOX_INTERVAL_SECONDS),
        args=[handlers],
        id="sms-inbox",
        max_instances=1,
        coalesce=True,
    )
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
    dispatcher = bulk_sender(get_engine())
    stop_event = asyncio.Event()
    sending = loop.create_task(_send_forever(dispatcher, stop_event))
    return Background(scheduler, dispatcher, direct, stop_event, sending)


async def _send_forever(dispatcher: Sender, stop_event: asyncio.Event) -> None:
    while not stop_event.is_set():
        try:
            await dispatcher.run(stop_event)
        except Exception:
            log.exception("dispatcher failed; restarting it")
            await asyncio.sleep(1)
