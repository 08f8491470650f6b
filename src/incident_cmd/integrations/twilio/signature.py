from functools import lru_cache
from typing import Annotated
from urllib.parse import parse_qsl, urlparse

from fastapi import Depends, Request
from twilio.request_validator import RequestValidator, add_port, compare, remove_port

from incident_cmd.config import get_settings
from incident_cmd.errors import Forbidden

URLENCODED = "application/x-www-form-urlencoded"


async def verified_form(request: Request) -> dict[str, str]:
    """The posted form, once its X-Twilio-Signature proves Twilio sent it: the webhooks need
    no login, but every request must carry the signature."""
    settings = get_settings()
    token = settings.twilio_auth_token.get_secret_value()
    form = await _form(request)
    # Twilio signs the URL it was given, which is ours as the public base URL says.
    url = settings.public_base_url.rstrip("/") + request.url.path
    if request.url.query:
        url += "?" + request.url.query
    signature = request.headers.get("x-twilio-signature", "")
    if not token or not _signed(token, url, form, signature):
        raise Forbidden("missing or invalid X-Twilio-Signature")
    return form


async def _form(request: Request) -> dict[str, str]:
    """Twilio posts URL-encoded forms, read here straight from the body: a reply storm is
    hundreds of them a second, and the general form parser costs several times as much.
    The fields are those the general parser reads (percent-decoded, blank values kept, the
    last of a repeated name); anything else goes through it."""
    if request.headers.get("content-type", "").partition(";")[0].strip() == URLENCODED:
        body = (await request.body()).decode("latin-1")
        return dict(parse_qsl(body, keep_blank_values=True))
    return {key: str(value) for key, value in (await request.form()).items()}


def _signed(token: str, url: str, form: dict[str, str], signature: str) -> bool:
    """``RequestValidator.validate`` for a form: the URL as given without its port, else
    with it (Twilio has signed either); the second signature is computed only when the first
    does not match."""
    validator = _validator(token)
    parsed = urlparse(url)
    return any(
        compare(validator.compute_signature(uri, form), signature)
        for uri in (remove_port(parsed), add_port(parsed))
    )


@lru_cache(maxsize=4)
def _validator(token: str) -> RequestValidator:
    return RequestValidator(token)


TwilioForm = Annotated[dict[str, str], Depends(verified_form)]
