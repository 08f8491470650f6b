"""How tokens end: logout, password changes, deactivation; and what a token may mint."""

from datetime import timedelta

from sqlmodel import select

from incident_cmd.auth import service
from incident_cmd.auth.models import ApiToken, Role, TokenKind
from incident_cmd.auth.schemas import UserUpdate
from incident_cmd.timeline.models import TimelineEvent
from tests.factories import bearer, make_user

PASSWORD = "correct horse battery"


def _api_login(client, username, password=PASSWORD) -> dict[str, str]:
    response = client.post("/api/v1/auth/login", json={"username": username, "password": password})
    assert response.status_code == 201, response.text
    return {"Authorization": f"Bearer {response.json()['token']}"}


def _api_token(session, user, hours: int | None) -> dict[str, str]:
    _, secret = service.issue_token(
        session,
        user=user,
        name="script",
        expires_in=timedelta(hours=hours) if hours else None,
        actor_id=None,
    )
    return {"Authorization": f"Bearer {secret}"}


def test_api_logout_revokes_the_token_it_was_sent_with(client, session):
    make_user(session, Role.agent, username="out.user", password=PASSWORD)
    auth = _api_login(client, "out.user")
    other = _api_login(client, "out.user")
    assert client.post("/api/v1/auth/logout", headers=auth).status_code == 204
    assert client.get("/api/v1/me", headers=auth).status_code == 401
    assert client.get("/api/v1/me", headers=other).status_code == 200


def test_a_login_token_cannot_issue_tokens(client, session):
    make_user(session, Role.agent, username="login.user", password=PASSWORD)
    auth = _api_login(client, "login.user")
    response = client.post("/api/v1/tokens", json={"name": "escape"}, headers=auth)
    assert response.status_code == 403
    assert "issued at login cannot issue tokens" in response.json()["detail"]
    assert session.exec(select(ApiToken).where(ApiToken.name == "escape")).first() is None


def test_a_token_cannot_mint_one_that_outlives_it(client, session, frozen_clock):
    user = make_user(session, Role.agent, username="mint.user")
    auth = _api_token(session, user, hours=2)
    minter_expiry = service.list_tokens(session, user=user)[0].expires_at

    longer = client.post(
        "/api/v1/tokens", json={"name": "longer", "expires_in_hours": 3}, headers=auth
    )
    assert longer.status_code == 422
    assert longer.json()["field"] == "expires_in_hours"
    assert "may not outlive" in longer.json()["detail"]

    unbounded = client.post("/api/v1/tokens", json={"name": "unbounded"}, headers=auth)
    assert unbounded.status_code == 201
    assert unbounded.json()["expires_at"] is not None
    child = session.exec(select(ApiToken).where(ApiToken.name == "unbounded")).one()
    assert child.expires_at == minter_expiry

    shorter = client.post(
        "/api/v1/tokens", json={"name": "shorter", "expires_in_hours": 1}, headers=auth
    )
    assert shorter.status_code == 201
    frozen_clock.advance(timedelta(hours=2))
    child_auth = {"Authorization": f"Bearer {unbounded.json()['token']}"}
    assert client.get("/api/v1/me", headers=child_auth).status_code == 401


def test_a_token_without_expiry_may_mint_any(client, session):
    user = make_user(session, Role.agent, username="forever.user")
    response = client.post(
        "/api/v1/tokens",
        json={"name": "year", "expires_in_hours": 24 * 365},
        headers=bearer(session, user),
    )
    assert response.status_code == 201
    assert session.exec(select(ApiToken).where(ApiToken.name == "year")).one().kind == "api"


def test_changing_ones_password_revokes_every_token(client, session):
    user = make_user(session, Role.agent, username="pw.changer", password=PASSWORD)
    script = bearer(session, user)
    auth = _api_login(client, "pw.changer")
    response = client.post(
        "/api/v1/me/password",
        json={"current_password": PASSWORD, "new_password": "a brand new passphrase"},
        headers=auth,
    )
    assert response.status_code == 204, response.text
    assert client.get("/api/v1/me", headers=auth).status_code == 401
    assert client.get("/api/v1/me", headers=script).status_code == 401
    _api_login(client, "pw.changer", "a brand new passphrase")
    kinds = [event.kind for event in session.exec(select(TimelineEvent)).all()]
    assert "token.revoked_all" in kinds


def test_a_wrong_current_password_changes_nothing(client, session):
    make_user(session, Role.agent, username="pw.keeper", password=PASSWORD)
    auth = _api_login(client, "pw.keeper")
    response = client.post(
        "/api/v1/me/password",
        json={"current_password": "not my password", "new_password": "a brand new passphrase"},
        headers=auth,
    )
    assert response.status_code == 403
    assert response.json()["field"] == "current_password"
    assert client.get("/api/v1/me", headers=auth).status_code == 200
    _api_login(client, "pw.keeper")


def test_setting_a_password_revokes_the_users_tokens(client, session):
    user = make_user(session, Role.agent, username="reset.user")
    auth = bearer(session, user)
    service.set_password(session, user=user, password="reset by an admin", actor_id=None)
    assert client.get("/api/v1/me", headers=auth).status_code == 401


def test_reactivating_a_user_does_not_revive_old_tokens(client, session, headers):
    user = make_user(session, Role.agent, username="returner")
    auth = bearer(session, user)
    admin = headers(Role.admin)
    assert (
        client.patch("/api/v1/users/returner", json={"active": False}, headers=admin).status_code
        == 200
    )
    assert (
        client.patch("/api/v1/users/returner", json={"active": True}, headers=admin).status_code
        == 200
    )
    assert client.get("/api/v1/me", headers=auth).status_code == 401
    assert client.get("/api/v1/me", headers=bearer(session, user)).status_code == 200


def test_a_page_session_token_is_not_a_bearer_token(client, session):
    user = make_user(session, Role.admin, username="cookie.holder")
    _, secret = service.issue_token(
        session,
        user=user,
        name="web login",
        kind=TokenKind.session,
        expires_in=timedelta(hours=1),
        actor_id=None,
    )
    response = client.get("/api/v1/me", headers={"Authorization": f"Bearer {secret}"})
    assert response.status_code == 401


def test_the_last_active_admin_cannot_be_demoted_or_deactivated(client, session):
    root = make_user(session, Role.admin, username="root")
    auth = bearer(session, root)
    for change, field in (({"role": "viewer"}, "role"), ({"active": False}, "active")):
        response = client.patch("/api/v1/users/root", json=change, headers=auth)
        assert response.status_code == 409, change
        assert response.json()["field"] == field
        assert "last active admin" in response.json()["detail"]
    session.refresh(root)
    assert (root.role, root.active) == ("admin", True)
    assert client.get("/api/v1/me", headers=auth).status_code == 200


def test_an_admin_may_step_down_when_another_remains(client, session):
    root = make_user(session, Role.admin, username="root")
    make_user(session, Role.admin, username="deputy")
    dormant = make_user(session, Role.admin, username="dormant")
    service.update_user(session, user=dormant, data=UserUpdate(active=False), actor_id=None)
    auth = bearer(session, root)
    response = client.patch("/api/v1/users/root", json={"role": "viewer"}, headers=auth)
    assert response.status_code == 200
    # The deputy is now the last active admin (the deactivated one does not count).
    deputy = service.get_user_by_username(session, username="deputy")
    response = client.patch(
        "/api/v1/users/deputy", json={"role": "viewer"}, headers=bearer(session, deputy)
    )
    assert response.status_code == 409
