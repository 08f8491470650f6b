"""The public status pages, for customers (no login): ``/status`` lists the incidents with a
statement out, their latest statement, the products, batches and regions they touch and the
last 90 days' closed ones; ``/status/{number}`` (every customer notice links to it) gives an
incident's statements, newest first, and what a customer should do.

They show only what ``statements.public`` reads: published statements of incidents that are
not drills, never a person, nor anything the staff wrote for themselves. Each page is in the
reader's language (the switch's cookie, else Accept-Language), cacheable by anyone for a short
while, and answered 304 while nothing was published since the reader's copy: its ETag changes
with every published statement, and a render costs two queries."""

import hashlib
from collections.abc import Mapping
from datetime import UTC, datetime
from email.utils import format_datetime, parsedate_to_datetime
from functools import cache
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Query, Request, status
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from incident_cmd import clock
from incident_cmd.config import get_settings
from incident_cmd.deps import SessionDep
from incident_cmd.i18n import LOCALES, Locale
from incident_cmd.statements import public
from incident_cmd.statements.models import StatementStage
from incident_cmd.statements.public import Freshness, PublicIncident
from incident_cmd.web import translations
from incident_cmd.web.api import templates
from incident_cmd.web.labels import N_

router = APIRouter(tags=["status"], include_in_schema=False)

# Short: a published statement reaches a cache-respecting reader within half a minute.
CACHE_CONTROL = "public, max-age=30"
VARY = "Accept-Language, Cookie"
TEMPLATES = (
    "status_base.html",
    "status_board.html",
    "status_incident.html",
    "status_missing.html",
    "status_lookup_form.html",
)

STAGES: Mapping[StatementStage, str] = {
    StatementStage.investigating: N_("Investigating"),
    StatementStage.identified: N_("Identified"),
    StatementStage.monitoring: N_("Monitoring"),
    StatementStage.resolved: N_("Resolved"),
    StatementStage.recall_announced: N_("Recall announced"),
    StatementStage.recall_in_progress: N_("Recall in progress"),
    StatementStage.recall_closed: N_("Recall closed"),
}

# What a customer should do when the statement gives no advice of its own.
ADVICE_BY_KIND: Mapping[str, str] = {
    "product_recall": N_(
        "If your product's model and batch are listed here, stop using it now and keep it "
        "unplugged. We will contact you by SMS or email to collect it free of charge."
    ),
    "natural_disaster": N_(
        "Repairs and deliveries in the regions listed may be late. We will contact you to "
        "arrange a new time for any visit you booked."
    ),
    "service_outage": N_(
        "Our hotline and online service may not answer. Please try again later: nothing you "
        "sent us is lost, and we will answer it."
    ),
}
ADVICE_ONGOING = N_(
    "You do not need to do anything now. If you are affected, we will contact you; new "
    "statements appear on this page."
)
ADVICE_CLOSED = N_("This matter is closed: you do not need to do anything.")


def advice_for(incident: PublicIncident, locale: Locale) -> str | None:
    """The latest statement's advice, in the reader's language; None when it gives none."""
    latest = incident.latest
    if latest is None or not latest.advice:
        return None
    return latest.advice.get(locale.value) or None


def default_advice(incident: PublicIncident) -> str:
    """A message id: what the kind of incident asks of a customer, or nothing once closed.
    Before the first statement, nothing that would say what kind of incident it is: the
    company has not said anything yet."""
    if incident.latest is None:
        return ADVICE_ONGOING
    if not incident.ongoing:
        return ADVICE_CLOSED
    return ADVICE_BY_KIND.get(incident.kind, ADVICE_ONGOING)


def _reader_locale(request: Request) -> Locale:
    return translations.requested_locale(request)


def _published_at(moment: datetime) -> str:
    """The time in the organisation's zone, its UTC offset shown: the public is anywhere."""
    local = moment.astimezone(ZoneInfo(get_settings().default_timezone))
    offset = local.utcoffset()
    hours = offset.total_seconds() / 3600 if offset is not None else 0
    shown = f"{hours:+.0f}" if hours == int(hours) else f"{hours:+.1f}"
    return f"{local:%Y-%m-%d %H:%M} (UTC{shown})"


@cache
def _rendering_fingerprint() -> str:
    """The status templates and catalogs this process renders with: a deployment that
    changes them changes every ETag."""
    digest = hashlib.sha256()
    directory = Path(get_settings().template_dir) / "web"
    for name in TEMPLATES:
        digest.update((directory / name).read_bytes())
    for locale in LOCALES:
        digest.update(translations.catalog_path(locale).read_bytes())
    return digest.hexdigest()[:16]


def etag_of(freshness: Freshness, locale: Locale, *extra: str) -> str:
    source = "|".join((freshness.tag, locale.value, _rendering_fingerprint(), *extra))
    return '"' + hashlib.sha256(source.encode()).hexdigest()[:32] + '"'


