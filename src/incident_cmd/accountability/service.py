"""Responsibility findings on an incident under review, their approval by the authority the
amount routes them to (seed 001 6-4), the 《考核决定书》 issued to each person concerned (6-2),
and staff appeals against a letter. The incident, the people and their teams are looked up by
the flows; this module keeps the rules.

Nobody approves a penalty they proposed or one that concerns them: the seed separates who
determines responsibility (6-1 市场营销部 「决定责任的归属部门」, 4-2-1 制造中心 「责任人员的拟定」)
from who approves the penalty (6-4 综合部 / 总经理)."""

from collections.abc import Sequence
from datetime import timedelta
from decimal import Decimal
from functools import cache
from pathlib import Path
from zoneinfo import ZoneInfo

from jinja2 import Environment, FileSystemLoader, StrictUndefined
from sqlmodel import Session, col, select

from incident_cmd import clock, numbering
from incident_cmd.accountability.models import (
    Appeal,
    AppealState,
    Authority,
    Finding,
    FindingState,
    Letter,
)
from incident_cmd.accountability.policy import Policy, policy
from incident_cmd.accountability.schemas import AppealDecision, FindingCreate
from incident_cmd.auth.models import User
from incident_cmd.config import get_settings
from incident_cmd.errors import Conflict, Forbidden, Invalid, NotFound
from incident_cmd.i18n import LOCALES, Locale
from incident_cmd.incidents.models import Incident, IncidentStatus
from incident_cmd.teams.models import Team, TeamMember
from incident_cmd.timeline import service as timeline
from incident_cmd.timeline.models import TimelineEvent

SUBJECT = "incident"
LETTER_PREFIX = "KHJD"  # 考核决定

PROPOSED = "accountability.proposed"
APPROVED = "accountability.approved"
REJECTED = "accountability.rejected"
LETTER_ISSUED = "accountability.letter_issued"
APPEALED = "accountability.appealed"
APPEAL_DECIDED = "accountability.appeal_decided"

FEN = 100


def to_fen(yuan: Decimal) -> int:
    return int(yuan * FEN)


def to_yuan(fen: int) -> Decimal:
    return (Decimal(fen) / FEN).quantize(Decimal("0.01"))


def _record(
    session: Session,
    incident_id: int,
    kind: str,
    summary: str,
    actor_id: int | None,
    data: dict,
) -> TimelineEvent:
    """Timeline entries name the finding, the letter number and the state; never who is
    concerned or the money, which are not for everyone who reads the incident's timeline."""
    return timeline.append(
        session,
        subject_type=SUBJECT,
        subject_id=incident_id,
        kind=kind,
        summary=summary,
        actor_id=actor_id,
        data=data,
    )


# --- who holds which authority ---------------------------------------------------------------


def holders(session: Session, *, authority: Authority, rules: Policy | None = None) -> set[int]:
    """The active members of the team the configuration names for the authority."""
    team_key = (rules or policy()).authorities[authority]
    return set(
        session.exec(
            select(User.id)
            .join(TeamMember, col(TeamMember.user_id) == User.id)
            .join(Team, col(Team.id) == TeamMember.team_id)
            .where(Team.key == team_key, col(User.active))
        )
    )


def authorities_of(session: Session, *, user: User) -> set[Authority]:
    rules = policy()
    return {
        authority
        for authority in Authority
        if user.id in holders(session, authority=authority, rules=rules)
    }


def highest_rank(session: Session, *, user: User) -> int:
    return max((authority.rank for authority in authorities_of(session, user=user)), default=-1)


# --- findings --------------------------------------------------------------------------------


def findings_of(session: Session, *, incident: Incident) -> Sequence[Finding]:
    return session.exec(
        select(Finding).where(Finding.incident_id == incident.id).order_by(col(Finding.id))
    ).all()


def get_finding(session: Session, *, incident: Incident, finding_id: int) -> Finding:
    finding = session.get(Finding, finding_id)
    if finding is None or finding.incident_id != incident.id:
        raise NotFound(f"{incident.number} has no finding {finding_id}")
    return finding


