"""Mass-complaint detection: each new ticket is counted in sliding windows per product and
batch, per region and per category, against the playbooks' triggers (an absolute count in a
window, and a rise over the trailing baseline). A cluster raises one signal with its
evidence; a duty manager declares the incident from it in one action or dismisses it."""

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import BindParameter, ColumnElement, bindparam, false, func, or_, text
from sqlmodel import Session, col, select

from incident_cmd import clock
from incident_cmd.auth.models import User
from incident_cmd.columns import UTCDateTime
from incident_cmd.db import table_of, upsert_insert
from incident_cmd.errors import Conflict, Invalid, NotFound
from incident_cmd.incidents.models import OPEN_STATUSES, Incident
from incident_cmd.live import events as live
from incident_cmd.playbooks.schema import Playbook, Trigger
from incident_cmd.playbooks.service import PlaybookRegistry
from incident_cmd.tickets.models import Signal, SignalStatus, Ticket
from incident_cmd.timeline import service as timeline
from incident_cmd.workdays import UNITS, parse_offset

SUBJECT = "signal"
# The baseline is the average count of this many windows before the current one.
BASELINE_WINDOWS = 7
# Counts by hour are keyed by the hour's start in UTC.
HOUR_KEY = "%Y-%m-%dT%H:00Z"
# Told to the room of every open incident whose scope takes a new ticket in.
IN_SCOPE_EVENT = "incident.complaint_in_scope"


def _window(trigger: Trigger) -> timedelta:
    amount, unit = parse_offset(trigger.window)
    # A working-day window is read as whole days: clusters do not wait for office hours.
    return timedelta(**{UNITS.get(unit, "days"): amount})


@dataclass(frozen=True)
class Cluster:
    key: str
    scope: dict[str, list[str]]
    dimension: str
    # The category the cluster is narrowed to: with the key, which tickets it counts.
    category: str | None
    drill: bool
    # A drill's cluster is its own incident's.
    incident_id: int | None

    @property
    def counted(self) -> tuple[str, str | None]:
        return self.key, self.category

    @property
    def conditions(self) -> tuple:
        """The cluster's tickets, built when counted: a batch finds each of its tickets'
        clusters for every trigger, most of them the same ones, and counts each once."""
        narrowed = (Ticket.incident_id == self.incident_id,) if self.drill else ()
        return (*_conditions(self.dimension, self.scope, self.category, self.drill), *narrowed)


def _conditions(
    dimension: str, scope: dict[str, list[str]], category: str | None, drill: bool
) -> tuple:
    """The tickets of a cluster: its scope in the dimension, narrowed to a category; a drill's
    complaints and real ones are never counted together."""
    narrowed = (col(Ticket.drill).is_(drill), *((Ticket.category == category,) if category else ()))
    if dimension == "product_batch":
        return (
            col(Ticket.product_model).in_(scope["products"]),
            col(Ticket.batch).in_(scope["batches"]),
            *narrowed,
        )
    if dimension == "region":
        return (col(Ticket.region).in_(scope["regions"]), *narrowed)
    return narrowed


def cluster_of(ticket: Ticket, trigger: Trigger) -> Cluster | None:
    """Which cluster of this trigger's dimension the ticket falls in, if any."""
    if trigger.category and ticket.category != trigger.category:
        return None
    if trigger.dimension == "product_batch":
        if not (ticket.product_model and ticket.batch):
            return None
        key = f"product_batch:{ticket.product_model}:{ticket.batch}"
        scope = {"products": [ticket.product_model], "batches": [ticket.batch]}
    elif trigger.dimension == "region":
        if not ticket.region:
            return None
        key, scope = f"region:{ticket.region}", {"regions": [ticket.region]}
    else:
        key, scope = f"category:{ticket.category}", {}
    category = ticket.category if trigger.dimension == "category" else trigger.category
    if ticket.drill:
        # A drill's cluster is its own incident's: another drill's never joins it.
        key = f"drill:{ticket.incident_id}:{key}"
    return Cluster(key, scope, trigger.dimension, category, ticket.drill, ticket.incident_id)


def _count(session: Session, cluster: Cluster, since: datetime, until: datetime) -> int:
    [count] = _counts(session, [(cluster, since, until)])
    return count


