from datetime import datetime

from pydantic import BaseModel, Field


class TimelineStarRead(BaseModel):
    """A timeline entry marked for the post-incident review."""

    event_id: int
    starred_by: str = Field(description="username of whoever starred it")
    starred_at: datetime
