"""An incident declared through the API, and tokens for the demo organisation's people."""

import pytest

from incident_cmd.auth import service as auth_service
from tests.conftest import bearer


@pytest.fixture
def as_user(demo_org):
    made = {}

    def auth(username):
        if username not in made:
            user = auth_service.get_user_by_username(demo_org, username=username)
            made[username] = bearer(demo_org, user)
        return made[username]

    return auth


@pytest.fixture
def incident(client, as_user):
    response = client.post(
        "/api/v1/incidents",
        json={
            "playbook": "product-recall",
            "title": "PX-200 overheating",
            "severity": "sev2",
            "scope": {"products": ["PX-200"], "batches": ["B7"]},
        },
        headers=as_user("duty"),
    )
    assert response.status_code == 201
    return response.json()
