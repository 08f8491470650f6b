"""Public statements: drafted by the spokesperson from the playbook's status templates,
approved by a second person (the commander or a duty manager), published as numbered
versions that never change afterwards. Who holds which seat on the incident's roster is
the incident's business: ``flows`` asks it and says so here."""

from collections.abc import Sequence

from sqlalchemy import update
from sqlmodel import Session, col, select

from incident_cmd import clock, numbering
from incident_cmd.auth.models import Role, User
from incident_cmd.errors import Conflict, Forbidden, Invalid, NotFound
from incident_cmd.incidents.models import SUBJECT as INCIDENT
from incident_cmd.incidents.models import Incident
from incident_cmd.playbooks.schema import Playbook, StatusTemplate
from incident_cmd.statements.models import Statement, StatementStage, StatementStatus
from incident_cmd.statements.schemas import StatementCorrection, StatementDraft
from incident_cmd.timeline import service as timeline

# The roster seat of the incident's spokesperson (seeds 002: 市场部 publishes) in every
# shipped playbook; people of the comms role speak for any incident.
SPOKESPERSON_SEAT = "comms_lead"
SPOKESPERSON_ROLES = (Role.admin, Role.comms)
# Besides the incident's commander (a roster seat, which flows looks up).
APPROVER_ROLES = (Role.admin, Role.duty_manager)


def template_for(playbook: Playbook, stage: StatementStage) -> StatusTemplate | None:
    """The playbook's template for the stage: the one keyed by the stage itself, else the
    first for its status-page equivalent (a recall stage in a playbook that has none)."""
    by_key = next((item for item in playbook.status_templates if item.key == stage.value), None)
    if by_key is not None:
        return by_key
    return next(
        (item for item in playbook.status_templates if item.status == stage.public_status), None
    )


def default_title(playbook: Playbook, incident: Incident) -> dict[str, str]:
    """The playbook's name, and the products in scope: never the incident's own title, which
    is written for the staff and may name a customer."""
    names = playbook.name.model_dump(by_alias=True)
    products = " ".join(incident.scope.get("products") or [])
    return {locale: f"{name} · {products}" if products else name for locale, name in names.items()}


def get_statement(session: Session, *, incident: Incident, statement_id: int) -> Statement:
    statement = session.get(Statement, statement_id)
    if statement is None or statement.incident_id != incident.id:
        raise NotFound(f"{incident.number} has no statement {statement_id}")
    return statement


def statements_of(session: Session, *, incident: Incident) -> Sequence[Statement]:
    """Every statement of the incident, newest first."""
    return session.exec(
        select(Statement)
        .where(Statement.incident_id == incident.id)
        .order_by(col(Statement.id).desc())
    ).all()


def _record(
    session: Session,
    statement: Statement,
    kind: str,
    summary: str,
    actor: User,
    data: dict[str, object],
    *,
    public: bool = False,
) -> None:
    timeline.append(
        session,
        subject_type=INCIDENT,
        subject_id=statement.incident_id,
        kind=kind,
        summary=summary,
        actor_id=actor.id,
        data={"statement_id": statement.id, "stage": statement.stage.value, **data},
        public=public,
    )


def may_draft(actor: User, *, speaks_for_incident: bool) -> bool:
    """``speaks_for_incident``: the actor holds the spokesperson's seat on the roster."""
    return actor.role in SPOKESPERSON_ROLES or speaks_for_incident


def may_approve(actor: User, *, commands: bool) -> bool:
    """``commands``: the actor holds the commander's seat on the roster. Whoever drafted a
    statement may still not approve that one."""
    return actor.role in APPROVER_ROLES or commands


def may_publish(actor: User, *, speaks_for_incident: bool, commands: bool) -> bool:
    return may_draft(actor, speaks_for_incident=speaks_for_incident) or may_approve(
        actor, commands=commands
    )


def _ensure_spokesperson(actor: User, *, speaks_for_incident: bool, incident: Incident) -> None:
    if not may_draft(actor, speaks_for_incident=speaks_for_incident):
        raise Forbidden(
            f"only the spokesperson drafts statements: the {SPOKESPERSON_SEAT} seat on the "
            f"roster of {incident.number} or someone of the comms role"
        )


def _template_key(template: StatusTemplate | None, text: dict[str, str]) -> str | None:
    """The template's key when the text is the template's, edited in no language."""
    if template is None or template.body.model_dump(by_alias=True) != text:
        return None
    return template.key


