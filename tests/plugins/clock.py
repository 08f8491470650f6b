"""Every test runs on a frozen clock that starts at START and moves only when told to."""

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from incident_cmd import clock

# Monday 2026-11-23 09:00 in Shanghai: a working day, inside office hours.
START = datetime(2026, 11, 23, 1, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def frozen_clock() -> Iterator[clock.FrozenClock]:
    with clock.use(clock.FrozenClock(START)) as source:
        yield source
