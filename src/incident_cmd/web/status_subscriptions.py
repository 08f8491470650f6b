"""Subscribing to statements from the public status pages (no login).

- ``/status/subscriptions/new``: the form, for an incident (``?incident=<number>``: it or one
  of the products its statements name) or a product line. Whatever becomes of a request
  (sent, suppressed, already subscribed, the address asked for too often) the reader is
  told the same: check your inbox or phone. Only a client asking too often is told so.
- ``/status/subscriptions/confirm/<token>``: the double opt-in. Opening the link changes
  nothing (mail scanners and link previews open it too); its button confirms.
- ``/unsubscribe/subscriptions/<token>``: a link page with a button, and the RFC 8058
  one-click POST a mail client sends without a page or a CSRF token; the signed token is
  the credential. Idempotent.

The pages show the topic (an incident's number, a product model) and never an address."""

from typing import Annotated, Any
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Depends, Form, Query, Request, status
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlmodel import Session

from incident_cmd.config import get_settings
from incident_cmd.deps import ClientAddress, SessionDep
from incident_cmd.errors import DomainError
from incident_cmd.i18n import LOCALES, Locale
from incident_cmd.messaging.channels import ChannelName
from incident_cmd.statements import public
from incident_cmd.subscriptions import service
from incident_cmd.subscriptions.models import Subscription
from incident_cmd.subscriptions.schemas import SubscriptionAsk
from incident_cmd.web import translations
from incident_cmd.web.api import templates
from incident_cmd.web.forms import REQUIRED, FormInvalid, Gettext, field_errors, filled, validated
from incident_cmd.web.labels import N_
from incident_cmd.web.security import csrf_protect

router = APIRouter(tags=["status"], include_in_schema=False)

NO_STORE = {"Cache-Control": "no-store"}
FORM_FIELDS = ("address", "incident", "product", "topic")
LINK_NOT_VALID = N_(
    "This link is not valid. Check that you opened the whole link from the message."
)
LINK_EXPIRED = N_(
    "This confirmation link has expired, or the subscription was ended since. Subscribe again "
    "to get a new link."
)
NO_SUCH_INCIDENT = N_("There is no incident with this number.")
TOO_MANY = N_("Too many subscription requests came from your network. Please try again in an hour.")
CHOOSE_TOPIC = N_("Choose this incident or a product, or write a product model.")
NOT_AN_ADDRESS = N_("Enter an email address, or a mobile number such as 13800138000.")


def _page(
    request: Request,
    template: str,
    context: dict[str, Any],
    *,
    status_code: int = status.HTTP_200_OK,
) -> Response:
    locale = translations.requested_locale(request)
    here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    response = templates().TemplateResponse(
        request,
        template,
        {
            "organisation": get_settings().organisation_name,
            "locale": locale,
            "switch": {
                other: f"/status/language?to={other.value}&next={quote(here, safe='')}"
                for other in LOCALES
            },
            **context,
        },
        status_code=status_code,
    )
    response.headers.update(NO_STORE)
    return response


def _form(
    request: Request,
    session: Session,
    *,
    incident: str | None,
    product: str | None,
    values: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
    status_code: int = status.HTTP_200_OK,
) -> Response:
    """The form; for an incident, the products its statements name may be chosen instead
    (before its first statement the public knows only its number)."""
    shown = public.incident_by_number(session, number=incident) if incident else None
    if incident and shown is None:
        return _page(
            request,
            "status_subscribe.html",
            {"missing": incident, "incident": None, "products": (), "values": {}, "errors": {}},
            status_code=status.HTTP_404_NOT_FOUND,
        )
    products = shown.products if shown is not None and shown.latest is not None else ()
    return _page(
        request,
        "status_subscribe.html",
        {
            "missing": None,
            "incident": shown,
            "products": products,
            "values": values or ({"product": product} if product else {}),
            "errors": errors or {},
        },
        status_code=status_code,
    )


@router.get("/status/subscriptions/new", response_class=HTMLResponse)
def subscribe_form(
    request: Request,
    session: SessionDep,
    incident: Annotated[str | None, Query(max_length=32)] = None,
    product: Annotated[str | None, Query(max_length=100)] = None,
) -> Response:
    return _form(request, session, incident=incident, product=product)


def _ask_values(form: dict[str, str], locale: Locale) -> dict[str, str]:
    """The form's choice (``topic``: ``incident`` or ``product:<model>``, else the written
    product) as the schema takes it."""
    values = {"address": form.get("address", ""), "locale": locale.value}
    topic = form.get("topic", "")
    if topic == "incident" and form.get("incident"):
        values["incident"] = form["incident"]
    elif topic.startswith("product:"):
        values["product"] = topic.removeprefix("product:")
    elif form.get("product"):
        values["product"] = form["product"]
    return values


def _in_readers_words(errors: dict[str, str], gettext: Gettext) -> dict[str, str]:
    """The validators' own words (an email library's, a phone library's) in the reader's."""
    worded = dict(errors)
    if "address" in worded and worded["address"] != gettext(REQUIRED):
        worded["address"] = gettext(NOT_AN_ADDRESS)
    if "topic" in worded and worded["topic"] != gettext(NO_SUCH_INCIDENT):
        worded["topic"] = gettext(CHOOSE_TOPIC)
    return worded


