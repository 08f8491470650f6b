"""Contact details as a viewer sees them: enough to tell two customers apart, not enough to
reach one (+86 138****0000, j***@example.com)."""

import re
from typing import Any, TypedDict

import phonenumbers

from incident_cmd.config import get_settings
from incident_cmd.customers.models import Customer

EMAIL = re.compile(r"[^\s@<>()\[\],;:\"']+@[^\s@<>()\[\],;:\"']+\.[^\s@<>()\[\],;:\"']+")


def _hide_digits(digits: str) -> str:
    if len(digits) >= 8:
        return digits[:3] + "*" * (len(digits) - 7) + digits[-4:]
    return "*" * max(len(digits) - 2, 1) + digits[-2:]


def _masked_number(number: phonenumbers.PhoneNumber) -> str:
    national = phonenumbers.national_significant_number(number)
    return f"+{number.country_code} {_hide_digits(national)}"


def mask_phone(phone: str) -> str:
    try:
        number = phonenumbers.parse(phone, get_settings().default_phone_region)
    except phonenumbers.NumberParseException:
        return _hide_digits("".join(filter(str.isdigit, phone)))
    return _masked_number(number)


def mask_email(email: str) -> str:
    local, _, domain = email.rpartition("@")
    return f"{local[:1]}***@{domain}"


def mask_contact(contact: str) -> str:
    return mask_email(contact) if "@" in contact else mask_phone(contact)


class MaskedIdentity(TypedDict):
    name: str
    external_ref: str
    phone: str | None
    email: str | None


def masked_identity(customer: Customer) -> MaskedIdentity:
    """What names or reaches a customer, as a reader without need of it sees it: a customer
    known only by a contact is named by it, and imported without a reference is referred to
    by it (``contact:+86…``), so the name and reference are masked as text."""
    return MaskedIdentity(
        name=mask_text(customer.name),
        external_ref=mask_text(customer.external_ref),
        phone=customer.phone and mask_contact(customer.phone),
        email=customer.email and mask_contact(customer.email),
    )


def mask_text(text: str) -> str:
    """Free text with every email address and phone number in it masked. A number glued to a
    Latin letter, a digit or a dash (TKT-2026-000042) is an identifier, not a phone."""
    text = EMAIL.sub(lambda found: mask_email(found.group()), text)
    pieces, last = [], 0
    matcher = phonenumbers.PhoneNumberMatcher(
        text, get_settings().default_phone_region, leniency=phonenumbers.Leniency.VALID
    )
    for match in matcher:
        before = text[match.start - 1] if match.start else " "
        if (before.isascii() and before.isalnum()) or before == "-":
            continue
        pieces += [text[last : match.start], _masked_number(match.number)]
        last = match.end
    return "".join(pieces) + text[last:]


def mask_values(value: Any) -> Any:
    """Every string inside a timeline event's data, masked."""
    if isinstance(value, str):
        return mask_text(value)
    if isinstance(value, dict):
        return {key: mask_values(item) for key, item in value.items()}
    if isinstance(value, list):
        return [mask_values(item) for item in value]
    return value
