"""Each person's training record: the drills they took part in (a seat on the drill
incident's roster, the controller's chair, or a place among a scheduled drill's
participants), and for each kind of objective when they last exercised it against the
cadence of the scenarios that train it, so whoever is overdue shows; and how the objectives
of each kind were rated by the evaluators (P/S/M/U), so whoever last drilled a kind that went
badly shows as well.

The automatic scores (met or missed) are not read here: they are not stored but worked out
from each run's timeline, pages, statements, campaigns, reports and tickets, a dozen queries
a run, which this page would repeat for every run of the history on every view."""

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from sqlmodel import Session, col, select

from incident_cmd import clock
from incident_cmd.auth.models import Role, User
from incident_cmd.config import get_settings
from incident_cmd.drills.evaluation_models import DrillRating, Rating
from incident_cmd.drills.loader import LoadedScenario
from incident_cmd.drills.models import DrillRun, DrillSchedule, ScheduleState
from incident_cmd.drills.schema import ObjectiveKind
from incident_cmd.incidents.models import RosterAssignment

CONTROLLER = "controller"
PARTICIPANT = "participant"
# Who a record is kept for besides anyone who took part: the roles that sit in the
# command center when it is called.
TRAINED_ROLES = (Role.duty_manager, Role.responder, Role.comms)
# How many periods of each objective's cadence its chart shows, the current one last.
CHART_PERIODS = 4
# A kind whose latest rating is one of these is a training gap, as an overdue one is.
WEAK = frozenset({Rating.major_challenges, Rating.unable})
# Best to worst, the order HSEEP gives them.
RATING_ORDER = tuple(Rating)


@dataclass(frozen=True)
class Participation:
    run_id: int
    incident_id: int
    scenario_key: str
    name: dict[str, str]
    at: datetime
    roles: tuple[str, ...]  # roster role keys, CONTROLLER or PARTICIPANT
    kinds: frozenset[str]
    # Per kind, every evaluator's rating of the run's objectives of that kind.
    ratings: dict[str, tuple[Rating, ...]]


def worst(ratings: Iterable[Rating]) -> Rating | None:
    """The most challenged of the ratings: when evaluators differ, the gap counts."""
    return max(ratings, key=RATING_ORDER.index, default=None)


@dataclass(frozen=True)
class Period:
    label: str
    start: datetime
    end: datetime


@dataclass
class KindStatus:
    kind: str
    every_months: int | None  # None: no scenario trains it now
    last: datetime | None
    due: datetime | None  # when the next exercise is owed (None: never exercised)
    # The worst rating given to the kind in the newest of their runs that rated it.
    rating: Rating | None = None
    rated_at: datetime | None = None  # that run's start

    @property
    def overdue(self) -> bool:
        return self.every_months is not None and (self.due is None or self.due <= clock.now())

    @property
    def weak(self) -> bool:
        return self.rating in WEAK


@dataclass
class Record:
    user: User
    runs: list[Participation] = field(default_factory=list)  # newest first
    kinds: dict[str, KindStatus] = field(default_factory=dict)
    upcoming: list[DrillSchedule] = field(default_factory=list)

    @property
    def last(self) -> datetime | None:
        return self.runs[0].at if self.runs else None

    @property
    def overdue(self) -> list[str]:
        return [kind for kind, status in self.kinds.items() if status.overdue]

    @property
    def weak(self) -> list[str]:
        return [kind for kind, status in self.kinds.items() if status.weak]

    @property
    def gaps(self) -> list[str]:
        """The kinds to train them on: overdue, or last rated M or U."""
        return [kind for kind, status in self.kinds.items() if status.overdue or status.weak]


def add_months(moment: datetime, months: int) -> datetime:
    """The same local day and time ``months`` later (the month's last day when shorter)."""
    zone = ZoneInfo(get_settings().default_timezone)
    local = moment.astimezone(zone)
    index = local.year * 12 + local.month - 1 + months
    year, month = divmod(index, 12)
    day = local.day
    while True:
        try:
            return local.replace(year=year, month=month + 1, day=day).astimezone(UTC)
        except ValueError:
            day -= 1


def kind_cadences(scenarios: Iterable[LoadedScenario]) -> dict[str, int]:
    """Each objective kind the scenarios train, at the shortest cadence among them."""
    months: dict[str, int] = {}
    for loaded in scenarios:
        every = loaded.scenario.cadence.every_months
        for objective in loaded.scenario.objectives:
            months[objective.kind] = min(months.get(objective.kind, every), every)
    return months


def participations(
    session: Session, *, user_ids: set[int] | None = None
) -> dict[int, list[Participation]]:
    """Every person's drill runs, newest first: with the roster roles they held on the
    drill incident, the controller's chair, a place among its schedule's participants."""
    runs = session.exec(select(DrillRun).order_by(col(DrillRun.started_at).desc())).all()
    if not runs:
        return {}
    by_incident = {run.incident_id: run for run in runs}
    roles: dict[tuple[int, int], list[str]] = defaultdict(list)
    seats = session.exec(
        select(RosterAssignment).where(
            col(RosterAssignment.incident_id).in_(by_incident),
            col(RosterAssignment.user_id).is_not(None),
        )
    )
    for seat in seats:
        assert seat.user_id is not None
        held = roles[(seat.user_id, by_incident[seat.incident_id].id)]
        if seat.role_key not in held:
            held.append(seat.role_key)
    for run in runs:
        roles[(run.controller_id, run.id)].insert(0, CONTROLLER)
    schedules = session.exec(
        select(DrillSchedule).where(col(DrillSchedule.run_id).in_([run.id for run in runs]))
    )
    for schedule in schedules:
        for person in schedule.participants:
            held = roles[(person, schedule.run_id or 0)]
            if not held:
                held.append(PARTICIPANT)
    runs_by_id = {run.id: run for run in runs}
    rated = ratings_by_kind(session, runs=runs)
    found: dict[int, list[Participation]] = defaultdict(list)
    for (person, run_id), held in roles.items():
        if user_ids is not None and person not in user_ids:
            continue
        run = runs_by_id[run_id]
        found[person].append(
            Participation(
                run_id=run.id,
                incident_id=run.incident_id,
                scenario_key=run.scenario_key,
                name=run.scenario["name"],
                at=run.started_at,
                roles=tuple(held),
                kinds=frozenset(objective["kind"] for objective in run.objectives),
                ratings=rated.get(run.id, {}),
            )
        )
    for items in found.values():
        items.sort(key=lambda item: item.at, reverse=True)
    return found


