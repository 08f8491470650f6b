"""The pages' languages: which one a request gets, and the Babel catalogs that translate them.

The catalogs are the ``.po`` files in ``locales/<language>/LC_MESSAGES/messages.po``; each is
compiled in memory the first time a page needs it (no ``.mo`` files, no build step).

A page is in the language of the person it is for: a signed-in user's stored locale (a
template context with a ``user``), or a ``locale`` the route put in the context (a link page
addressed to one person); otherwise the browser's choice in the language switch (the
``icmd_locale`` cookie), else its Accept-Language, else the configured default.
"""

from collections.abc import Mapping
from functools import cache
from io import BytesIO
from pathlib import Path
from typing import Any

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import Translations
from jinja2 import Environment, pass_context
from jinja2.runtime import Context
from markupsafe import Markup
from starlette.requests import Request

from incident_cmd.config import get_settings
from incident_cmd.i18n import LOCALES, Locale
from incident_cmd.web.labels import N_, kind_name, label_of, notice_name

LOCALES_DIR = Path(__file__).parent / "locales"
LOCALE_COOKIE = "icmd_locale"
# Each language named in itself, as the switch shows it to someone who cannot read the other.
LANGUAGE_NAMES: Mapping[Locale, str] = {Locale.zh_CN: "中文", Locale.en: "English"}


def catalog_path(locale: Locale) -> Path:
    return LOCALES_DIR / locale.value.replace("-", "_") / "LC_MESSAGES" / "messages.po"


@cache
def translations(locale: Locale) -> Translations:
    with catalog_path(locale).open("rb") as po:
        catalog = read_po(po, locale=locale.value.replace("-", "_"))
    compiled = BytesIO()
    write_mo(compiled, catalog)  # fuzzy entries are left out, as msgfmt does
    compiled.seek(0)
    return Translations(compiled)


def load_catalogs() -> None:
    """Compiles every catalog now, so a broken one stops the app at startup, not a page."""
    for locale in LOCALES:
        translations(locale)


def parse_locale(value: str | None) -> Locale | None:
    try:
        return Locale(value) if value else None
    except ValueError:
        return None


def accepted_locale(header: str) -> Locale | None:
    """The first language of an Accept-Language header that the pages speak, by weight; any
    Chinese is served Simplified Chinese."""
    weighted: list[tuple[float, int, str]] = []
    for position, part in enumerate(header.split(",")):
        tag, _, parameters = part.strip().partition(";")
        weight = 1.0
        for parameter in parameters.split(";"):
            name, _, value = parameter.strip().partition("=")
            if name == "q":
                try:
                    weight = float(value)
                except ValueError:
                    weight = 0.0
        if tag and weight > 0:
            weighted.append((-weight, position, tag.lower()))
    for _, _, tag in sorted(weighted):
        language = tag.split("-")[0]
        if language == "zh":
            return Locale.zh_CN
        if language == "en":
            return Locale.en
    return None


def requested_locale(request: Request) -> Locale:
    """The language for someone not signed in."""
    return (
        parse_locale(request.cookies.get(LOCALE_COOKIE))
        or accepted_locale(request.headers.get("accept-language", ""))
        or get_settings().default_locale
    )


def page_locale_of(context: Context) -> Locale:
    explicit = context.get("locale")
    if isinstance(explicit, Locale):
        return explicit
    user = context.get("user")
    if user is not None:
        return Locale(user.locale)
    return requested_locale(context["request"])


@pass_context
def _page_locale(context: Context) -> Locale:
    return page_locale_of(context)


@pass_context
def _gettext(context: Context, message: str) -> str:
    return translations(page_locale_of(context)).gettext(message)


@pass_context
def _ngettext(context: Context, singular: str, plural: str, count: int) -> str:
    return translations(page_locale_of(context)).ngettext(singular, plural, count)


@pass_context
def _bilingual(context: Context, message: str, **variables: Any) -> Markup:
    """``message`` in the page's language, then in the other: for a page whose reader the
    server cannot know (a paging link forwarded or opened on someone else's phone). Mark the
    message with ``N_`` so it is extracted."""
    first = page_locale_of(context)
    ordered = (first, *(locale for locale in LOCALES if locale != first))
    # The catalogs are ours, trusted as the templates are; the values are escaped.
    return Markup(" · ").join(
        Markup('<span lang="{}">{}</span>').format(
            locale, Markup(translations(locale).gettext(message)) % variables
        )
        for locale in ordered
    )


@pass_context
def _label(context: Context, value: str, kind: str | None = None) -> str:
    """An enum value (a role, a status…) as the page's language says it."""
    return translations(page_locale_of(context)).gettext(label_of(value, kind))


@pass_context
def _kind_name(context: Context, kind: str) -> str:
    """An incident kind as the page's language says it (``labels.kind_name``), named by the
    playbooks this process serves."""
    locale = page_locale_of(context)
    playbooks = context["request"].app.state.playbooks.of_kind(kind)
    return kind_name(kind, playbooks, locale, translations(locale).gettext)


@pass_context
def _notice_name(context: Context, campaign: Any) -> str:
    """A campaign's name in the page's language (see ``labels.notice_name``)."""
    gettext = translations(page_locale_of(context)).gettext
    return notice_name(campaign.plan_key, campaign.name, gettext)


def install(env: Environment) -> None:
    """``{% trans %}`` and ``_()`` in the language of the page; ``page_locale()`` for
    ``<html lang>``; ``value | label`` for enum values; ``incident.kind | kind_name``;
    ``campaign | notice_name``; ``bilingual(N_("..."))``."""
    env.add_extension("jinja2.ext.i18n")
    # Jinja's i18n extension calls these through the template context, so a pass_context
    # function sees the page being rendered (and so its language).
    env.install_gettext_callables(  # type: ignore[attr-defined]  # added by the extension
        gettext=_gettext, ngettext=_ngettext, newstyle=True
    )
    env.globals["page_locale"] = _page_locale
    env.globals["bilingual"] = _bilingual
    env.globals["N_"] = N_
    env.globals["language_names"] = LANGUAGE_NAMES
    env.filters["label"] = _label
    env.filters["notice_name"] = _notice_name
    env.filters["kind_name"] = _kind_name
