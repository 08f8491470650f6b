"""Plan revisions (修订预案): a review proposes a change to its playbook's YAML, checked
as the loader checks it, and a duty manager accepts or rejects it."""

import difflib
from collections.abc import Sequence
from pathlib import Path

from sqlmodel import Session, col, select

from incident_cmd import clock
from incident_cmd.auth.models import User
from incident_cmd.config import get_settings
from incident_cmd.errors import Conflict, Forbidden, Invalid, NotFound
from incident_cmd.incidents.models import Incident
from incident_cmd.playbooks.loader import LoadedPlaybook, PlaybookInvalid, parse_playbook
from incident_cmd.postmortems import service
from incident_cmd.postmortems.models import PlanRevision, RevisionState

REVISION_PROPOSED = "postmortem.revision_proposed"
REVISION_ACCEPTED = "postmortem.revision_accepted"
REVISION_REJECTED = "postmortem.revision_rejected"


def _key_line(text: str) -> int:
    for number, line in enumerate(text.splitlines(), start=1):
        if line.startswith("key:"):
            return number
    return 1


def propose_revision(
    session: Session,
    *,
    incident: Incident,
    current: LoadedPlaybook,
    finding: str,
    text: str,
    actor: User,
    may_edit: bool,
) -> PlanRevision:
    """Keeps the proposed file text once the playbook loader accepts it as it would at
    startup; every problem is refused with its line and field, and nothing is kept."""
    service.may_write(incident, may_edit, "propose a playbook revision")
    service.ensure_open(incident)
    service.get_review(session, incident=incident)
    # Browsers send a textarea's lines ending in CRLF; the files end theirs in LF.
    text = text.replace("\r\n", "\n")
    if not text.endswith("\n"):
        text += "\n"
    name = current.path.name
    try:
        loaded = parse_playbook(text, Path(name), get_settings().template_dir)
    except PlaybookInvalid as exc:
        raise Invalid("; ".join(str(problem) for problem in exc.problems), field="text") from None
    if loaded.playbook.key != current.playbook.key:
        raise Invalid(
            f"{name}:{_key_line(text)}: key: a revision of {current.playbook.key!r} keeps its "
            f"key (not {loaded.playbook.key!r})",
            field="text",
        )
    if text == current_text(current.path):
        raise Invalid(f"the proposal is {name} as it is: nothing is revised", field="text")
    revision = PlanRevision(
        incident_id=incident.id,
        playbook_key=current.playbook.key,
        playbook_file=name,
        finding=finding.strip(),
        proposed_text=text,
        proposed_by=actor.id,
        proposed_at=clock.now(),
    )
    session.add(revision)
    session.flush()
    service.record(
        session,
        incident,
        REVISION_PROPOSED,
        f"playbook revision {revision.id} of {revision.playbook_key} proposed: {revision.finding}",
        actor.id,
        {"revision": revision.id, "playbook": revision.playbook_key, "finding": revision.finding},
    )
    return revision


def current_text(path: Path) -> str:
    """The file as it is now; empty when it is gone (the diff then adds it whole)."""
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return ""


def revision_diff(revision: PlanRevision) -> str:
    """The proposal as a unified diff against the playbook file as it is now, for a person
    to apply in git; empty once the file matches it."""
    directory = get_settings().playbook_dir
    path = directory / revision.playbook_file
    return "".join(
        difflib.unified_diff(
            current_text(path).splitlines(keepends=True),
            revision.proposed_text.splitlines(keepends=True),
            fromfile=f"a/{directory.name}/{revision.playbook_file}",
            tofile=f"b/{directory.name}/{revision.playbook_file}",
        )
    )


def revisions_of(session: Session, *, incident: Incident) -> Sequence[PlanRevision]:
    return session.exec(
        select(PlanRevision)
        .where(PlanRevision.incident_id == incident.id)
        .order_by(col(PlanRevision.id))
    ).all()


def _revision(session: Session, incident: Incident, revision_id: int) -> PlanRevision:
    revision = session.get(PlanRevision, revision_id)
    if revision is None or revision.incident_id != incident.id:
        raise NotFound(f"{incident.number} has no playbook revision {revision_id}")
    return revision


def decide_revision(
    session: Session,
    *,
    incident: Incident,
    revision_id: int,
    accept: bool,
    note: str,
    actor: User,
    may_decide: bool,
) -> PlanRevision:
    if not may_decide:
        raise Forbidden(
            f"only the commander of {incident.number} or a duty manager decides a playbook revision"
        )
    service.ensure_open(incident)
    revision = _revision(session, incident, revision_id)
    state = RevisionState.accepted if accept else RevisionState.rejected
    if revision.state == state:
        return revision
    if revision.state != RevisionState.proposed:
        raise Conflict(
            f"playbook revision {revision_id} is already {revision.state}", field="state"
        )
    revision.state = state
    revision.decided_by = actor.id
    revision.decided_at = clock.now()
    revision.decision_note = note.strip()
    session.add(revision)
    suffix = f": {revision.decision_note}" if revision.decision_note else ""
    service.record(
        session,
        incident,
        REVISION_ACCEPTED if accept else REVISION_REJECTED,
        f"playbook revision {revision.id} of {revision.playbook_key} {state}{suffix}",
        actor.id,
        {
            "revision": revision.id,
            "playbook": revision.playbook_key,
            "note": revision.decision_note,
        },
    )
    return revision
