"""An incident's public statements for the staff (``/incidents/{id}/statements``): the draft
form, filled from the playbook's status template for the stage chosen (or from the published
version being corrected), the statements waiting for a second person's approval or for
publication, and every published version.

Each form calls the same flow, with the same rules, as the API (``statements/api.py``); a
refusal is shown next to the field it names, with nothing changed; a form that went through
leads back to the page."""

from collections.abc import Mapping
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Form, Request, status
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlmodel import Session

from incident_cmd.auth import service as auth_service
from incident_cmd.auth.models import User
from incident_cmd.config import get_settings
from incident_cmd.deps import SessionDep
from incident_cmd.errors import DomainError
from incident_cmd.incidents import service as incident_service
from incident_cmd.incidents.models import Incident
from incident_cmd.statements import flows
from incident_cmd.statements import service as statement_service
from incident_cmd.statements.models import Statement, StatementStage, StatementStatus
from incident_cmd.statements.schemas import StatementCorrection, StatementDraft
from incident_cmd.web.api import PageUser, templates
from incident_cmd.web.forms import (
    FieldErrors,
    FormInvalid,
    error_status,
    field_errors,
    gettext_for,
    validated,
)
from incident_cmd.web.labels import N_
from incident_cmd.web.security import csrf_protect
from incident_cmd.web.status_pages import STAGES

router = APIRouter(tags=["web"], include_in_schema=False, dependencies=[Depends(csrf_protect)])

# Each text is two inputs, <text>_zh and <text>_en.
TEXTS = ("title", "text", "advice")
LOCALE_OF_SUFFIX = {"zh": "zh-CN", "en": "en"}
FORM_FIELDS = ("stage", *TEXTS, "statement")

STATUSES = {StatementStatus.draft: N_("Draft"), StatementStatus.approved: N_("Approved")}
ADVICE_PAIR = N_("Write the advice in both languages, or in neither.")


def _values_of(statement_texts: Mapping[str, Mapping[str, str]]) -> dict[str, str]:
    return {
        f"{name}_{suffix}": statement_texts[name].get(locale, "")
        for name in TEXTS
        for suffix, locale in LOCALE_OF_SUFFIX.items()
    }


def _prefilled(
    session: Session, incident: Incident, stage: StatementStage, corrected: Statement | None
) -> tuple[dict[str, str], bool]:
    """The draft form's texts, and whether the playbook had a template for the stage."""
    if corrected is not None:
        texts = {"title": corrected.title, "text": corrected.text, "advice": corrected.advice}
        return _values_of(texts), True
    playbook = incident_service.playbook_of(session, incident)
    template = statement_service.template_for(playbook, stage)
    texts = {
        "title": statement_service.default_title(playbook, incident),
        "text": template.body.model_dump(by_alias=True) if template else {},
        "advice": {},
    }
    return _values_of(texts), template is not None


def _stage(value: str | None, default: StatementStage) -> StatementStage:
    try:
        return StatementStage(value) if value else default
    except ValueError:
        return default


def _page(
    request: Request,
    session: Session,
    user: User,
    incident_id: int,
    *,
    stage: str | None = None,
    correct: int | None = None,
    values: dict[str, str] | None = None,
    errors: FieldErrors | None = None,
    status_code: int = status.HTTP_200_OK,
) -> Response:
    incident, statements = flows.statements(session, incident_id=incident_id)
    published = [item for item in statements if item.status == StatementStatus.published]
    corrected = next((item for item in published if item.id == correct), None)
    latest_stage = published[0].stage if published else StatementStage.investigating
    chosen = corrected.stage if corrected else _stage(stage, latest_stage)
    prefilled, has_template = _prefilled(session, incident, chosen, corrected)
    names = auth_service.usernames(
        session,
        ids={
            person
            for item in statements
            for person in (item.drafted_by, item.approved_by, item.published_by)
        },
    )
    versions = {item.id: item.version for item in published}
    corrected_by = {item.corrects_id: item.version for item in published if item.corrects_id}
    return templates().TemplateResponse(
        request,
        "statements.html",
        {
            "organisation": get_settings().organisation_name,
            "user": user,
            "incident": incident,
            "may": flows.permissions(session, incident=incident, actor=user),
            "customers_in_scope": flows.customers_in_scope(session, incident=incident),
            "stages": STAGES,
            "statuses": STATUSES,
            "stage": chosen,
            "corrected": corrected,
            "has_template": has_template,
            "values": values if values is not None else prefilled,
            "errors": errors or {},
            "pending": [item for item in statements if item.status != StatementStatus.published],
            "published": published,
            "versions": versions,
            "corrected_by": corrected_by,
            "names": names,
        },
        status_code=status_code,
    )


