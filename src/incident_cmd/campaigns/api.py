import html
from collections.abc import Callable
from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import HTMLResponse
from sqlmodel import Session

from incident_cmd.auth.models import User
from incident_cmd.campaigns import service
from incident_cmd.campaigns.models import Campaign
from incident_cmd.campaigns.schemas import (
    CampaignAction,
    CampaignCreate,
    CampaignPreview,
    CampaignRead,
    FailedRetried,
)
from incident_cmd.config import get_settings
from incident_cmd.deps import AnyUser, Communicator, SessionDep
from incident_cmd.errors import Invalid, error_responses
from incident_cmd.fields import DbId
from incident_cmd.incidents import flows as incident_flows
from incident_cmd.incidents import service as incident_service
from incident_cmd.messaging import suppression

router = APIRouter(prefix="/api/v1", tags=["campaigns"])
public = APIRouter(tags=["webhooks"])


def campaign_read(session: Session, campaign: Campaign) -> CampaignRead:
    settings = get_settings()
    creator = session.get_one(User, campaign.created_by) if campaign.created_by else None
    approver = session.get_one(User, campaign.approved_by) if campaign.approved_by else None
    return CampaignRead(
        **campaign.model_dump(
            include={
                "id",
                "name",
                "incident_id",
                "plan_key",
                "channel",
                "template",
                "audience",
                "status",
                "safety_critical",
                "notice_class",
                "two_person_approval",
                "send_at",
                "drill",
                "started_at",
                "finished_at",
            }
        ),
        quiet_start=campaign.quiet_start or settings.quiet_hours_start,
        quiet_end=campaign.quiet_end or settings.quiet_hours_end,
        created_by=creator.username if creator else None,
        approved_by=approver.username if approver else None,
        counts=service.campaign_counts(session, campaign=campaign),
    )


@router.post("/campaigns", response_model=CampaignRead, status_code=201)
def create_campaign(body: CampaignCreate, session: SessionDep, actor: Communicator) -> CampaignRead:
    return campaign_read(session, service.create_campaign(session, data=body, actor=actor))


@router.post("/incidents/{incident_id}/campaigns", response_model=CampaignRead, status_code=201)
def create_from_plan(
    incident_id: DbId,
    session: SessionDep,
    actor: Communicator,
    plan: Annotated[str, Query(description="notification plan key")],
) -> CampaignRead:
    incident = incident_service.get_incident(session, incident_id=incident_id)
    playbook = incident_service.playbook_of(session, incident)
    chosen = next((item for item in playbook.notifications if item.key == plan), None)
    if chosen is None:
        known = ", ".join(item.key for item in playbook.notifications) or "none"
        raise Invalid(f"no notification plan {plan!r} (known: {known})", field="plan")
    campaign = incident_flows.campaign_from_plan(
        session, incident=incident, plan=chosen, actor=actor
    )
    return campaign_read(session, campaign)


@router.get("/campaigns", response_model=list[CampaignRead])
def list_campaigns(
    session: SessionDep, _: AnyUser, incident_id: DbId | None = None
) -> list[CampaignRead]:
    return [
        campaign_read(session, item)
        for item in service.list_campaigns(session, incident_id=incident_id)
    ]


@router.get("/campaigns/{campaign_id}", response_model=CampaignRead)
def get_campaign(campaign_id: DbId, session: SessionDep, _: AnyUser) -> CampaignRead:
    return campaign_read(session, service.get_campaign(session, campaign_id=campaign_id))


@router.get("/campaigns/{campaign_id}/preview", response_model=CampaignPreview)
def preview(campaign_id: DbId, session: SessionDep, _: Communicator) -> CampaignPreview:
    return service.preview(session, campaign=service.get_campaign(session, campaign_id=campaign_id))


