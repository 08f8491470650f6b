from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from incident_cmd.workdays import add_offset, parse_offset

SHANGHAI = ZoneInfo("Asia/Shanghai")


def at(year, month, day, hour, minute=0):
    return datetime(year, month, day, hour, minute, tzinfo=SHANGHAI)


@pytest.mark.parametrize(
    ("start", "offset", "expected"),
    [
        (at(2026, 11, 23, 9), "30m", at(2026, 11, 23, 9, 30)),
        (at(2026, 11, 23, 9), "4h", at(2026, 11, 23, 13)),
        (at(2026, 11, 23, 9), "14d", at(2026, 12, 7, 9)),
        # Monday -> Tuesday
        (at(2026, 11, 23, 15), "1wd", at(2026, 11, 24, 15)),
        # Friday afternoon -> Monday afternoon
        (at(2026, 11, 27, 15), "1wd", at(2026, 11, 30, 15)),
        # National Day week: declared 30 Sep, 1-7 Oct off, Saturday 10 Oct is a
        # make-up working day (调休), so one working day lands on Thursday 8 Oct.
        (at(2026, 9, 30, 10), "1wd", at(2026, 10, 8, 10)),
        (at(2026, 10, 8, 10), "2wd", at(2026, 10, 10, 10)),
        # Spring Festival: Saturday 14 Feb 2026 is worked, 15-23 Feb are off.
        (at(2026, 2, 13, 10), "1wd", at(2026, 2, 14, 10)),
        (at(2026, 2, 14, 10), "1wd", at(2026, 2, 24, 10)),
    ],
)
def test_offsets_against_hand_worked_cases(start, offset, expected):
    assert add_offset(start, offset, zone=SHANGHAI, country="CN") == expected


def test_working_days_count_in_the_given_zone():
    # 23:30 UTC on Friday is already Saturday morning in Shanghai.
    start = datetime(2026, 11, 27, 23, 30, tzinfo=UTC)
    result = add_offset(start, "1wd", zone=SHANGHAI, country="CN")
    assert result == at(2026, 11, 30, 7, 30)


@pytest.mark.parametrize("text", ["", "5", "h", "1.5h", "-1d", "3w", "1 wd"])
def test_bad_offsets_are_refused_with_the_text(text):
    with pytest.raises(ValueError, match="not a duration"):
        parse_offset(text)
