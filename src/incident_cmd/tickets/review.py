"""The monthly complaint review. Seed 001 4-1-7: 「每月10日前汇总上月结案的《顾客投诉处理意见书》。
会同相关部门判定责任,并进行检查改善对策及处理结果」: by the 10th, the cases closed (结案) in the
month before, with the number opened beside them; their categories, products and batches, SLA
attainment, response and resolution times, satisfaction, responsibility by department and
compensation; the lessons and improvement proposals (改善对策) its reviewer writes, kept on the
review's own timeline; and its sending to the management list, by the reviewer or, at the
latest, by itself on the configured day."""

import io
import statistics
from collections import Counter, defaultdict
from datetime import UTC, datetime
from typing import Any, TypedDict

from fastapi import Path
from sqlalchemy import func
from sqlmodel import Session, col, select

from incident_cmd import clock
from incident_cmd.auth import service as auth_service
from incident_cmd.auth.models import Role, User
from incident_cmd.config import get_settings
from incident_cmd.csv_export import SafeWriter
from incident_cmd.db import table_of, upsert_insert
from incident_cmd.errors import Conflict, Invalid
from incident_cmd.messaging import direct
from incident_cmd.messaging.channels import ChannelName
from incident_cmd.messaging.templates import templates_for
from incident_cmd.tickets.models import CalendarRun, SlaTimer, Ticket
from incident_cmd.tickets.policy import service_levels
from incident_cmd.tickets.schemas import ReviewNoteKind
from incident_cmd.timeline import service as timeline
from incident_cmd.timeline.models import TimelineEvent

PeriodPath = Path(
    pattern=r"^(19[7-9]\d|20\d\d)-(0[1-9]|1[0-2])$", description="YYYY-MM, 1970 to 2099"
)
JOB = "monthly-review"
SENT_JOB = "monthly-review-sent"
SUBJECT = "monthly_review"
SOURCE = "monthly_review"
TEMPLATE = "monthly_review"


