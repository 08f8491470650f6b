"""The incident room's delivery funnel moves while the notice sends, with no reload: a
comms person watches the SMS recall notice go out in Chromium while a worker sends it to the
fake Twilio server under a rate limit. On SQLite the worker runs in this process (as ``serve``
runs it there); on PostgreSQL it is a real ``incident-cmd worker`` process, so the progress
reaches the page through LISTEN/NOTIFY. And the last change of a burst is shown even when it
is announced while the funnel is being fetched."""

import asyncio
import itertools
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from playwright.sync_api import Browser, Locator, Page, Route, expect
from sqlalchemy import update
from sqlmodel import col, select

from incident_cmd import clock, db
from incident_cmd.auth import service as auth_service
from incident_cmd.campaigns.models import Delivery, DeliveryStatus
from incident_cmd.campaigns.sending import PROGRESS_EVENT
from incident_cmd.config import get_settings
from incident_cmd.live import events as live
from incident_cmd.scheduler import start_background
from tests.factories import shanghai_customers
from tests.plugins.web import PASSWORD, chromium, needs_chromium

SHOTS = Path("/tmp/shots")
AUDIENCE = 300
# About five seconds of sending: the bulk lane writes outcomes (and announces progress) every
# quarter of a second, the room refreshes at most once a second.
RATE_PER_SECOND = 60
# Bounds a failing test only; every wait ends as soon as the page shows what it waits for. A
# send the provider does not answer in time is looked up again half a minute later, and a
# worker stops only after its direct lane's process has (on a loaded two-core machine each
# can take tens of seconds).
WAIT_MS = 120_000
WORKER_START_SECONDS = 60


@contextmanager
def worker_in_this_process() -> Iterator[None]:
    """The background sweeps and the bulk lane on a thread with an event loop of its own,
    as ``serve`` runs them on SQLite: its commits reach the server's hub in this process."""
    ready = threading.Event()
    running: list[tuple[asyncio.AbstractEventLoop, asyncio.Event]] = []

    async def main() -> None:
        loop, stopping = asyncio.get_running_loop(), asyncio.Event()
        running.append((loop, stopping))
        background = start_background(loop)
        ready.set()
        await stopping.wait()
        await background.stop()

    thread = threading.Thread(target=asyncio.run, args=(main(),), name="worker", daemon=True)
    thread.start()
    assert ready.wait(WORKER_START_SECONDS), "the in-process worker did not start"
    try:
        yield
    finally:
        loop, stopping = running[0]
        loop.call_soon_threadsafe(stopping.set)
        thread.join(WORKER_START_SECONDS)


@contextmanager
def worker_process(log_path: Path) -> Iterator[None]:
    """``incident-cmd worker`` in a process of its own, configured as this test is."""
    with log_path.open("wb") as log:
        worker = subprocess.Popen(
            [sys.executable, "-m", "incident_cmd.cli", "worker"],
            env=dict(os.environ),
            stdout=subprocess.DEVNULL,
            stderr=log,
        )
        try:
            yield
        except BaseException:
            print(log_path.read_text()[-3000:], file=sys.stderr)
            raise
        finally:
            worker.send_signal(signal.SIGTERM)
            worker.wait(timeout=WORKER_START_SECONDS)


@contextmanager
def system_clock() -> Iterator[None]:
    """The worker reads the system clock, as it does when served: a worker process always
    does, and on a frozen clock a send the provider did not answer in time would never be
    looked up again, so the notice would never complete."""
    with clock.use(lambda: datetime.now(UTC)):
        yield


def _comms_in_the_room(browser: Browser, world, base_url: str, incident_id: int) -> Page:
    with db.session_scope() as session:
        comms = world.user(session, world.comms)
        auth_service.set_password(session, user=comms, password=PASSWORD, actor_id=None)
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.goto(f"{base_url}/login")
    page.fill("input[name=username]", world.comms)
    page.fill("input[name=password]", PASSWORD)
    page.click("form[action='/login'] button[type=submit]")
    page.wait_for_url(lambda url: not url.endswith("/login"))
    page.goto(f"{base_url}/incidents/{incident_id}")
    return page


def _shot(page: Page, tmp_path: Path, name: str) -> None:
    path = tmp_path / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    SHOTS.mkdir(parents=True, exist_ok=True)
    shutil.copy(path, SHOTS / path.name)


def _figure(tile: Locator) -> int:
    value = tile.get_attribute("data-value")
    assert value is not None
    return int(value)


def _chart_bars(page: Page, campaign_id: int) -> dict[str, int]:
    """What the funnel chart draws: each bar's label and value."""
    return page.evaluate(
        """(id) => {
            const box = document.querySelector(`#campaign-${id} [data-funnel]`);
            const option = echarts.getInstanceByDom(box).getOption();
            const names = option.yAxis[0].data;
            return Object.fromEntries(option.series[0].data.map((bar, i) => [names[i], bar.value]));
        }""",
        campaign_id,
    )


