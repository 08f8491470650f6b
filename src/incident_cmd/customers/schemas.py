from datetime import date
from typing import Annotated

from email_validator import EmailNotValidError, validate_email
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator

from incident_cmd.auth.schemas import Locale, Phone, TimeZoneName


def check_email(value: str) -> str:
    try:
        return validate_email(value, check_deliverability=False).normalized
    except EmailNotValidError as exc:
        raise ValueError(str(exc)) from None


Email = Annotated[str, AfterValidator(check_email)]
Text = Annotated[str, Field(max_length=200)]


def _blank_to_none(value: object) -> object:
    return None if isinstance(value, str) and not value.strip() else value


class CustomerRow(BaseModel):
    """One row of a customer import: the customer, and optionally one purchase."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    external_ref: str = Field(min_length=1, max_length=100)
    name: str = Field(min_length=1, max_length=200)
    phone: Phone | None = None
    email: Email | None = None
    locale: Locale | None = None
    timezone: TimeZoneName | None = None
    region: str | None = Field(default=None, max_length=100)
    product_model: str | None = Field(default=None, max_length=100)
    batch: str | None = Field(default=None, max_length=100)
    serial: str | None = Field(default=None, max_length=100)
    purchase_date: date | None = None
    sales_channel: str | None = Field(default=None, max_length=100)

    @field_validator("*", mode="before")
    @classmethod
    def _empty_cells_are_missing(cls, value: object) -> object:
        return _blank_to_none(value)


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
