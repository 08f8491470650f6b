"""Quarters and cause tags, for the quarterly review meeting."""

import re
from datetime import UTC, datetime

from incident_cmd.errors import Invalid
from incident_cmd.postmortems import service

QUARTER = re.compile(r"(\d{4})-Q([1-4])")
# A cause tag is a word after "#" (or the full-width "＃") in the causes section, up to a
# space or punctuation: "#供应商来料 #firmware". "#12" is a number, not a tag.
CAUSE_TAG = re.compile(r"[#＃](?!\d)([^\s#＃,，.。;；:：、!！?？()（）\[\]【】\"“”'‘’]+)")


def quarter_bounds(quarter: str) -> tuple[datetime, datetime]:
    """The first moment of the quarter (``2026-Q4``) and of the next one, in the
    organisation's time zone, as UTC."""
    match = QUARTER.fullmatch(quarter)
    if match is None or not 1970 <= int(match[1]) <= 2099:
        raise Invalid(
            f"quarter {quarter!r} is not a quarter like 2026-Q4 (1970 to 2099)", field="quarter"
        )
    year, number = int(match[1]), int(match[2])
    start = datetime(year, 3 * number - 2, 1, tzinfo=service.organisation_zone())
    end = datetime(year + number // 4, 3 * number % 12 + 1, 1, tzinfo=service.organisation_zone())
    return start.astimezone(UTC), end.astimezone(UTC)


def quarter_of(moment: datetime) -> str:
    local = moment.astimezone(service.organisation_zone())
    return f"{local.year}-Q{(local.month - 1) // 3 + 1}"


def month_of(moment: datetime) -> str:
    return moment.astimezone(service.organisation_zone()).strftime("%Y-%m")


def months_of(quarter: str) -> list[str]:
    start, _ = quarter_bounds(quarter)
    first = start.astimezone(service.organisation_zone())
    return [f"{first.year}-{first.month + step:02d}" for step in range(3)]


def cause_tags(causes: str) -> list[str]:
    """The cause tags the review's causes section names, each once, in lower case."""
    return list(dict.fromkeys(tag.casefold() for tag in CAUSE_TAG.findall(causes)))
