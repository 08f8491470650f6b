"""What the API answers when it refuses a request, and the OpenAPI document that says so.

Every 4xx body is an :class:`~incident_cmd.errors.ErrorBody`: domain errors, validation
errors, and the HTTP errors of the framework (unknown route, method not allowed, body too
large). Each operation in the document lists the 4xx codes it can answer, derived from what
it depends on (credentials, path parameters, a body) plus those its route declares."""

import json
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qsl

from fastapi import Depends, FastAPI, Request
from fastapi.dependencies.models import Dependant
from fastapi.exceptions import RequestValidationError
from fastapi.params import File, Form
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute, RouteContext, iter_route_contexts
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from incident_cmd.deps import bearer_token, current_user
from incident_cmd.errors import ERROR_MEANINGS, DomainError, ErrorBody, FieldError

# A JSON body is small; the customer import, a CSV file, may be large (a million rows is
# about 150 MB).
MAX_BODY_BYTES = 1024 * 1024
MAX_BODY_BYTES_BY_PATH = {"/api/v1/customers/import": 512 * 1024 * 1024}
# Path parameters that are not looked up as stored resources: a signed token is refused
# with 403 when it does not verify, a review period is any month.
_NOT_LOOKED_UP = {"token", "period"}


def error_answer(
    status_code: int,
    detail: str,
    *,
    field: str | None = None,
    errors: list[FieldError] | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    body = ErrorBody(detail=detail, field=field, errors=errors)
    return JSONResponse(body.model_dump(mode="json"), status_code=status_code, headers=headers)


def _field_of(location: tuple) -> str:
    parts = [str(part) for part in location if part not in ("body", "query", "path", "header")]
    return ".".join(parts)


async def _domain_error(_: Request, exc: DomainError) -> JSONResponse:
    return error_answer(exc.status_code, exc.message, field=exc.field)


async def _validation_error(_: Request, exc: RequestValidationError) -> JSONResponse:
    errors = [
        FieldError(field=_field_of(tuple(error["loc"])), message=error["msg"])
        for error in exc.errors()
    ]
    summary = "; ".join(f"{error.field or 'body'}: {error.message}" for error in errors)
    field = errors[0].field if len(errors) == 1 else None
    return error_answer(422, summary, field=field, errors=errors)


def _allowed_methods(request: Request) -> str:
    """Every method of every route on this path: Starlette names only the first route's."""
    methods: set[str] = set()
    for route in iter_route_contexts(request.app.routes):
        if route.methods and route.path_regex.match(request.url.path):
            methods |= route.methods
    return ", ".join(sorted(methods))


async def _http_error(request: Request, exc: HTTPException) -> JSONResponse:
    headers = dict(exc.headers or {})
    if exc.status_code == 405:
        headers["Allow"] = _allowed_methods(request)
    return error_answer(exc.status_code, str(exc.detail), headers=headers or None)


class BodySizeLimit:
    """Refuses a body over its path's limit with 413: at once when Content-Length says so,
    else as soon as the bytes read pass it."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = MAX_BODY_BYTES_BY_PATH.get(scope["path"], MAX_BODY_BYTES)
        declared = Headers(scope=scope).get("content-length", "")
        if declared.isdigit() and int(declared) > limit:
            await error_answer(413, _too_large(limit))(scope, receive, send)
            return
        received = 0

        async def receive_within_limit() -> Message:
            nonlocal received
            message = await receive()
            received += len(message.get("body", b""))
            if received > limit:
                raise HTTPException(413, _too_large(limit))
            return message

        await self.app(scope, receive_within_limit, send)


def _too_large(limit: int) -> str:
    return f"the body is larger than {limit} bytes"


# --- NUL characters: PostgreSQL refuses them in text, so they never get that far ----------


def _nul_at(value: Any, location: tuple) -> tuple | None:
    if isinstance(value, str):
        return location if "\x00" in value else None
    if isinstance(value, dict):
        for key, item in value.items():
            found = _nul_at(key, (*location, key)) or _nul_at(item, (*location, key))
            if found:
                return found
    if isinstance(value, list):
        for index, item in enumerate(value):
            found = _nul_at(item, (*location, index))
            if found:
                return found
    return None


def _nul_in_body(request: Request, body: bytes) -> tuple | None:
    content_type = request.headers.get("content-type", "")
    if content_type.startswith("application/x-www-form-urlencoded") and b"%00" in body:
        return _nul_at(dict(parse_qsl(body.decode("latin-1"))), ("body",)) or ("body",)
    if b"\\u0000" in body:
        try:
            return _nul_at(json.loads(body), ("body",))
        except ValueError:
            return None  # not JSON: the route's own parsing refuses it
    return None


# What these routes are sent is kept whatever it holds (their services drop NUL): Twilio does
# not retry a 4xx, so refusing a customer's text would lose it.
KEEPS_WHAT_IT_IS_SENT = frozenset({"/webhooks/twilio/inbound"})


async def refuse_nul_characters(request: Request) -> None:
    """An application dependency: a NUL character anywhere in the path, the query or the body
    is refused with 422 naming where it is."""
    if request.url.path in KEEPS_WHAT_IT_IS_SENT:
        return
    found = _nul_at(dict(request.path_params), ("path",)) or _nul_at(
        dict(request.query_params.multi_items()), ("query",)
    )
    route = request.scope.get("route")
    if found is None and isinstance(route, APIRoute) and _reads_form(route.dependant):
        # Parsed already for the route (its raw bytes are not kept); uploads are files, which
        # their importer checks.
        form = await request.form()
        texts = {name: value for name, value in form.multi_items() if isinstance(value, str)}
        found = _nul_at(texts, ("body",))
    elif found is None and not request.headers.get("content-type", "").startswith("multipart/"):
        found = _nul_in_body(request, await request.body())
    if found:
        raise RequestValidationError(
            [{"type": "string_nul", "loc": found, "msg": "must not contain NUL characters"}]
        )


# --- the OpenAPI document ------------------------------------------------------------------


def _dependants(dependant: Dependant) -> Iterator[Dependant]:
    yield dependant
    for sub in dependant.dependencies:
        yield from _dependants(sub)


def _reads_form(dependant: Dependant) -> bool:
    return any(
        isinstance(param.field_info, Form | File)
        for each in _dependants(dependant)
        for param in each.body_params
    )


def _error_codes(route: RouteContext) -> set[int]:
    """The 4xx codes any route like this one can answer."""
    parts = list(_dependants(route.dependant))
    calls = {part.call for part in parts}
    path_params = {param.name for part in parts for param in part.path_params}
    has_params = any(
        part.path_params or part.query_params or part.header_params or part.body_params
        for part in parts
    )
    codes = set()
    if calls & {bearer_token, current_user}:
        codes |= {401, 403}
    if path_params - _NOT_LOOKED_UP:
        codes.add(404)
    if has_params:
        codes.add(422)
    if route.body_field is not None:
        codes |= {400, 413}
    return codes


def _error_response(code: int) -> dict[str, Any]:
    return {
        "description": ERROR_MEANINGS[code],
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}},
    }


def _document_errors(document: dict[str, Any], routes: list) -> None:
    schemas = document.setdefault("components", {}).setdefault("schemas", {})
    error_schema = ErrorBody.model_json_schema(ref_template="#/components/schemas/{model}")
    schemas.update(error_schema.pop("$defs", {}))
    schemas["ErrorBody"] = error_schema
    for name in ("HTTPValidationError", "ValidationError"):
        schemas.pop(name, None)
    for route in iter_route_contexts(routes):
        if not (isinstance(route.original_route, APIRoute) and route.include_in_schema):
            continue
        for method in route.methods or ():
            responses = document["paths"][route.path_format][method.lower()]["responses"]
            for code in sorted(_error_codes(route)):
                responses.setdefault(str(code), _error_response(code))
            # FastAPI documents its own validation error shape, and a route may name a code
            # without its body: every 4xx body is an ErrorBody.
            for code, response in responses.items():
                if code.startswith("4"):
                    response["content"] = _error_response(int(code))["content"]


class ContractApp(FastAPI):
    """An app whose OpenAPI document states the one error body for every 4xx answer."""

    def openapi(self) -> dict[str, Any]:
        if self.openapi_schema is None:
            _document_errors(super().openapi(), self.routes)
        return super().openapi()


def install(app: FastAPI) -> None:
    """Before the routers are included: the error answers and the NUL guard apply to all."""
    # Registered through the decorator: add_exception_handler's type admits only handlers
    # of any Exception, though each is only ever called with the class it is registered for.
    app.exception_handler(DomainError)(_domain_error)
    app.exception_handler(RequestValidationError)(_validation_error)
    app.exception_handler(HTTPException)(_http_error)
    app.add_middleware(BodySizeLimit)
    app.router.dependencies.append(Depends(refuse_nul_characters))
