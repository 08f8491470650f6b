"""The public feeds (no login): an Atom feed of the published statements of every incident the
status page lists (``/status/feed.atom``) or of one (``/status/{number}/feed.atom``), and the
read side of Atlassian Statuspage's public API (``/api/v2/summary.json``, ``status.json``,
``incidents.json``, ``incidents/unresolved.json``) in its shapes, for the tools and widgets
that read it. Products are its components, an incident's number its id.

In the language the ``lang`` query names, else the reader's (the switch's cookie, else
Accept-Language). Cached as the status pages are: the same ETag rule, 304 until a statement
is published."""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated
from urllib.parse import urlsplit

from fastapi import APIRouter, Query, Request, status
from fastapi.responses import Response
from feedgen.feed import FeedGenerator
from pydantic import BaseModel
from sqlmodel import Session

from incident_cmd import clock
from incident_cmd.config import get_settings
from incident_cmd.deps import SessionDep
from incident_cmd.errors import error_responses
from incident_cmd.i18n import Locale
from incident_cmd.playbooks.schema import PublicStatus
from incident_cmd.statements import feeds, public
from incident_cmd.statements.feeds import (
    StatuspageComponent,
    StatuspageIncident,
    StatuspageIncidents,
    StatuspagePage,
    StatuspageStatus,
    StatuspageStatusAnswer,
    StatuspageSummary,
)
from incident_cmd.statements.public import Freshness, PublicIncident
from incident_cmd.web import translations
from incident_cmd.web.labels import N_
from incident_cmd.web.status_pages import (
    CACHE_CONTROL,
    STAGES,
    VARY,
    cache_headers,
    etag_of,
    not_modified,
)

router = APIRouter(tags=["status"])

ATOM = "application/atom+xml; charset=utf-8"
Language = Annotated[
    Locale | None,
    Query(alias="lang", description="zh-CN or en; else the cookie's, else Accept-Language's"),
]

INDICATOR_DESCRIPTIONS = {
    "none": N_("All our products and services are working normally"),
    "minor": N_("Minor disruption"),
    "major": N_("Partial disruption"),
    "critical": N_("Major disruption"),
}
ADVICE_HEADING = N_("What you should do")
ENTRY_TITLE = N_("%(title)s (%(stage)s)")
FEED_TITLE = N_("%(organisation)s: service status")
INCIDENT_FEED_TITLE = N_("%(organisation)s: updates on %(number)s")


def _language(request: Request, lang: Locale | None) -> Locale:
    return lang or translations.requested_locale(request)


def _base_url() -> str:
    return get_settings().public_base_url.rstrip("/")


def _board_etag(freshness: Freshness, locale: Locale, kind: str) -> str:
    # The listed incidents change as a closed one passes the history's 90 days: the day is
    # part of the tag, as on the status page.
    return etag_of(freshness, locale, kind, clock.now().date().isoformat())


def _cached(
    request: Request,
    etag: str,
    last_modified: datetime | None,
    media_type: str,
    render: Callable[[], str | bytes],
) -> Response:
    headers = cache_headers(etag, last_modified)
    if not_modified(request, etag, last_modified):
        return Response(status_code=status.HTTP_304_NOT_MODIFIED, headers=headers)
    return Response(render(), media_type=media_type, headers=headers)


# --- Atom ------------------------------------------------------------------------------------


def _atom(
    incidents: list[PublicIncident], *, locale: Locale, title: str, self_path: str, page_path: str
) -> bytes:
    gettext = translations.translations(locale).gettext
    base = _base_url()
    host = urlsplit(base).hostname or "localhost"
    language = locale.value
    feed = FeedGenerator()
    feed.id(f"{base}{self_path}?lang={language}")
    feed.title(title)
    feed.author({"name": get_settings().organisation_name})
    feed.link(href=f"{base}{self_path}?lang={language}", rel="self", type="application/atom+xml")
    feed.link(href=f"{base}{page_path}", rel="alternate", type="text/html")
    feed.language(language)
    entries = sorted(
        ((incident, statement) for incident in incidents for statement in incident.statements),
        key=lambda pair: (pair[1].published_at, pair[1].version),
        reverse=True,
    )
    feed.updated(entries[0][1].published_at if entries else feeds.NEVER)
    for incident, statement in entries:
        entry = feed.add_entry(order="append")
        # Permanent and distinct per language: a tag URI dated by the incident's declaration.
        entry.id(
            f"tag:{host},{incident.declared_at:%Y-%m-%d}:"
            f"{incident.number}/{statement.version}/{language}"
        )
        stage = gettext(STAGES[statement.stage])
        entry.title(
            gettext(ENTRY_TITLE)
            % {"stage": stage, "title": feeds.in_language(statement.title, language)}
        )
        entry.link(href=f"{base}/status/{incident.number}#update-{statement.version}")
        entry.published(statement.published_at)
        entry.updated(statement.published_at)
        entry.category(term=statement.stage.value, label=stage)
        text = feeds.in_language(statement.text, language)
        if statement.advice:
            advice = feeds.in_language(statement.advice, language)
            text = f"{text}\n\n{gettext(ADVICE_HEADING)}\n{advice}"
        entry.content(text, type="text")
    return feed.atom_str(pretty=True)


