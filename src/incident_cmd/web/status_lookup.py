""" "Is my product affected?" on the public status pages (no login): a form with the model and
batch printed on the label, sent by GET so that it works without script, answered with the
announced incidents whose scope takes the product in, what the customer should do and the
link to each one's page; or that none does. It tells nothing the status pages do not: only
incidents with a published statement count, never a drill, never who bought what.

Each client address has a few dozen lookups in ten minutes (``lookup_limit``), then a page
saying when to come back (429 with Retry-After)."""

import re
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, status
from fastapi.responses import HTMLResponse, Response
from pydantic import BaseModel, ConfigDict, Field, field_validator

from incident_cmd import clock
from incident_cmd.deps import ClientAddress, SessionDep
from incident_cmd.statements import lookup
from incident_cmd.web import translations
from incident_cmd.web.forms import FormInvalid, filled, validated
from incident_cmd.web.labels import N_
from incident_cmd.web.lookup_limit import LookupLimit, LookupsExhausted, lookup_limit
from incident_cmd.web.status_pages import (
    CACHE_CONTROL,
    VARY,
    advice_for,
    default_advice,
    public_page,
)

router = APIRouter(tags=["status"], include_in_schema=False)

FIELDS = ("model", "batch")
# What product labels carry: letters (any script), digits and a few separators.
LABEL = re.compile(r"[\w .\-/#]+")
LABEL_MAX = 100
LABEL_CHARACTERS = N_("Use only the letters, digits and - . / # printed on the label.")
NO_STORE = "no-store"


class ProductLookup(BaseModel):
    model_config = ConfigDict(extra="forbid")

    model: str = Field(max_length=LABEL_MAX)
    batch: str = Field(max_length=LABEL_MAX)

    @field_validator("model", "batch")
    @classmethod
    def _as_on_a_label(cls, value: str) -> str:
        if not LABEL.fullmatch(value):
            raise ValueError(LABEL_CHARACTERS)
        return value


def _form_page(
    request: Request,
    *,
    values: dict[str, str],
    errors: dict[str, str] | None = None,
    answer: lookup.Answer | None = None,
    retry_minutes: int | None = None,
    status_code: int = status.HTTP_200_OK,
    headers: dict[str, str],
) -> Response:
    locale = translations.requested_locale(request)
    gettext = translations.translations(locale).gettext
    context: dict[str, Any] = {
        "values": values,
        "errors": errors or {},
        "answer": answer,
        "retry_minutes": retry_minutes,
        # As on the incident's page: its latest statement's advice, else what its kind asks.
        "advice": {
            item.number: advice_for(item, locale) or gettext(default_advice(item))
            for item in (answer.affected if answer else ())
        },
    }
    return public_page(
        request,
        "status_lookup.html",
        context,
        locale=locale,
        headers=headers,
        status_code=status_code,
    )


@router.get("/status/lookup", response_class=HTMLResponse)
def product_lookup(
    request: Request,
    session: SessionDep,
    limit: Annotated[LookupLimit, Depends(lookup_limit)],
    address: ClientAddress,
    model: Annotated[str | None, Query()] = None,
    batch: Annotated[str | None, Query()] = None,
) -> Response:
    if model is None and batch is None:
        # The empty form: the same for everyone, and no lookup.
        return _form_page(
            request, values={}, headers={"Cache-Control": CACHE_CONTROL, "Vary": VARY}
        )
    given = {"model": model or "", "batch": batch or ""}
    # The answers depend on the moment and on what this client asked: kept by no cache.
    headers = {"Cache-Control": NO_STORE}
    try:
        limit.hit(address)
    except LookupsExhausted as exc:
        return _form_page(
            request,
            values=given,
            retry_minutes=-(-exc.retry_after // 60),
            status_code=status.HTTP_429_TOO_MANY_REQUESTS,
            headers={**headers, "Retry-After": str(exc.retry_after)},
        )
    gettext = translations.translations(translations.requested_locale(request)).gettext
    try:
        query = validated(ProductLookup, filled(given, FIELDS), gettext)
    except FormInvalid as exc:
        # The label rule's message is a message id, the schema's others are worded already.
        errors = {field: gettext(message) for field, message in exc.errors.items()}
        return _form_page(
            request,
            values=given,
            errors=errors,
            status_code=status.HTTP_400_BAD_REQUEST,
            headers=headers,
        )
    answer = lookup.look_up(session, model=query.model, batch=query.batch, now=clock.now())
    return _form_page(request, values=given, answer=answer, headers=headers)