def _kinds_named_by(request: Request) -> str:
    """The pages name a kind as the playbooks served do: a deployment that renames one
    changes the pages' tags."""
    return request.app.state.playbooks.fingerprint


def not_modified(request: Request, etag: str, last_modified: datetime | None) -> bool:
    """RFC 9110: If-None-Match decides when sent (weak comparison); If-Modified-Since only
    without it."""
    if_none_match = request.headers.get("if-none-match")
    if if_none_match is not None:
        tags = {tag.strip().removeprefix("W/") for tag in if_none_match.split(",")}
        return "*" in tags or etag in tags
    if_modified_since = request.headers.get("if-modified-since")
    if if_modified_since is None or last_modified is None:
        return False
    try:
        since = parsedate_to_datetime(if_modified_since)
    except (TypeError, ValueError):
        return False
    if since.tzinfo is None:
        since = since.replace(tzinfo=UTC)
    return last_modified.replace(microsecond=0) <= since


def cache_headers(etag: str, last_modified: datetime | None) -> dict[str, str]:
    headers = {"ETag": etag, "Cache-Control": CACHE_CONTROL, "Vary": VARY}
    if last_modified is not None:
        headers["Last-Modified"] = format_datetime(last_modified.astimezone(UTC), usegmt=True)
    return headers


def public_page(
    request: Request,
    template: str,
    context: dict[str, Any],
    *,
    locale: Locale,
    headers: dict[str, str],
    status_code: int = status.HTTP_200_OK,
) -> Response:
    path = request.url.path
    response = templates().TemplateResponse(
        request,
        template,
        {
            "organisation": get_settings().organisation_name,
            "locale": locale,
            "stages": STAGES,
            "published_at": _published_at,
            "switch": {
                other: f"/status/language?to={other.value}&next={quote(path)}" for other in LOCALES
            },
            **context,
        },
        status_code=status_code,
    )
    response.headers.update(headers)
    return response


@router.get("/status/language")
def switch_language(
    to: Annotated[Locale, Query()],
    back_to: Annotated[str, Query(alias="next", max_length=200)] = "/status",
) -> Response:
    """The public pages' language switch: a link (the pages carry no form, so that every
    reader gets the same cacheable page), kept in the same cookie as the staff pages'."""
    target = back_to if back_to.startswith("/status") and "//" not in back_to else "/status"
    response = RedirectResponse(target, status_code=status.HTTP_303_SEE_OTHER)
    response.headers["Cache-Control"] = "no-store"
    response.set_cookie(
        translations.LOCALE_COOKIE,
        to.value,
        max_age=365 * 24 * 3600,
        httponly=True,
        samesite="lax",
        secure=get_settings().public_base_url.startswith("https://"),
    )
    return response


@router.get("/status", response_class=HTMLResponse)
def status_board(request: Request, session: SessionDep) -> Response:
    locale = _reader_locale(request)
    now = clock.now()
    freshness = public.board_freshness(session)
    # The history loses an incident as it passes 90 days: the day is part of the tag.
    etag = etag_of(freshness, locale, now.date().isoformat(), _kinds_named_by(request))
    headers = cache_headers(etag, freshness.last_modified)
    if not_modified(request, etag, freshness.last_modified):
        return Response(status_code=status.HTTP_304_NOT_MODIFIED, headers=headers)
    incidents = public.status_board(session, now=now)
    return public_page(
        request,
        "status_board.html",
        {
            "ongoing": [item for item in incidents if item.ongoing],
            "history": [item for item in incidents if not item.ongoing],
            "history_days": public.HISTORY_DAYS,
        },
        locale=locale,
        headers=headers,
    )


@router.get("/status/{number}", response_class=HTMLResponse)
def status_incident(number: str, request: Request, session: SessionDep) -> Response:
    locale = _reader_locale(request)
    incident = public.incident_by_number(session, number=number)
    if incident is None:
        return public_page(
            request,
            "status_missing.html",
            {"number": number},
            locale=locale,
            headers={"Cache-Control": CACHE_CONTROL, "Vary": VARY},
            status_code=status.HTTP_404_NOT_FOUND,
        )
    freshness = public.incident_freshness(incident)
    etag = etag_of(freshness, locale, _kinds_named_by(request))
    headers = cache_headers(etag, freshness.last_modified)
    if not_modified(request, etag, freshness.last_modified):
        return Response(status_code=status.HTTP_304_NOT_MODIFIED, headers=headers)
    return public_page(
        request,
        "status_incident.html",
        {
            "incident": incident,
            "advice": advice_for(incident, locale),
            "default_advice": default_advice(incident),
        },
        locale=locale,
        headers=headers,
    )