@router.get("/status/feed.atom", include_in_schema=False)
def board_feed(request: Request, session: SessionDep, lang: Language = None) -> Response:
    """Every published statement of the incidents the status page lists, newest first."""
    locale = _language(request, lang)
    freshness = public.board_freshness(session)
    etag = _board_etag(freshness, locale, "atom")
    organisation = get_settings().organisation_name
    return _cached(
        request,
        etag,
        freshness.last_modified,
        ATOM,
        lambda: _atom(
            feeds.recent_incidents(session, now=clock.now()),
            locale=locale,
            title=translations.translations(locale).gettext(FEED_TITLE)
            % {"organisation": organisation},
            self_path="/status/feed.atom",
            page_path="/status",
        ),
    )


@router.get("/status/{number}/feed.atom", include_in_schema=False)
def incident_feed(
    number: str, request: Request, session: SessionDep, lang: Language = None
) -> Response:
    """One incident's published statements, newest first; a drill or an unknown number is
    not found."""
    locale = _language(request, lang)
    incident = public.incident_by_number(session, number=number)
    if incident is None:
        return Response(
            status_code=status.HTTP_404_NOT_FOUND,
            headers={"Cache-Control": CACHE_CONTROL, "Vary": VARY},
        )
    freshness = public.incident_freshness(incident)
    etag = etag_of(freshness, locale, "atom")
    title = translations.translations(locale).gettext(INCIDENT_FEED_TITLE) % {
        "organisation": get_settings().organisation_name,
        "number": incident.number,
    }
    return _cached(
        request,
        etag,
        freshness.last_modified,
        ATOM,
        lambda: _atom(
            [incident],
            locale=locale,
            title=title,
            self_path=f"/status/{incident.number}/feed.atom",
            page_path=f"/status/{incident.number}",
        ),
    )


# --- Statuspage's API --------------------------------------------------------------------------


@dataclass(frozen=True)
class _Page:
    """What every Statuspage answer is made of, in the reader's language."""

    page: StatuspagePage
    status: StatuspageStatus
    components: list[StatuspageComponent]
    # Every incident the status page lists, the most recently updated first.
    incidents: list[StatuspageIncident]

    @property
    def unresolved(self) -> list[StatuspageIncident]:
        return [item for item in self.incidents if item.status != PublicStatus.resolved]


def _statuspage(
    request: Request,
    session: Session,
    lang: Locale | None,
    answer: Callable[[_Page], BaseModel],
) -> Response:
    locale = _language(request, lang)
    freshness = public.board_freshness(session)
    etag = _board_etag(freshness, locale, request.url.path)

    def render() -> str:
        gettext = translations.translations(locale).gettext
        settings = get_settings()
        base = _base_url()
        page_id = feeds.page_id(base)
        incidents = [
            item for item in feeds.recent_incidents(session, now=clock.now()) if item.statements
        ]
        products = feeds.components(incidents, page=page_id)
        by_product = {component.name: component for component in products}
        indicator = feeds.indicator(incidents)
        page = _Page(
            page=StatuspagePage(
                id=page_id,
                name=settings.organisation_name,
                url=f"{base}/status",
                time_zone=settings.default_timezone,
                updated_at=freshness.last_modified or feeds.NEVER,
            ),
            status=StatuspageStatus(
                indicator=indicator, description=gettext(INDICATOR_DESCRIPTIONS[indicator])
            ),
            components=products,
            incidents=[
                feeds.statuspage_incident(
                    item,
                    language=locale.value,
                    base_url=base,
                    page=page_id,
                    advice_heading=gettext(ADVICE_HEADING),
                    product_components=by_product,
                )
                for item in incidents
            ],
        )
        return answer(page).model_dump_json()

    return _cached(request, etag, freshness.last_modified, "application/json", render)


@router.get(
    "/api/v2/summary.json",
    response_model=StatuspageSummary,
    responses=error_responses(422),
    tags=["statuspage"],
)
def summary(request: Request, session: SessionDep, lang: Language = None) -> Response:
    """Public, as Statuspage's: the page, its overall status, the products as components,
    the incidents not yet resolved (scheduled maintenances: none)."""
    return _statuspage(
        request,
        session,
        lang,
        lambda page: StatuspageSummary(
            page=page.page,
            components=page.components,
            incidents=page.unresolved,
            scheduled_maintenances=[],
            status=page.status,
        ),
    )


@router.get(
    "/api/v2/status.json",
    response_model=StatuspageStatusAnswer,
    responses=error_responses(422),
    tags=["statuspage"],
)
def status_json(request: Request, session: SessionDep, lang: Language = None) -> Response:
    """Public, as Statuspage's: the page and its overall status (indicator none, minor,
    major or critical: the worst impact of the incidents not yet resolved)."""
    return _statuspage(
        request,
        session,
        lang,
        lambda page: StatuspageStatusAnswer(page=page.page, status=page.status),
    )


@router.get(
    "/api/v2/incidents.json",
    response_model=StatuspageIncidents,
    responses=error_responses(422),
    tags=["statuspage"],
)
def incidents_json(request: Request, session: SessionDep, lang: Language = None) -> Response:
    """Public, as Statuspage's: the 50 most recently updated incidents the status page lists
    (those resolved in the last 90 days too), every published statement an update."""
    return _statuspage(
        request,
        session,
        lang,
        lambda page: StatuspageIncidents(
            page=page.page, incidents=page.incidents[: feeds.INCIDENTS_LISTED]
        ),
    )


@router.get(
    "/api/v2/incidents/unresolved.json",
    response_model=StatuspageIncidents,
    responses=error_responses(422),
    tags=["statuspage"],
)
def unresolved_json(request: Request, session: SessionDep, lang: Language = None) -> Response:
    """Public, as Statuspage's: the incidents not yet resolved."""
    return _statuspage(
        request,
        session,
        lang,
        lambda page: StatuspageIncidents(page=page.page, incidents=page.unresolved),
    )