def _counts(session: Session, windows: list[tuple[Cluster, datetime, datetime]]) -> list[int]:
    """``_count`` of each cluster and window, in one statement: every intake counts itself
    against every trigger, and a round trip each would be most of its statements. The
    statement is written as SQL text: its shape changes with every batch, and building and
    compiling it as an expression was a quarter of a batch's CPU."""
    if not windows:
        return []
    moment = UTCDateTime()
    moments: list[BindParameter[datetime]] = []
    params: dict[str, object] = {}
    counted = []
    for index, (cluster, since, until) in enumerate(windows):
        where = [f"drill = :d{index}", f"created_at > :s{index}", f"created_at <= :u{index}"]
        params[f"d{index}"] = cluster.drill
        moments += [
            bindparam(f"s{index}", since, type_=moment),
            bindparam(f"u{index}", until, type_=moment),
        ]
        fields: list[tuple[str, Sequence[object]]] = [
            (column, cluster.scope[key]) for column, key in _COUNTED_SCOPE[cluster.dimension]
        ]
        if cluster.category:
            fields.append(("category", [cluster.category]))
        if cluster.drill:
            fields.append(("incident_id", [cluster.incident_id]))
        for column, values in fields:
            names = [f"{column[0]}{index}_{position}" for position in range(len(values))]
            params.update(zip(names, values, strict=True))
            where.append(f"{column} IN ({', '.join(':' + name for name in names)})")
        counted.append(f"(SELECT count(*) FROM tickets WHERE {' AND '.join(where)})")
    statement = text(f"SELECT {', '.join(counted)}").bindparams(*moments)
    return list(session.execute(statement, params).one())


# The columns a cluster's scope narrows, by dimension, as ``_conditions`` reads them.
_COUNTED_SCOPE: dict[str, list[tuple[str, str]]] = {
    "product_batch": [("product_model", "products"), ("batch", "batches")],
    "region": [("region", "regions")],
    "category": [],
}


def _triggers(registry: PlaybookRegistry) -> list[tuple[Playbook, Trigger]]:
    # A trigger narrowed to a category speaks more precisely, so it suggests its playbook first.
    pairs = [
        (loaded.playbook, trigger)
        for loaded in registry.all()
        for trigger in loaded.playbook.triggers
    ]
    return sorted(pairs, key=lambda pair: (pair[1].category is None, pair[0].key))


def detect(
    session: Session,
    *,
    tickets: Sequence[Ticket],
    registry: PlaybookRegistry,
    covered_by: Sequence[list[Incident]],
) -> list[Signal | None]:
    """Counts each new ticket of a batch, as if they had been taken in one after another in
    that order: in the complaint curve of every open incident whose scope takes it in
    (``covered_by``, one list a ticket; their rooms are told), and against the triggers,
    raising a signal when its cluster crosses one and no signal is open for that cluster yet.
    The batch is counted in one statement (its tickets already written): a ticket's count
    leaves out the batch's later tickets in its cluster, which it would not have seen. A
    drill's tickets fall in clusters of their own (``cluster_of``), so a batch mixing them
    with real ones raises the drill's signal and the real one apart."""
    for incidents in covered_by:
        for incident in incidents:
            live.announce(
                session, live.LiveEvent("incident", incident.id, IN_SCOPE_EVENT, incident.id)
            )
    now = clock.now()
    triggers = _triggers(registry)
    candidates = [
        [
            (playbook, trigger, cluster, _window(trigger))
            for playbook, trigger in triggers
            if (cluster := cluster_of(ticket, trigger)) is not None
        ]
        for ticket in tickets
    ]
    windows: dict[tuple[tuple[str, str | None], timedelta], Cluster] = {}
    for own in candidates:
        for _, _, cluster, window in own:
            windows.setdefault((cluster.counted, window), cluster)
    keys = list(windows)
    totals = dict(
        zip(
            keys,
            _counts(session, [(windows[key], now - key[1], now) for key in keys]),
            strict=True,
        )
    )
    # Counted from the last ticket back: what the batch's later tickets add to each count.
    later: Counter[tuple[tuple[str, str | None], timedelta]] = Counter()
    counts: list[list[int]] = []
    for own in reversed(candidates):
        counts.append(
            [
                totals[(cluster.counted, window)] - later[(cluster.counted, window)]
                for _, _, cluster, window in own
            ]
        )
        later.update({(cluster.counted, window) for _, _, cluster, window in own})
    counts.reverse()
    baselines: dict[tuple[tuple[str, str | None], timedelta], int] = {}
    tried: set[str] = set()
    signals: list[Signal | None] = []
    for ticket, own, own_counts in zip(tickets, candidates, counts, strict=True):
        crossing = _first_crossing(session, own, own_counts, now, baselines)
        if crossing is None or crossing.cluster.key in tried:
            # A cluster this batch raised (or found open) already: the unique open key would
            # turn the insert away.
            signals.append(None)
            continue
        tried.add(crossing.cluster.key)
        signals.append(_raise(session, crossing=crossing, ticket=ticket))
    return signals


