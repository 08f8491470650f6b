"""Paging a roster: contact steps per person, acknowledgement, escalation, stand-down.

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

from itsdangerous import BadSignature, URLSafeSerializer
from sqlalchemy import update
from sqlmodel import Session, col, select

from incident_cmd import clock
from incident_cmd.auth.models import User
from incident_cmd.config import get_settings
from incident_cmd.db import skip_locked
from incident_cmd.errors import Forbidden, Invalid, NotFound
from incident_cmd.incidents import service as incident_service
from incident_cmd.incidents.models import AssignmentState, Incident, RosterAssignment
from incident_cmd.incidents.schemas import RoleAssign
from incident_cmd.messaging import direct
from incident_cmd.messaging.models import DirectMessage
from incident_cmd.messaging.templates import templates_for
from incident_cmd.paging.models import (
    Page,
    PageStatus,
    PageTarget,
    TargetStatus,
)
from incident_cmd.playbooks.schema import Escalation, Playbook, RosterRole
from incident_cmd.teams import service as team_service
from incident_cmd.timeline import service as timeline
from incident_cmd.workdays import add_offset

ACK_WORDS = {"ACK", "1", "OK", "YES", "确认", "收到"}
DECLINE_WORDS = {"2", "DECLINE", "NO", "拒绝"}
ANSWERABLE = (PageStatus.open, PageStatus.exhausted)
# An ad hoc responder is paged through their contact policy but has no chain behind them.
AD_HOC_ESCALATION = Escalation(chain=[], rounds=1)


def _offset(start: datetime, offset: str) -> datetime:
    settings = get_settings()
    return add_offset(
        start, offset, zone=ZoneInfo(settings.default_timezone), country=settings.holiday_country
    )


def _record(
    session: Session, incident_id: int, kind: str, summary: str, data: dict, actor_id=None
) -> None:
    timeline.append(
        session,
        subject_type=incident_service.SUBJECT,
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
        steps.append({"channel": "sms", "wait_minutes": 0})
    if user.email:
        steps.append({"channel": "email", "wait_minutes": 5 if steps else 0})
    return steps


def _address(user: User, channel: str) -> str | None:
    return user.email if channel == "email" else user.phone


def _reachable(user: User) -> bool:
    return user.active and any(_address(user, step["channel"]) for step in contact_steps(user))


# --- acknowledgement links --------------------------------------------------------------


def _link_serializer() -> URLSafeSerializer:
    return URLSafeSerializer(get_settings().signing_key, salt="page-ack")


def ack_token(target: PageTarget) -> str:
    minutes = get_settings().page_link_valid_minutes
    expires = target.created_at + timedelta(minutes=minutes)
    return _link_serializer().dumps({"t": target.id, "e": int(expires.timestamp())})


def ack_url(target: PageTarget) -> str:
    return f"{get_settings().public_base_url.rstrip('/')}/page/{ack_token(target)}"


def target_from_token(session: Session, *, token: str) -> PageTarget:
    """The target a link was made for; a forged, altered or expired link is refused."""
    try:
        payload = _link_serializer().loads(token)
    except BadSignature:
        raise Forbidden("this acknowledge link is not valid") from None
    if clock.now().timestamp() > payload["e"]:
        raise Forbidden("this acknowledge link has expired; reply to the SMS or use the app")
    target = session.get(PageTarget, payload["t"])
    if target is None:
        raise Forbidden("this acknowledge link is not valid")
    return target


# --- starting pages -----------------------------------------------------------------------


@dataclass(frozen=True)
class PageContext:
    incident: Incident
    playbook: Playbook
    page: Page
    role: RosterRole | None
    escalation: Escalation


def role_title(role: RosterRole | None, role_key: str, locale: str) -> str:
    if role is None:
        return role_key
    titles = role.title.model_dump(by_alias=True)
    return titles.get(locale) or titles["en"]


def page_context(
    session: Session,
    page: Page,
    *,
    incident: Incident | None = None,
    playbook: Playbook | None = None,
) -> PageContext:
    incident = incident or session.get(Incident, page.incident_id)
    playbook = playbook or incident_service.playbook_of(session, incident)
    role = playbook.role(page.role_key)
    if role is not None and page.slot >= role.count:
        role = None  # an ad hoc seat added beside the playbook's
    escalation = role.escalation if role is not None else AD_HOC_ESCALATION
    return PageContext(incident, playbook, page, role, escalation)


def page_seats(
    session: Session, *, seats: Sequence[RosterAssignment], actor_id: int | None
) -> list[Page]:
    """Pages each seat whose playbook role says so (ad hoc seats always). Written in a few
    statements for the whole roster: declaring is when a page must go out fastest."""
    now = clock.now()
    # Held for the whole call, so that the identity map answers for the seat holders.
    holders = session.exec(
        select(User).where(col(User.id).in_({seat.user_id for seat in seats} - {None}))
    ).all()
    contexts = []
    for seat in seats:
        incident = session.get(Incident, seat.incident_id)
        playbook = incident_service.playbook_of(session, incident)
        role = playbook.role(seat.role_key)
        if role is not None and seat.slot < role.count and not role.page:
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
        page.escalate_at = _offset(now, _wait(context))
        contexts.append(context)
    session.add_all([context.page for context in contexts])
    session.flush()
    reaches = [_choose(session, context, fresh=True) for context in contexts]
    _open_targets(session, [reach for reach in reaches if reach], "paged", actor_id)
    del holders
    return [context.page for context in contexts]


def page_seat(session: Session, *, seat: RosterAssignment, actor_id: int | None) -> Page | None:
    pages = page_seats(session, seats=[seat], actor_id=actor_id)
    return pages[0] if pages else None


def page_roster(session: Session, *, incident: Incident, actor_id: int | None) -> list[Page]:
    seats = incident_service.current_roster(session, incident=incident)
    return page_seats(session, seats=seats, actor_id=actor_id)


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
        seat = session.get(RosterAssignment, page.assignment_id)
        return [session.get(User, seat.user_id)] if seat.user_id else []
    now = clock.now()
    try:
        if level == "next_in_rotation":
            return team_service.responders(
                session, team_key=role.team, rotation_name=role.rotation, at=now, count=100
            )
        if level == "team_lead":
            team = team_service.get_team(session, key=role.team)
            return [session.get(User, team.lead_user_id)] if team.lead_user_id else []
        return team_service.responders(
            session,
            team_key=context.escalation.duty_team,
            rotation_name=None,
            at=now,
            count=100,
        )
    except (NotFound, Invalid):  # the team is gone or has no rotation: skip this level
        return []


def _wait(context: PageContext) -> str:
    return context.escalation.after or (context.role.ack_within if context.role else "15m")


@dataclass(frozen=True)
class _Reach:
    context: PageContext
    person: User
    level: str
    skipped: list[str]


def _choose(session: Session, context: PageContext, *, fresh: bool) -> _Reach | None:
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
            _record(
                session,
                page.incident_id,
                "page.exhausted",
                f"nobody acknowledged role {page.role_key} after {escalation.rounds} round(s)",
                {"page": page.id, "role": page.role_key, "skipped": skipped},
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
                page.escalate_at = _offset(clock.now(), _wait(context))
                session.add(page)
            return _Reach(context, person, level, skipped)
        skipped.append(level)
        page.level += 1


def _open_targets(
    session: Session, reaches: list[_Reach], reason: str, actor_id: int | None
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
        _record(
            session,
            page.incident_id,
            "page.sent",
            f"paging {reach.person.username} for role {page.role_key} "
            f"({reach.level.replace('_', ' ')}, round {page.round + 1}): {reason}",
            {
                "page": page.id,
                "target": target.id,
                "user": reach.person.username,
                "level": reach.level,
                "round": page.round + 1,
                "skipped": reach.skipped,
            },
            actor_id,
        )
        _run_steps(session, target, reach.context)


def _new_code() -> str:
    # Codes only tell apart the pages of the person who texts back, so they need not be unique
    # across everyone (and a lookup per page would slow declaring down).
    return f"{secrets.randbelow(900000) + 100000}"


# --- contact steps --------------------------------------------------------------------------


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


def _enqueue(
    session: Session,
    *,
    key: str,
    user: User,
    channel: str,
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
        subject=(incident_service.SUBJECT, incident.id),
        label=label,
        channel=channel,
        address=address,
        locale=user.locale,
        rendered=rendered,
        drill=incident.drill,
        user_id=user.id,
    )


def _run_steps(session: Session, target: PageTarget, context: PageContext) -> int:
    """Queues every contact step of the target that is due; returns how many."""
    user = session.get(User, target.user_id)
    steps = contact_steps(user)
    now = clock.now()
    queued = 0
    while target.next_step_at is not None and target.next_step_at <= now:
        step = steps[target.next_step] if target.next_step < len(steps) else None
        if step is None:
            target.next_step_at = None
            break
        message = _enqueue(
            session,
            key=f"target-{target.id}-step-{target.next_step}",
            user=user,
            channel=step["channel"],
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


def _claim(session: Session, query):
    return session.exec(skip_locked(session, query)).all()


def run_contact_steps(session: Session, *, limit: int = 200) -> int:
    """Sweep: the next contact step of every open target whose wait is over."""
    targets = _claim(
        session,
        select(PageTarget)
        .where(
            PageTarget.status == TargetStatus.open,
            col(PageTarget.next_step_at) <= clock.now(),
        )
        .order_by(PageTarget.next_step_at)
        .limit(limit),
    )
    queued = 0
    for target in targets:
        queued += _run_steps(
            session, target, page_context(session, session.get(Page, target.page_id))
        )
    return queued


def escalate_due_pages(session: Session, *, limit: int = 200) -> int:
    """Sweep: every open page whose level went unacknowledged for its wait moves up."""
    pages = _claim(
        session,
        select(Page)
        .where(Page.status == PageStatus.open, col(Page.escalate_at) <= clock.now())
        .order_by(Page.escalate_at)
        .limit(limit),
    )
    for page in pages:
        _escalate(session, page, reason="no acknowledgement in time")
    return len(pages)


def _stop_steps(session: Session, page: Page) -> None:
    session.execute(
        update(PageTarget)
        .where(col(PageTarget.page_id) == page.id, col(PageTarget.next_step_at).is_not(None))
        .values(next_step_at=None)
    )


def _escalate(session: Session, page: Page, *, reason: str) -> None:
    _stop_steps(session, page)
    page.level += 1
    _record(
        session,
        page.incident_id,
        "page.escalated",
        f"role {page.role_key}: escalating ({reason})",
        {"page": page.id, "role": page.role_key, "reason": reason},
    )
    reach = _choose(session, page_context(session, page), fresh=False)
    if reach is not None:
        _open_targets(session, [reach], reason, None)


# --- answers ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Answer:
    target: PageTarget
    page: Page
    changed: bool
    text: str


def _close_page(session: Session, page: Page, status: PageStatus) -> None:
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


def _answer(
    session: Session, target: PageTarget, status: TargetStatus, via: str
) -> tuple[Page, User, Answer | None]:
    """Records the person's answer on their target, or the Answer saying it came too late."""
    page = session.get(Page, target.page_id)
    user = session.get(User, target.user_id)
    if target.status != TargetStatus.open or page.status not in ANSWERABLE:
        return page, user, Answer(target, page, False, _already(session, page, target, user.locale))
    target.status, target.answered_at, target.answered_via = status, clock.now(), via
    target.next_step_at = None
    session.add(target)
    return page, user, None


