"""Customer directory: streaming CSV import with per-row rejects and idempotent upserts."""

import csv
import sqlite3
import tempfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import phonenumbers
from phonenumbers import timezone as phone_timezones
from pydantic import ValidationError
from sqlalchemy import or_
from sqlmodel import Session, col, func, select

from incident_cmd import clock
from incident_cmd.config import get_settings
from incident_cmd.customers.models import Customer, Purchase
from incident_cmd.customers.schemas import CustomerRow, ImportReport, RejectedRow
from incident_cmd.db import table_of, upsert_insert
from incident_cmd.errors import Invalid, NotFound
from incident_cmd.i18n import Locale

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
    seen: "_EarlierRows" = field(default_factory=lambda: _EarlierRows())

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


class _EarlierRows:
    """What earlier rows of the file said, kept in a private SQLite file rather than in
    memory, so that a file of any length is checked for repeats in constant memory."""

    def __init__(self) -> None:
        self._directory = tempfile.TemporaryDirectory(prefix="icmd-import-")
        self._db = sqlite3.connect(Path(self._directory.name) / "seen.db")
        self._db.executescript(
            "PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF;"
            "CREATE TABLE customers (ref TEXT PRIMARY KEY, row INTEGER, digest INTEGER);"
            "CREATE TABLE purchases (ref TEXT, purchase TEXT, row INTEGER,"
            " PRIMARY KEY (ref, purchase));"
        )

    def customer(self, ref: str, row: int, digest: int) -> tuple[int, int] | None:
        """(first row, its digest) if the customer appeared before; else records this row."""
        found = self._db.execute(
            "SELECT row, digest FROM customers WHERE ref = ?", (ref,)
        ).fetchone()
        if found is None:
            self._db.execute("INSERT INTO customers VALUES (?, ?, ?)", (ref, row, digest))
        return found

    def purchase(self, ref: str, purchase: str, row: int) -> int | None:
        found = self._db.execute(
            "SELECT row FROM purchases WHERE ref = ? AND purchase = ?", (ref, purchase)
        ).fetchone()
        if found is None:
            self._db.execute("INSERT INTO purchases VALUES (?, ?, ?)", (ref, purchase, row))
        return found[0] if found else None

    def close(self) -> None:
        self._db.close()
        self._directory.cleanup()


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


def check_header(header: Sequence[str] | None) -> None:
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


def _validated(number: int, raw: dict, progress: _Progress) -> tuple[CustomerRow, bool] | None:
    """The row, and whether it is the customer's first in the file; None if rejected."""
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
    seen = progress.seen.customer(row.external_ref, number, digest)
    if seen is not None and seen[1] != digest:
        progress.reject(
            number,
            "external_ref",
            f"customer {row.external_ref!r} has different details on row {seen[0]}",
        )
        return None
    earlier = progress.seen.purchase(row.external_ref, _purchase_key(row) or "", number)
    if earlier is not None:
        progress.reject(number, None, f"duplicate of row {earlier}")
        return None
    return row, seen is None


