"""Accountability as people take it up: the incident (and its roster) says who may propose a
finding, the directory who the people and departments are; the service keeps the rules.

Who reads what. The people concerned, the facts and the money are personal data (seed 002
保密原则 keeps customers' data to those who need it; staff penalties no less): they are read
by duty managers, admins, the holders of an approving authority, the finding's proposer and
the people it concerns (each reads only their own letters, the others every letter). Everyone
else on the staff, viewers included, sees that a finding exists, its departments, route and
state."""

from collections.abc import Sequence
from dataclasses import dataclass

from sqlmodel import Session

from incident_cmd.accountability import service
from incident_cmd.accountability.models import Authority, Finding, Letter
from incident_cmd.accountability.policy import policy
from incident_cmd.accountability.schemas import (
    AccountabilityRead,
    AppealDecision,
    AppealRead,
    FindingCreate,
    FindingRead,
    LetterRead,
)
from incident_cmd.auth import service as auth_service
from incident_cmd.auth.models import Role, User
from incident_cmd.errors import Forbidden, Invalid, NotFound
from incident_cmd.i18n import Locale
from incident_cmd.incidents import service as incident_service
from incident_cmd.incidents.models import Incident
from incident_cmd.teams import service as team_service

MANAGERS = frozenset({Role.duty_manager, Role.admin})


@dataclass(frozen=True)
class Access:
    propose: bool
    authorities: frozenset[Authority]
    manager: bool  # reads every finding in full


def access(session: Session, *, incident: Incident, actor: User) -> Access:
    authorities = frozenset(service.authorities_of(session, user=actor))
    on_roster = any(
        seat.user_id == actor.id
        for seat in incident_service.current_roster(session, incident=incident)
    )
    manager = actor.role in MANAGERS or bool(authorities)
    return Access(
        propose=actor.role != Role.viewer and (manager or on_roster),
        authorities=authorities,
        manager=manager,
    )


def _team_names(session: Session) -> dict[str, str]:
    return {team.key: team.name for team in team_service.list_teams(session)}


def _people(session: Session, usernames: Sequence[str]) -> list[User]:
    people = []
    for username in dict.fromkeys(usernames):
        try:
            person = auth_service.get_user_by_username(session, username=username)
        except NotFound as exc:
            raise Invalid(exc.message, field="people") from None
        if not person.active:
            raise Invalid(f"user {username!r} is deactivated", field="people")
        people.append(person)
    return people


def _users(session: Session, ids: Sequence[int]) -> list[User]:
    return [auth_service.get_user(session, user_id=user_id) for user_id in ids]


def propose(session: Session, *, incident_id: int, data: FindingCreate, actor: User) -> Finding:
    incident = incident_service.get_incident(session, incident_id=incident_id)
    known = _team_names(session)
    unknown = [key for key in data.departments if key not in known]
    if unknown:
        raise Invalid(f"no team {', '.join(unknown)}", field="departments")
    return service.propose(
        session,
        incident=incident,
        data=data,
        people=_people(session, data.people),
        actor=actor,
        may_propose=access(session, incident=incident, actor=actor).propose,
    )


def approve(
    session: Session, *, incident_id: int, finding_id: int, note: str, actor: User
) -> list[Letter]:
    incident = incident_service.get_incident(session, incident_id=incident_id)
    finding = service.get_finding(session, incident=incident, finding_id=finding_id)
    return service.approve(
        session,
        incident=incident,
        finding=finding,
        note=note,
        actor=actor,
        people=_users(session, finding.people),
        team_names=_team_names(session),
    )


def reject(
    session: Session, *, incident_id: int, finding_id: int, note: str, actor: User
) -> Finding:
    incident = incident_service.get_incident(session, incident_id=incident_id)
    finding = service.get_finding(session, incident=incident, finding_id=finding_id)
    return service.reject(session, incident=incident, finding=finding, note=note, actor=actor)


def file_appeal(
    session: Session,
    *,
    incident_id: int,
    finding_id: int,
    letter_id: int,
    reason: str,
    actor: User,
) -> None:
    incident = incident_service.get_incident(session, incident_id=incident_id)
    finding = service.get_finding(session, incident=incident, finding_id=finding_id)
    letter = service.get_letter(session, finding=finding, letter_id=letter_id)
    service.file_appeal(
        session, incident=incident, finding=finding, letter=letter, reason=reason, actor=actor
    )


