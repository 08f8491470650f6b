"""When a deadline is shown as close or passed: one rule for the board and the incident room,
so an incident's clocks have the same colour wherever they are read."""

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

# ``done``: what the deadline asked for happened; the others count down to it.
Urgency = Literal["done", "overdue", "soon", "ok"]


@dataclass(frozen=True)
class Deadline:
    due: datetime
    seconds_left: int  # negative once passed
    urgency: Urgency


def deadline(*, start: datetime, due: datetime, now: datetime, met: bool = False) -> Deadline:
    left = int((due - now).total_seconds())
    if met:
        urgency: Urgency = "done"
    elif left < 0:
        urgency = "overdue"
    # The last quarter of the time allowed (at least a quarter of an hour) is shown as close.
    elif left <= max((due - start).total_seconds() / 4, 900):
        urgency = "soon"
    else:
        urgency = "ok"
    return Deadline(due, left, urgency)
