from fastapi.routing import APIRoute

from incident_cmd.app import create_app
from incident_cmd.deps import current_user

# Routes anyone may call, on purpose.
PUBLIC = {
    ("POST", "/api/v1/auth/login"),
    ("GET", "/healthz"),
    ("GET", "/login"),
    ("POST", "/login"),
}


def _dependencies(dependant):
    for dependency in dependant.dependencies:
        yield dependency.call
        yield from _dependencies(dependency)


def test_every_route_declares_who_may_call_it():
    app = create_app(check_schema=False, run_worker=False)
    unguarded = []
    for route in app.routes:
        if not isinstance(route, APIRoute):
            continue
        for method in route.methods:
            calls = set(_dependencies(route.dependant))
            guarded = current_user in calls or any(
                getattr(call, "__name__", "") == "page_user" for call in calls
            )
            if not guarded and (method, route.path) not in PUBLIC:
                unguarded.append(f"{method} {route.path}")
    assert unguarded == []
