"""The satisfaction survey a customer answers from the link in our email (no login).

``/survey/<token>``: the token, signed, names one ticket and is the credential. Opening the
link changes nothing (mail scanners and link previews open links); the form's button
answers. The first answer to each question counts; the page then thanks the customer.
The page shows the complaint's number and nothing else of it."""

from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Request, status
from fastapi.responses import HTMLResponse, Response
from sqlmodel import Session

from incident_cmd.config import get_settings
from incident_cmd.customers.models import Customer
from incident_cmd.deps import SessionDep
from incident_cmd.errors import DomainError
from incident_cmd.i18n import LOCALES, Locale
from incident_cmd.messaging.channels import ChannelName
from incident_cmd.tickets import surveys
from incident_cmd.tickets.models import Ticket
from incident_cmd.tickets.schemas import SurveyAnswer
from incident_cmd.web import translations
from incident_cmd.web.api import templates
from incident_cmd.web.forms import FormInvalid, validated
from incident_cmd.web.labels import N_

router = APIRouter(tags=["survey"], include_in_schema=False)

FIELDS = ("csat", "nps", "comment")
LINK_NOT_VALID = N_(
    "This link is not valid. Check that you opened the whole link from the message."
)
NOT_YET = N_("This complaint is not resolved at the moment, so there is nothing to rate yet.")
CHOOSE_CSAT = N_("Choose how satisfied you are, from 1 to 5.")


def _locale(request: Request, ticket: Ticket | None, session: Session) -> Locale:
    """The reader's choice of language, else the customer's own."""
    chosen = translations.parse_locale(request.cookies.get(translations.LOCALE_COOKIE))
    if chosen is None and ticket is not None:
        chosen = Locale(session.get_one(Customer, ticket.customer_id).locale)
    return chosen or translations.requested_locale(request)


def _page(
    request: Request,
    locale: Locale,
    context: dict[str, Any],
    *,
    status_code: int = status.HTTP_200_OK,
) -> Response:
    here = request.url.path
    response = templates().TemplateResponse(
        request,
        "survey.html",
        {
            "organisation": get_settings().organisation_name,
            "locale": locale,
            "switch": {
                other: f"/status/language?to={other.value}&next={quote(here, safe='')}"
                for other in LOCALES
            },
            "values": {},
            "errors": {},
            **context,
        },
        status_code=status_code,
    )
    response.headers["Cache-Control"] = "no-store"
    return response


def _outcome(ticket: Ticket) -> str:
    if ticket.csat is not None and ticket.nps is not None:
        return "answered"
    return "form" if ticket.resolved_at is not None else "not_yet"


@router.get("/survey/{token}", response_class=HTMLResponse)
def survey_form(token: str, request: Request, session: SessionDep) -> Response:
    """Changes nothing: a scanner or a preview opening the link must not answer for anyone."""
    try:
        ticket = surveys.ticket_from_token(session, token=token)
    except DomainError as exc:
        locale = _locale(request, None, session)
        return _page(
            request,
            locale,
            {"outcome": "refused", "message": LINK_NOT_VALID},
            status_code=exc.status_code,
        )
    return _page(
        request,
        _locale(request, ticket, session),
        {"outcome": _outcome(ticket), "ticket": ticket, "message": NOT_YET},
    )


# A link page: the signed token in its path is the credential, and the security middleware
# refuses a POST to it from another site.
@router.post("/survey/{token}", response_class=HTMLResponse)
async def survey_answer(token: str, request: Request, session: SessionDep) -> Response:
    form = await request.form()
    values = {
        name: value for name in FIELDS if isinstance(value := form.get(name), str) and value != ""
    }
    # The radio buttons' scores as the whole numbers the schema takes; anything else is left
    # for it to refuse, naming the field.
    scores = {
        name: int(values[name])
        for name in ("csat", "nps")
        if name in values and values[name].isascii() and values[name].isdecimal()
    }
    try:
        ticket = surveys.ticket_from_token(session, token=token)
    except DomainError as exc:
        locale = _locale(request, None, session)
        return _page(
            request,
            locale,
            {"outcome": "refused", "message": LINK_NOT_VALID},
            status_code=exc.status_code,
        )
    locale = _locale(request, ticket, session)
    gettext = translations.translations(locale).gettext
    try:
        if "csat" not in values and ticket.csat is None:
            raise FormInvalid({"csat": gettext(CHOOSE_CSAT)})
        answer = validated(SurveyAnswer, values | scores, gettext)
        surveys.record_survey(session, ticket=ticket, answer=answer, via=ChannelName.email)
    except FormInvalid as invalid:
        return _page(
            request,
            locale,
            {"outcome": "form", "ticket": ticket, "values": values, "errors": invalid.errors},
            status_code=status.HTTP_422_UNPROCESSABLE_CONTENT,
        )
    except DomainError as exc:
        session.rollback()
        return _page(
            request,
            locale,
            {"outcome": "not_yet", "ticket": ticket, "message": NOT_YET},
            status_code=exc.status_code,
        )
    return _page(request, locale, {"outcome": "thanks", "ticket": ticket})