def ratings_by_kind(
    session: Session, *, runs: Sequence[DrillRun]
) -> dict[int, dict[str, tuple[Rating, ...]]]:
    """Per run, per objective kind, the ratings its evaluators gave (the kind of a rated
    objective is the one the run was started with)."""
    kinds = {
        (run.id, objective["key"]): objective["kind"]
        for run in runs
        for objective in run.objectives
    }
    given: dict[int, dict[str, list[Rating]]] = defaultdict(lambda: defaultdict(list))
    rows = session.exec(
        select(DrillRating)
        .where(col(DrillRating.run_id).in_([run.id for run in runs]))
        .order_by(col(DrillRating.id))
    )
    for row in rows:
        kind = kinds.get((row.run_id, row.objective_key))
        if kind is not None:
            given[row.run_id][kind].append(row.rating)
    return {
        run_id: {kind: tuple(values) for kind, values in by_kind.items()}
        for run_id, by_kind in given.items()
    }


def records(
    session: Session, *, scenarios: Iterable[LoadedScenario], user_ids: set[int] | None = None
) -> list[Record]:
    """The records of the people asked for (everyone trained when None), those with the most
    gaps (kinds overdue or last rated M or U) first, then by name."""
    cadences = kind_cadences(scenarios)
    taken = participations(session, user_ids=user_ids)
    query = select(User).where(User.active)
    if user_ids is not None:
        query = query.where(col(User.id).in_(user_ids))
    else:
        query = query.where(col(User.role).in_(TRAINED_ROLES) | col(User.id).in_(taken))
    people = session.exec(query).all()
    upcoming = session.exec(
        select(DrillSchedule)
        .where(DrillSchedule.state == ScheduleState.scheduled)
        .order_by(col(DrillSchedule.at))
    ).all()
    result = []
    for person in people:
        runs = taken.get(person.id, [])
        record = Record(
            user=person,
            runs=runs,
            upcoming=[
                row
                for row in upcoming
                if person.id == row.controller_id or person.id in row.participants
            ],
        )
        for kind in ObjectiveKind:
            every = cadences.get(kind)
            last = next((run.at for run in runs if kind in run.kinds), None)
            due = add_months(last, every) if last is not None and every is not None else None
            rated = next((run for run in runs if run.ratings.get(kind)), None)
            record.kinds[kind] = KindStatus(
                kind,
                every,
                last,
                due,
                rating=worst(rated.ratings[kind]) if rated else None,
                rated_at=rated.at if rated else None,
            )
        result.append(record)
    result.sort(key=lambda record: (-len(record.gaps), record.user.display_name))
    return result


def periods(every_months: int, *, count: int = CHART_PERIODS) -> list[Period]:
    """The last ``count`` periods of that cadence in the organisation's calendar, the
    current one last."""
    zone = ZoneInfo(get_settings().default_timezone)
    local = clock.now().astimezone(zone)
    index = local.year * 12 + (local.month - 1) // every_months * every_months
    found = []
    for back in range(count - 1, -1, -1):
        start_index = index - back * every_months
        year, month = divmod(start_index, 12)
        start = datetime(year, month + 1, 1, tzinfo=zone)
        found.append(
            Period(
                label=f"{year}-{month + 1:02d}",
                start=start.astimezone(UTC),
                end=add_months(start, every_months),
            )
        )
    return found


@dataclass(frozen=True)
class KindChart:
    """For one objective kind, per period: how many of the people drilled it, and how many
    not (on one person's record, 1 or 0); and how many ratings of each value (P, S, M, U)
    the evaluators gave its objectives in the runs of those people started in the period,
    each run once however many of them took part."""

    kind: str
    every_months: int
    labels: list[str]
    drilled: list[int]
    missed: list[int]
    ratings: dict[str, list[int]]


def charts(records_: Sequence[Record], cadences: dict[str, int]) -> list[KindChart]:
    runs = {run.run_id: run for record in records_ for run in record.runs}.values()
    found = []
    for kind in ObjectiveKind:
        every = cadences.get(kind)
        if every is None:
            continue
        spans = periods(every)
        drilled = [
            sum(
                any(kind in run.kinds and span.start <= run.at < span.end for run in r.runs)
                for r in records_
            )
            for span in spans
        ]
        found.append(
            KindChart(
                kind=kind,
                every_months=every,
                labels=[span.label for span in spans],
                drilled=drilled,
                missed=[len(records_) - count for count in drilled],
                ratings={
                    rating.value: [
                        sum(
                            run.ratings.get(kind, ()).count(rating)
                            for run in runs
                            if span.start <= run.at < span.end
                        )
                        for span in spans
                    ]
                    for rating in RATING_ORDER
                },
            )
        )
    return found
