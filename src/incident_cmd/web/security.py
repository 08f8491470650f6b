"""What protects the pages: security headers, CSRF checks, and link tokens kept out of logs.

- ``SecurityHeaders`` (ASGI middleware) sets nosniff, X-Frame-Options DENY and a
  Referrer-Policy on every response, and on HTML a Content-Security-Policy that allows only
  this origin's scripts and styles plus inline ones carrying the request's nonce
  (``{{ csp_nonce() }}`` in a template). Link pages (``LINK_PATH_PREFIXES``: the signed links
  in pages and emails) send no referrer and are not cached, and a POST to them from another
  site's page is refused; the signed token in their path is their credential.
- ``csrf_protect`` (a route dependency) guards every cookie-authenticated form: the request's
  Origin (or Referer) must be this site, and the form must carry ``csrf_token``, the signed
  value of the ``icmd_csrf`` cookie (a signed double-submit token). ``{{ csrf_field() }}``
  in a form writes the hidden field; the middleware sets the cookie the first time a page
  uses it.
- ``RedactLinkTokens`` (a logging filter) replaces link tokens in uvicorn's access log lines.
"""

import hmac
import logging
import re
import secrets
from copy import deepcopy
from typing import Any
from urllib.parse import urlsplit

from fastapi import HTTPException, Request, status
from itsdangerous import BadSignature, URLSafeSerializer
from jinja2 import Environment, pass_context
from markupsafe import Markup
from starlette.datastructures import Headers, MutableHeaders
from starlette.responses import PlainTextResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from incident_cmd.config import get_settings

LINK_PATH_PREFIXES = ("/page/", "/unsubscribe/", "/status/subscriptions/confirm/", "/survey/")
CSRF_COOKIE = "icmd_csrf"
CSRF_FIELD = "csrf_token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# Swagger UI and ReDoc load their own scripts from a CDN and inline; they get no CSP.
CSP_EXEMPT_PATHS = ("/docs", "/redoc")


def is_link_path(path: str) -> bool:
    return path.startswith(LINK_PATH_PREFIXES)