def draft(
    session: Session,
    *,
    incident: Incident,
    playbook: Playbook,
    data: StatementDraft,
    actor: User,
    speaks_for_incident: bool,
    corrects: Statement | None = None,
) -> Statement:
    """A draft in both languages; the text left out is the playbook's template for the
    stage."""
    _ensure_spokesperson(actor, speaks_for_incident=speaks_for_incident, incident=incident)
    template = template_for(playbook, data.stage)
    if data.text is not None:
        text = data.text.by_locale()
    elif template is not None:
        text = template.body.model_dump(by_alias=True)
    else:
        raise Invalid(
            f"playbook {playbook.key} has no status template for {data.stage.value}: "
            "write the text",
            field="text",
        )
    statement = Statement(
        incident_id=incident.id,
        stage=data.stage,
        status=StatementStatus.draft,
        title=data.title.by_locale() if data.title else default_title(playbook, incident),
        text=text,
        advice=data.advice.by_locale() if data.advice else {},
        template_key=_template_key(template, text),
        corrects_id=corrects.id if corrects is not None else None,
        drill=incident.drill,
        drafted_by=actor.id,
        drafted_at=clock.now(),
    )
    session.add(statement)
    session.flush()
    data_of_entry: dict[str, object] = {
        "template": statement.template_key,
        "title": statement.title,
    }
    if corrects is None:
        summary = f"statement drafted ({statement.stage.value})"
    else:
        summary = f"correction of statement version {corrects.version} drafted"
        data_of_entry["corrects_version"] = corrects.version
    _record(session, statement, "statement.drafted", summary, actor, data_of_entry)
    return statement


def correct(
    session: Session,
    *,
    incident: Incident,
    playbook: Playbook,
    corrected: Statement,
    data: StatementCorrection,
    actor: User,
    speaks_for_incident: bool,
) -> Statement:
    """A draft of a new version of a published statement: what it leaves out is the
    corrected statement's. The corrected statement itself stays as it was published."""
    if corrected.status != StatementStatus.published:
        raise Conflict(
            f"statement {corrected.id} is {corrected.status.value}: only a published "
            "statement is corrected; change a draft by drafting it again",
            field="statement",
        )
    texts = StatementDraft.model_validate(
        {
            "stage": data.stage or corrected.stage,
            "title": data.title or corrected.title,
            "text": data.text or corrected.text,
            "advice": data.advice or corrected.advice or None,
        }
    )
    return draft(
        session,
        incident=incident,
        playbook=playbook,
        data=texts,
        actor=actor,
        speaks_for_incident=speaks_for_incident,
        corrects=corrected,
    )


def _advance(
    session: Session,
    statement: Statement,
    *,
    expected: StatementStatus,
    target: StatementStatus,
    **values: object,
) -> None:
    """Moves the statement on only if it is still where the caller saw it: of two people
    approving or publishing at once, one does it and the other is told."""
    moved = session.exec(
        update(Statement)
        .where(col(Statement.id) == statement.id, col(Statement.status) == expected)
        .values(status=target, **values)
    ).rowcount
    session.refresh(statement)
    if moved != 1:
        raise Conflict(
            f"statement {statement.id} is {statement.status.value}, not {expected.value}",
            field="statement",
        )


def approve(
    session: Session, *, incident: Incident, statement: Statement, actor: User, commands: bool
) -> Statement:
    if not may_approve(actor, commands=commands):
        raise Forbidden(
            f"only the commander of {incident.number} or a duty manager approves statements"
        )
    if actor.id == statement.drafted_by:
        raise Forbidden("a statement needs a second person: whoever drafted it may not approve it")
    if statement.status != StatementStatus.draft:
        raise Conflict(
            f"statement {statement.id} is {statement.status.value}; only a draft is approved",
            field="statement",
        )
    _advance(
        session,
        statement,
        expected=StatementStatus.draft,
        target=StatementStatus.approved,
        approved_by=actor.id,
        approved_at=clock.now(),
    )
    _record(
        session,
        statement,
        "statement.approved",
        "statement approved",
        actor,
        {"title": statement.title},
    )
    return statement


def publish(
    session: Session,
    *,
    incident: Incident,
    statement: Statement,
    actor: User,
    speaks_for_incident: bool,
    commands: bool,
) -> Statement:
    """Publishes an approved statement as the incident's next version. The spokesperson
    publishes, or whoever may approve."""
    if not may_publish(actor, speaks_for_incident=speaks_for_incident, commands=commands):
        raise Forbidden(
            f"only the spokesperson, the commander of {incident.number} or a duty manager "
            "publishes statements"
        )
    if statement.status != StatementStatus.approved:
        raise Conflict(
            f"statement {statement.id} is {statement.status.value}; it is published once approved",
            field="statement",
        )
    version = numbering.next_value(session, f"statement-version:{incident.id}")
    _advance(
        session,
        statement,
        expected=StatementStatus.approved,
        target=StatementStatus.published,
        version=version,
        published_by=actor.id,
        published_at=clock.now(),
    )
    corrected = session.get(Statement, statement.corrects_id) if statement.corrects_id else None
    _record(
        session,
        statement,
        "statement.published",
        f"statement version {version} published"
        + (f", correcting version {corrected.version}" if corrected else ""),
        actor,
        {
            "version": version,
            "corrects_version": corrected.version if corrected else None,
            "title": statement.title,
        },
        public=not statement.drill,
    )
    return statement
