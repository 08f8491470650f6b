"""Page forms: what a form gives, validated as the API's schema would take it, and a refusal
(the schema's or the domain's) turned into a message next to the field at fault, in the
reader's language, with the status the page answers."""

from collections.abc import Callable, Collection, Mapping, Sequence
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from incident_cmd.auth.models import User
from incident_cmd.errors import DomainError, Invalid
from incident_cmd.i18n import Locale
from incident_cmd.web import translations
from incident_cmd.web.labels import N_

Gettext = Callable[[str], str]

REQUIRED = N_("Fill this in.")
TOO_LONG = N_("Too long: at most %(max)s characters.")
CHOOSE = N_("Choose one of the options.")
NUMBER = N_("Enter a number.")
NOT_ALLOWED = N_("Your role may not do this.")

FieldErrors = dict[str, str]
Model = TypeVar("Model", bound=BaseModel)


def gettext_for(user: User) -> Gettext:
    return translations.translations(Locale(user.locale)).gettext


class FormInvalid(Exception):
    """A form that does not validate: the message for each field (``""`` for the form)."""

    def __init__(self, errors: FieldErrors) -> None:
        super().__init__(errors)
        self.errors = errors


def filled(form: Mapping[str, Any], names: Sequence[str]) -> dict[str, str]:
    """The named fields the form gives, trimmed, left out when empty (the schema's default)."""
    values = {}
    for name in names:
        value = form.get(name)
        if isinstance(value, str) and value.strip():
            values[name] = value.strip()
    return values


def _worded(error: Mapping[str, Any], gettext: Gettext) -> str:
    kind = error["type"]
    if kind in ("missing", "string_too_short"):
        return gettext(REQUIRED)
    if kind == "string_too_long":
        return gettext(TOO_LONG) % {"max": error.get("ctx", {}).get("max_length", "")}
    if kind in ("enum", "literal_error"):
        return gettext(CHOOSE)
    if kind.startswith(("int_", "decimal_", "greater_than", "less_than")):
        return gettext(NUMBER)
    message = str(error["msg"])
    return message.removeprefix("Value error, ")


def validated(
    schema: type[Model],
    values: Mapping[str, Any],
    gettext: Gettext,
    *,
    whole_form_field: str = "",
    malformed: Mapping[str, str] | None = None,
) -> Model:
    """``values`` as ``schema``, or FormInvalid naming each field at fault; an error of the
    whole model (a rule across fields) is put next to ``whole_form_field``. ``malformed`` says
    (untranslated) what a field needs when it is given but wrong, for fields whose schema
    message (a pattern, a parser's words) would mean nothing to the reader."""
    try:
        return schema.model_validate(values)
    except ValidationError as exc:
        errors: FieldErrors = {}
        for error in exc.errors():
            field = str(error["loc"][0]) if error["loc"] else whole_form_field
            own = bool(error["loc"]) and error["type"] not in ("missing", "string_too_short")
            if own and field in (malformed or {}):
                errors.setdefault(field, gettext((malformed or {})[field]))
            errors.setdefault(field, _worded(error, gettext))
        raise FormInvalid(errors) from None


def field_errors(
    exc: DomainError | FormInvalid,
    *,
    fields: Collection[str] | None = None,
    aliases: Mapping[str, str] | None = None,
) -> FieldErrors:
    """The messages to show next to the form's fields: a form's own, or the domain's refusal
    next to the field it names (by its name in the form, ``aliases`` giving those that
    differ); at the top of the form (``""``) when it names none, or one not in ``fields``."""
    if isinstance(exc, FormInvalid):
        return exc.errors
    field = exc.field or ""
    field = (aliases or {}).get(field, field)
    if fields is not None and field not in fields:
        field = ""
    return {field: exc.message}


def error_status(exc: DomainError | FormInvalid | ValidationError) -> int:
    """A form that is wrong is a 400, as are the domain's own refusals of a value; a refusal
    of the person (403), of what the form names (404) or of its state (409) keeps its code."""
    if isinstance(exc, FormInvalid | ValidationError | Invalid):
        return 400
    return exc.status_code