def acknowledge(session: Session, *, target: PageTarget, via: str) -> Answer:
    """The person answers yes. Harmless when repeated or when someone else was faster."""
    page, user, already = _answer(session, target, TargetStatus.acknowledged, via)
    if already is not None:
        return already
    now = target.answered_at
    page.acknowledged_at, page.acknowledged_by, page.acknowledged_via = now, user.id, via
    _close_page(session, page, PageStatus.acknowledged)
    seconds = int((now - page.created_at).total_seconds())
    _record(
        session,
        page.incident_id,
        "page.acknowledged",
        f"{user.username} acknowledged role {page.role_key} by {via} after {seconds} s",
        {
            "page": page.id,
            "target": target.id,
            "user": user.username,
            "via": via,
            "seconds": seconds,
        },
        user.id,
    )
    _take_seat(session, page, user)
    context = page_context(session, page)
    number, role = context.incident.number, role_title(context.role, page.role_key, user.locale)
    text = (
        f"已确认:您担任 {number} 的{role}。"
        if user.locale == "zh-CN"
        else f"Acknowledged: you are {role} on {number}."
    )
    return Answer(target, page, True, text)


def _take_seat(session: Session, page: Page, user: User) -> None:
    seat = session.get(RosterAssignment, page.assignment_id)
    if seat.user_id == user.id or seat.state == AssignmentState.relieved:
        return
    incident = session.get(Incident, page.incident_id)
    previous = session.get(User, seat.user_id).username if seat.user_id else "nobody"
    replacement = incident_service.assign_role(
        session,
        incident=incident,
        change=RoleAssign(
            role=seat.role_key,
            slot=seat.slot,
            user=user.username,
            note=f"acknowledged the page for this seat ({previous} had not)",
        ),
        actor=user,
    )
    page.assignment_id = replacement.id
    session.add(page)


