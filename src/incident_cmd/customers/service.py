"""Customer directory: streaming CSV import with per-row rejects and idempotent upserts."""

import csv
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import IO

import phonenumbers
from phonenumbers import timezone as phone_timezones
from pydantic import ValidationError
from sqlmodel import Session, col, func, select

from incident_cmd import clock
from incident_cmd.config import get_settings
from incident_cmd.customers.models import Customer, Purchase
from incident_cmd.customers.schemas import CustomerRow, ImportReport, RejectedRow
from incident_cmd.db import upsert_insert
from incident_cmd.errors import Invalid

COLUMNS = tuple(CustomerRow.model_fields)
REQUIRED_COLUMNS = ("external_ref", "name")
CUSTOMER_FIELDS = ("name", "phone", "email", "locale", "timezone", "region")
MAX_REPORTED_REJECTS = 1000
CHUNK_ROWS = 2000


@dataclass
class _Progress:
    rows: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    purchases: int = 0
    rejected_total: int = 0
    rejected: list[RejectedRow] = field(default_factory=list)
    # Digests of what the file already said, to report in-file duplicates and conflicts
    # without keeping the rows themselves.
    customer_digest: dict[str, tuple[int, int]] = field(default_factory=dict)
    purchase_rows: dict[int, int] = field(default_factory=dict)

    def reject(self, row: int, field_name: str | None, reason: str) -> None:
        self.rejected_total += 1
        if len(self.rejected) < MAX_REPORTED_REJECTS:
            self.rejected.append(RejectedRow(row=row, field=field_name, reason=reason))

    def report(self) -> ImportReport:
        return ImportReport(
            rows=self.rows,
            customers_created=self.created,
            customers_updated=self.updated,
            customers_unchanged=self.unchanged,
            purchases_added=self.purchases,
            rejected_total=self.rejected_total,
            rejected=self.rejected,
        )


def _default_timezone(phone: str | None) -> str:
    if phone:
        zones = phone_timezones.time_zones_for_number(phonenumbers.parse(phone))
        if len(zones) == 1 and zones[0] != "Etc/Unknown":
            return zones[0]
    return get_settings().default_timezone


def _purchase_key(row: CustomerRow) -> str | None:
    if row.product_model is None:
        return None
    if row.serial:
        return f"serial:{row.serial}"
    return f"{row.product_model}|{row.batch or ''}|{row.purchase_date or ''}"


def check_header(header: list[str] | None) -> None:
    if not header:
        raise Invalid("the file is empty; the first line must name the columns", field="header")
    names = [name.strip() for name in header]
    unknown = [name for name in names if name not in COLUMNS]
    if unknown:
        raise Invalid(
            f"unknown column(s) {', '.join(repr(n) for n in unknown)}; known: {', '.join(COLUMNS)}",
            field="header",
        )
    missing = [name for name in REQUIRED_COLUMNS if name not in names]
    if missing:
        raise Invalid(f"missing column(s) {', '.join(missing)}", field="header")
    duplicated = {name for name in names if names.count(name) > 1}
    if duplicated:
        raise Invalid(f"column(s) named twice: {', '.join(sorted(duplicated))}", field="header")


def _validated(number: int, raw: dict, progress: _Progress) -> CustomerRow | None:
    if None in raw:  # csv puts surplus cells under the key None
        progress.reject(number, None, f"{len(raw[None])} more cell(s) than columns")
        return None
    try:
        row = CustomerRow.model_validate({key.strip(): value for key, value in raw.items()})
    except ValidationError as exc:
        error = exc.errors()[0]
        name = ".".join(str(part) for part in error["loc"]) or None
        progress.reject(number, name, error["msg"])
        return None
    if row.locale is None:
        row.locale = get_settings().default_locale
    if row.timezone is None:
        row.timezone = _default_timezone(row.phone)
    digest = hash(tuple(getattr(row, name) for name in CUSTOMER_FIELDS))
    seen = progress.customer_digest.get(row.external_ref)
    if seen is not None and seen[1] != digest:
        progress.reject(
            number,
            "external_ref",
            f"customer {row.external_ref!r} has different details on row {seen[0]}",
        )
        return None
    progress.customer_digest.setdefault(row.external_ref, (number, digest))
    key = _purchase_key(row)
    purchase_digest = hash((row.external_ref, key))
    if purchase_digest in progress.purchase_rows:
        progress.reject(number, None, f"duplicate of row {progress.purchase_rows[purchase_digest]}")
        return None
    progress.purchase_rows[purchase_digest] = number
    return row


