"""The drill calendar: drills scheduled ahead of time, by each scenario's cadence (a job that
makes each occurrence once, however many workers run it) or by a duty manager, moved,
cancelled, started; and their participants reminded by SMS and email a week and a day
before, each reminder once. Every change is on the scheduled drill's own timeline."""

from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlmodel import Session, col, select

from incident_cmd import clock
from incident_cmd.auth.models import User
from incident_cmd.config import get_settings
from incident_cmd.db import skip_locked, table_of, upsert_insert
from incident_cmd.drills.loader import LoadedScenario
from incident_cmd.drills.models import DrillRun, DrillSchedule, ScheduleState
from incident_cmd.drills.schema import Cadence
from incident_cmd.errors import Conflict, Invalid, NotFound
from incident_cmd.messaging import direct
from incident_cmd.messaging.channels import ChannelName
from incident_cmd.messaging.templates import templates_for
from incident_cmd.timeline import service as timeline
from incident_cmd.timeline.models import TimelineEvent
from incident_cmd.workdays import is_working_day

SUBJECT = "drill_schedule"
SCHEDULED = "drill.scheduled"
MOVED = "drill.schedule_moved"
CANCELLED = "drill.schedule_cancelled"
STARTED = "drill.schedule_started"
REMINDED = "drill.reminded"
# The direct lane's source of the messages about a scheduled drill.
SOURCE = "drill-schedule"
TEMPLATE = "drill_reminder"
# How long before the drill its people are reminded, earliest first.
REMINDERS = (timedelta(days=7), timedelta(days=1))


def _zone() -> ZoneInfo:
    return ZoneInfo(get_settings().default_timezone)


def _record(
    session: Session,
    schedule: DrillSchedule,
    kind: str,
    summary: str,
    actor_id: int | None,
    data: dict | None = None,
) -> TimelineEvent:
    return timeline.append(
        session,
        subject_type=SUBJECT,
        subject_id=schedule.id,
        kind=kind,
        summary=summary,
        actor_id=actor_id,
        data={"scenario": schedule.scenario_key, "at": schedule.at.isoformat(), **(data or {})},
    )


# --- the cadence ------------------------------------------------------------------------------


def occurrence_at(cadence: Cadence, year: int, first_month: int) -> datetime:
    """When the drill of the period starting in ``first_month`` falls: the day the cadence
    names, moved on to the first working day, at its hour in the organisation's zone."""
    day = date(year, first_month + cadence.month - 1, cadence.day)
    country = get_settings().holiday_country
    while not is_working_day(day, country):
        day += timedelta(days=1)
    return datetime.combine(day, time(cadence.hour), _zone()).astimezone(UTC)


def occurrences(cadence: Cadence, since: datetime) -> Iterator[tuple[str, datetime]]:
    """Each period from the one ``since`` falls in, as its name (``2026-07``) and its drill's
    moment, for ever: the caller stops."""
    local = since.astimezone(_zone())
    year = local.year
    month = (local.month - 1) // cadence.every_months * cadence.every_months + 1
    while True:
        yield f"{year}-{month:02d}", occurrence_at(cadence, year, month)
        month += cadence.every_months
        if month > 12:
            year, month = year + 1, month - 12


def due_occurrences(cadence: Cadence, now: datetime) -> list[tuple[str, datetime]]:
    """The occurrences still to come that are within ``days_ahead`` of now."""
    ahead = timedelta(days=cadence.days_ahead)
    due = []
    for occurrence, at in occurrences(cadence, now):
        if at - ahead > now:
            break
        if at > now:
            due.append((occurrence, at))
    return due


def _people(session: Session, usernames: Sequence[str]) -> tuple[list[User], list[str]]:
    """The active users of those names, and the names that are no such user."""
    found = {
        user.username: user
        for user in session.exec(select(User).where(col(User.username).in_(usernames)))
        if user.active
    }
    return [found[name] for name in usernames if name in found], [
        name for name in usernames if name not in found
    ]


