"""The link in a page: a signed, expiring token that names the target it was made for."""

from datetime import timedelta

from itsdangerous import BadSignature, URLSafeSerializer
from sqlmodel import Session

from incident_cmd import clock
from incident_cmd.config import get_settings
from incident_cmd.errors import Forbidden
from incident_cmd.paging.models import PageTarget


def _link_serializer() -> URLSafeSerializer:
    return URLSafeSerializer(get_settings().signing_key, salt="page-ack")


def ack_token(target: PageTarget) -> str:
    minutes = get_settings().page_link_valid_minutes
    expires = target.created_at + timedelta(minutes=minutes)
    return _link_serializer().dumps({"t": target.id, "e": int(expires.timestamp())})


def ack_url(target: PageTarget) -> str:
    return f"{get_settings().public_base_url.rstrip('/')}/page/{ack_token(target)}"


def target_from_token(session: Session, *, token: str) -> PageTarget:
    """The target a link was made for; a forged, altered or expired link is refused."""
    try:
        payload = _link_serializer().loads(token)
    except BadSignature:
        raise Forbidden("this acknowledge link is not valid") from None
    if clock.now().timestamp() > payload["e"]:
        raise Forbidden("this acknowledge link has expired; reply to the SMS or use the app")
    target = session.get(PageTarget, payload["t"])
    if target is None:
        raise Forbidden("this acknowledge link is not valid")
    return target