def _store(session: Session, numbered: list[tuple[int, CustomerRow]], progress: _Progress) -> None:
    now = clock.now()
    rows = [row for _, row in numbered]
    refs = list({row.external_ref for row in rows})
    existing = {
        customer.external_ref: customer
        for customer in session.exec(select(Customer).where(col(Customer.external_ref).in_(refs)))
    }
    # A customer is counted once, at its first row in the file.
    firsts = {
        row.external_ref: row
        for number, row in numbered
        if progress.customer_digest[row.external_ref][0] == number
    }
    new_rows = []
    for ref, row in firsts.items():
        values = {name: getattr(row, name) for name in CUSTOMER_FIELDS}
        customer = existing.get(ref)
        if customer is None:
            new_rows.append({"external_ref": ref, **values, "created_at": now, "updated_at": now})
        elif any(getattr(customer, name) != value for name, value in values.items()):
            for name, value in values.items():
                setattr(customer, name, value)
            customer.updated_at = now
            session.add(customer)
            progress.updated += 1
        else:
            progress.unchanged += 1
    if new_rows:
        # A list of parameter sets: one compiled statement, executed many times.
        session.execute(
            upsert_insert(session, Customer.__table__).on_conflict_do_nothing(
                index_elements=["external_ref"]
            ),
            new_rows,
        )
        progress.created += len(new_rows)
    session.flush()
    ids = dict(
        session.exec(
            select(Customer.external_ref, Customer.id).where(col(Customer.external_ref).in_(refs))
        ).all()
    )
    purchases = [
        {
            "customer_id": ids[row.external_ref],
            "purchase_key": _purchase_key(row),
            "product_model": row.product_model,
            "batch": row.batch,
            "serial": row.serial,
            "purchase_date": row.purchase_date,
            "sales_channel": row.sales_channel,
        }
        for row in rows
        if row.product_model is not None
    ]
    if purchases:
        before = _purchase_count(session, ids.values())
        session.execute(
            upsert_insert(session, Purchase.__table__).on_conflict_do_nothing(
                index_elements=["customer_id", "purchase_key"]
            ),
            purchases,
        )
        progress.purchases += _purchase_count(session, ids.values()) - before


def _purchase_count(session: Session, customer_ids: Iterable[int]) -> int:
    return session.exec(
        select(func.count())
        .select_from(Purchase)
        .where(col(Purchase.customer_id).in_(list(customer_ids)))
    ).one()


def import_csv(
    session: Session,
    *,
    stream: IO[str],
    after_chunk: Callable[[int], None] = lambda rows: None,
    chunk_rows: int = CHUNK_ROWS,
) -> ImportReport:
    """Reads the file row by row; each chunk of good rows is upserted, then ``after_chunk``
    (which commits, and may report progress) is called. Rows are numbered as in a
    spreadsheet: the header is row 1."""
    reader = csv.DictReader(stream)
    try:
        header = reader.fieldnames
    except UnicodeDecodeError:
        raise Invalid("the file is not UTF-8; nothing was imported", field="file") from None
    check_header(header)
    progress = _Progress()
    chunk: list[tuple[int, CustomerRow]] = []
    number = 1
    rows = enumerate(reader, start=2)
    while True:
        try:
            number, raw = next(rows)
        except StopIteration:
            break
        except UnicodeDecodeError:
            raise Invalid(
                f"the file is not UTF-8 after row {number}; rows before it were imported",
                field="file",
            ) from None
        except csv.Error as exc:
            raise Invalid(f"unreadable CSV after row {number}: {exc}", field="file") from None
        progress.rows += 1
        row = _validated(number, raw, progress)
        if row is not None:
            chunk.append((number, row))
        if len(chunk) >= chunk_rows:
            _store(session, chunk, progress)
            after_chunk(progress.rows)
            chunk = []
    if chunk:
        _store(session, chunk, progress)
    after_chunk(progress.rows)
    return progress.report()


def iter_customers(session: Session, *, limit: int, after_id: int | None) -> Iterator[Customer]:
    query = select(Customer).order_by(Customer.id).limit(limit)
    if after_id is not None:
        query = query.where(col(Customer.id) > after_id)
    yield from session.exec(query)
