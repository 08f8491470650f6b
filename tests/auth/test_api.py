from datetime import timedelta

from sqlmodel import select

from incident_cmd.auth import service
from incident_cmd.auth.models import ApiToken, Role
from incident_cmd.timeline.models import TimelineEvent
from tests.factories import bearer, make_user


def test_request_without_credentials_is_401(client):
    response = client.get("/api/v1/incidents")
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"


def test_unknown_token_is_401(client):
    response = client.get("/api/v1/me", headers={"Authorization": "Bearer icmd_nope"})
    assert response.status_code == 401


def test_wrong_role_is_403_and_names_allowed_roles(client, headers):
    response = client.post("/api/v1/users", json={}, headers=headers(Role.viewer))
    assert response.status_code == 403
    assert "admin" in response.json()["detail"]


def test_admin_creates_user_with_normalised_phone_and_audit(client, headers, session):
    response = client.post(
        "/api/v1/users",
        json={
            "username": "li.ming",
            "role": "agent",
            "phone": "138 0013 8000",
            "email": "li@example.com",
            "timezone": "Asia/Shanghai",
            "locale": "zh-CN",
            "contact_policy": [{"channel": "sms"}, {"channel": "voice", "wait_minutes": 2}],
        },
        headers=headers(Role.admin),
    )
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["phone"] == "+8613800138000"
    assert body["contact_policy"][1] == {"channel": "voice", "wait_minutes": 2}
    event = session.exec(
        select(TimelineEvent).where(
            TimelineEvent.kind == "user.created", TimelineEvent.subject_id == body["id"]
        )
    ).one()
    admin = service.get_user_by_username(session, username="admin-user")
    assert event.actor_id == admin.id


def test_bad_user_fields_are_named(client, headers):
    cases = [
        ({"phone": "12"}, "phone"),
        ({"email": "not-an-email"}, "email"),
        ({"timezone": "Mars/Olympus"}, "timezone"),
        ({"locale": "fr"}, "locale"),
        ({"role": "overlord"}, "role"),
    ]
    for extra, field in cases:
        body = {"username": "x.user", "role": "agent", **extra}
        response = client.post("/api/v1/users", json=body, headers=headers(Role.admin))
        assert response.status_code == 422, extra
        assert response.json()["errors"][0]["field"] == field


def test_duplicate_username_is_409(client, headers, session):
    make_user(session, Role.agent, username="taken")
    response = client.post(
        "/api/v1/users", json={"username": "taken", "role": "agent"}, headers=headers(Role.admin)
    )
    assert response.status_code == 409
    assert response.json()["field"] == "username"


def test_password_is_stored_as_argon2_and_login_issues_expiring_token(client, session):
    make_user(session, Role.agent, username="pw.user", password="correct horse battery")
    user = service.get_user_by_username(session, username="pw.user")
    assert user.password_hash.startswith("$argon2")
    response = client.post(
        "/api/v1/auth/login", json={"username": "pw.user", "password": "correct horse battery"}
    )
    assert response.status_code == 201
    token = response.json()
    assert token["expires_at"] is not None
    me = client.get("/api/v1/me", headers={"Authorization": f"Bearer {token['token']}"})
    assert me.json()["username"] == "pw.user"


def test_wrong_password_and_unknown_user_are_both_401(client, session):
    make_user(session, Role.agent, username="pw.user", password="correct horse battery")
    for username, password in (("pw.user", "wrong password!"), ("ghost", "whatever123")):
        response = client.post(
            "/api/v1/auth/login", json={"username": username, "password": password}
        )
        assert response.status_code == 401
        assert response.json()["detail"] == "wrong username or password"


def test_token_is_shown_once_and_stored_hashed(client, headers, session):
    response = client.post("/api/v1/tokens", json={"name": "script"}, headers=headers("agent"))
    secret = response.json()["token"]
    stored = session.exec(select(ApiToken).where(ApiToken.name == "script")).one()
    assert stored.token_hash == service.hash_token(secret)
    assert secret not in stored.token_hash
    listed = client.get("/api/v1/tokens", headers=headers("agent")).json()
    assert all("token" not in item for item in listed)


def test_revoked_token_stops_working(client, session):
    user = make_user(session, Role.agent, username="rev.user")
    auth = bearer(session, user)
    token_id = client.get("/api/v1/tokens", headers=auth).json()[0]["id"]
    assert client.delete(f"/api/v1/tokens/{token_id}", headers=auth).status_code == 200
    assert client.get("/api/v1/me", headers=auth).status_code == 401


def test_user_cannot_revoke_someone_elses_token(client, session, headers):
    owner = make_user(session, Role.agent, username="owner")
    bearer(session, owner)
    token_id = service.list_tokens(session, user=owner)[0].id
    response = client.delete(f"/api/v1/tokens/{token_id}", headers=headers("responder"))
    assert response.status_code == 404


def test_expired_token_is_refused(client, session, frozen_clock):
    user = make_user(session, Role.agent, username="exp.user")
    _, secret = service.issue_token(
        session, user=user, name="short", expires_in=timedelta(hours=1), actor_id=None
    )
    auth = {"Authorization": f"Bearer {secret}"}
    assert client.get("/api/v1/me", headers=auth).status_code == 200
    frozen_clock.advance(timedelta(hours=1))
    assert client.get("/api/v1/me", headers=auth).status_code == 401


def test_last_used_is_recorded(client, session, frozen_clock):
    user = make_user(session, Role.agent, username="used.user")
    auth = bearer(session, user)
    token = service.list_tokens(session, user=user)[0]
    assert token.last_used_at is None
    client.get("/api/v1/me", headers=auth)
    session.refresh(token)
    assert token.last_used_at == frozen_clock()


def test_deactivated_user_is_locked_out(client, session, headers):
    user = make_user(session, Role.agent, username="leaver")
    auth = bearer(session, user)
    response = client.patch(
        "/api/v1/users/leaver", json={"active": False}, headers=headers(Role.admin)
    )
    assert response.status_code == 200
    assert client.get("/api/v1/me", headers=auth).status_code == 401