def _bounds(period: str) -> tuple[datetime, datetime]:
    zone = service_levels().zone
    year, month = (int(part) for part in period.split("-"))
    start = datetime(year, month, 1, tzinfo=zone)
    end = datetime(year + month // 12, month % 12 + 1, 1, tzinfo=zone)
    return start, end


class Compensation(TypedDict):
    ticket: str | None
    amount: float
    department: str | None


def subject_id(period: str) -> int:
    """The review's own timeline: 2026-11 is subject 202611."""
    return int(period.replace("-", ""))


def _hours(values: list[float]) -> dict[str, float | None]:
    if not values:
        return {"count": 0, "mean_hours": None, "median_hours": None}
    return {
        "count": len(values),
        "mean_hours": round(statistics.fmean(values) / 3600, 2),
        "median_hours": round(statistics.median(values) / 3600, 2),
    }


def monthly_review(session: Session, *, period: str) -> dict[str, Any]:
    start, end = _bounds(period)
    tickets = session.exec(
        select(Ticket)
        .where(
            col(Ticket.closed_at) >= start,
            col(Ticket.closed_at) < end,
            # Drills' complaints are exercises, never the month's record.
            col(Ticket.drill).is_(False),
        )
        .order_by(col(Ticket.id))
    ).all()
    opened = session.exec(
        select(func.count())
        .select_from(Ticket)
        .where(
            col(Ticket.created_at) >= start,
            col(Ticket.created_at) < end,
            col(Ticket.drill).is_(False),
        )
    ).one()
    ids = [ticket.id for ticket in tickets]
    timers = (
        session.exec(select(SlaTimer).where(col(SlaTimer.ticket_id).in_(ids))).all() if ids else []
    )
    attainment: dict[str, dict[str, Any]] = {}
    now = clock.now()
    for timer in timers:
        entry = attainment.setdefault(timer.kind, {"met_in_time": 0, "missed": 0, "running": 0})
        if timer.met_at is not None:
            entry["met_in_time" if timer.met_in_time else "missed"] += 1
        elif timer.stage >= 2 or timer.due_at <= now:
            entry["missed"] += 1
        else:
            entry["running"] += 1
    for entry in attainment.values():
        decided = entry["met_in_time"] + entry["missed"]
        entry["attainment"] = round(entry["met_in_time"] / decided, 4) if decided else None
    csat = [ticket.csat for ticket in tickets if ticket.csat is not None]
    nps = [ticket.nps for ticket in tickets if ticket.nps is not None]
    compensation = [
        Compensation(ticket=ticket.number, amount=amount, department=ticket.responsible_department)
        for ticket in tickets
        if (amount := ticket.compensation_amount)
    ]
    by_department: defaultdict[str, float] = defaultdict(float)
    for item in compensation:
        by_department[item["department"] or "-"] += item["amount"]
    return {
        "period": period,
        "due_by": send_by(period).isoformat(),
        "generated_at": now.isoformat(),
        "closed": len(tickets),
        "opened": opened,
        "by_category": dict(Counter(ticket.category for ticket in tickets)),
        "by_priority": dict(Counter(ticket.priority for ticket in tickets)),
        "by_product": dict(Counter(ticket.product_model or "-" for ticket in tickets)),
        "by_batch": dict(Counter(ticket.batch or "-" for ticket in tickets)),
        "sla_attainment": attainment,
        "first_response": _hours(
            [
                (ticket.first_response_at - ticket.created_at).total_seconds()
                for ticket in tickets
                if ticket.first_response_at
            ]
        ),
        "resolution": _hours(
            [
                (ticket.resolved_at - ticket.created_at).total_seconds()
                for ticket in tickets
                if ticket.resolved_at
            ]
        ),
        "csat": {
            "answers": len(csat),
            "mean": round(statistics.fmean(csat), 2) if csat else None,
            "satisfied_share": round(sum(1 for value in csat if value >= 4) / len(csat), 4)
            if csat
            else None,
        },
        "nps": {
            "answers": len(nps),
            "score": round(
                100 * (sum(v >= 9 for v in nps) - sum(v <= 6 for v in nps)) / len(nps), 1
            )
            if nps
            else None,
        },
        "by_department": dict(
            Counter(
                ticket.responsible_department for ticket in tickets if ticket.responsible_department
            )
        ),
        "compensation": {
            "items": compensation,
            "total": round(sum(item["amount"] for item in compensation), 2),
            "by_department": {name: round(amount, 2) for name, amount in by_department.items()},
        },
        **_notes(session, period),
        "sent": _sent(session, period),
        "satisfaction": satisfaction(session, start=start, end=end),
    }


# --- satisfaction against the target --------------------------------------------------------

# Seeds 001 「保持客户满意度实现95%以上」: 95 % or more is on target ("以上" includes 95 %).
SATISFACTION_TARGET_PERCENT = 95


def satisfaction(session: Session, *, start: datetime, end: datetime) -> dict[str, Any]:
    """The surveys answered in the period (a survey counts in the month its first answer
    came), against the seeds' 95 % target.

    - ``rate``: the satisfaction rate, the share of CSAT answers that are 4 or 5 ("satisfied"
      or "very satisfied"); it is what the target applies to.
    - ``nps.score``: % promoters (9-10) − % detractors (0-6) of the NPS answers, -100 to 100.
    With no CSAT answer in the period there is no rate, and the target is neither met nor
    missed (``meets_target`` is null)."""
    rows = session.exec(
        select(Ticket.csat, Ticket.nps).where(
            col(Ticket.surveyed_at) >= start,
            col(Ticket.surveyed_at) < end,
            col(Ticket.drill).is_(False),
        )
    ).all()
    csat = [score for score, _ in rows if score is not None]
    nps = [score for _, score in rows if score is not None]
    satisfied = sum(1 for score in csat if score >= 4)
    rate = round(satisfied / len(csat), 4) if csat else None
    return {
        "target": SATISFACTION_TARGET_PERCENT / 100,
        "rate": rate,
        # In whole numbers: a rounded rate of 0.95 from 0.94996 is below the target.
        "meets_target": satisfied * 100 >= SATISFACTION_TARGET_PERCENT * len(csat)
        if csat
        else None,
        "csat": {
            "answers": len(csat),
            "satisfied": satisfied,
            "mean": round(statistics.fmean(csat), 2) if csat else None,
        },
        "nps": _nps(nps),
    }


def _nps(scores: list[int]) -> dict[str, Any]:
    promoters = sum(1 for score in scores if score >= 9)
    detractors = sum(1 for score in scores if score <= 6)
    return {
        "answers": len(scores),
        "promoters": promoters,
        "passives": len(scores) - promoters - detractors,
        "detractors": detractors,
        "score": round(100 * (promoters - detractors) / len(scores), 1) if scores else None,
    }


def as_csv(report: dict[str, Any]) -> str:
    """One row per figure: section, key, value (nested figures flattened with dots). Keys
    and labels come from what people typed (products, batches, departments), so every cell
    is made safe for spreadsheets."""
    out = io.StringIO()
    writer = SafeWriter(out)
    writer.writerow(["section", "key", "value"])
    for section, value in report.items():
        if section == "compensation":
            for item in value["items"]:
                writer.writerow(["compensation", item["ticket"], item["amount"]])
            for department, amount in value["by_department"].items():
                writer.writerow(["compensation_by_department", department, amount])
            writer.writerow(["compensation", "total", value["total"]])
        elif section in NOTE_SECTIONS.values():
            for note in value:
                writer.writerow([section, note["by"], note["text"]])
        elif isinstance(value, dict):
            for key, inner in value.items():
                if isinstance(inner, dict):
                    for name, figure in inner.items():
                        writer.writerow([section, f"{key}.{name}", figure])
                else:
                    writer.writerow([section, key, inner])
        else:
            writer.writerow([section, "", value])
    return out.getvalue()


def previous_period(moment: datetime) -> str:
    local = moment.astimezone(service_levels().zone)
    year, month = (local.year, local.month - 1) if local.month > 1 else (local.year - 1, 12)
    return f"{year:04d}-{month:02d}"


def _claim_run(session: Session, *, job: str, period: str) -> CalendarRun | None:
    """The job's run for the period if this call is the first to claim it, across workers."""
    runs = table_of(CalendarRun)
    inserted = session.execute(
        upsert_insert(session, runs)
        .values(job=job, period=period, ran_at=clock.now(), result={})
        .on_conflict_do_nothing(index_elements=["job", "period"])
        .returning(runs.c.id)
    ).scalar()
    return None if inserted is None else session.get_one(CalendarRun, inserted)


def run_monthly_review(session: Session) -> int:
    """Calendar job: once per month, across all workers, the review of the month before."""
    period = previous_period(clock.now())
    run = _claim_run(session, job=JOB, period=period)
    if run is None:
        return 0
    run.result = monthly_review(session, period=period)
    session.add(run)
    return 1


def _stored(session: Session, *, job: str, period: str) -> CalendarRun | None:
    return session.exec(
        select(CalendarRun).where(CalendarRun.job == job, CalendarRun.period == period)
    ).first()


def stored_review(session: Session, *, period: str) -> CalendarRun | None:
    return _stored(session, job=JOB, period=period)


# --- what the reviewer writes -----------------------------------------------------------------

NOTE_SECTIONS = {ReviewNoteKind.lesson: "lessons", ReviewNoteKind.proposal: "proposals"}
NOTE_KINDS = {f"review.{kind}": kind for kind in ReviewNoteKind}


def _notes(session: Session, period: str) -> dict[str, list[dict[str, str | None]]]:
    events = timeline.events_for(session, subject_type=SUBJECT, subject_id=subject_id(period))
    written = [event for event in events if event.kind in NOTE_KINDS]
    names = auth_service.usernames(session, ids={event.actor_id for event in written})
    notes: dict[str, list[dict[str, str | None]]] = {name: [] for name in NOTE_SECTIONS.values()}
    for event in written:
        notes[NOTE_SECTIONS[NOTE_KINDS[event.kind]]].append(
            {"text": event.summary, "by": names.of(event.actor_id), "at": event.at.isoformat()}
        )
    return notes


def _ensure_over(period: str) -> None:
    if _bounds(period)[1] > clock.now():
        raise Invalid(
            f"{period} is not over yet: a month is reviewed once it has ended", field="period"
        )


def add_note(
    session: Session, *, period: str, kind: ReviewNoteKind, text: str, actor: User
) -> TimelineEvent:
    """A lesson or an improvement proposal, until the review is sent: written afterwards it
    would never reach the management list."""
    _ensure_over(period)
    text = text.strip()
    if not text:
        raise Invalid("write the lesson or proposal", field="text")
    sent = _stored(session, job=SENT_JOB, period=period)
    if sent is not None:
        raise Conflict(
            f"the review of {period} was sent at {sent.ran_at.isoformat()}; "
            "what is written now would not reach the management list",
            field="period",
        )
    return timeline.append(
        session,
        subject_type=SUBJECT,
        subject_id=subject_id(period),
        kind=f"review.{kind}",
        summary=text,
        actor_id=actor.id,
        data={"period": period},
    )


# --- sending it to the management list --------------------------------------------------------


def send_by(period: str) -> datetime:
    """When the review of ``period`` is due at the management list, in UTC."""
    levels = service_levels()
    day, (hour, minute) = (
        levels.monthly_review.send_by_day,
        levels.monthly_review.send_at.split(":"),
    )
    month_after = _bounds(period)[1]
    return month_after.replace(day=day, hour=int(hour), minute=int(minute)).astimezone(UTC)


def _sent(session: Session, period: str) -> dict[str, Any] | None:
    run = _stored(session, job=SENT_JOB, period=period)
    return None if run is None else {"at": run.ran_at.isoformat(), **run.result}


def management(session: Session) -> tuple[list[User], list[str]]:
    """Who receives the review, and the configured usernames that name no active user: the
    configured usernames, else every active admin and duty manager."""
    named = service_levels().monthly_review.recipients
    if not named:
        query = select(User).where(
            col(User.active), col(User.role).in_([Role.admin, Role.duty_manager])
        )
        return list(session.exec(query.order_by(col(User.id))).all()), []
    users = session.exec(select(User).where(col(User.username).in_(named))).all()
    found = {user.username: user for user in users if user.active}
    return [found[name] for name in named if name in found], [
        name for name in named if name not in found
    ]


def send(session: Session, *, period: str, actor: User | None) -> dict[str, Any]:
    """Emails the review to the management list, once: by its reviewer (``actor``) or, when
    it falls due unsent, by the calendar job (no actor)."""
    _ensure_over(period)
    recipients, unknown = management(session)
    run = _claim_run(session, job=SENT_JOB, period=period)
    if run is None:
        raise Conflict(f"the review of {period} has already been sent", field="period")
    report = monthly_review(session, period=period)
    reached = [user for user in recipients if user.email]
    templates = templates_for(get_settings().template_dir)
    for user in reached:
        assert user.email is not None
        rendered = templates.render(
            TEMPLATE, ChannelName.email, user.locale, _message_context(report)
        )
        direct.enqueue(
            session,
            key=f"{SOURCE}-{period}-{user.id}",
            source=SOURCE,
            source_id=subject_id(period),
            subject=(SUBJECT, subject_id(period)),
            label=f"monthly review {period} to {user.username}",
            channel=ChannelName.email,
            address=user.email,
            locale=user.locale,
            rendered=rendered,
            user_id=user.id,
        )
    # Named in the configuration but not an active user, or without an email address.
    unreached = unknown + [user.username for user in recipients if not user.email]
    run.result = {
        "by": actor.username if actor else None,
        "recipients": [user.username for user in reached],
        "not_reached": unreached,
    }
    session.add(run)
    timeline.append(
        session,
        subject_type=SUBJECT,
        subject_id=subject_id(period),
        kind="review.sent",
        summary=f"review of {period} sent to {len(reached)} managers"
        + (f" ({', '.join(unreached)} not reached)" if unreached else ""),
        actor_id=actor.id if actor else None,
        data={
            "period": period,
            "count": len(reached),
            "not_reached": unreached,
            "lessons": len(report["lessons"]),
            "proposals": len(report["proposals"]),
            "by_itself": actor is None,
        },
    )
    return _sent(session, period) or {}


def _message_context(report: dict[str, Any]) -> dict[str, Any]:
    response = report["sla_attainment"].get("response", {}).get("attainment")
    return {
        "organisation": get_settings().organisation_name,
        "period": report["period"],
        "closed": report["closed"],
        "opened": report["opened"],
        "response_attainment": None if response is None else round(100 * response, 1),
        "resolution_median_hours": report["resolution"]["median_hours"],
        "satisfied_share": None
        if report["csat"]["satisfied_share"] is None
        else round(100 * report["csat"]["satisfied_share"], 1),
        "compensation_total": report["compensation"]["total"],
        "lessons": [note["text"] for note in report["lessons"]],
        "proposals": [note["text"] for note in report["proposals"]],
        "csv_url": f"{get_settings().public_base_url}/api/v1/reviews/monthly/"
        f"{report['period']}?format=csv",
    }


def send_due_review(session: Session) -> int:
    """Calendar job: the review of the month before, sent by itself once it falls due unsent
    (「每月10日前」)."""
    period = previous_period(clock.now())
    if clock.now() < send_by(period) or _stored(session, job=SENT_JOB, period=period):
        return 0
    try:
        send(session, period=period, actor=None)
    except Conflict:
        return 0  # another worker sent it meanwhile
    return 1
