"""Offsets such as "30m", "4h", "14d" and "1wd" (working days) applied to a moment.

Working days follow the organisation's public holidays, including China's adjusted working
days (weekends worked in exchange for a bridge holiday), as the ``holidays`` library knows them.
"""

import re
from datetime import date, datetime, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

import holidays

OFFSET_PATTERN = re.compile(r"^(\d+)(m|h|d|wd)$")
UNITS = {"m": "minutes", "h": "hours", "d": "days"}


def parse_offset(text: str) -> tuple[int, str]:
    match = OFFSET_PATTERN.match(text.strip())
    if match is None:
        raise ValueError(
            f"{text!r} is not a duration; write a number and a unit: 30m, 4h, 14d or 1wd "
            "(working days)"
        )
    return int(match.group(1)), match.group(2)


@lru_cache(maxsize=8)
def _holidays(country: str) -> holidays.HolidayBase:
    return holidays.country_holidays(country)


def is_working_day(day: date, country: str) -> bool:
    return _holidays(country).is_working_day(day)


def add_offset(start: datetime, offset: str, *, zone: ZoneInfo, country: str) -> datetime:
    """Calendar units are exact durations; ``wd`` lands on the same wall-clock time N working
    days later in ``zone`` (declared on a Friday afternoon, one working day is Monday
    afternoon, or the Saturday when that Saturday is an adjusted working day)."""
    amount, unit = parse_offset(offset)
    if unit != "wd":
        return start + timedelta(**{UNITS[unit]: amount})
    local = start.astimezone(zone)
    day = local.date()
    remaining = amount
    while remaining > 0:
        day += timedelta(days=1)
        if is_working_day(day, country):
            remaining -= 1
    return datetime.combine(day, local.timetz().replace(tzinfo=None), zone).astimezone(start.tzinfo)
