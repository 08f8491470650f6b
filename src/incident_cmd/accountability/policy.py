"""The accountability rules of the organisation (config/accountability.yaml): the amount that
divides 综合部's approvals from the general manager's, who holds each authority, and the appeal
route printed in every decision letter. Read again when the file changes, like the
service-level file."""

from datetime import date
from decimal import Decimal
from functools import lru_cache
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from incident_cmd.accountability.models import Authority
from incident_cmd.config import ConfigurationError, FileStamp, file_stamp, get_settings
from incident_cmd.i18n import Locale


class Policy(BaseModel):
    model_config = ConfigDict(extra="forbid")

    threshold_yuan: Decimal = Field(gt=0, le=Decimal("100000000"), decimal_places=2)
    authorities: dict[Authority, str] = Field(description="authority -> team key")
    appeal_within_days: int = Field(ge=1, le=365)
    appeal_route: dict[Locale, str]

    @field_validator("authorities")
    @classmethod
    def _every_authority(cls, value: dict[Authority, str]) -> dict[Authority, str]:
        missing = set(Authority) - set(value)
        if missing:
            raise ValueError(f"missing {', '.join(sorted(missing))}")
        return value

    @field_validator("appeal_route")
    @classmethod
    def _every_language(cls, value: dict[Locale, str]) -> dict[Locale, str]:
        missing = set(Locale) - set(value)
        if missing:
            raise ValueError(f"missing {', '.join(sorted(missing))}")
        for locale, text in value.items():
            if "{deadline}" not in text:
                raise ValueError(f"{locale}: the text must say {{deadline}}")
        return value

    def route(self, *, total_penalty_yuan: Decimal, major: bool) -> Authority:
        """Seed 001 6-4 「5000元以下由综合部核准,5000元以上由总经理核准」: below the threshold
        综合部, at or above it the general manager (the file's header says why 5,000 itself
        is the general manager's); 6-3 「总经理最终裁定重大投诉案件的处罚决定」: a major case is
        always the general manager's, whatever the amount."""
        if major or total_penalty_yuan >= self.threshold_yuan:
            return Authority.general_manager
        return Authority.general_affairs

    def appeal_text(self, locale: Locale, deadline: date) -> str:
        return self.appeal_route[locale].replace("{deadline}", deadline.isoformat())


def parse(text: str, source: str) -> Policy:
    try:
        return Policy.model_validate(yaml.safe_load(text))
    except yaml.YAMLError as exc:
        raise ConfigurationError(f"{source}: not valid YAML: {exc}") from None
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(part) for part in error['loc'])}: {error['msg']}"
            for error in exc.errors()
        )
        raise ConfigurationError(f"{source}: {problems}") from None


@lru_cache(maxsize=4)
def _load(path: Path, stamp: FileStamp) -> Policy:
    return parse(path.read_text(encoding="utf-8"), str(path))


def policy() -> Policy:
    path = Path(get_settings().accountability_file)
    return _load(path, file_stamp(path, "accountability file"))
