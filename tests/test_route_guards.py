from fastapi.routing import APIRoute

from incident_cmd.app import create_app
from incident_cmd.deps import bearer_secret, bearer_token, current_user
from incident_cmd.web.api import page_session, page_user
from incident_cmd.web.security import SAFE_METHODS, csrf_protect, is_link_path

# Routes without a login, on purpose. Twilio's webhooks are guarded by the request
# signature, unsubscribe and page-answer links by their signed token (all tested where they
# live).
PUBLIC = {
    ("POST", "/api/v1/auth/login"),
    ("GET", "/healthz"),
    ("GET", "/login"),
    ("POST", "/login"),
    ("POST", "/locale"),  # the language switch, on the login page too (CSRF-checked)
    ("POST", "/webhooks/twilio/status"),
    ("POST", "/webhooks/twilio/inbound"),
    ("POST", "/webhooks/twilio/page-voice"),
    ("GET", "/page/{token}"),
    ("POST", "/page/{token}"),
    ("GET", "/unsubscribe/{token}"),
    ("POST", "/unsubscribe/{token}"),
    # The public status pages and their language switch: what anyone may read.
    ("GET", "/status"),
    ("GET", "/status/language"),
    ("GET", "/status/{number}"),
    # The public feeds, Statuspage's read API and "is my product affected?" (rate-limited).
    ("GET", "/status/feed.atom"),
    ("GET", "/status/{number}/feed.atom"),
    ("GET", "/api/v2/summary.json"),
    ("GET", "/api/v2/status.json"),
    ("GET", "/api/v2/incidents.json"),
    ("GET", "/api/v2/incidents/unresolved.json"),
    ("GET", "/status/lookup"),
    # Subscribing from the status pages: the form (CSRF-checked), its answer, and the signed
    # links that confirm (a button) and end a subscription (one-click POST).
    ("GET", "/status/subscriptions/new"),
    ("POST", "/status/subscriptions/new"),
    ("GET", "/status/subscriptions/sent"),
    ("GET", "/status/subscriptions/confirm/{token}"),
    ("POST", "/status/subscriptions/confirm/{token}"),
    ("GET", "/unsubscribe/subscriptions/{token}"),
    ("POST", "/unsubscribe/subscriptions/{token}"),
    # The satisfaction survey behind the emailed link: its signed token is the credential.
    ("GET", "/survey/{token}"),
    ("POST", "/survey/{token}"),
}


def _api_routes(routes):
    for route in routes:
        if isinstance(route, APIRoute):
            yield route
        elif hasattr(route, "original_router"):  # an included router
            yield from _api_routes(route.original_router.routes)


def _dependencies(dependant):
    for dependency in dependant.dependencies:
        yield dependency.call
        yield from _dependencies(dependency)


def test_every_route_declares_who_may_call_it():
    app = create_app(check_schema=False, run_worker=False)
    routes = list(_api_routes(app.routes))
    assert len(routes) > 30
    unguarded = []
    for route in routes:
        for method in route.methods:
            calls = set(_dependencies(route.dependant))
            # Each guard reads the credential (and its user) in one dependency; a route taking
            # ``bearer_secret`` checks it with its batch (tests/tickets/test_api_intake_auth).
            guards = {bearer_secret, bearer_token, current_user, page_session, page_user}
            guarded = bool(calls & guards)
            if not guarded and (method, route.path) not in PUBLIC:
                unguarded.append(f"{method} {route.path}")
    assert unguarded == []


def test_every_form_route_checks_csrf():
    """Whatever a browser can POST with the session cookie (any route outside the API and the
    webhooks, link pages aside: their signed token is the credential) checks CSRF."""
    app = create_app(check_schema=False, run_worker=False)
    unchecked = []
    for route in _api_routes(app.routes):
        if route.path.startswith(("/api/", "/webhooks/")) or is_link_path(route.path):
            continue
        for method in set(route.methods) - SAFE_METHODS:
            if csrf_protect not in set(_dependencies(route.dependant)):
                unchecked.append(f"{method} {route.path}")
    assert unchecked == []
    assert ("POST", "/login") in {
        (method, route.path) for route in _api_routes(app.routes) for method in route.methods
    }