def schedule_by_cadence(session: Session, *, scenarios: dict[str, LoadedScenario]) -> int:
    """Makes the scheduled drill of each scenario's occurrences that come within its
    ``days_ahead``; the unique (scenario, occurrence) key makes each once whatever runs this
    at the same time, and a cancelled one is not made again."""
    now = clock.now()
    table = table_of(DrillSchedule)
    made = 0
    for loaded in scenarios.values():
        cadence = loaded.scenario.cadence
        for occurrence, at in due_occurrences(cadence, now):
            inserted = session.execute(
                upsert_insert(session, table)
                .values(
                    scenario_key=loaded.scenario.key,
                    occurrence=occurrence,
                    at=at,
                    participants=[],
                    state=ScheduleState.scheduled,
                    created_at=now,
                )
                .on_conflict_do_nothing(index_elements=["scenario_key", "occurrence"])
                .returning(table.c.id)
            ).scalar()
            if inserted is None:
                continue
            schedule = session.get_one(DrillSchedule, inserted)
            named = [*([cadence.controller] if cadence.controller else []), *cadence.participants]
            people, unknown = _people(session, named)
            by_name = {user.username: user for user in people}
            controller = by_name.get(cadence.controller or "")
            schedule.controller_id = controller.id if controller else None
            schedule.participants = [
                by_name[name].id for name in cadence.participants if name in by_name
            ]
            schedule.remind_at = next_reminder(schedule.at, now)
            session.add(schedule)
            _record(
                session,
                schedule,
                SCHEDULED,
                f"drill of scenario {schedule.scenario_key} scheduled for {at.isoformat()} by "
                f"its cadence (every {cadence.every_months} months, period {occurrence})"
                + (f"; no such users: {', '.join(unknown)}" if unknown else ""),
                None,
                {
                    "occurrence": occurrence,
                    "every_months": cadence.every_months,
                    "unknown": unknown,
                },
            )
            made += 1
    return made


# --- by hand ----------------------------------------------------------------------------------


def _future(at: datetime) -> datetime:
    if at.tzinfo is None:
        raise Invalid("at needs a time zone", field="at")
    if at <= clock.now():
        raise Invalid(f"at {at.isoformat()} is not in the future", field="at")
    return at.astimezone(UTC)


def schedule(
    session: Session,
    *,
    loaded: LoadedScenario,
    at: datetime,
    controller: User | None,
    participants: Sequence[User],
    actor: User,
    request_id: int | None = None,
) -> DrillSchedule:
    """A drill put on the calendar by a duty manager (for a review's request, ``request_id``)."""
    at = _future(at)
    row = DrillSchedule(
        scenario_key=loaded.scenario.key,
        at=at,
        controller_id=controller.id if controller else None,
        participants=list(dict.fromkeys(person.id for person in participants)),
        request_id=request_id,
        state=ScheduleState.scheduled,
        remind_at=next_reminder(at, clock.now()),
        created_by=actor.id,
        created_at=clock.now(),
    )
    session.add(row)
    session.flush()
    _record(
        session,
        row,
        SCHEDULED,
        f"drill of scenario {row.scenario_key} scheduled for {at.isoformat()} by "
        f"{actor.username}" + (f" for drill request {request_id}" if request_id else ""),
        actor.id,
        {"request": request_id},
    )
    return row


def get_schedule(session: Session, *, schedule_id: int, lock: bool = False) -> DrillSchedule:
    query = select(DrillSchedule).where(DrillSchedule.id == schedule_id)
    row = session.exec(query.with_for_update() if lock else query).first()
    if row is None:
        raise NotFound(f"no scheduled drill with id {schedule_id}")
    return row


def _still_scheduled(row: DrillSchedule) -> None:
    if row.state != ScheduleState.scheduled:
        raise Conflict(f"scheduled drill {row.id} is {row.state}", field="state")


def move(
    session: Session,
    *,
    row: DrillSchedule,
    name: Mapping[str, str],
    at: datetime,
    controller: User | None,
    participants: Sequence[User],
    actor: User,
) -> DrillSchedule:
    """A new time and people; the reminders start over for the new time, and everyone it
    concerns (before and after) is told."""
    _still_scheduled(row)
    at = _future(at)
    before = row.at
    concerned = _concerned(row)
    row.at = at
    row.controller_id = controller.id if controller else None
    row.participants = list(dict.fromkeys(person.id for person in participants))
    row.remind_at = next_reminder(at, clock.now())
    session.add(row)
    _record(
        session,
        row,
        MOVED,
        f"scheduled drill {row.id} moved from {before.isoformat()} to {at.isoformat()} by "
        f"{actor.username}",
        actor.id,
        {"from": before.isoformat()},
    )
    tell(
        session,
        row=row,
        name=name,
        step=f"moved-{at:%Y%m%d%H%M}",
        kind="moved",
        extra=concerned,
    )
    return row


def cancel(
    session: Session, *, row: DrillSchedule, name: Mapping[str, str], actor: User
) -> DrillSchedule:
    _still_scheduled(row)
    row.state, row.remind_at = ScheduleState.cancelled, None
    row.cancelled_by, row.cancelled_at = actor.id, clock.now()
    session.add(row)
    _record(
        session,
        row,
        CANCELLED,
        f"scheduled drill {row.id} cancelled by {actor.username}",
        actor.id,
    )
    tell(session, row=row, name=name, step="cancelled", kind="cancelled")
    return row


