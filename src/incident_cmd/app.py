"""The FastAPI application: routers, error answers, and the checks made before serving."""

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.responses import RedirectResponse, Response

from incident_cmd import api_contract, db, migrate, wiring
from incident_cmd.accountability.api import router as accountability_router
from incident_cmd.admission import AdmissionLimit
from incident_cmd.auth.api import router as auth_router
from incident_cmd.auth.throttle import LoginThrottle
from incident_cmd.campaigns.api import public as campaigns_public_router
from incident_cmd.campaigns.api import router as campaigns_router
from incident_cmd.config import get_settings
from incident_cmd.customers.api import router as customers_router
from incident_cmd.db import get_engine
from incident_cmd.errors import Forbidden, NotFound
from incident_cmd.incidents.api import router as incidents_router
from incident_cmd.integrations.twilio import inbox
from incident_cmd.integrations.twilio.api import router as twilio_router
from incident_cmd.live.hub import Hub
from incident_cmd.paging.api import public as paging_public_router
from incident_cmd.paging.api import router as paging_router
from incident_cmd.playbooks.api import router as playbooks_router
from incident_cmd.playbooks.service import PlaybookRegistry
from incident_cmd.postmortems.api import router as postmortems_router
from incident_cmd.sitreps.api import router as sitreps_router
from incident_cmd.statements.api import router as statements_router
from incident_cmd.teams.api import router as teams_router
from incident_cmd.tickets.api import intake_group
from incident_cmd.tickets.api import router as tickets_router
from incident_cmd.web import translations
from incident_cmd.web.accountability import router as accountability_page_router
from incident_cmd.web.admin import router as admin_router
from incident_cmd.web.admin_oncall import router as admin_oncall_router
from incident_cmd.web.api import LoginRequired, login_path
from incident_cmd.web.api import router as web_router
from incident_cmd.web.assets import STATIC_PATH, StaticAssets
from incident_cmd.web.board import router as board_router
from incident_cmd.web.customers import router as customers_page_router
from incident_cmd.web.declare import router as declare_router
from incident_cmd.web.drill_calendar import router as drill_calendar_router
from incident_cmd.web.drill_evaluation import router as drill_evaluation_router
from incident_cmd.web.drills import router as drills_page_router
from incident_cmd.web.incident_room import router as incident_room_router
from incident_cmd.web.live import router as live_router
from incident_cmd.web.public_cache import PublicResponseCache
from incident_cmd.web.queue import router as queue_router
from incident_cmd.web.refused import error_page
from incident_cmd.web.report_pages import router as report_pages_router
from incident_cmd.web.review import router as review_page_router
from incident_cmd.web.security import LINK_PATH_PREFIXES, SecurityHeaders
from incident_cmd.web.sitreps import router as sitreps_page_router
from incident_cmd.web.statements import router as statements_page_router
from incident_cmd.web.status_feeds import router as status_feeds_router
from incident_cmd.web.status_lookup import router as status_lookup_router
from incident_cmd.web.status_pages import router as status_pages_router
from incident_cmd.web.status_subscriptions import router as status_subscriptions_router
from incident_cmd.web.survey_page import router as survey_page_router

# Paths whose refusals are the API's ErrorBody whoever asks: the API, the providers' webhooks,
# the live streams, static files, and the signed link pages (the API document states their
# 403). Every other path is a page, and refuses with a page.
ERROR_BODY_PATHS = ("/api/", "/webhooks/", "/live/", "/static/", *LINK_PATH_PREFIXES)


async def _login_required(request: Request, _: LoginRequired) -> RedirectResponse:
    return RedirectResponse(login_path(request), status_code=303)


async def _not_found_or_forbidden(request: Request, exc: NotFound | Forbidden) -> Response:
    if request.url.path.startswith(ERROR_BODY_PATHS):
        return api_contract.error_answer(exc.status_code, exc.message, field=exc.field)
    return error_page(request, exc)


def create_app(
    *,
    registry: PlaybookRegistry | None = None,
    check_schema: bool = True,
    run_worker: bool | None = None,
) -> FastAPI:
    """``registry`` defaults to the playbook directory in the settings; the app will not start
    with an invalid playbook or a database that is behind the code."""
    settings = get_settings()
    playbooks = registry or PlaybookRegistry.from_settings()
    in_process_worker = settings.worker_in_process if run_worker is None else run_worker
    translations.load_catalogs()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if check_schema:
            migrate.ensure_current(get_engine())
        # This process's one listener for live updates, whoever commits them.
        app.state.live_hub = Hub(get_engine())
        await app.state.live_hub.start()
        background = None
        if in_process_worker:
            from incident_cmd.scheduler import start_background

            background = start_background(
                asyncio.get_running_loop(), sms_handlers=app.state.twilio_handlers.sms
            )
        try:
            yield
        finally:
            if background is not None:
                await background.stop()
            await app.state.live_hub.stop()

    app = api_contract.ContractApp(title="incident_cmd", version="0.1.0", lifespan=lifespan)
    app.state.playbooks = playbooks
    app.state.twilio_handlers = wiring.twilio_handlers(playbooks)
    app.state.ticket_intakes = intake_group(playbooks)
    app.state.inbox_writes = inbox.writes()
    app.state.login_throttle = LoginThrottle.from_settings()
    app.add_middleware(SecurityHeaders)
    app.add_middleware(AdmissionLimit, limit=db.POOL_CAPACITY)
    api_contract.install(app)
    # Outermost: a public page kept for a second or two is answered before anything else runs.
    app.add_middleware(PublicResponseCache)
    app.exception_handler(LoginRequired)(_login_required)
    # Chosen over api_contract's DomainError handler: Starlette takes the closest class's.
    app.exception_handler(NotFound)(_not_found_or_forbidden)
    app.exception_handler(Forbidden)(_not_found_or_forbidden)
    for router in (
        # First: routes are matched in order, and Twilio's webhooks take a reply storm's
        # hundreds of requests a second, each of which would otherwise be tried against
        # every API route before them (a sixth of the webhook's time in a profile).
        twilio_router,
        auth_router,
        teams_router,
        playbooks_router,
        incidents_router,
        statements_router,
        sitreps_router,
        postmortems_router,
        accountability_router,
        customers_router,
        campaigns_router,
        campaigns_public_router,
        paging_router,
        paging_public_router,
        tickets_router,
        web_router,
        customers_page_router,
        admin_router,
        admin_oncall_router,
        board_router,
        declare_router,
        incident_room_router,
        live_router,
        queue_router,
        # Before the status pages: /status/lookup and /status/feed.atom are not numbers.
        status_feeds_router,
        status_lookup_router,
        status_pages_router,
        status_subscriptions_router,
        statements_page_router,
        sitreps_page_router,
        survey_page_router,
        review_page_router,
        report_pages_router,
        accountability_page_router,
        # Before the drill console: /drills/calendar and /drills/training are not run ids.
        drill_calendar_router,
        drills_page_router,
        drill_evaluation_router,
    ):
        app.include_router(router)
    app.mount(STATIC_PATH, StaticAssets(), name="static")

    @app.get("/healthz", tags=["ops"])
    def healthz() -> dict[str, str]:
        """Public: liveness for load balancers; reveals nothing."""
        return {"status": "ok"}

    return app
