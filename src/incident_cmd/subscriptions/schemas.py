from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from incident_cmd.auth.schemas import normalise_phone
from incident_cmd.customers.schemas import SingleLine, check_email
from incident_cmd.i18n import Locale
from incident_cmd.messaging.channels import ChannelName


def check_contact(value: str) -> str:
    """An email address (lower-cased) or a mobile number (E.164), told apart by the @."""
    value = value.strip()
    return check_email(value) if "@" in value else normalise_phone(value)


Contact = Annotated[str, Field(min_length=1, max_length=320), AfterValidator(check_contact)]


class SubscriptionAsk(BaseModel):
    """What the subscribe form asks for: one incident (by its public number) or one product
    line, to be sent to an email address or a mobile number, in a language."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    address: Contact
    locale: Locale
    incident: str | None = Field(default=None, max_length=32)
    product: SingleLine | None = Field(default=None, max_length=100)

    @model_validator(mode="after")
    def _one_topic(self) -> "SubscriptionAsk":
        if (self.incident is None) == (self.product is None):
            raise ValueError("choose an incident or a product line")
        return self

    @property
    def channel(self) -> ChannelName:
        return ChannelName.email if "@" in self.address else ChannelName.sms