def _store(session: Session, numbered: list[tuple[CustomerRow, bool]], progress: _Progress) -> None:
    now = clock.now()
    rows = [row for row, _ in numbered]
    refs = list({row.external_ref for row in rows})
    existing = {
        customer.external_ref: customer
        for customer in session.exec(select(Customer).where(col(Customer.external_ref).in_(refs)))
    }
    # A customer is counted once, at its first row in the file.
    firsts = {row.external_ref: row for row, first in numbered if first}
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
            upsert_insert(session, table_of(Customer)).on_conflict_do_nothing(
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
            upsert_insert(session, table_of(Purchase)).on_conflict_do_nothing(
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
    try:
        return _import_rows(session, reader, progress, after_chunk, chunk_rows)
    finally:
        progress.seen.close()


def _import_rows(
    session: Session,
    reader: csv.DictReader,
    progress: _Progress,
    after_chunk: Callable[[int], None],
    chunk_rows: int,
) -> ImportReport:
    chunk: list[tuple[CustomerRow, bool]] = []
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
        validated = _validated(number, raw, progress)
        if validated is not None:
            chunk.append(validated)
        if len(chunk) >= chunk_rows:
            _store(session, chunk, progress)
            after_chunk(progress.rows)
            chunk = []
    if chunk:
        _store(session, chunk, progress)
    after_chunk(progress.rows)
    return progress.report()


def iter_customers(session: Session, *, limit: int, after_id: int | None) -> Iterator[Customer]:
    query = select(Customer).order_by(col(Customer.id)).limit(limit)
    if after_id is not None:
        query = query.where(col(Customer.id) > after_id)
    yield from session.exec(query)


@dataclass(frozen=True)
class Contact:
    """Who wrote to us, as an intake knows them; ``synthetic``: one of a drill's made-up
    customers (a drill's complaint)."""

    phone: str | None
    email: str | None
    name: str | None = None
    locale: Locale | None = None
    region: str | None = None
    synthetic: bool = False


def find_or_create_many(session: Session, *, contacts: Sequence[Contact]) -> list[Customer]:
    """The customer of each contact, in order: the one with this phone (or else email), the
    first on file, else created from what is known. One statement finds them all and one makes
    the new ones; a contact repeated in the list is made once and found after that, as it
    would be taking the contacts in one at a time. A drill's contact (``synthetic``) is only
    ever one of its made-up customers, and a real one never is, whatever the address."""
    phones = {contact.phone for contact in contacts if contact.phone}
    emails = {contact.email for contact in contacts if contact.email}
    by_phone: dict[tuple[bool, str], Customer] = {}
    by_email: dict[tuple[bool, str], Customer] = {}
    if phones or emails:
        found = session.exec(
            select(Customer)
            .where(or_(col(Customer.phone).in_(phones), col(Customer.email).in_(emails)))
            .order_by(col(Customer.id))
        )
        for known in found:
            _index(known, by_phone, by_email)
    now = clock.now()
    customers: list[Customer] = []
    for contact in contacts:
        synthetic = contact.synthetic
        customer = (by_phone.get((synthetic, contact.phone)) if contact.phone else None) or (
            by_email.get((synthetic, contact.email)) if contact.email else None
        )
        if customer is None:
            address = contact.phone or contact.email
            if not address:
                raise Invalid("a customer needs a phone number or an email address", field="phone")
            customer = Customer(
                external_ref=f"contact:{address}",
                name=contact.name or address,
                phone=contact.phone,
                email=contact.email,
                locale=contact.locale or get_settings().default_locale,
                timezone=_default_timezone(contact.phone),
                region=contact.region,
                synthetic=synthetic,
                created_at=now,
                updated_at=now,
            )
            session.add(customer)
            _index(customer, by_phone, by_email)
        customers.append(customer)
    session.flush()
    return customers


def _index(
    customer: Customer,
    by_phone: dict[tuple[bool, str], Customer],
    by_email: dict[tuple[bool, str], Customer],
) -> None:
    """The first customer with a phone or an email is the one found by it, among the real
    customers or among the made-up ones."""
    if customer.phone:
        by_phone.setdefault((customer.synthetic, customer.phone), customer)
    if customer.email:
        by_email.setdefault((customer.synthetic, customer.email), customer)


def synthetic_phone(number: int) -> str:
    """The made-up customer ``number``'s phone (1-999), from the configured fictional range."""
    phone = f"{get_settings().drill_phone_prefix}{number:03d}"
    try:
        valid = phonenumbers.is_valid_number(phonenumbers.parse(phone))
    except phonenumbers.NumberParseException:
        valid = False
    if not valid:
        raise Invalid(
            f"INCIDENT_CMD_DRILL_PHONE_PREFIX gives {phone}, not a valid number",
            field="drill_phone_prefix",
        )
    return phone


@dataclass(frozen=True)
class SyntheticPurchase:
    product_model: str
    batch: str | None


def make_synthetic(
    session: Session,
    *,
    series: str,
    count: int,
    names: tuple[str, str],
    purchases: Sequence[SyntheticPurchase],
    regions: Sequence[str],
) -> list[Customer]:
    """``count`` made-up customers for a drill, named plainly as such ("演练客户 001"), each
    with a fictional phone and email and, in turn, one of ``purchases`` and ``regions``;
    ``series`` keeps each drill's apart. Both locales are used, alternately."""
    settings = get_settings()
    now = clock.now()
    made = []
    for number in range(1, count + 1):
        locale = Locale.zh_CN if number % 2 else Locale.en
        customer = Customer(
            external_ref=f"{series}-{number:03d}",
            name=f"{names[0] if locale == Locale.zh_CN else names[1]} {number:03d}",
            phone=synthetic_phone(number),
            email=f"{series}-{number:03d}@drill.invalid",
            locale=locale,
            timezone=settings.default_timezone,
            region=regions[(number - 1) % len(regions)] if regions else None,
            synthetic=True,
            created_at=now,
            updated_at=now,
        )
        session.add(customer)
        made.append(customer)
    session.flush()
    for number, customer in enumerate(made):
        if purchases:
            bought = purchases[number % len(purchases)]
            session.add(
                Purchase(
                    customer_id=customer.id,
                    purchase_key=f"{bought.product_model}|{bought.batch or ''}|drill",
                    product_model=bought.product_model,
                    batch=bought.batch,
                )
            )
    session.flush()
    return made


def synthetic_customers(session: Session, *, series: str) -> list[Customer]:
    return list(
        session.exec(
            select(Customer)
            .where(
                col(Customer.synthetic).is_(True),
                col(Customer.external_ref).startswith(f"{series}-"),
            )
            .order_by(col(Customer.id))
        ).all()
    )


def get_customer(session: Session, *, customer_id: int) -> Customer:
    customer = session.get(Customer, customer_id)
    if customer is None:
        raise NotFound(f"no customer with id {customer_id}")
    return customer


def scope_values(session: Session, *, limit: int = 500) -> dict[str, list[str]]:
    """The distinct products, batches and regions on file, for a declaration form to offer.
    Each is read as a loose index scan (the least value after the last one found: one index
    probe a value), so a million purchases of twenty products cost twenty probes."""
    sources = {
        "products": col(Purchase.product_model),
        "batches": col(Purchase.batch),
        "regions": col(Customer.region),
    }
    values: dict[str, list[str]] = {}
    for name, column in sources.items():
        first = select(func.min(column).label("value")).cte(f"{name}_values", recursive=True)
        following = select(func.min(column)).where(column > first.c.value).scalar_subquery()
        walk = first.union_all(select(following).where(first.c.value.is_not(None)))
        found = session.execute(
            select(walk.c.value).where(walk.c.value.is_not(None)).limit(limit)
        ).scalars()
        values[name] = [str(value) for value in found]
    return values