def _origin_of(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower()


def origin_is_ours(origin: str, headers: Headers) -> bool:
    """The public base URL's origin, or the host the request was sent to (a browser cannot
    forge the Host header of a request another site makes it send)."""
    origin = origin.lower()
    if origin == _origin_of(get_settings().public_base_url):
        return True
    host = headers.get("host", "").lower()
    return bool(host) and urlsplit(origin).netloc == host


def _stated_origin(headers: Headers) -> str | None:
    origin = headers.get("origin")
    if origin is not None:
        return origin
    referer = headers.get("referer")
    return _origin_of(referer) if referer else None


def _content_security_policy(nonce: str) -> str:
    return (
        "default-src 'self'; "
        f"script-src 'self' 'nonce-{nonce}'; "
        f"style-src 'self' 'nonce-{nonce}'; "
        "img-src 'self' data:; "
        "object-src 'none'; "
        "base-uri 'none'; "
        "form-action 'self'; "
        "frame-ancestors 'none'"
    )


class SecurityHeaders:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        link = is_link_path(path)
        request_headers = Headers(scope=scope)
        if link and scope["method"] not in SAFE_METHODS:
            origin = request_headers.get("origin")
            # "null" is what a browser sends from a page with Referrer-Policy no-referrer.
            if origin not in (None, "null") and not origin_is_ours(origin, request_headers):
                response = PlainTextResponse("cross-site request refused", status_code=403)
                await response(scope, receive, send)
                return
        state = scope.setdefault("state", {})
        nonce = secrets.token_urlsafe(16)
        state["csp_nonce"] = nonce

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                headers["X-Content-Type-Options"] = "nosniff"
                headers["X-Frame-Options"] = "DENY"
                headers["Referrer-Policy"] = "no-referrer" if link else "same-origin"
                if link:
                    headers["Cache-Control"] = "no-store"
                html = headers.get("content-type", "").startswith("text/html")
                if html and not path.startswith(CSP_EXEMPT_PATHS):
                    headers["Content-Security-Policy"] = _content_security_policy(nonce)
                new_cookie = state.get("csrf_new_nonce")
                if new_cookie:
                    headers.append("Set-Cookie", _csrf_cookie(new_cookie))
            await send(message)

        await self.app(scope, receive, send_with_headers)


# --- CSRF -----------------------------------------------------------------------------------


def _serializer() -> URLSafeSerializer:
    return URLSafeSerializer(get_settings().signing_key, salt="icmd-csrf")


def _csrf_cookie(nonce: str) -> str:
    secure = "; Secure" if get_settings().public_base_url.startswith("https://") else ""
    return f"{CSRF_COOKIE}={nonce}; Path=/; HttpOnly; SameSite=Strict{secure}"


def csrf_token(request: Request) -> str:
    """The token for this browser's forms; makes the cookie it is checked against if the
    browser has none yet (the middleware sends it with the response)."""
    nonce = request.cookies.get(CSRF_COOKIE) or getattr(request.state, "csrf_new_nonce", None)
    if not nonce:
        nonce = secrets.token_urlsafe(24)
        request.state.csrf_new_nonce = nonce
    return _serializer().dumps(nonce)


def _csrf_refused(reason: str) -> HTTPException:
    return HTTPException(
        status.HTTP_403_FORBIDDEN, f"{reason}: reload the page and submit the form again"
    )


async def csrf_protect(request: Request) -> None:
    """A route (or router) dependency for forms sent with the session cookie; lets safe
    methods through."""
    if request.method in SAFE_METHODS:
        return
    origin = _stated_origin(request.headers)
    if origin is None or origin == "null":
        raise _csrf_refused("the request does not say which page sent it (Origin)")
    if not origin_is_ours(origin, request.headers):
        raise _csrf_refused(f"the form was sent from another site ({origin})")
    form = await request.form()
    submitted = form.get(CSRF_FIELD)
    nonce = request.cookies.get(CSRF_COOKIE)
    if not isinstance(submitted, str) or not nonce:
        raise _csrf_refused("the form's CSRF token is missing")
    try:
        signed_nonce = _serializer().loads(submitted)
    except BadSignature:
        raise _csrf_refused("the form's CSRF token is not valid") from None
    if not isinstance(signed_nonce, str) or not hmac.compare_digest(signed_nonce, nonce):
        raise _csrf_refused("the form's CSRF token does not match this browser")


@pass_context
def _csrf_field(context: Any) -> Markup:
    token = csrf_token(context["request"])
    return Markup('<input type="hidden" name="{}" value="{}">').format(CSRF_FIELD, token)


@pass_context
def _csp_nonce(context: Any) -> str:
    return context["request"].state.csp_nonce


def register_template_helpers(env: Environment) -> None:
    """``{{ csrf_field() }}`` inside every form; ``nonce="{{ csp_nonce() }}"`` on inline
    ``<style>``/``<script>``."""
    env.globals["csrf_field"] = _csrf_field
    env.globals["csp_nonce"] = _csp_nonce


# --- access logs ----------------------------------------------------------------------------

_LINK_TOKEN = re.compile(
    "^(" + "|".join(re.escape(prefix) for prefix in LINK_PATH_PREFIXES) + r")[^/?#]+"
)
_QUERY_TOKEN = re.compile(r"([?&]token=)[^&#]*", re.IGNORECASE)
REDACTED = "[redacted]"


def redact_path(path: str) -> str:
    return _QUERY_TOKEN.sub(rf"\1{REDACTED}", _LINK_TOKEN.sub(rf"\1{REDACTED}", path))


class RedactLinkTokens(logging.Filter):
    """uvicorn's access log record carries (client, method, path, http version, status)."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and len(args) >= 3 and isinstance(args[2], str):
            record.args = (*args[:2], redact_path(args[2]), *args[3:])
        return True


def uvicorn_log_config() -> dict[str, Any]:
    """uvicorn's own logging configuration with link tokens redacted from the access log
    (a dictionary, so each worker process installs it too)."""
    from uvicorn.config import LOGGING_CONFIG

    config = deepcopy(LOGGING_CONFIG)
    config.setdefault("filters", {})["redact_link_tokens"] = {"()": RedactLinkTokens}
    config["handlers"]["access"].setdefault("filters", []).append("redact_link_tokens")
    return config
