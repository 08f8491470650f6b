"""The half-yearly satisfaction survey. Seeds 001 8-2-3 「市场营销部每半年对客户进行一次客户满意
度调查」: at the start of each half-year the customers whose complaints were closed in the
half-year before are asked, by SMS, how satisfied they are with our after-sales service.

It goes through the campaign engine like any notice, so the audience is drawn in the
database, quiet hours hold messages until the recipient's morning and opted-out or
suppressed numbers get nothing; the replies (1-5) are recorded against each message as
reply keywords. Half-years are counted in the organisation's time zone. It runs once per
half-year across all workers: the calendar run's unique (job, period) row decides."""

from datetime import datetime
from zoneinfo import ZoneInfo

from sqlmodel import Session

from incident_cmd import clock
from incident_cmd.campaigns import service
from incident_cmd.campaigns.schemas import Audience, CampaignCreate
from incident_cmd.config import get_settings
from incident_cmd.db import table_of, upsert_insert
from incident_cmd.messaging.channels import ChannelName
from incident_cmd.tickets.models import CalendarRun

JOB = "semiannual-survey"
TEMPLATE = "satisfaction_survey"
REPLIES = {
    "1": {"zh-CN": "非常不满意", "en": "very dissatisfied"},
    "2": {"zh-CN": "不满意", "en": "dissatisfied"},
    "3": {"zh-CN": "一般", "en": "neither"},
    "4": {"zh-CN": "满意", "en": "satisfied"},
    "5": {"zh-CN": "非常满意", "en": "very satisfied"},
}


def half_year_before(moment: datetime) -> tuple[str, datetime, datetime]:
    """The half-year before the one ``moment`` falls in: its name (``2026-H1``) and bounds,
    midnight to midnight in the organisation's zone."""
    zone = ZoneInfo(get_settings().default_timezone)
    local = moment.astimezone(zone)
    if local.month <= 6:
        year = local.year - 1
        return (
            f"{year}-H2",
            datetime(year, 7, 1, tzinfo=zone),
            datetime(local.year, 1, 1, tzinfo=zone),
        )
    year = local.year
    return f"{year}-H1", datetime(year, 1, 1, tzinfo=zone), datetime(year, 7, 1, tzinfo=zone)


def run_semiannual_survey(session: Session) -> int:
    """Calendar job: the survey campaign for the half-year just ended, once."""
    period, start, end = half_year_before(clock.now())
    runs = table_of(CalendarRun)
    inserted = session.execute(
        upsert_insert(session, runs)
        .values(job=JOB, period=period, ran_at=clock.now(), result={})
        .on_conflict_do_nothing(index_elements=["job", "period"])
        .returning(runs.c.id)
    ).scalar()
    if inserted is None:
        return 0
    campaign = service.create_calendar_campaign(
        session,
        data=CampaignCreate(
            name=f"Satisfaction survey {period}",
            channel=ChannelName.sms,
            template=TEMPLATE,
            audience=Audience(rule="closed_tickets", closed_from=start, closed_until=end),
            reply_keywords=REPLIES,
        ),
        reason=f"the half-yearly satisfaction survey of {period}",
    )
    run = session.get_one(CalendarRun, inserted)
    run.result = {
        "campaign_id": campaign.id,
        "closed_from": start.isoformat(),
        "closed_until": end.isoformat(),
    }
    session.add(run)
    return 1
