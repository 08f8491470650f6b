"""Starting pages and reaching people: whom a page reaches at its current level and
round, and the contact steps that reach them.

A page belongs to one roster seat. It reaches people one level of its escalation chain at a
time (level 0 is the seat holder, then what the playbook role lists: the next person in the
rotation, the team lead, the duty manager), round after round up to the role's limit. Each
person reached is a target, contacted through their own contact policy. Anyone reached may
acknowledge while the page is open; whoever does holds the seat."""

import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import update
from sqlmodel import Session, col, select

from incident_cmd import clock
from incident_cmd.auth.models import User
from incident_cmd.config import get_settings
from incident_cmd.errors import Invalid, NotFound
from incident_cmd.i18n import Locale
from incident_cmd.incidents.models import SUBJECT as INCIDENT_SUBJECT
from incident_cmd.incidents.models import AssignmentState, Incident, RosterAssignment
from incident_cmd.messaging import direct
from incident_cmd.messaging.channels import ChannelName
from incident_cmd.messaging.models import DirectMessage
from incident_cmd.messaging.templates import templates_for
from incident_cmd.paging.links import ack_url
from incident_cmd.paging.models import Page, PageStatus, PageTarget, TargetStatus
from incident_cmd.playbooks import service as playbook_service
from incident_cmd.playbooks.schema import Escalation, Playbook, RosterRole
from incident_cmd.teams import service as team_service
from incident_cmd.timeline import service as timeline
from incident_cmd.workdays import add_offset

# An ad hoc responder is paged through their contact policy but has no chain behind them.
AD_HOC_ESCALATION = Escalation(chain=[], rounds=1)


def deadline(start: datetime, offset: str) -> datetime:
    """When a playbook's wait, counted from ``start``, is over."""
    settings = get_settings()
    return add_offset(
        start, offset, zone=ZoneInfo(settings.default_timezone), country=settings.holiday_country
    )


def record(
    session: Session,
    *,
    incident_id: int,
    kind: str,
    summary: str,
    data: dict,
    actor_id: int | None = None,
) -> None:
    """An entry on the paged incident's timeline."""
    timeline.append(
        session,
        subject_type=INCIDENT_SUBJECT,
        subject_id=incident_id,
        kind=kind,
        summary=summary,
        actor_id=actor_id,
        data=data,
    )


def contact_steps(user: User) -> list[dict]:
    """The user's contact policy, or SMS then email when they have not set one."""
    if user.contact_policy:
        return user.contact_policy
    steps = []
    if user.phone:
        steps.append({"channel": ChannelName.sms, "wait_minutes": 0})
    if user.email:
        steps.append({"channel": ChannelName.email, "wait_minutes": 5 if steps else 0})
    return steps


def _address(user: User, channel: ChannelName) -> str | None:
    return user.email if channel == ChannelName.email else user.phone


def _reachable(user: User) -> bool:
    return user.active and any(
        _address(user, ChannelName(step["channel"])) for step in contact_steps(user)
    )


@dataclass(frozen=True)
class PageContext:
    incident: Incident
    playbook: Playbook
    page: Page
    role: RosterRole | None
    escalation: Escalation


def role_title(role: RosterRole | None, role_key: str, locale: Locale) -> str:
    if role is None:
        return role_key
    titles = role.title.model_dump(by_alias=True)
    return titles.get(locale) or titles[Locale.en]


def incident_playbook(session: Session, incident: Incident) -> Playbook:
    """The playbook version the incident was declared from, which its paging follows."""
    return playbook_service.pinned_playbook(session, content_hash=incident.playbook_hash)


def page_context(
    session: Session,
    page: Page,
    *,
    incident: Incident | None = None,
    playbook: Playbook | None = None,
) -> PageContext:
    incident = incident or session.get_one(Incident, page.incident_id)
    playbook = playbook or incident_playbook(session, incident)
    role = playbook.role(page.role_key)
    if role is not None and page.slot >= role.count:
        role = None  # an ad hoc seat added beside the playbook's
    escalation = role.escalation if role is not None else AD_HOC_ESCALATION
    return PageContext(incident, playbook, page, role, escalation)