def propose(
    session: Session,
    *,
    incident: Incident,
    data: FindingCreate,
    people: Sequence[User],
    actor: User,
    may_propose: bool,
) -> Finding:
    if not may_propose:
        raise Forbidden(
            f"only a duty manager, a member of the roster of {incident.number} or a holder of "
            "an approving authority may propose a finding"
        )
    if incident.status != IncidentStatus.in_review:
        raise Conflict(
            f"{incident.number} is {incident.status}; responsibility is determined while it "
            "is in review",
            field="status",
        )
    total = data.penalty_amount * len(people)
    route = policy().route(total_penalty_yuan=total, major=data.major)
    finding = Finding(
        incident_id=incident.id,
        departments=data.departments,
        people=[person.id for person in people],
        facts=data.facts.strip(),
        loss_fen=to_fen(data.loss_amount),
        penalty_fen=to_fen(data.penalty_amount),
        penalty_kind=data.penalty_kind,
        penalty_text=data.penalty_text.strip(),
        major=data.major,
        route=route,
        proposed_by=actor.id,
        proposed_at=clock.now(),
    )
    session.add(finding)
    session.flush()
    _record(
        session,
        incident.id,
        PROPOSED,
        f"responsibility finding {finding.id} proposed, for approval by {route.value}"
        + (" (major case)" if data.major else ""),
        actor.id,
        {"finding": finding.id, "route": route.value, "major": data.major},
    )
    return finding


def _check_approver(session: Session, finding: Finding, actor: User) -> None:
    if actor.id == finding.proposed_by:
        raise Forbidden(
            f"finding {finding.id} was proposed by {actor.username}; nobody approves a penalty "
            "they proposed"
        )
    if actor.id in finding.people:
        raise Forbidden(f"finding {finding.id} concerns {actor.username}, who may not decide it")
    if actor.id not in holders(session, authority=finding.route):
        who = (
            "综合部 (general affairs)"
            if finding.route == Authority.general_affairs
            else ("the general manager (总经理)")
        )
        raise Forbidden(f"finding {finding.id} is approved by {who}; {actor.username} is not")


def _proposed(finding: Finding) -> None:
    if finding.state != FindingState.proposed:
        raise Conflict(f"finding {finding.id} is already {finding.state}", field="state")


def approve(
    session: Session,
    *,
    incident: Incident,
    finding: Finding,
    note: str,
    actor: User,
    people: Sequence[User],
    team_names: dict[str, str],
) -> list[Letter]:
    """Approves the penalty (for a major case, the general manager's ruling) and issues a
    letter to each person concerned."""
    _proposed(finding)
    _check_approver(session, finding, actor)
    finding.state = FindingState.approved
    finding.decided_by = actor.id
    finding.decided_at = clock.now()
    finding.decision_note = note.strip()
    session.add(finding)
    _record(
        session,
        incident.id,
        APPROVED,
        f"responsibility finding {finding.id} approved by {finding.route.value}"
        + (" (the general manager's ruling on a major case)" if finding.major else ""),
        actor.id,
        {"finding": finding.id, "route": finding.route.value, "major": finding.major},
    )
    return [
        issue_letter(
            session,
            incident=incident,
            finding=finding,
            person=person,
            issuer=actor,
            penalty_fen=finding.penalty_fen,
            penalty_text=finding.penalty_text,
            team_names=team_names,
        )
        for person in people
    ]


def reject(
    session: Session, *, incident: Incident, finding: Finding, note: str, actor: User
) -> Finding:
    _proposed(finding)
    _check_approver(session, finding, actor)
    if not note.strip():
        raise Invalid("say why the finding is rejected", field="note")
    finding.state = FindingState.rejected
    finding.decided_by = actor.id
    finding.decided_at = clock.now()
    finding.decision_note = note.strip()
    session.add(finding)
    _record(
        session,
        incident.id,
        REJECTED,
        f"responsibility finding {finding.id} rejected: {finding.decision_note}",
        actor.id,
        {"finding": finding.id, "major": finding.major},
    )
    return finding


# --- letters ---------------------------------------------------------------------------------


@cache
def _documents(directory: Path) -> Environment:
    return Environment(
        loader=FileSystemLoader(directory),
        undefined=StrictUndefined,
        keep_trailing_newline=True,
        autoescape=False,  # Markdown; shown as HTML only through a renderer that escapes HTML
    )


def _zone() -> ZoneInfo:
    return ZoneInfo(get_settings().default_timezone)


def letters_of(session: Session, *, finding: Finding) -> Sequence[Letter]:
    return session.exec(
        select(Letter)
        .where(Letter.finding_id == finding.id)
        .order_by(col(Letter.user_id), col(Letter.version))
    ).all()


def get_letter(session: Session, *, finding: Finding, letter_id: int) -> Letter:
    letter = session.get(Letter, letter_id)
    if letter is None or letter.finding_id != finding.id:
        raise NotFound(f"finding {finding.id} has no letter {letter_id}")
    return letter


