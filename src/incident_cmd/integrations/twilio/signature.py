from typing import Annotated

from fastapi import Depends, Request
from twilio.request_validator import RequestValidator

from incident_cmd.config import get_settings
from incident_cmd.errors import Forbidden


async def verified_form(request: Request) -> dict[str, str]:
    """The posted form, once its X-Twilio-Signature proves Twilio sent it: the webhooks need
    no login, but every request must carry the signature."""
    settings = get_settings()
    form = {key: str(value) for key, value in (await request.form()).items()}
    # Twilio signs the URL it was given, which is ours as the public base URL says.
    url = settings.public_base_url.rstrip("/") + request.url.path
    if request.url.query:
        url += "?" + request.url.query
    validator = RequestValidator(settings.twilio_auth_token.get_secret_value())
    signature = request.headers.get("x-twilio-signature", "")
    if not settings.twilio_auth_token.get_secret_value() or not validator.validate(
        url, form, signature
    ):
        raise Forbidden("missing or invalid X-Twilio-Signature")
    return form


TwilioForm = Annotated[dict[str, str], Depends(verified_form)]
