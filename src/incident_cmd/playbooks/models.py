from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Column
from sqlmodel import Field, SQLModel

from incident_cmd.columns import UTCDateTime


class PlaybookVersion(SQLModel, table=True):
    """A playbook exactly as an incident was declared from it; never changed afterwards."""

    __tablename__ = "playbook_versions"

    content_hash: str = Field(primary_key=True, max_length=64)
    key: str = Field(max_length=64, index=True)
    snapshot: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    first_seen_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