def _first_crossing(
    session: Session,
    candidates: list[tuple[Playbook, Trigger, Cluster, timedelta]],
    counts: list[int],
    now: datetime,
    baselines: dict[tuple[tuple[str, str | None], timedelta], int],
) -> "Crossing | None":
    for (playbook, trigger, cluster, window), count in zip(candidates, counts, strict=True):
        if count < trigger.threshold:
            continue
        baseline = None
        if trigger.rise_factor is not None:
            key = (cluster.counted, window)
            if key not in baselines:
                # Before the current window: no ticket of the batch is in it.
                baselines[key] = _count(
                    session, cluster, now - window * (BASELINE_WINDOWS + 1), now - window
                )
            baseline = baselines[key] / BASELINE_WINDOWS
            if count < trigger.rise_factor * baseline:
                continue
        return Crossing(playbook, trigger, cluster, window, count, baseline)
    return None


@dataclass(frozen=True)
class Crossing:
    """A cluster over a playbook trigger's line: what was counted, in which window, against
    which baseline."""

    playbook: Playbook
    trigger: Trigger
    cluster: Cluster
    window: timedelta
    count: int
    baseline: float | None


def _raise(session: Session, *, crossing: Crossing, ticket: Ticket) -> Signal | None:
    playbook, trigger, cluster = crossing.playbook, crossing.trigger, crossing.cluster
    window, count, baseline = crossing.window, crossing.count, crossing.baseline
    first = session.exec(
        select(func.min(Ticket.id)).where(
            *cluster.conditions, col(Ticket.created_at) > clock.now() - window
        )
    ).one()
    # Concurrent intakes may both cross the line: the unique open key lets one insert win.
    signals = table_of(Signal)
    inserted = session.execute(
        upsert_insert(session, signals)
        .values(
            open_key=cluster.key,
            playbook_key=playbook.key,
            trigger_key=trigger.key,
            dimension=trigger.dimension,
            category=ticket.category if trigger.dimension == "category" else trigger.category,
            scope=cluster.scope,
            count=count,
            baseline=baseline,
            window_seconds=int(window.total_seconds()),
            status=SignalStatus.open,
            drill=ticket.drill,
            # A drill's signal is its drill incident's from the start: the exercise is to
            # notice it, not to declare another incident from it.
            incident_id=ticket.incident_id if ticket.drill else None,
            raised_at=clock.now(),
            first_ticket_id=first,
            last_ticket_id=ticket.id,
        )
        .on_conflict_do_nothing(index_elements=["open_key"])
        .returning(signals.c.id)
    ).scalar()
    if inserted is None:
        return None
    signal = session.get_one(Signal, inserted)
    timeline.append(
        session,
        subject_type=SUBJECT,
        subject_id=signal.id,
        kind="signal.raised",
        summary=f"{count} tickets in {trigger.window} for {cluster.key} "
        f"(threshold {trigger.threshold}"
        + (f", {baseline:.1f} a window before" if baseline is not None else "")
        + f"): suggests {playbook.key}",
        actor_id=None,
        data={"count": count, "baseline": baseline, "trigger": trigger.key},
    )
    if signal.drill and signal.incident_id is not None:
        timeline.append(
            session,
            subject_type="incident",
            subject_id=signal.incident_id,
            kind="drill.signal_raised",
            summary=f"drill mass-complaint signal {signal.id}: {count} complaints in "
            f"{trigger.window} for {cluster.key} (threshold {trigger.threshold})",
            actor_id=None,
            data={"signal": signal.id, "count": count, "threshold": trigger.threshold},
        )
    return signal


def get_signal(session: Session, *, signal_id: int) -> Signal:
    signal = session.get(Signal, signal_id)
    if signal is None:
        raise NotFound(f"no signal with id {signal_id}")
    return signal


def list_signals(session: Session, *, status: SignalStatus | None) -> list[Signal]:
    """The real signals; a drill's are its incident's (on its timeline and console)."""
    query = (
        select(Signal)
        .where(col(Signal.drill).is_(False))
        .order_by(col(Signal.id).desc())
        .limit(200)
    )
    if status:
        query = query.where(Signal.status == status)
    return list(session.exec(query).all())