def decline(session: Session, *, target: PageTarget, via: str) -> Answer:
    """The person answers no: the page moves up at once if they were its current level."""
    page, user, already = _answer(session, target, TargetStatus.declined, via)
    if already is not None:
        return already
    direct.cancel_pending(session, source=SOURCE, source_ids=[target.id])
    _record(
        session,
        page.incident_id,
        "page.declined",
        f"{user.username} declined role {page.role_key} by {via}",
        {"page": page.id, "target": target.id, "user": user.username, "via": via},
        user.id,
    )
    current = target.level == page.level and target.round == page.round
    if page.status == PageStatus.open and current:
        _escalate(session, page, reason=f"{user.username} declined")
    text = (
        "已拒绝,正在呼叫下一位。" if user.locale == "zh-CN" else "Declined; paging the next person."
    )
    return Answer(target, page, True, text)


def _already(session: Session, page: Page, target: PageTarget, locale: str) -> str:
    if target.status == TargetStatus.acknowledged:
        return "您已确认。" if locale == "zh-CN" else "You have already acknowledged."
    if page.status == PageStatus.acknowledged:
        who = session.get(User, page.acknowledged_by).display_name
        return f"{who} 已确认。" if locale == "zh-CN" else f"{who} has already acknowledged."
    return "此呼叫已结束。" if locale == "zh-CN" else "This page is closed."