def issue_letter(
    session: Session,
    *,
    incident: Incident,
    finding: Finding,
    person: User,
    issuer: User,
    penalty_fen: int,
    penalty_text: str,
    team_names: dict[str, str],
    revoked: bool = False,
    appeal: Appeal | None = None,
    previous: Letter | None = None,
) -> Letter:
    """Writes the letter in every language once, from the configuration as it is now: a
    later change of the appeal route or the threshold does not rewrite an issued letter."""
    rules = policy()
    now = clock.now()
    issued_on = now.astimezone(_zone()).date()
    appeal_until = issued_on + timedelta(days=rules.appeal_within_days)
    number = numbering.next_number(session, prefix=LETTER_PREFIX, year=issued_on.year)
    approver = session.get_one(User, finding.decided_by) if finding.decided_by else issuer
    version = previous.version + 1 if previous else 1
    environment = _documents(Path(get_settings().template_dir) / "documents")
    context = {
        "organisation": get_settings().organisation_name,
        "number": number,
        "version": version,
        "previous": previous.number if previous else None,
        "incident": incident,
        "finding": finding,
        "departments": [team_names.get(key, key) for key in finding.departments],
        "person": person,
        "loss": to_yuan(finding.loss_fen),
        "penalty": to_yuan(penalty_fen),
        "penalty_kind": finding.penalty_kind.value,
        "penalty_text": penalty_text,
        "revoked": revoked,
        "approver": approver,
        "issuer": issuer,
        "route": finding.route.value,
        "appeal": appeal,
        "issued_on": issued_on.isoformat(),
    }
    texts = {
        locale.value: environment.get_template(f"decision_letter.{locale.value}.md.j2").render(
            **context, appeal_route=rules.appeal_text(locale, appeal_until)
        )
        for locale in LOCALES
    }
    letter = Letter(
        number=number,
        finding_id=finding.id,
        user_id=person.id,
        version=version,
        penalty_fen=penalty_fen,
        penalty_text=penalty_text,
        revoked=revoked,
        issued_by=issuer.id,
        issued_at=now,
        appeal_until=appeal_until,
        texts=texts,
    )
    session.add(letter)
    if previous is not None:
        previous.superseded_at = now
        session.add(previous)
    session.flush()
    _record(
        session,
        incident.id,
        LETTER_ISSUED,
        f"decision letter {number} (version {letter.version}) issued on finding {finding.id}",
        issuer.id,
        {"finding": finding.id, "letter": number, "version": letter.version},
    )
    return letter


def letter_text(letter: Letter, locale: Locale | str) -> str:
    texts = letter.texts
    return texts.get(str(locale)) or texts.get(Locale.en.value) or next(iter(texts.values()))


# --- appeals ---------------------------------------------------------------------------------


def appeals_of(session: Session, *, finding: Finding) -> Sequence[Appeal]:
    letters = [letter.id for letter in letters_of(session, finding=finding)]
    if not letters:
        return []
    return session.exec(
        select(Appeal).where(col(Appeal.letter_id).in_(letters)).order_by(col(Appeal.id))
    ).all()


def appeal_deciders(session: Session, *, finding: Finding, appellant_id: int) -> set[int]:
    """Who may decide an appeal against the finding's decision: a holder of the authority
    that approved it or a higher one, other than the approver, the proposer and the
    appellant. With 综合部's approvals that is another member of 综合部 or the general
    manager; the general manager's own decisions have no one above them, so unless the
    configuration gives the authority to more than one person they cannot be appealed (seed
    001 6-3 「总经理最终裁定」: the general manager's ruling is final)."""
    rules = policy()
    eligible: set[int] = set()
    for authority in Authority:
        if authority.rank >= finding.route.rank:
            eligible |= holders(session, authority=authority, rules=rules)
    return eligible - {finding.decided_by, finding.proposed_by, appellant_id}