@router.post(
    "/campaigns/{campaign_id}/retry-failed",
    response_model=FailedRetried,
    responses={409: {"description": "the campaign has not been sending"}},
)
def retry_failed(
    campaign_id: DbId, session: SessionDep, actor: Communicator, body: CampaignAction | None = None
) -> FailedRetried:
    """Sends again, once, the messages that failed before any provider took them."""
    campaign = service.get_campaign(session, campaign_id=campaign_id)
    retried = service.retry_failed(
        session, campaign=campaign, actor=actor, note=body.note if body else ""
    )
    return FailedRetried(retried=retried, campaign=campaign_read(session, campaign))


ACTIONS = {
    "approve": service.approve,
    "pause": service.pause,
    "resume": service.resume,
    "cancel": service.cancel,
}


def _campaign_action(handler: Callable[..., Campaign]) -> Callable[..., CampaignRead]:
    def act(
        campaign_id: DbId, body: CampaignAction, session: SessionDep, actor: Communicator
    ) -> CampaignRead:
        campaign = service.get_campaign(session, campaign_id=campaign_id)
        handler(session, campaign=campaign, actor=actor, note=body.note)
        return campaign_read(session, campaign)

    return act


# One route per action, so that no path is two resources (GET /campaigns/1/preview is not
# also POST).
for _action, _handler in ACTIONS.items():
    router.add_api_route(
        f"/campaigns/{{campaign_id}}/{_action}",
        _campaign_action(_handler),
        methods=["POST"],
        name=f"campaign_{_action}",
        response_model=CampaignRead,
        responses=error_responses(409),
    )


# --- email unsubscribe: the signed token is the credential --------------------------------
# Opening the link changes nothing (mail scanners and link previews open links); the page's
# button and the RFC 8058 one-click POST (List-Unsubscribe=One-Click) unsubscribe.

UNSUBSCRIBE_PAGE = """<!doctype html><html lang="zh-CN"><meta charset="utf-8">
<title>Unsubscribe</title><body>
<h1>退订邮件通知 · Unsubscribe from email notices</h1>
<p>退订后,{organisation} 不再向此邮箱发送事件进展、提醒等通知;但如您购买的产品被安全召回,
法律可能要求我们通过邮件告知您一次召回安全通知。短信请回复 TD 或 STOP 退订。<br>
After you unsubscribe, {organisation} sends this address no more updates or reminders; if a
product you bought is recalled for safety, the law may require us to send you its safety
notice by email. To stop text messages, reply STOP or TD.</p>
<form method="post"><input type="hidden" name="List-Unsubscribe" value="One-Click">
<button type="submit">退订 · Unsubscribe</button></form></body></html>"""

UNSUBSCRIBED_PAGE = """<!doctype html><html lang="zh-CN"><meta charset="utf-8">
<title>Unsubscribed</title><body>
<h1>您已退订 · You are unsubscribed</h1>
<p>{organisation} 将不再向此邮箱发送通知邮件(产品安全召回通知除外)。<br>
{organisation} will send no more notices to this address, except a product safety recall
notice.</p></body></html>"""


def _page(template: str) -> HTMLResponse:
    return HTMLResponse(template.format(organisation=html.escape(get_settings().organisation_name)))


@public.get("/unsubscribe/{token}", response_class=HTMLResponse, responses=error_responses(403))
def unsubscribe_link(token: str) -> HTMLResponse:
    """The confirmation page; opening it changes nothing."""
    suppression.address_from_token(token)
    return _page(UNSUBSCRIBE_PAGE)


@public.post("/unsubscribe/{token}", response_class=HTMLResponse, responses=error_responses(403))
def unsubscribe(token: str, session: SessionDep) -> HTMLResponse:
    """The page's button, or RFC 8058 one-click: the mail client POSTs
    List-Unsubscribe=One-Click. Stops every email notice but a recall's safety notice."""
    service.unsubscribe_email(session, address=suppression.address_from_token(token))
    return _page(UNSUBSCRIBED_PAGE)
