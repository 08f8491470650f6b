"""Domain errors. Services raise these; the API and the CLI turn them into answers, the API
as an :class:`ErrorBody`."""

from typing import Any

from pydantic import BaseModel, Field


class DomainError(Exception):
    status_code = 400

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field

    def __str__(self) -> str:
        return f"{self.field}: {self.message}" if self.field else self.message


class NotFound(DomainError):
    status_code = 404


class Conflict(DomainError):
    status_code = 409


class Invalid(DomainError):
    status_code = 422


class Forbidden(DomainError):
    status_code = 403


class Unauthorized(DomainError):
    status_code = 401


class FieldError(BaseModel):
    field: str = Field(description="dotted path of the field; empty for the request as a whole")
    message: str


class ErrorBody(BaseModel):
    """The body of every 4xx answer."""

    detail: str = Field(description="what was wrong, in one line")
    field: str | None = Field(default=None, description="the field at fault, when there is one")
    errors: list[FieldError] | None = Field(
        default=None, description="every field at fault, for a request that failed validation"
    )


ERROR_MEANINGS = {
    400: "The body could not be read (not UTF-8, or a malformed form or upload)",
    401: "Missing, invalid, expired or revoked credentials",
    403: "Not allowed for this caller, or a missing or invalid signature",
    404: "No such resource",
    405: "Method not allowed here (see Allow)",
    409: "The resource's state does not allow this now",
    413: "The request body is larger than allowed",
    422: "The request is not valid; `field` or `errors` name the fields at fault",
    429: "Too many attempts; retry after the Retry-After seconds",
}


def error_responses(*status_codes: int) -> dict[int | str, dict[str, Any]]:
    """``responses=`` for a route that can answer these 4xx codes beyond the ones every route
    of its kind can (those the application documents from the route's parameters)."""
    return {
        code: {"model": ErrorBody, "description": ERROR_MEANINGS[code]} for code in status_codes
    }
