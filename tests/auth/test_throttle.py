"""Failed logins are throttled per username and per address, before any hash is spent."""

import pytest
from pwdlib.hashers.argon2 import Argon2Hasher

from incident_cmd.auth.models import Role
from incident_cmd.auth.throttle import LoginThrottle
from incident_cmd.config import ConfigurationError, get_settings
from tests.factories import bearer, make_user
from tests.plugins.web import login

PASSWORD = "correct horse battery"


@pytest.fixture
def hashes(monkeypatch) -> list[str]:
    """Every argon2 verification made, by the password tried."""
    made: list[str] = []
    verify = Argon2Hasher.verify

    def counting(self, password, hash):
        made.append(password)
        return verify(self, password, hash)

    monkeypatch.setattr(Argon2Hasher, "verify", counting)
    return made


def _login(client, username, password):
    return client.post("/api/v1/auth/login", json={"username": username, "password": password})


def test_a_username_is_throttled_after_five_failures_without_hashing(client, session, hashes):
    make_user(session, Role.admin, username="target", password=PASSWORD)
    for attempt in range(5):
        assert _login(client, "target", f"guess number {attempt}").status_code == 401
    assert len(hashes) == 5
    for password in ("guess number 6", PASSWORD):
        response = _login(client, "target", password)
        assert response.status_code == 429
        assert 1 <= int(response.headers["retry-after"]) <= 15 * 60
        assert "too many failed logins" in response.json()["detail"]
    assert len(hashes) == 5  # neither throttled attempt cost a hash
    # The same name in another case is the same account's counter.
    assert _login(client, "TARGET", PASSWORD).status_code == 429


def test_a_right_password_forgives_earlier_mistakes(client, session):
    make_user(session, Role.agent, username="typo", password=PASSWORD)
    for _ in range(4):
        assert _login(client, "typo", "fat fingers!!").status_code == 401
    assert _login(client, "typo", PASSWORD).status_code == 201
    for _ in range(4):
        assert _login(client, "typo", "fat fingers!!").status_code == 401
    assert _login(client, "typo", PASSWORD).status_code == 201
    for _ in range(5):
        assert _login(client, "typo", "fat fingers!!").status_code == 401
    assert _login(client, "typo", PASSWORD).status_code == 429


def test_an_address_is_throttled_across_usernames(client, session, hashes, monkeypatch):
    monkeypatch.setenv("INCIDENT_CMD_LOGIN_THROTTLE_PER_ADDRESS", "3 per hour")
    get_settings.cache_clear()
    client.app.state.login_throttle = LoginThrottle.from_settings()
    make_user(session, Role.agent, username="bystander", password=PASSWORD)
    for name in ("ann", "bob", "cat"):
        assert _login(client, name, "spray password").status_code == 401
    response = _login(client, "bystander", PASSWORD)
    assert response.status_code == 429
    assert int(response.headers["retry-after"]) <= 3600
    assert len(hashes) == 3


def test_the_page_login_is_throttled_too(client, session, hashes):
    make_user(session, Role.viewer, username="page.target", password=PASSWORD)
    for _ in range(5):
        assert login(client, "page.target", "not the password").status_code == 401
    response = login(client, "page.target", PASSWORD)
    assert response.status_code == 429
    assert "Retry-After" in response.headers
    assert "too many failed logins" in response.text
    assert "icmd_session" not in response.cookies
    assert len(hashes) == 5


def test_password_changes_with_a_wrong_current_password_are_throttled(client, session, hashes):
    user = make_user(session, Role.agent, username="stolen", password=PASSWORD)
    auth = bearer(session, user)
    body = {"current_password": "a guess at it", "new_password": "attacker's choice"}
    for _ in range(5):
        assert client.post("/api/v1/me/password", json=body, headers=auth).status_code == 403
    response = client.post(
        "/api/v1/me/password", json={**body, "current_password": PASSWORD}, headers=auth
    )
    assert response.status_code == 429
    assert len(hashes) == 5


@pytest.mark.parametrize(
    ("setting", "value"),
    [
        ("LOGIN_THROTTLE_PER_USERNAME", "lots"),
        ("LOGIN_THROTTLE_STORAGE", "carrier-pigeon://loft"),
    ],
)
def test_a_bad_throttle_setting_is_a_configuration_error(monkeypatch, setting, value):
    monkeypatch.setenv(f"INCIDENT_CMD_{setting}", value)
    get_settings.cache_clear()
    with pytest.raises(ConfigurationError, match="login throttle"):
        LoginThrottle.from_settings()
