"""Quiet hours: the local hours in which a recipient is not texted or mailed unless a notice
is safety-critical. The organisation's by default, in each recipient's own time zone."""

from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from incident_cmd.config import get_settings


def clock_time(text: str) -> time:
    hour, minute = text.split(":")
    return time(int(hour), int(minute))


def end_of_quiet_hours(
    zone_name: str, now: datetime, *, start: str | None = None, end: str | None = None
) -> datetime | None:
    """When quiet hours (the organisation's, unless given) end in that zone, if ``now`` is
    inside them; None otherwise."""
    settings = get_settings()
    start_at = clock_time(start or settings.quiet_hours_start)
    end_at = clock_time(end or settings.quiet_hours_end)
    if start_at == end_at:
        return None
    zone = ZoneInfo(zone_name)
    local = now.astimezone(zone)
    moment = local.time()
    overnight = start_at > end_at
    inside = (moment >= start_at or moment < end_at) if overnight else start_at <= moment < end_at
    if not inside:
        return None
    day = local.date()
    if overnight and moment >= start_at:
        day += timedelta(days=1)
    return datetime.combine(day, end_at, zone)