def decide_appeal(
    session: Session,
    *,
    incident_id: int,
    finding_id: int,
    appeal_id: int,
    data: AppealDecision,
    actor: User,
) -> None:
    incident = incident_service.get_incident(session, incident_id=incident_id)
    finding = service.get_finding(session, incident=incident, finding_id=finding_id)
    appeal = service.get_appeal(session, finding=finding, appeal_id=appeal_id)
    service.decide_appeal(
        session,
        incident=incident,
        finding=finding,
        appeal=appeal,
        data=data,
        actor=actor,
        person=auth_service.get_user(session, user_id=appeal.appellant_id),
        team_names=_team_names(session),
    )


def _detail(finding: Finding, actor: User, may: Access) -> bool:
    return may.manager or actor.id == finding.proposed_by or actor.id in finding.people


def letter(
    session: Session, *, incident_id: int, finding_id: int, letter_id: int, actor: User
) -> Letter:
    """A letter, for its addressee and those who read every finding in full."""
    incident = incident_service.get_incident(session, incident_id=incident_id)
    finding = service.get_finding(session, incident=incident, finding_id=finding_id)
    found = service.get_letter(session, finding=finding, letter_id=letter_id)
    may = access(session, incident=incident, actor=actor)
    if not (may.manager or actor.id == finding.proposed_by or actor.id == found.user_id):
        raise Forbidden(f"letter {found.number} is read by the person it is addressed to")
    return found


def accountability_read(
    session: Session, *, incident_id: int, actor: User, locale: Locale | str
) -> AccountabilityRead:
    incident = incident_service.get_incident(session, incident_id=incident_id)
    may = access(session, incident=incident, actor=actor)
    findings = service.findings_of(session, incident=incident)
    read = []
    for finding in findings:
        letters = service.letters_of(session, finding=finding)
        appeals = service.appeals_of(session, finding=finding)
        names = auth_service.usernames(
            session,
            ids={finding.proposed_by, finding.decided_by, *finding.people}
            | {letter.user_id for letter in letters}
            | {letter.issued_by for letter in letters}
            | {appeal.appellant_id for appeal in appeals}
            | {appeal.decided_by for appeal in appeals},
        )
        item = FindingRead(
            id=finding.id,
            incident_id=incident.id,
            state=finding.state,
            route=finding.route,
            major=finding.major,
            departments=finding.departments,
            proposed_by=names[finding.proposed_by],
            proposed_at=finding.proposed_at,
            decided_by=names.of(finding.decided_by),
            decided_at=finding.decided_at,
            detail=_detail(finding, actor, may),
        )
        if item.detail:
            numbers = {letter.id: letter.number for letter in letters}
            mine = may.manager or actor.id == finding.proposed_by
            shown = [letter for letter in letters if mine or letter.user_id == actor.id]
            item = item.model_copy(
                update={
                    "people": [names[person] for person in finding.people],
                    "facts": finding.facts,
                    "loss_amount": service.to_yuan(finding.loss_fen),
                    "penalty_amount": service.to_yuan(finding.penalty_fen),
                    "penalty_total": service.to_yuan(finding.penalty_fen * len(finding.people)),
                    "penalty_kind": finding.penalty_kind,
                    "penalty_text": finding.penalty_text,
                    "decision_note": finding.decision_note,
                    "letters": [
                        LetterRead(
                            id=letter.id,
                            number=letter.number,
                            person=names[letter.user_id],
                            version=letter.version,
                            penalty_amount=service.to_yuan(letter.penalty_fen),
                            penalty_text=letter.penalty_text,
                            revoked=letter.revoked,
                            issued_by=names[letter.issued_by],
                            issued_at=letter.issued_at,
                            appeal_until=letter.appeal_until,
                            superseded=letter.superseded_at is not None,
                            text=service.letter_text(letter, locale),
                        )
                        for letter in shown
                    ],
                    "appeals": [
                        AppealRead(
                            id=appeal.id,
                            letter=numbers[appeal.letter_id],
                            appellant=names[appeal.appellant_id],
                            reason=appeal.reason,
                            filed_at=appeal.filed_at,
                            state=appeal.state,
                            decided_by=names.of(appeal.decided_by),
                            decided_at=appeal.decided_at,
                            note=appeal.note,
                            new_letter=numbers.get(appeal.new_letter_id)
                            if appeal.new_letter_id
                            else None,
                        )
                        for appeal in appeals
                        if mine or appeal.appellant_id == actor.id
                    ],
                }
            )
        read.append(item)
    return AccountabilityRead(
        incident_id=incident.id,
        number=incident.number,
        threshold=policy().threshold_yuan,
        findings=read,
    )