@router.post(
    "/status/subscriptions/new",
    response_class=HTMLResponse,
    dependencies=[Depends(csrf_protect)],
)
def subscribe(
    request: Request,
    session: SessionDep,
    client: ClientAddress,
    address: Annotated[str, Form(max_length=400)] = "",
    incident: Annotated[str, Form(max_length=32)] = "",
    product: Annotated[str, Form(max_length=200)] = "",
    topic: Annotated[str, Form(max_length=200)] = "",
) -> Response:
    locale = translations.requested_locale(request)
    gettext = translations.translations(locale).gettext
    form = filled(
        {"address": address, "incident": incident, "product": product, "topic": topic},
        FORM_FIELDS,
    )
    try:
        data = validated(
            SubscriptionAsk, _ask_values(form, locale), gettext, whole_form_field="topic"
        )
        chosen = service.topic_of(session, data)
        if chosen is None:
            raise FormInvalid({"topic": gettext(NO_SUCH_INCIDENT)})
        # Whatever becomes of the request, the reader is told the same.
        service.ask(session, data=data, topic=chosen, client=client)
    except (FormInvalid, DomainError) as exc:
        session.rollback()
        if isinstance(exc, service.TooManyRequests):
            return _page(
                request,
                "status_subscription_link.html",
                {"outcome": "too_many", "message": TOO_MANY},
                status_code=status.HTTP_429_TOO_MANY_REQUESTS,
            )
        errors = _in_readers_words(field_errors(exc, fields=FORM_FIELDS), gettext)
        return _form(
            request,
            session,
            incident=incident or None,
            product=None,
            values=form,
            errors=errors,
            status_code=status.HTTP_400_BAD_REQUEST,
        )
    query = urlencode({"by": data.channel.value, **({"incident": incident} if incident else {})})
    return RedirectResponse(
        f"/status/subscriptions/sent?{query}", status_code=status.HTTP_303_SEE_OTHER
    )


@router.get("/status/subscriptions/sent", response_class=HTMLResponse)
def subscribe_sent(
    request: Request,
    by: Annotated[ChannelName, Query()] = ChannelName.email,
    incident: Annotated[str | None, Query(max_length=32)] = None,
) -> Response:
    return _page(
        request,
        "status_subscription_link.html",
        {"outcome": "sent", "by": by, "back": f"/status/{quote(incident)}" if incident else None},
    )


def _refused(request: Request, exc: DomainError) -> Response:
    expired = isinstance(exc, service.LinkExpired)
    return _page(
        request,
        "status_subscription_link.html",
        {"outcome": "refused", "message": LINK_EXPIRED if expired else LINK_NOT_VALID},
        status_code=exc.status_code,
    )


def _topic(session: Session, subscription: Subscription) -> dict[str, str | None]:
    label = service.topic_label(session, subscription)
    return {"label": label, "incident": label if subscription.incident_id else None}


@router.get("/status/subscriptions/confirm/{token}", response_class=HTMLResponse)
def confirm_page(token: str, request: Request, session: SessionDep) -> Response:
    """Changes nothing: a scanner or a preview opening the link must not subscribe anyone."""
    try:
        subscription = service.by_confirm_token(session, token=token)
    except DomainError as exc:
        return _refused(request, exc)
    return _page(
        request,
        "status_subscription_link.html",
        {"outcome": "confirm", "topic": _topic(session, subscription)},
    )


# A link page: the signed token in its path is the credential, and the security middleware
# refuses a POST to it from another site (its no-referrer page posts with Origin "null").
@router.post("/status/subscriptions/confirm/{token}", response_class=HTMLResponse)
def confirm(token: str, request: Request, session: SessionDep) -> Response:
    try:
        subscription = service.by_confirm_token(session, token=token)
        service.confirm(session, subscription=subscription)
    except DomainError as exc:
        session.rollback()
        return _refused(request, exc)
    return _page(
        request,
        "status_subscription_link.html",
        {
            "outcome": "confirmed",
            "topic": _topic(session, subscription),
            "unsubscribe": "/unsubscribe/subscriptions/" + service.unsubscribe_token(subscription),
        },
    )


@router.get("/unsubscribe/subscriptions/{token}", response_class=HTMLResponse)
def unsubscribe_page(token: str, request: Request, session: SessionDep) -> Response:
    try:
        subscription = service.by_unsubscribe_token(session, token=token)
    except DomainError as exc:
        return _refused(request, exc)
    return _page(
        request,
        "status_subscription_link.html",
        {"outcome": "unsubscribe", "topic": _topic(session, subscription)},
    )


@router.post("/unsubscribe/subscriptions/{token}", response_class=HTMLResponse)
def unsubscribe(token: str, request: Request, session: SessionDep) -> Response:
    """The page's button and RFC 8058 one-click (``List-Unsubscribe=One-Click``) alike."""
    try:
        subscription = service.by_unsubscribe_token(session, token=token)
        service.unsubscribe(session, subscription=subscription)
    except DomainError as exc:
        session.rollback()
        return _refused(request, exc)
    return _page(
        request,
        "status_subscription_link.html",
        {"outcome": "unsubscribed", "topic": _topic(session, subscription)},
    )
