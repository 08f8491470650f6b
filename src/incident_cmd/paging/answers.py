"""A paged person's answer, by link, SMS, voice keypad or the API: acknowledging closes the
page (``flows.acknowledge`` also gives them the seat), declining moves the page up.
Repeated or late answers change nothing."""

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlmodel import Session, col, select

from incident_cmd import clock
from incident_cmd.auth.models import User
from incident_cmd.config import get_settings
from incident_cmd.errors import NotFound
from incident_cmd.i18n import Locale
from incident_cmd.messaging import direct
from incident_cmd.messaging.models import DirectMessage
from incident_cmd.paging.escalation import escalate
from incident_cmd.paging.models import (
    ANSWERABLE,
    AnswerRoute,
    Page,
    PageStatus,
    PageTarget,
    TargetStatus,
)
from incident_cmd.paging.pages import SOURCE, close_page, page_context, record, role_title

ACK_WORDS = {"ACK", "1", "OK", "YES", "确认", "收到"}
DECLINE_WORDS = {"2", "DECLINE", "NO", "拒绝"}


@dataclass(frozen=True)
class Meant:
    """What a person's SMS or key press answers: this target, yes or no."""

    target: PageTarget
    acknowledges: bool


@dataclass(frozen=True)
class Answer:
    target: PageTarget
    page: Page
    changed: bool
    text: str


def _answer(
    session: Session, target: PageTarget, status: TargetStatus, via: AnswerRoute
) -> Answer | tuple[Page, User, datetime]:
    """Records the person's answer on their target and returns the page, the person and when
    they answered; or the Answer saying it came too late."""
    page = session.get_one(Page, target.page_id)
    user = session.get_one(User, target.user_id)
    if target.status != TargetStatus.open or page.status not in ANSWERABLE:
        return Answer(target, page, False, _already(session, page, target, user.locale))
    now = clock.now()
    target.status, target.answered_at, target.answered_via = status, now, via
    target.next_step_at = None
    session.add(target)
    return page, user, now


def acknowledge(session: Session, *, target: PageTarget, via: AnswerRoute) -> Answer:
    """The person answers yes. Harmless when repeated or when someone else was faster."""
    answered = _answer(session, target, TargetStatus.acknowledged, via)
    if isinstance(answered, Answer):
        return answered
    page, user, now = answered
    page.acknowledged_at, page.acknowledged_by, page.acknowledged_via = now, user.id, via
    close_page(session, page=page, status=PageStatus.acknowledged)
    seconds = int((now - page.created_at).total_seconds())
    record(
        session,
        incident_id=page.incident_id,
        kind="page.acknowledged",
        summary=f"{user.username} acknowledged role {page.role_key} by {via} after {seconds} s",
        data={
            "page": page.id,
            "target": target.id,
            "user": user.username,
            "role": page.role_key,
            "via": via,
            "seconds": seconds,
        },
        actor_id=user.id,
    )
    context = page_context(session, page)
    number, role = context.incident.number, role_title(context.role, page.role_key, user.locale)
    text = (
        f"已确认:您担任 {number} 的{role}。"
        if user.locale == Locale.zh_CN
        else f"Acknowledged: you are {role} on {number}."
    )
    return Answer(target, page, True, text)


def decline(session: Session, *, target: PageTarget, via: AnswerRoute) -> Answer:
    """The person answers no: the page moves up at once if they were its current level."""
    answered = _answer(session, target, TargetStatus.declined, via)
    if isinstance(answered, Answer):
        return answered
    page, user, _ = answered
    direct.cancel_pending(session, source=SOURCE, source_ids=[target.id])
    record(
        session,
        incident_id=page.incident_id,
        kind="page.declined",
        summary=f"{user.username} declined role {page.role_key} by {via}",
        data={
            "page": page.id,
            "target": target.id,
            "user": user.username,
            "role": page.role_key,
            "via": via,
        },
        actor_id=user.id,
    )
    current = target.level == page.level and target.round == page.round
    if page.status == PageStatus.open and current:
        escalate(session, page=page, reason=f"{user.username} declined")
    text = (
        "已拒绝,正在呼叫下一位。"
        if user.locale == Locale.zh_CN
        else "Declined; paging the next person."
    )
    return Answer(target, page, True, text)


def _already(session: Session, page: Page, target: PageTarget, locale: Locale) -> str:
    chinese = locale == Locale.zh_CN
    if target.status == TargetStatus.acknowledged:
        return "您已确认。" if chinese else "You have already acknowledged."
    if page.status == PageStatus.acknowledged and page.acknowledged_by is not None:
        who = session.get_one(User, page.acknowledged_by).display_name
        return f"{who} 已确认。" if chinese else f"{who} has already acknowledged."
    return "此呼叫已结束。" if chinese else "This page is closed."


def read_sms(session: Session, *, from_address: str, body: str) -> Meant | str | None:
    """What an SMS from a paged person means: ACK, 1 or a page code acknowledges, 2 declines.
    A text to answer with when it names no open page; None when the sender has never been
    paged, so the customer handling takes the message."""
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
                f"未找到呼叫码 {codes[0]}。"
                if user.locale == Locale.zh_CN
                else f"No page {codes[0]}."
            )
    else:
        target = session.exec(
            query.where(PageTarget.status == TargetStatus.open, col(Page.status).in_(ANSWERABLE))
        ).first()
        if target is None:
            recent = clock.now() - timedelta(minutes=get_settings().page_link_valid_minutes)
            if session.exec(query.where(col(PageTarget.created_at) >= recent)).first() is None:
                return None  # not an answer to a page: maybe they are a customer too
            return (
                "您没有待确认的呼叫。" if user.locale == Locale.zh_CN else "You have no open page."
            )
    return Meant(target=target, acknowledges=action == "ack")


def read_keypad(session: Session, *, message_id: int, digits: str) -> Meant | None:
    """1 acknowledges the page the call read out, 2 declines it; any other key means nothing."""
    message = session.get(DirectMessage, message_id)
    if message is None or message.source != SOURCE or message.source_id is None:
        raise NotFound(f"no page call {message_id}")
    if digits not in ("1", "2"):
        return None
    target = session.get_one(PageTarget, message.source_id)
    return Meant(target=target, acknowledges=digits == "1")


def unreachable(session: Session, *, incident_id: int, role_key: str, reason: str) -> int:
    """The people paged for this seat cannot be reached (a drill's inject says so): each open
    page of the seat stops waiting for them, as if their time to answer had run out, and
    moves up its escalation chain at once. Their own late answer is then refused as any late
    answer is. Returns the pages moved on."""
    pages = session.exec(
        select(Page).where(
            Page.incident_id == incident_id,
            Page.role_key == role_key,
            Page.status == PageStatus.open,
        )
    ).all()
    for page in pages:
        targets = session.exec(
            select(PageTarget).where(
                PageTarget.page_id == page.id, PageTarget.status == TargetStatus.open
            )
        ).all()
        for target in targets:
            target.status, target.next_step_at = TargetStatus.declined, None
            session.add(target)
        direct.cancel_pending(session, source=SOURCE, source_ids=[target.id for target in targets])
        record(
            session,
            incident_id=incident_id,
            kind="page.unreachable",
            summary=f"role {role_key}: nobody paged answers ({reason})",
            data={"page": page.id, "role": role_key, "reason": reason},
        )
        escalate(session, page=page, reason=reason)
    return len(pages)
