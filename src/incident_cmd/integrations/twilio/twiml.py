"""TwiML, the XML a webhook answers Twilio with."""

from typing import Any
from xml.sax.saxutils import escape

from fastapi.responses import Response

# How a route that answers TwiML says so in the OpenAPI document (``responses=``, merged with
# ``errors.error_responses``).
TWIML_ANSWER: dict[int | str, dict[str, Any]] = {
    200: {"description": "TwiML", "content": {"application/xml": {"schema": {"type": "string"}}}}
}


def response(document: str) -> Response:
    return Response(document, media_type="application/xml")


def message(text: str | None) -> Response:
    """An SMS answer: the text, or nothing to send."""
    inner = f"<Message>{escape(text)}</Message>" if text else ""
    return response(f'<?xml version="1.0" encoding="UTF-8"?><Response>{inner}</Response>')


def say(text: str, locale: str) -> Response:
    return response(
        f'<?xml version="1.0" encoding="UTF-8"?><Response><Say language="{locale}">'
        f"{escape(text)}</Say></Response>"
    )