@needs_chromium
def test_the_funnel_moves_live_while_the_notice_sends(
    world, twilio, live_server, use_database, monkeypatch, tmp_path
):
    monkeypatch.setenv("INCIDENT_CMD_SEND_RATE_PER_SECOND", str(RATE_PER_SECOND))
    monkeypatch.setenv("INCIDENT_CMD_SWEEP_INTERVAL_SECONDS", "0.5")
    get_settings.cache_clear()
    backend = use_database.backend
    with system_clock():
        customers = shanghai_customers(AUDIENCE)
        world.import_customers(customers)
        incident_id = world.declare_recall()
        sms_id = world.campaign_for(incident_id, "recall_sms")
        world.approve_and_start(sms_id)

        with chromium() as browser:
            page = _comms_in_the_room(browser, world, live_server, incident_id)
            campaign = page.locator(f"#campaign-{sms_id}")
            waiting = campaign.locator("[data-stage=pending]")
            sent = campaign.locator("[data-stage=sent]")
            expect(waiting).to_have_attribute("data-value", str(AUDIENCE))
            expect(campaign.locator("[data-funnel] canvas")).to_be_attached()
            assert sent.count() == 0  # nothing sent yet: the stage is not shown
            # Whatever the page holds survives only if it is never reloaded.
            page.evaluate("window.funnelWatched = true")
            _shot(page, tmp_path, f"funnel-{backend}-before")

            worker = (
                worker_process(tmp_path / "worker.log")
                if backend == "postgres"
                else worker_in_this_process()
            )
            with worker:
                expect(sent).to_have_attribute(
                    "data-value", re.compile(r"[1-9]\d*"), timeout=WAIT_MS
                )
                first = _figure(sent)
                expect(sent).not_to_have_attribute("data-value", str(first), timeout=WAIT_MS)
                second = _figure(sent)
                _shot(page, tmp_path, f"funnel-{backend}-during")
                assert 0 < first < second, (first, second)
                assert first < AUDIENCE, "the first figure shown was already the last"

                expect(campaign.locator(".campaign-completed")).to_be_visible(timeout=WAIT_MS)
                expect(sent).to_have_attribute("data-value", str(AUDIENCE), timeout=WAIT_MS)

            expect(sent.locator("dd")).to_have_text(str(AUDIENCE))
            expect(waiting).to_have_attribute("data-value", "0")
            sent_label = sent.locator("dt").inner_text()
            assert _chart_bars(page, sms_id)[sent_label] == AUDIENCE
            assert page.evaluate("window.funnelWatched") is True, "the room was reloaded"
            _shot(page, tmp_path, f"funnel-{backend}-after")

    per_number = twilio.fake.counts_by_recipient()
    assert all(per_number[phone] == 1 for _, _, phone, *_ in customers)


def _sent(campaign_id: int, incident_id: int, count: int) -> None:
    """``count`` more messages sent, announced as the bulk lane announces a batch."""
    with db.session_scope() as session:
        ids = session.exec(
            select(Delivery.id)
            .where(Delivery.campaign_id == campaign_id, Delivery.status == DeliveryStatus.pending)
            .order_by(col(Delivery.id))
            .limit(count)
        ).all()
        session.execute(
            update(Delivery).where(col(Delivery.id).in_(ids)).values(status=DeliveryStatus.sent)
        )
        live.announce(session, live.LiveEvent("campaign", campaign_id, PROGRESS_EVENT, incident_id))


@needs_chromium
def test_a_batch_announced_while_the_funnel_is_fetched_is_still_shown(world, live_server):
    """htmx drops an event that arrives while its section is being fetched; the room fetches
    once more, or the funnel would keep a figure that is no longer true."""
    world.import_customers(shanghai_customers(20))
    incident_id = world.declare_recall()
    sms_id = world.campaign_for(incident_id, "recall_sms")
    world.approve_and_start(sms_id)
    held: list[Route] = []

    def hold_the_first_fetch(route: Route) -> None:
        if held:
            route.continue_()
        else:
            held.append(route)

    with chromium() as browser:
        page = _comms_in_the_room(browser, world, live_server, incident_id)
        sent = page.locator(f"#campaign-{sms_id} [data-stage=sent]")
        expect(page.locator(f"#campaign-{sms_id} [data-funnel] canvas")).to_be_attached()
        page.evaluate(
            """() => {
                window.heard = 0;
                document.addEventListener("sse:incident", (event) => {
                    if (event.target.id === "room-campaigns") window.heard += 1;
                }, true);
            }"""
        )
        page.route("**/fragments/campaigns*", hold_the_first_fetch)

        with page.expect_request("**/fragments/campaigns*"):
            _sent(sms_id, incident_id, 5)
        page.wait_for_function("() => window.heard === 1")
        assert len(held) == 1
        # The answer as it was before the next batch; the batch is announced meanwhile.
        answer_before = held[0].fetch()
        _sent(sms_id, incident_id, 7)
        page.wait_for_function("() => window.heard === 2")
        held[0].fulfill(response=answer_before)

        expect(sent).to_have_attribute("data-value", "5")
        expect(sent).to_have_attribute("data-value", "12")
        expect(page.locator(f"#campaign-{sms_id} [data-funnel] canvas")).to_be_attached()


@needs_chromium
def test_a_burst_of_announcements_refreshes_a_section_at_most_once_a_second(world, live_server):
    """A sending notice announces progress several times a second; each viewer refetches a
    section no more than once a second, and still ends on the last figure."""
    world.import_customers(shanghai_customers(20))
    incident_id = world.declare_recall()
    sms_id = world.campaign_for(incident_id, "recall_sms")
    world.approve_and_start(sms_id)
    with chromium() as browser:
        page = _comms_in_the_room(browser, world, live_server, incident_id)
        sent = page.locator(f"#campaign-{sms_id} [data-stage=sent]")
        expect(page.locator(f"#campaign-{sms_id} [data-funnel] canvas")).to_be_attached()
        page.evaluate(
            """() => {
                window.fetchedAt = [];
                document.addEventListener("htmx:beforeSend", (event) => {
                    if (event.detail.elt.id === "room-campaigns") window.fetchedAt.push(Date.now());
                });
            }"""
        )
        for _ in range(8):
            _sent(sms_id, incident_id, 1)
        expect(sent).to_have_attribute("data-value", "8")
        fetched_at = page.evaluate("() => window.fetchedAt")
        assert fetched_at
        gaps = [later - earlier for earlier, later in itertools.pairwise(fetched_at)]
        assert all(gap >= 950 for gap in gaps), gaps
