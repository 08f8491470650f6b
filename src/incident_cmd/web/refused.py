"""The one page that says no: to a reader whose role may not see a page, and for an address
naming something that does not exist. It has the layout of every page, says why in the
reader's language and leads back to the board."""

from fastapi import Request, status
from fastapi.responses import Response

from incident_cmd.auth.models import User
from incident_cmd.config import get_settings
from incident_cmd.errors import Forbidden, NotFound
from incident_cmd.web.api import Reader, templates
from incident_cmd.web.forms import NOT_ALLOWED
from incident_cmd.web.labels import N_

REFUSED = N_("Not allowed")
NOT_FOUND = N_("Not found")
NOTHING_THERE = N_(
    "There is nothing at this address: the number or name in it may be mistyped, "
    "or what it named has been removed."
)


def refused_page(
    request: Request,
    reader: User | Reader | None,
    why: str,
    *,
    heading: str = REFUSED,
    status_code: int = status.HTTP_403_FORBIDDEN,
) -> Response:
    """``why`` and ``heading`` are message ids, translated for the reader."""
    return templates().TemplateResponse(
        request,
        "refused.html",
        {
            "organisation": get_settings().organisation_name,
            "user": reader,
            "heading": heading,
            "why": why,
        },
        status_code=status_code,
    )


def error_page(request: Request, exc: NotFound | Forbidden) -> Response:
    """What a page route answers when it raises NotFound or Forbidden: the domain's own
    words are the API's (English, naming tables), so the page says it in its own; the reader
    is the one ``page_user`` remembered, if the page got that far."""
    reader = getattr(request.state, "reader", None)
    if isinstance(exc, NotFound):
        return refused_page(
            request, reader, NOTHING_THERE, heading=NOT_FOUND, status_code=exc.status_code
        )
    return refused_page(request, reader, NOT_ALLOWED, status_code=exc.status_code)
