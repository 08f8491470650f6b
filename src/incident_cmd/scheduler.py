"""APScheduler wiring: the sweeps, nothing else. Each sweep claims due rows and acts on them in
its own transaction, so a crash loses nothing and several workers can run side by side."""

import asyncio
import logging
from collections.abc import Callable

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from sqlmodel import Session

from incident_cmd.config import get_settings
from incident_cmd.db import session_scope
from incident_cmd.incidents import service as incident_service

log = logging.getLogger(__name__)

Sweep = Callable[[Session], int]

SWEEPS: dict[str, Sweep] = {
    "incident-task-overdue": incident_service.mark_overdue_tasks,
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


def start_sweeps(loop: asyncio.AbstractEventLoop) -> AsyncIOScheduler:
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
    return scheduler
