from datetime import datetime
from typing import Any

from pydantic import BaseModel


class ReportSummary(BaseModel):
    number: int
    compiled_at: datetime
    scheduled: bool
    requested_by: str | None


class ReportRead(ReportSummary):
    content: dict[str, Any]
