"""What a campaign message is rendered from: the campaign's template and the context stored
with the campaign when it was made, and the recipient as the audience was drawn. Nothing here
reads a table; the sender, the preview and the check at creation all render the same way."""

from dataclasses import asdict, dataclass
from typing import Any

from incident_cmd.config import get_settings
from incident_cmd.i18n import Locale
from incident_cmd.messaging.channels import ChannelName
from incident_cmd.messaging.suppression import unsubscribe_url
from incident_cmd.messaging.templates import Rendered, sms_name, templates_for
from incident_cmd.public_links import status_url


@dataclass(frozen=True)
class NoticeContext:
    """What every message of a campaign says of its incident; stored as ``Campaign.context``."""

    incident_number: str | None = None
    incident_title: str | None = None

    def stored(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_stored(cls, stored: dict[str, Any]) -> "NoticeContext":
        return cls(**stored)


@dataclass(frozen=True)
class CampaignMessage:
    """One delivery's payload: the template it names and everything it is rendered from."""

    template: str
    locale: Locale
    name: str
    product: str | None
    batch: str | None
    notice: NoticeContext


# A recipient for checking and previewing a template: a name in the locale's own script,
# so that the preview's SMS encoding is the real one.
SAMPLE_ADDRESS = "sample@example.com"
SAMPLE_NAMES = {Locale.zh_CN: "张三", Locale.en: "Alex Smith"}
SAMPLE_PRODUCT, SAMPLE_BATCH = "PX-200", "B2026-11"


def sample(template: str, locale: Locale, notice: NoticeContext) -> CampaignMessage:
    return CampaignMessage(
        template=template,
        locale=locale,
        name=SAMPLE_NAMES[locale],
        product=SAMPLE_PRODUCT,
        batch=SAMPLE_BATCH,
        notice=notice,
    )


def template_context(
    message: CampaignMessage, *, channel: ChannelName, address: str
) -> dict[str, Any]:
    number = message.notice.incident_number
    email = channel == ChannelName.email
    context: dict[str, Any] = {
        "organisation": get_settings().organisation_name,
        "customer": {"name": message.name if email else sms_name(message.name)},
        "product": message.product or "",
        "batch": message.batch or "",
        "incident": {"number": number or "", "title": message.notice.incident_title or ""},
        "status_url": status_url(number),
    }
    if email:
        # Signing costs more than rendering; SMS opt-out is by reply, not by link.
        context["unsubscribe_url"] = unsubscribe_url(address)
    return context


def render(message: CampaignMessage, *, channel: ChannelName, address: str) -> Rendered:
    templates = templates_for(get_settings().template_dir)
    context = template_context(message, channel=channel, address=address)
    return templates.render(message.template, channel, message.locale, context)
