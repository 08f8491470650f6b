"""Message templates (Jinja2, one file per template, channel and locale) and SMS encoding."""

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined, TemplateError

from incident_cmd.errors import Invalid
from incident_cmd.i18n import LOCALES
from incident_cmd.messaging.channels import ChannelName

# GSM 03.38: the basic character set, and the extension table whose characters take two.
GSM_BASIC = set(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM_EXTENSION = set("^{}\\[~]|€\f")
# An SMS greets by name in a few words; a long name (up to the directory's 1,000 characters)
# would cost segments and push the notice itself out of the first one.
SMS_NAME_LENGTH = 20


@dataclass(frozen=True)
class Rendered:
    body: str
    subject: str | None = None
    html: str | None = None


@dataclass(frozen=True)
class SmsShape:
    encoding: str  # GSM-7 or UCS-2
    characters: int
    segments: int


def sms_name(name: str) -> str:
    return name if len(name) <= SMS_NAME_LENGTH else name[: SMS_NAME_LENGTH - 1] + "…"


def sms_shape(text: str) -> SmsShape:
    if all(char in GSM_BASIC or char in GSM_EXTENSION for char in text):
        units = sum(2 if char in GSM_EXTENSION else 1 for char in text)
        single, part, encoding = 160, 153, "GSM-7"
    else:
        units = len(text.encode("utf-16-le")) // 2
        single, part, encoding = 70, 67, "UCS-2"
    segments = 1 if units <= single else -(-units // part)
    return SmsShape(encoding=encoding, characters=units, segments=segments)


class MessageTemplates:
    """``messages/<template>.<channel>.<locale>.j2``. Email templates define the blocks
    ``subject``, ``text`` and ``html``; only ``html`` is HTML-escaped."""

    def __init__(self, template_dir: Path) -> None:
        loader = FileSystemLoader(template_dir / "messages")
        # Templates are read once per process: the dispatcher renders thousands a second.
        self._text = Environment(
            loader=loader, undefined=StrictUndefined, autoescape=False, auto_reload=False
        )
        self._html = Environment(
            loader=loader, undefined=StrictUndefined, autoescape=True, auto_reload=False
        )

    @staticmethod
    def file_name(template: str, channel: ChannelName, locale: str) -> str:
        return f"{template}.{channel}.{locale}.j2"

    def render(
        self, template: str, channel: ChannelName, locale: str, context: dict[str, Any]
    ) -> Rendered:
        name = self.file_name(template, channel, locale)
        try:
            if channel != ChannelName.email:
                return Rendered(body=self._text.get_template(name).render(context).strip())
            text_template = self._text.get_template(name)
            html_template = self._html.get_template(name)
            return Rendered(
                subject=_block(text_template, "subject", context).strip(),
                body=_block(text_template, "text", context).strip(),
                html=_block(html_template, "html", context).strip(),
            )
        except TemplateError as exc:
            raise Invalid(f"template {name} does not render: {exc}", field="template") from None

    def check(self, template: str, channel: ChannelName, context: dict[str, Any]) -> None:
        """Renders every locale for a sample recipient; refuses what would fail at send time."""
        for locale in LOCALES:
            self.render(template, channel, locale, context)


def _block(template, name: str, context: dict[str, Any]) -> str:
    if name not in template.blocks:
        raise Invalid(f"template {template.name} has no {{% block {name} %}}", field="template")
    return "".join(template.blocks[name](template.new_context(context)))


@lru_cache(maxsize=4)
def templates_for(template_dir: Path) -> MessageTemplates:
    return MessageTemplates(template_dir)