def evidence(session: Session, *, signal: Signal) -> tuple[list[Ticket], dict[str, int]]:
    """The tickets of the cluster since the window before the signal, and counts by hour."""
    since = signal.raised_at - timedelta(seconds=signal.window_seconds)
    tickets = list(
        session.exec(
            select(Ticket)
            .where(
                *_conditions(signal.dimension, signal.scope, signal.category, signal.drill),
                *((Ticket.incident_id == signal.incident_id,) if signal.drill else ()),
                col(Ticket.created_at) > since,
            )
            .order_by(col(Ticket.id))
            .limit(500)
        ).all()
    )
    by_hour = Counter(ticket.created_at.strftime(HOUR_KEY) for ticket in tickets)
    return tickets, dict(sorted(by_hour.items()))


def complaints_by_hour(
    session: Session,
    *,
    scope: dict[str, list[str]],
    since: datetime,
    until: datetime,
    drill: bool = False,
) -> dict[str, int]:
    """Tickets in an incident's scope taken in each hour from ``since`` to ``until`` (keyed
    as ``evidence`` keys them), every hour between included, quiet ones as 0; a drill
    incident's curve counts drill complaints, a real one's real complaints."""
    taken_in = session.exec(
        select(Ticket.created_at).where(
            _in_scope(scope),
            col(Ticket.drill).is_(drill),
            col(Ticket.created_at) >= since,
            col(Ticket.created_at) <= until,
        )
    ).all()
    by_hour = Counter(moment.strftime(HOUR_KEY) for moment in taken_in)
    hours: dict[str, int] = {}
    hour = since.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
    while hour <= until:
        key = hour.strftime(HOUR_KEY)
        hours[key] = by_hour.get(key, 0)
        hour += timedelta(hours=1)
    return hours


def mark_declared(session: Session, *, signal: Signal, incident: Incident, actor: User) -> None:
    """The signal became this incident: it is closed as declared and points at it."""
    _decide(
        session,
        signal=signal,
        status=SignalStatus.declared,
        actor=actor,
        reason=f"declared {incident.number}",
    )
    signal.incident_id = incident.id


def ensure_open(signal: Signal) -> None:
    if signal.drill:
        raise Conflict(f"signal {signal.id} was raised by a drill: it is not declared")
    if signal.status != SignalStatus.open:
        raise Conflict(f"signal {signal.id} is {signal.status}")


def dismiss(session: Session, *, signal: Signal, reason: str, actor: User) -> Signal:
    if signal.status != SignalStatus.open:
        raise Conflict(f"signal {signal.id} is {signal.status}")
    if not reason.strip():
        raise Invalid("say why the signal is dismissed", field="reason")
    _decide(session, signal=signal, status=SignalStatus.dismissed, actor=actor, reason=reason)
    return signal


def _decide(
    session: Session, *, signal: Signal, status: SignalStatus, actor: User, reason: str
) -> None:
    signal.status, signal.open_key = status, None  # a later cluster may raise a new signal
    signal.decided_by, signal.decided_at, signal.reason = actor.id, clock.now(), reason
    session.add(signal)
    timeline.append(
        session,
        subject_type=SUBJECT,
        subject_id=signal.id,
        kind=f"signal.{status}",
        summary=f"{status}: {reason}",
        actor_id=actor.id,
        data={"reason": reason},
    )


def _scope_fields(scope: dict[str, list[str]]) -> list[tuple[str, list[str]]]:
    """Which of a ticket's fields place it in an incident's scope, and the values that do:
    its batch (its product when the scope names no batch) or its region."""
    fields = []
    if scope.get("batches"):
        fields.append(("batch", scope["batches"]))
    elif scope.get("products"):
        fields.append(("product_model", scope["products"]))
    if scope.get("regions"):
        fields.append(("region", scope["regions"]))
    return fields


def _in_scope(scope: dict[str, list[str]]) -> ColumnElement[bool]:
    fields = _scope_fields(scope)
    if not fields:
        return false()
    return or_(*(col(getattr(Ticket, name)).in_(values) for name, values in fields))


def open_incidents(session: Session) -> list[Incident]:
    """The active real incidents a new real ticket may fall in, the newest first: a real
    complaint is never taken in by a drill (a drill's complaint goes to its own incident)."""
    return list(
        session.exec(
            select(Incident)
            .where(col(Incident.status).in_(OPEN_STATUSES), col(Incident.drill).is_(False))
            .order_by(col(Incident.id).desc())
            .limit(50)
        ).all()
    )


def covering(incidents: Sequence[Incident], ticket: Mapping[str, Any]) -> list[Incident]:
    """Those of ``incidents`` whose scope takes in this ticket (its fields, before it is
    written), in their order."""
    return [
        incident
        for incident in incidents
        if any(ticket.get(name) in values for name, values in _scope_fields(incident.scope))
    ]