def file_appeal(
    session: Session,
    *,
    incident: Incident,
    finding: Finding,
    letter: Letter,
    reason: str,
    actor: User,
) -> Appeal:
    if letter.user_id != actor.id:
        raise Forbidden(f"only the person letter {letter.number} is addressed to may appeal it")
    if letter.superseded_at is not None:
        raise Conflict(f"letter {letter.number} has been replaced; appeal the current one")
    if letter.revoked:
        raise Conflict(f"letter {letter.number} revokes the penalty; there is nothing to appeal")
    today = clock.now().astimezone(_zone()).date()
    if today > letter.appeal_until:
        raise Conflict(f"the time to appeal letter {letter.number} ended on {letter.appeal_until}")
    pending = session.exec(
        select(Appeal.id).where(Appeal.letter_id == letter.id, Appeal.state == AppealState.open)
    ).first()
    if pending is not None:
        raise Conflict(f"letter {letter.number} already has an appeal waiting (appeal {pending})")
    if not appeal_deciders(session, finding=finding, appellant_id=actor.id):
        raise Conflict(
            f"finding {finding.id} was decided by the general manager and no one else holds "
            "that authority: the general manager's ruling is final (总经理最终裁定)"
        )
    appeal = Appeal(
        letter_id=letter.id,
        appellant_id=actor.id,
        reason=reason.strip(),
        filed_at=clock.now(),
    )
    session.add(appeal)
    session.flush()
    _record(
        session,
        incident.id,
        APPEALED,
        f"appeal {appeal.id} filed against decision letter {letter.number}",
        actor.id,
        {"finding": finding.id, "letter": letter.number, "appeal": appeal.id},
    )
    return appeal


def get_appeal(session: Session, *, finding: Finding, appeal_id: int) -> Appeal:
    appeal = session.get(Appeal, appeal_id)
    if appeal is None or appeal.id not in {
        item.id for item in appeals_of(session, finding=finding)
    }:
        raise NotFound(f"finding {finding.id} has no appeal {appeal_id}")
    return appeal


def decide_appeal(
    session: Session,
    *,
    incident: Incident,
    finding: Finding,
    appeal: Appeal,
    data: AppealDecision,
    actor: User,
    person: User,
    team_names: dict[str, str],
) -> Appeal:
    """Upheld leaves the letter standing; varied and revoked issue its next version (the
    penalty changed, or none), the one appealed marked superseded."""
    if appeal.state != AppealState.open:
        raise Conflict(f"appeal {appeal.id} is already {appeal.state}", field="state")
    if actor.id not in appeal_deciders(session, finding=finding, appellant_id=appeal.appellant_id):
        raise Forbidden(
            f"appeal {appeal.id} is decided by a holder of the authority that approved finding "
            f"{finding.id} or a higher one, other than its approver, its proposer and the "
            "appellant"
        )
    letter = session.get_one(Letter, appeal.letter_id)
    penalty_fen, penalty_text, revoked = letter.penalty_fen, letter.penalty_text, False
    if data.outcome == AppealState.open:
        raise Invalid("the outcome is upheld, varied or revoked", field="outcome")
    if data.outcome == AppealState.varied:
        if data.penalty_amount is None:
            raise Invalid("a varied decision gives the new penalty", field="penalty_amount")
        penalty_fen = to_fen(data.penalty_amount)
        penalty_text = data.penalty_text.strip() or letter.penalty_text
        if penalty_fen == letter.penalty_fen and penalty_text == letter.penalty_text:
            raise Invalid("the new penalty is the one appealed", field="penalty_amount")
        # The varied penalty is still within the decider's authority (6-4 applies to it too).
        needed = policy().route(
            total_penalty_yuan=to_yuan(penalty_fen) * len(finding.people), major=finding.major
        )
        if needed.rank > highest_rank(session, user=actor):
            raise Forbidden(
                f"a penalty of {to_yuan(penalty_fen)} yuan is approved by the general manager"
            )
    elif data.penalty_amount is not None:
        raise Invalid("only a varied decision gives a penalty", field="penalty_amount")
    if data.outcome == AppealState.revoked:
        penalty_fen, revoked = 0, True
    appeal.state = data.outcome
    appeal.decided_by = actor.id
    appeal.decided_at = clock.now()
    appeal.note = data.note.strip()
    session.add(appeal)
    _record(
        session,
        incident.id,
        APPEAL_DECIDED,
        f"appeal {appeal.id} against decision letter {letter.number} {data.outcome.value}",
        actor.id,
        {
            "finding": finding.id,
            "letter": letter.number,
            "appeal": appeal.id,
            "outcome": data.outcome.value,
        },
    )
    if data.outcome != AppealState.upheld:
        new = issue_letter(
            session,
            incident=incident,
            finding=finding,
            person=person,
            issuer=actor,
            penalty_fen=penalty_fen,
            penalty_text=penalty_text,
            team_names=team_names,
            revoked=revoked,
            appeal=appeal,
            previous=letter,
        )
        appeal.new_letter_id = new.id
        session.add(appeal)
    return appeal


def today() -> str:
    """Today in the organisation's time zone (the day letters are dated by)."""
    return clock.now().astimezone(_zone()).date().isoformat()
