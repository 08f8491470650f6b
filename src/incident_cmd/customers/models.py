from datetime import date, datetime

from sqlalchemy import Column, Index, UniqueConstraint
from sqlmodel import Field, SQLModel

from incident_cmd.columns import UTCDateTime, enum_column
from incident_cmd.i18n import Locale

# Names from real systems (several scripts, titles, transliterations) run long; channels that
# need less shorten the name when they render it.
NAME_MAX_LENGTH = 1000


class Customer(SQLModel, table=True):
    __tablename__ = "customers"

    id: int = Field(default=None, primary_key=True)
    external_ref: str = Field(max_length=100, unique=True)
    name: str = Field(max_length=NAME_MAX_LENGTH)
    phone: str | None = Field(default=None, max_length=32, index=True)
    email: str | None = Field(default=None, max_length=320, index=True)
    locale: Locale = enum_column(Locale)
    timezone: str = Field(max_length=64)
    region: str | None = Field(default=None, max_length=100, index=True)
    # A drill's made-up customer (drills.flows): only drill campaigns reach them, and drill
    # campaigns reach no one else.
    synthetic: bool = False
    created_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    updated_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))


class Purchase(SQLModel, table=True):
    __tablename__ = "purchases"
    __table_args__ = (
        UniqueConstraint("customer_id", "purchase_key"),
        Index("ix_purchases_model_batch", "product_model", "batch"),
        Index("ix_purchases_batch", "batch"),
    )

    id: int = Field(default=None, primary_key=True)
    customer_id: int = Field(foreign_key="customers.id")
    # The serial number where known, otherwise model|batch|date: what makes a row the same
    # purchase when a file is imported again.
    purchase_key: str = Field(max_length=250)
    product_model: str = Field(max_length=100)
    batch: str | None = Field(default=None, max_length=100)
    serial: str | None = Field(default=None, max_length=100)
    purchase_date: date | None = None
    sales_channel: str | None = Field(default=None, max_length=100)
