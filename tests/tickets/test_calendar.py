"""SLA arithmetic against hand-worked cases: working hours 09:00-18:00 in Shanghai, China's
public holidays and adjusted working days (2026: Mid-Autumn on Friday 25 September, National
Day 1-7 October, Sunday 20 September and Saturday 10 October worked instead)."""

from datetime import UTC, datetime, time
from zoneinfo import ZoneInfo

import pytest

from incident_cmd.tickets.calendar import BusinessCalendar, CalendarClock

SHANGHAI = ZoneInfo("Asia/Shanghai")
HOUR = 3600.0


def at(text: str, zone=SHANGHAI) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=zone)


@pytest.fixture
def calendar() -> BusinessCalendar:
    return BusinessCalendar(SHANGHAI, time(9), time(18), "CN")


@pytest.mark.parametrize(
    ("start", "hours", "due", "why"),
    [
        ("2026-11-23 10:00", 2, "2026-11-23 12:00", "inside one working day"),
        ("2026-11-23 17:00", 8, "2026-11-24 16:00", "across a night: 1 h Monday, 7 h Tuesday"),
        ("2026-11-23 07:30", 0.5, "2026-11-23 09:30", "before opening: the clock starts at 9"),
        ("2026-11-23 20:00", 1, "2026-11-24 10:00", "after closing: next morning"),
        ("2026-11-27 17:30", 1, "2026-11-30 09:30", "across a weekend"),
        ("2026-11-23 09:00", 9, "2026-11-23 18:00", "a full working day ends at closing"),
        ("2026-09-24 17:00", 2, "2026-09-28 10:00", "Mid-Autumn Friday, then the weekend"),
        ("2026-09-30 17:00", 4, "2026-10-08 12:00", "across National Day week"),
        ("2026-10-09 17:00", 2, "2026-10-10 10:00", "Saturday 10 October is a working day"),
        ("2026-09-18 17:30", 1, "2026-09-20 09:30", "Sunday 20 September is a working day"),
    ],
)
def test_business_time_lands_on_the_hand_worked_moment(calendar, start, hours, due, why):
    assert calendar.add(at(start), hours * HOUR) == at(due), why


def test_a_moment_in_another_zone_is_counted_in_the_organisations(calendar):
    # 00:30 UTC is 08:30 in Shanghai: half an hour before opening.
    start = datetime(2026, 11, 23, 0, 30, tzinfo=UTC)
    due = calendar.add(start, 0.5 * HOUR)
    assert due == datetime(2026, 11, 23, 1, 30, tzinfo=UTC)
    assert due.tzinfo == UTC


@pytest.mark.parametrize(
    ("start", "end", "hours"),
    [
        ("2026-11-23 10:00", "2026-11-23 12:30", 2.5),
        ("2026-11-23 17:00", "2026-11-24 10:00", 2),
        ("2026-11-27 12:00", "2026-11-30 12:00", 9),
        ("2026-09-30 09:00", "2026-10-09 09:00", 9 + 9),  # 30 Sep and 8 Oct
        ("2026-11-23 12:00", "2026-11-23 11:00", 0),
    ],
)
def test_working_time_between_two_moments(calendar, start, end, hours):
    assert calendar.between(at(start), at(end)) == hours * HOUR


def test_adding_and_measuring_agree(calendar):
    start = at("2026-09-29 15:20")
    for hours in (0.25, 3, 9, 17.5, 40):
        assert calendar.between(start, calendar.add(start, hours * HOUR)) == hours * HOUR


def test_calendar_time_counts_every_hour():
    start = at("2026-09-30 17:00")
    assert CalendarClock.add(start, 24 * HOUR) == at("2026-10-01 17:00")
    assert CalendarClock.between(start, at("2026-10-01 17:00")) == 24 * HOUR