def answer_by_sms(session: Session, *, from_address: str, body: str) -> str | None:
    """An SMS from a paged person: ACK, 1 or a page code acknowledges, 2 declines. None when
    the sender has never been paged, so the customer handling takes the message."""
    user = session.exec(select(User).where(User.phone == from_address)).first()
    if user is None:
        return None
    words = body.strip().upper().split()
    if not words:
        return None
    codes = [word for word in words if word.isdigit() and len(word) == 6]
    action = "decline" if words[0] in DECLINE_WORDS else "ack" if words[0] in ACK_WORDS else None
    if action is None and codes:
        action = "ack"
    if action is None:
        return None
    query = (
        select(PageTarget)
        .join(Page, col(Page.id) == PageTarget.page_id)
        .where(PageTarget.user_id == user.id)
        .order_by(col(PageTarget.id).desc())
    )
    if codes:
        target = session.exec(query.where(PageTarget.code == codes[0])).first()
        if target is None:
            return (
                f"未找到呼叫码 {codes[0]}。" if user.locale == "zh-CN" else f"No page {codes[0]}."
            )
    else:
        target = session.exec(
            query.where(PageTarget.status == TargetStatus.open, col(Page.status).in_(ANSWERABLE))
        ).first()
        if target is None:
            recent = clock.now() - timedelta(minutes=get_settings().page_link_valid_minutes)
            if session.exec(query.where(col(PageTarget.created_at) >= recent)).first() is None:
                return None  # not an answer to a page: maybe they are a customer too
            return "您没有待确认的呼叫。" if user.locale == "zh-CN" else "You have no open page."
    handler = acknowledge if action == "ack" else decline
    return handler(session, target=target, via="sms").text


def answer_by_voice(session: Session, *, message_id: int, digits: str) -> Answer | None:
    message = session.get(DirectMessage, message_id)
    if message is None or message.source != SOURCE:
        raise NotFound(f"no page call {message_id}")
    target = session.get(PageTarget, message.source_id)
    if digits == "1":
        return acknowledge(session, target=target, via="voice")
    if digits == "2":
        return decline(session, target=target, via="voice")
    return None


# --- roster changes ------------------------------------------------------------------------


def cancel_for_seat(session: Session, *, seat: RosterAssignment, reason: str) -> int:
    pages = session.exec(
        select(Page).where(Page.assignment_id == seat.id, col(Page.status).in_(ANSWERABLE))
    ).all()
    for page in pages:
        _close_page(session, page, PageStatus.cancelled)
        _record(
            session,
            page.incident_id,
            "page.cancelled",
            f"page for role {page.role_key} cancelled: {reason}",
            {"page": page.id, "role": page.role_key, "reason": reason},
        )
    return len(pages)


