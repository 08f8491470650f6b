"""Time that counts towards a target: all of it (calendar), or working hours on working days
in the organisation's zone (business), with public holidays and China's adjusted working
days from the ``holidays`` library."""

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from incident_cmd.workdays import is_working_day


class BusinessCalendar:
    def __init__(self, zone: ZoneInfo, start: time, end: time, country: str) -> None:
        self.zone, self.start, self.end, self.country = zone, start, end, country

    def _window(self, day: date) -> tuple[datetime, datetime] | None:
        if not is_working_day(day, self.country):
            return None
        return (
            datetime.combine(day, self.start, self.zone),
            datetime.combine(day, self.end, self.zone),
        )

    def add(self, moment: datetime, seconds: float) -> datetime:
        """The moment ``seconds`` of working time after ``moment``."""
        cursor = moment.astimezone(self.zone)
        remaining = timedelta(seconds=seconds)
        day = cursor.date()
        while True:
            window = self._window(day)
            if window is not None:
                opens, closes = window
                begin = max(cursor, opens)
                if begin < closes:
                    if begin + remaining <= closes:
                        return (begin + remaining).astimezone(moment.tzinfo)
                    remaining -= closes - begin
            day += timedelta(days=1)
            cursor = datetime.combine(day, time.min, self.zone)

    def between(self, start: datetime, end: datetime) -> float:
        """Seconds of working time from ``start`` to ``end`` (0 if end is not later)."""
        if end <= start:
            return 0.0
        total = timedelta()
        day = start.astimezone(self.zone).date()
        last = end.astimezone(self.zone).date()
        while day <= last:
            window = self._window(day)
            if window is not None:
                begin, finish = max(window[0], start), min(window[1], end)
                if finish > begin:
                    total += finish - begin
            day += timedelta(days=1)
        return total.total_seconds()


class CalendarClock:
    """All time counts."""

    @staticmethod
    def add(moment: datetime, seconds: float) -> datetime:
        return moment + timedelta(seconds=seconds)

    @staticmethod
    def between(start: datetime, end: datetime) -> float:
        return max(0.0, (end - start).total_seconds())