def page_seats(
    session: Session,
    *,
    seats: Sequence[RosterAssignment],
    actor_id: int | None,
    reason: str = "paged",
    asked: bool = False,
) -> list[Page]:
    """Pages each seat whose playbook role says so (ad hoc seats always), or every seat when a
    duty manager ``asked`` for it. Written in a few statements for the whole roster: declaring
    is when a page must go out fastest."""
    now = clock.now()
    # Held for the whole call, so that the identity map answers for the seat holders.
    holders = session.exec(
        select(User).where(col(User.id).in_({seat.user_id for seat in seats} - {None}))
    ).all()
    contexts = []
    for seat in seats:
        incident = session.get_one(Incident, seat.incident_id)
        playbook = incident_playbook(session, incident)
        role = playbook.role(seat.role_key)
        if not asked and role is not None and seat.slot < role.count and not role.page:
            continue
        page = Page(
            incident_id=incident.id,
            assignment_id=seat.id,
            role_key=seat.role_key,
            slot=seat.slot,
            drill=incident.drill,
            status=PageStatus.open,
            created_at=now,
        )
        context = page_context(session, page, incident=incident, playbook=playbook)
        page.escalate_at = deadline(now, _wait(context))
        contexts.append(context)
    session.add_all([context.page for context in contexts])
    session.flush()
    reaches = [choose(session, context=context, fresh=True) for context in contexts]
    open_targets(
        session, reaches=[reach for reach in reaches if reach], reason=reason, actor_id=actor_id
    )
    del holders
    return [context.page for context in contexts]


def page_seat(session: Session, *, seat: RosterAssignment, actor_id: int | None) -> Page | None:
    pages = page_seats(session, seats=[seat], actor_id=actor_id)
    return pages[0] if pages else None


def _levels(escalation: Escalation) -> list[str]:
    return ["seat_holder", *escalation.chain]


def _paged_this_round(session: Session, page: Page) -> set[int]:
    return set(
        session.exec(
            select(PageTarget.user_id).where(
                PageTarget.page_id == page.id, PageTarget.round == page.round
            )
        ).all()
    )


def _candidates(session: Session, context: PageContext, level: str) -> list[User]:
    page, role = context.page, context.role
    if level == "seat_holder":
        seat = session.get_one(RosterAssignment, page.assignment_id)
        return [session.get_one(User, seat.user_id)] if seat.user_id else []
    if level == "acting":
        if role is None or role.acting is None:
            return []
        holders = session.exec(
            select(RosterAssignment.user_id).where(
                RosterAssignment.incident_id == page.incident_id,
                RosterAssignment.role_key == role.acting,
                RosterAssignment.state == AssignmentState.assigned,
                col(RosterAssignment.user_id).is_not(None),
            )
        ).all()
        return [session.get_one(User, user_id) for user_id in holders if user_id is not None]
    now = clock.now()
    try:
        if level == "duty_manager":
            return team_service.responders(
                session,
                team_key=context.escalation.duty_team,
                rotation_name=None,
                at=now,
                count=100,
            )
        if role is None:  # an ad hoc seat has no team behind it
            return []
        if level == "next_in_rotation":
            return team_service.responders(
                session, team_key=role.team, rotation_name=role.rotation, at=now, count=100
            )
        team = team_service.get_team(session, key=role.team)
        return [session.get_one(User, team.lead_user_id)] if team.lead_user_id else []
    except (NotFound, Invalid):  # the team is gone or has no rotation: skip this level
        return []


def _wait(context: PageContext) -> str:
    return context.escalation.after or (context.role.ack_within if context.role else "15m")


@dataclass(frozen=True)
class Reach:
    """Whom a page reaches next, at which level, and the levels it found nobody at."""

    context: PageContext
    person: User
    level: str
    skipped: list[str]


def choose(session: Session, *, context: PageContext, fresh: bool) -> Reach | None:
    """The first reachable person from the page's current level onwards, moving to the next
    round when a round runs out; None, with the page exhausted, after the last round."""
    page, escalation = context.page, context.escalation
    levels = _levels(escalation)
    skipped: list[str] = []
    while True:
        if page.level >= len(levels):
            page.level, page.round = 0, page.round + 1
        if page.round >= escalation.rounds:
            page.status, page.escalate_at, page.closed_at = PageStatus.exhausted, None, clock.now()
            session.add(page)
            record(
                session,
                incident_id=page.incident_id,
                kind="page.exhausted",
                summary=f"nobody acknowledged role {page.role_key} "
                f"after {escalation.rounds} round(s)",
                data={
                    "page": page.id,
                    "role": page.role_key,
                    "skipped": skipped,
                    "rounds": escalation.rounds,
                },
            )
            return None
        level = levels[page.level]
        already = set() if fresh else _paged_this_round(session, page)
        person = next(
            (
                user
                for user in _candidates(session, context, level)
                if user.id not in already and _reachable(user)
            ),
            None,
        )
        if person is not None:
            if not fresh:  # a fresh page got its due time when it was made
                page.escalate_at = deadline(clock.now(), _wait(context))
                session.add(page)
            return Reach(context, person, level, skipped)
        skipped.append(level)
        page.level += 1


