import unicodedata
from datetime import date
from typing import Annotated

from email_validator import EmailNotValidError, validate_email
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator, model_validator

from incident_cmd.auth.schemas import Locale, Phone, TimeZoneName
from incident_cmd.customers.models import NAME_MAX_LENGTH


def check_email(value: str) -> str:
    """Normalised and lower-cased: unsubscribe links and suppressions match addresses
    exactly, and no mail system in use treats the local part's case as meaningful."""
    try:
        return validate_email(value, check_deliverability=False).normalized.lower()
    except EmailNotValidError as exc:
        raise ValueError(str(exc)) from None


def check_single_line(value: str) -> str:
    """Names, products and batches end up in message headers and greetings: a line break or
    another control character there could forge a header or break the message."""
    for char in value:
        if unicodedata.category(char) in ("Cc", "Zl", "Zp"):
            raise ValueError(f"contains a line break or control character (U+{ord(char):04X})")
    return value


Email = Annotated[str, AfterValidator(check_email)]
SingleLine = Annotated[str, AfterValidator(check_single_line)]


def _blank_to_none(value: object) -> object:
    return None if isinstance(value, str) and not value.strip() else value


class CustomerRow(BaseModel):
    """One row of a customer import: the customer, and optionally one purchase."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    external_ref: SingleLine = Field(min_length=1, max_length=100)
    name: SingleLine = Field(min_length=1, max_length=NAME_MAX_LENGTH)
    phone: Phone | None = None
    email: Email | None = None
    locale: Locale | None = None
    timezone: TimeZoneName | None = None
    region: SingleLine | None = Field(default=None, max_length=100)
    product_model: SingleLine | None = Field(default=None, max_length=100)
    batch: SingleLine | None = Field(default=None, max_length=100)
    serial: SingleLine | None = Field(default=None, max_length=100)
    purchase_date: date | None = None
    sales_channel: SingleLine | None = Field(default=None, max_length=100)

    @field_validator("*", mode="before")
    @classmethod
    def _empty_cells_are_missing(cls, value: object) -> object:
        return _blank_to_none(value)

    @model_validator(mode="after")
    def _reachable(self) -> "CustomerRow":
        if self.phone is None and self.email is None:
            raise ValueError("neither phone nor email: the customer could not be told anything")
        return self


class RejectedRow(BaseModel):
    row: int
    field: str | None
    reason: str


class ImportReport(BaseModel):
    rows: int
    customers_created: int
    customers_updated: int
    customers_unchanged: int
    purchases_added: int
    rejected_total: int
    rejected: list[RejectedRow] = Field(description="the first rejected rows, in file order")