@router.get("/incidents/{incident_id}/statements", response_class=HTMLResponse)
def statements_page(
    incident_id: int,
    request: Request,
    session: SessionDep,
    user: PageUser,
    stage: str | None = None,
    correct: int | None = None,
) -> Response:
    return _page(request, session, user, incident_id, stage=stage, correct=correct)


def _texts(form: Mapping[str, str]) -> dict[str, Any]:
    """The form's texts as the API takes them; advice left empty in both languages is none."""
    texts: dict[str, Any] = {
        name: {locale: form[f"{name}_{suffix}"] for suffix, locale in LOCALE_OF_SUFFIX.items()}
        for name in TEXTS
    }
    if not any(text.strip() for text in texts["advice"].values()):
        texts["advice"] = None
    return texts


Text = Annotated[str, Form(max_length=5000)]


@router.post("/incidents/{incident_id}/statements")
def draft_statement(
    incident_id: int,
    request: Request,
    session: SessionDep,
    user: PageUser,
    stage: Annotated[str, Form(max_length=32)] = "",
    corrects: Annotated[int | None, Form()] = None,
    title_zh: Text = "",
    title_en: Text = "",
    text_zh: Text = "",
    text_en: Text = "",
    advice_zh: Text = "",
    advice_en: Text = "",
) -> Response:
    form = {
        "title_zh": title_zh,
        "title_en": title_en,
        "text_zh": text_zh,
        "text_en": text_en,
        "advice_zh": advice_zh,
        "advice_en": advice_en,
    }
    texts = _texts(form)
    gettext = gettext_for(user)
    try:
        if texts["advice"] is not None and not all(
            value.strip() for value in texts["advice"].values()
        ):
            raise FormInvalid({"advice": gettext(ADVICE_PAIR)})
        if corrects is None:
            data = validated(StatementDraft, {"stage": stage, **texts}, gettext)
            statement = flows.draft(session, incident_id=incident_id, data=data, actor=user)
        else:
            correction = validated(StatementCorrection, {"stage": stage, **texts}, gettext)
            statement = flows.correct(
                session,
                incident_id=incident_id,
                statement_id=corrects,
                data=correction,
                actor=user,
            )
        session.flush()
    except (DomainError, FormInvalid) as exc:
        session.rollback()
        return _page(
            request,
            session,
            user,
            incident_id,
            stage=stage,
            correct=corrects,
            values=form,
            errors=field_errors(exc, fields=FORM_FIELDS),
            status_code=error_status(exc),
        )
    return RedirectResponse(
        f"/incidents/{incident_id}/statements#statement-{statement.id}",
        status_code=status.HTTP_303_SEE_OTHER,
    )


@router.post("/incidents/{incident_id}/statements/{statement_id}/{verb}")
def statement_step(
    incident_id: int,
    statement_id: int,
    verb: Literal["approve", "publish"],
    request: Request,
    session: SessionDep,
    user: PageUser,
    notify_customers: Annotated[str, Form(max_length=8)] = "",
) -> Response:
    """Publishing also drafts a notice to the customers in scope when the box is ticked."""
    try:
        if verb == "publish":
            flows.publish(
                session,
                incident_id=incident_id,
                statement_id=statement_id,
                actor=user,
                notify_customers=bool(notify_customers),
            )
        else:
            flows.approve(session, incident_id=incident_id, statement_id=statement_id, actor=user)
        session.flush()
    except DomainError as exc:
        session.rollback()
        errors: FieldErrors = {f"statement-{statement_id}": exc.message}
        return _page(
            request, session, user, incident_id, errors=errors, status_code=error_status(exc)
        )
    return RedirectResponse(
        f"/incidents/{incident_id}/statements#statement-{statement_id}",
        status_code=status.HTTP_303_SEE_OTHER,
    )
