"""Field types shared by the API's schemas and parameters: bounded to what the database can
hold, so that no value, however large or strange, reaches it only to fail there.

Numbers in JSON bodies are strict: ``true`` is not 1 and ``"5"`` is not 5. Path and query
parameters are text on the wire, so there the same bounds apply to the number read."""

from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Annotated

from pydantic import AfterValidator, AwareDatetime, BeforeValidator, Field, Strict, WithJsonSchema

# The id columns are PostgreSQL INTEGER (and SQLite refuses integers beyond 64 bits).
INT4_MAX = 2_147_483_647
EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(2100, 1, 1, tzinfo=UTC)
MAX_LIST_ITEMS = 200

DbId = Annotated[int, Field(ge=1, le=INT4_MAX)]
"""An id in a path or query parameter."""

BodyId = Annotated[int, Strict(), Field(ge=1, le=INT4_MAX)]
"""An id in a JSON body."""

Flag = Annotated[bool, Strict()]

Label = Annotated[str, Field(min_length=1, max_length=100)]
"""A short name: a product model, batch, region, external reference or keyword."""


WholeNumber = Annotated[int, Strict()]
"""A JSON integer (never a boolean, a string or a float); give its bounds with ``Field``."""


def _a_json_number(value: object) -> object:
    if isinstance(value, bool | str):
        raise ValueError("must be a number")
    return value


MAX_AMOUNT = Decimal("100000000")
Amount = Annotated[
    Decimal,
    BeforeValidator(_a_json_number),
    Field(ge=0, le=MAX_AMOUNT, max_digits=11, decimal_places=2, allow_inf_nan=False),
    WithJsonSchema({"type": "number", "minimum": 0, "maximum": 100000000, "multipleOf": 0.01}),
]
"""A sum of money: a JSON number up to 100,000,000.00 with at most two decimals, never NaN
or infinite."""


def _within_supported_years(moment: datetime) -> datetime:
    if not EARLIEST <= moment <= LATEST:
        raise ValueError(f"must be between {EARLIEST.year} and {LATEST.year}")
    return moment


def _day_within_supported_years(day: date) -> date:
    if not EARLIEST.date() <= day < LATEST.date():
        raise ValueError(f"must be between {EARLIEST.year} and {LATEST.year}")
    return day


Moment = Annotated[AwareDatetime, AfterValidator(_within_supported_years)]
"""An instant with its UTC offset, between 1970 and 2100."""

Day = Annotated[date, AfterValidator(_day_within_supported_years)]
"""A calendar date between 1970 and 2100."""