def stand_down(session: Session, *, incident: Incident, message: str, actor: User) -> int:
    """Closes every open page and tells each person on the roster they are stood down."""
    seats = incident_service.current_roster(session, incident=incident)
    for seat in seats:
        cancel_for_seat(session, seat=seat, reason="incident stood down")
    told = 0
    playbook = incident_service.playbook_of(session, incident)
    for seat in seats:
        if seat.user_id is None:
            continue
        user = session.get(User, seat.user_id)
        channel = "sms" if user.phone else "email"
        values = {
            "organisation": get_settings().organisation_name,
            "drill": incident.drill,
            "number": incident.number,
            "title": incident.title,
            "role": role_title(playbook.role(seat.role_key), seat.role_key, user.locale),
            "message": message,
        }
        queued = _enqueue(
            session,
            key=f"stand-down-{seat.id}",
            user=user,
            channel=channel,
            template="stand_down",
            values=values,
            incident=incident,
            label=f"stand-down for role {seat.role_key} to {user.username}",
            target_id=None,
        )
        told += queued is not None
    _record(
        session,
        incident.id,
        "roster.stood_down",
        f"roster stood down ({told} told): {message}"
        if message
        else f"roster stood down ({told} told)",
        {"message": message, "told": told},
        actor.id,
    )
    return told


# --- reading ---------------------------------------------------------------------------------


def pages_of(session: Session, *, incident: Incident) -> Sequence[Page]:
    return session.exec(select(Page).where(Page.incident_id == incident.id).order_by(Page.id)).all()


def targets_of(session: Session, *, page_ids: list[int]) -> Sequence[PageTarget]:
    if not page_ids:
        return []
    return session.exec(
        select(PageTarget).where(col(PageTarget.page_id).in_(page_ids)).order_by(PageTarget.id)
    ).all()


def get_target(session: Session, *, target_id: int) -> PageTarget:
    target = session.get(PageTarget, target_id)
    if target is None:
        raise NotFound(f"no page target {target_id}")
    return target


def open_targets_for(session: Session, *, user: User) -> Sequence[PageTarget]:
    return session.exec(
        select(PageTarget)
        .join(Page, col(Page.id) == PageTarget.page_id)
        .where(
            PageTarget.user_id == user.id,
            PageTarget.status == TargetStatus.open,
            col(Page.status).in_(ANSWERABLE),
        )
        .order_by(PageTarget.id)
    ).all()


@dataclass(frozen=True)
class RoleFigure:
    role: str
    slot: int
    target_seconds: int
    paged_at: datetime
    acknowledged_at: datetime | None
    acknowledged_by: int | None
    seconds_to_ack: int | None
    within_target: bool | None
    status: str


@dataclass(frozen=True)
class Mobilisation:
    roles: list[RoleFigure]
    full_roster_at: datetime | None
    seconds_to_full_roster: int | None
    full_roster_target_seconds: int | None
    within_target: bool | None


def mobilisation(session: Session, *, incident: Incident) -> Mobilisation:
    """Time to acknowledge per seat and to the whole paged roster, against the playbook."""
    playbook = incident_service.playbook_of(session, incident)
    by_seat: dict[tuple[str, int], list[Page]] = {}
    for page in pages_of(session, incident=incident):
        by_seat.setdefault((page.role_key, page.slot), []).append(page)
    figures = []
    now = clock.now()
    for (role_key, slot), pages in by_seat.items():
        role = playbook.role(role_key)
        ack_within = role.ack_within if role else "15m"
        first = pages[0]
        target_seconds = int(
            (_offset(first.created_at, ack_within) - first.created_at).total_seconds()
        )
        acked = [page for page in pages if page.status == PageStatus.acknowledged]
        last = pages[-1]
        if acked:
            acknowledged = acked[-1]
            seconds = int((acknowledged.acknowledged_at - first.created_at).total_seconds())
            figures.append(
                RoleFigure(
                    role_key,
                    slot,
                    target_seconds,
                    first.created_at,
                    acknowledged.acknowledged_at,
                    acknowledged.acknowledged_by,
                    seconds,
                    seconds <= target_seconds,
                    PageStatus.acknowledged,
                )
            )
        else:
            late = (now - first.created_at).total_seconds() > target_seconds
            figures.append(
                RoleFigure(
                    role_key,
                    slot,
                    target_seconds,
                    first.created_at,
                    None,
                    None,
                    None,
                    False if late else None,
                    last.status,
                )
            )
    live = [figure for figure in figures if figure.status != PageStatus.cancelled]
    target = max((figure.target_seconds for figure in live), default=None)
    if live and all(figure.acknowledged_at for figure in live):
        full_at = max(figure.acknowledged_at for figure in live)
        seconds = int((full_at - incident.declared_at).total_seconds())
        return Mobilisation(figures, full_at, seconds, target, seconds <= target)
    late = target is not None and (now - incident.declared_at).total_seconds() > target
    return Mobilisation(figures, None, None, target, False if late else None)
