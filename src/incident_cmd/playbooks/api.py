from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel

from incident_cmd.deps import AnyUser
from incident_cmd.playbooks.service import PlaybookRegistry

router = APIRouter(prefix="/api/v1/playbooks", tags=["playbooks"])


def get_registry(request: Request) -> PlaybookRegistry:
    return request.app.state.playbooks


RegistryDep = Annotated[PlaybookRegistry, Depends(get_registry)]


class PlaybookSummary(BaseModel):
    key: str
    kind: str
    name: dict[str, str]
    content_hash: str
    severities: list[str]


@router.get("", response_model=list[PlaybookSummary])
def list_playbooks(registry: RegistryDep, _: AnyUser) -> list[PlaybookSummary]:
    return [
        PlaybookSummary(
            key=item.playbook.key,
            kind=item.playbook.kind,
            name=item.snapshot["name"],
            content_hash=item.content_hash,
            severities=[severity.key for severity in item.playbook.severities],
        )
        for item in registry.all()
    ]


@router.get("/{key}")
def get_playbook(key: str, registry: RegistryDep, _: AnyUser) -> dict[str, Any]:
    item = registry.get(key)
    return {"content_hash": item.content_hash, **item.snapshot}