def open_targets(
    session: Session, *, reaches: list[Reach], reason: str, actor_id: int | None
) -> None:
    now = clock.now()
    targets = [
        PageTarget(
            page_id=reach.context.page.id,
            user_id=reach.person.id,
            code=_new_code(),
            level=reach.context.page.level,
            round=reach.context.page.round,
            reason=reach.level,
            status=TargetStatus.open,
            next_step=0,
            next_step_at=now,
            created_at=now,
        )
        for reach in reaches
    ]
    session.add_all(targets)
    session.flush()
    for reach, target in zip(reaches, targets, strict=True):
        page = reach.context.page
        record(
            session,
            incident_id=page.incident_id,
            kind="page.sent",
            summary=f"paging {reach.person.username} for role {page.role_key} "
            f"({reach.level.replace('_', ' ')}, round {page.round + 1}): {reason}",
            data={
                "page": page.id,
                "target": target.id,
                "user": reach.person.username,
                "role": page.role_key,
                "level": reach.level,
                "round": page.round + 1,
                "skipped": reach.skipped,
            },
            actor_id=actor_id,
        )
        run_steps(session, target=target, context=reach.context)


def _new_code() -> str:
    # Codes only tell apart the pages of the person who texts back, so they need not be unique
    # across everyone (and a lookup per page would slow declaring down).
    return f"{secrets.randbelow(900000) + 100000}"


def _message_context(context: PageContext, target: PageTarget, user: User) -> dict:
    incident = context.incident
    severity = context.playbook.severity(incident.severity)
    severity_names = severity.name.model_dump(by_alias=True) if severity else {}
    return {
        "organisation": get_settings().organisation_name,
        "drill": incident.drill,
        "number": incident.number,
        "title": incident.title,
        "severity": severity_names.get(user.locale, incident.severity),
        "role": role_title(context.role, context.page.role_key, user.locale),
        "code": target.code,
        "ack_url": ack_url(target),
    }


SOURCE = "page_target"


def enqueue(
    session: Session,
    *,
    key: str,
    user: User,
    channel: ChannelName,
    template: str,
    values: dict,
    incident: Incident,
    label: str,
    target_id: int | None,
) -> DirectMessage | None:
    address = _address(user, channel)
    if not address:
        return None
    # Voice reads the SMS-length text; the TwiML around it is made at send time.
    rendered = templates_for(get_settings().template_dir).render(
        template, channel, user.locale, values
    )
    return direct.enqueue(
        session,
        key=key,
        source=SOURCE if target_id is not None else "roster",
        source_id=target_id,
        subject=(INCIDENT_SUBJECT, incident.id),
        label=label,
        channel=channel,
        address=address,
        locale=user.locale,
        rendered=rendered,
        drill=incident.drill,
        user_id=user.id,
    )


def run_steps(session: Session, *, target: PageTarget, context: PageContext) -> int:
    """Queues every contact step of the target that is due; returns how many."""
    user = session.get_one(User, target.user_id)
    steps = contact_steps(user)
    now = clock.now()
    queued = 0
    while target.next_step_at is not None and target.next_step_at <= now:
        step = steps[target.next_step] if target.next_step < len(steps) else None
        if step is None:
            target.next_step_at = None
            break
        message = enqueue(
            session,
            key=f"target-{target.id}-step-{target.next_step}",
            user=user,
            channel=ChannelName(step["channel"]),
            template="page",
            values=_message_context(context, target, user),
            incident=context.incident,
            label=f"page {target.next_step + 1} for role {context.page.role_key} "
            f"to {user.username}",
            target_id=target.id,
        )
        queued += message is not None
        target.next_step += 1
        following = steps[target.next_step] if target.next_step < len(steps) else None
        target.next_step_at = (
            target.next_step_at + timedelta(minutes=following["wait_minutes"])
            if following
            else None
        )
    session.add(target)
    return queued


def close_page(session: Session, *, page: Page, status: PageStatus) -> None:
    now = clock.now()
    page.status, page.escalate_at, page.closed_at = status, None, now
    session.add(page)
    target_ids = select(PageTarget.id).where(PageTarget.page_id == page.id)
    session.execute(
        update(PageTarget)
        .where(col(PageTarget.page_id) == page.id, col(PageTarget.status) == TargetStatus.open)
        .values(status=TargetStatus.cancelled, next_step_at=None)
    )
    direct.cancel_pending(session, source=SOURCE, source_ids=target_ids)