def mark_started(session: Session, *, row: DrillSchedule, run: DrillRun, actor: User) -> None:
    _still_scheduled(row)
    row.state, row.run_id, row.remind_at = ScheduleState.started, run.id, None
    session.add(row)
    _record(
        session,
        row,
        STARTED,
        f"scheduled drill {row.id} started as drill run {run.id} by {actor.username}",
        actor.id,
        {"run": run.id},
    )


def list_schedules(session: Session, *, since: datetime) -> Sequence[DrillSchedule]:
    """Drills on the calendar from ``since`` on (and any still waiting to be started)."""
    return session.exec(
        select(DrillSchedule)
        .where((col(DrillSchedule.at) >= since) | (DrillSchedule.state == ScheduleState.scheduled))
        .order_by(col(DrillSchedule.at), col(DrillSchedule.id))
    ).all()


def schedules_of_runs(session: Session, *, run_ids: Sequence[int]) -> dict[int, DrillSchedule]:
    if not run_ids:
        return {}
    rows = session.exec(select(DrillSchedule).where(col(DrillSchedule.run_id).in_(run_ids)))
    return {row.run_id: row for row in rows if row.run_id is not None}


def history(session: Session, *, row: DrillSchedule) -> Sequence[TimelineEvent]:
    return timeline.events_for(session, subject_type=SUBJECT, subject_id=row.id)


# --- reminders --------------------------------------------------------------------------------


def next_reminder(at: datetime, now: datetime) -> datetime | None:
    """The first reminder step still to come before a drill at ``at``."""
    return next((at - before for before in REMINDERS if at - before > now), None)


def _concerned(row: DrillSchedule) -> list[int]:
    return list(
        dict.fromkeys([*([row.controller_id] if row.controller_id else []), *row.participants])
    )


def tell(
    session: Session,
    *,
    row: DrillSchedule,
    name: Mapping[str, str],
    step: str,
    kind: str,
    extra: Sequence[int] = (),
) -> int:
    """Messages the controller and participants (and ``extra`` people) by SMS and email,
    marked as a drill, each at most once per ``step`` (the message key is unique). Returns
    how many people were told."""
    ids = list(dict.fromkeys([*_concerned(row), *extra]))
    if not ids:
        return 0
    people = session.exec(select(User).where(col(User.id).in_(ids))).all()
    settings = get_settings()
    templates = templates_for(settings.template_dir)
    told = 0
    for person in people:
        if not person.active:
            continue
        zone = ZoneInfo(person.timezone)
        context = {
            "organisation": settings.organisation_name,
            "name": person.display_name,
            "scenario": name.get(person.locale) or name.get("en") or row.scenario_key,
            "at": row.at.astimezone(zone).strftime("%Y-%m-%d %H:%M %Z"),
            "kind": kind,
            "controller": person.id == row.controller_id,
            "days": max(0, (row.at - clock.now()).days),
            "url": f"{settings.public_base_url}/drills/calendar",
        }
        sent = False
        for channel, address in (
            (ChannelName.sms, person.phone),
            (ChannelName.email, person.email),
        ):
            if not address:
                continue
            direct.enqueue(
                session,
                key=f"{SOURCE}-{row.id}-{step}-{person.id}-{channel}",
                source=SOURCE,
                source_id=row.id,
                subject=(SUBJECT, row.id),
                label=f"drill {kind} to {person.username}",
                channel=channel,
                address=address,
                locale=person.locale,
                rendered=templates.render(TEMPLATE, channel, person.locale, context),
                drill=True,
                user_id=person.id,
            )
            sent = True
        told += sent
    return told


def remind_due(
    session: Session, *, name_of: Callable[[str], Mapping[str, str]], limit: int = 200
) -> int:
    """Sweep: the reminder step each scheduled drill has come to, once (claimed rows skip
    other workers; the message keys are unique besides). A sweep that ran late sends the
    step it is in, not every step it missed."""
    now = clock.now()
    query = (
        select(DrillSchedule)
        .where(
            DrillSchedule.state == ScheduleState.scheduled,
            col(DrillSchedule.remind_at) <= now,
        )
        .order_by(col(DrillSchedule.remind_at))
        .limit(limit)
    )
    rows = session.exec(skip_locked(session, query)).all()
    for row in rows:
        before = min((ahead for ahead in REMINDERS if row.at - ahead <= now), default=REMINDERS[-1])
        row.remind_at = next_reminder(row.at, now)
        session.add(row)
        if row.at <= now:
            continue
        step = f"{before.days}d-{row.at:%Y%m%d%H%M}"
        told = tell(session, row=row, name=name_of(row.scenario_key), step=step, kind="reminder")
        _record(
            session,
            row,
            REMINDED,
            f"{told} people reminded {before.days} days before the drill",
            None,
            {"days": before.days, "told": told},
        )
    return len(rows)
