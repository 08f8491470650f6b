"""The API's contract, asserted case by case: one error body for every 4xx, the codes and
media types the OpenAPI document states, strict JSON types, and bounds on every input so
that nothing malformed reaches the database (the fuzz run in test_api_fuzz covers the rest)."""

import pytest

from incident_cmd.api_contract import MAX_BODY_BYTES
from incident_cmd.auth.models import Role

ERROR_KEYS = {"detail", "field", "errors"}


# --- one error body ------------------------------------------------------------------------


def test_every_kind_of_4xx_answers_the_same_shape(client, headers):
    duty = headers(Role.duty_manager)
    unknown_route = client.get("/api/v1/nowhere", headers=duty)
    not_found = client.get("/api/v1/incidents/12345", headers=duty)
    invalid = client.post("/api/v1/incidents", json={"title": ""}, headers=duty)
    unauthenticated = client.get("/api/v1/incidents")
    forbidden = client.get("/api/v1/users", headers=headers(Role.viewer))

    for answer, status in [
        (unknown_route, 404),
        (not_found, 404),
        (invalid, 422),
        (unauthenticated, 401),
        (forbidden, 403),
    ]:
        assert answer.status_code == status
        assert set(answer.json()) == ERROR_KEYS, answer.json()
        assert answer.json()["detail"]
    fields = {error["field"] for error in invalid.json()["errors"]}
    assert {"playbook", "title", "severity"} <= fields
    assert unauthenticated.headers["www-authenticate"] == "Bearer"


def test_method_not_allowed_names_every_method_of_the_path(client, headers):
    answer = client.put("/api/v1/tickets", json={}, headers=headers(Role.agent))

    assert answer.status_code == 405
    assert answer.headers["allow"] == "GET, POST"
    assert set(answer.json()) == ERROR_KEYS


# --- the OpenAPI document ------------------------------------------------------------------


@pytest.fixture
def document(client):
    return client.get("/openapi.json").json()


def _codes(document, path, method):
    return {code for code in document["paths"][path][method]["responses"]}


def test_document_declares_the_error_codes_each_route_can_answer(document):
    assert _codes(document, "/api/v1/tickets/{ticket_id}", "get") >= {"401", "403", "404", "422"}
    assert _codes(document, "/api/v1/tickets/{ticket_id}/resolve", "post") >= {
        "400",
        "401",
        "403",
        "404",
        "409",
        "413",
        "422",
    }
    login = _codes(document, "/api/v1/auth/login", "post")
    assert login >= {"401", "422", "429"}
    assert "403" not in login and "404" not in login
    assert "404" not in _codes(document, "/api/v1/me", "get")
    assert _codes(document, "/webhooks/twilio/inbound", "post") >= {"400", "403"}


def test_every_documented_4xx_is_the_one_error_body(document):
    assert "HTTPValidationError" not in document["components"]["schemas"]
    assert set(document["components"]["schemas"]["ErrorBody"]["properties"]) == ERROR_KEYS
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            for code, response in operation["responses"].items():
                if code.startswith("4"):
                    schema = response["content"]["application/json"]["schema"]
                    assert schema == {"$ref": "#/components/schemas/ErrorBody"}, (path, method)


def test_document_declares_csv_where_csv_is_served(document):
    content = document["paths"]["/api/v1/reviews/monthly/{period}"]["get"]["responses"]["200"]
    assert "text/csv" in content["content"]


# --- strict types --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("/api/v1/tokens", {"name": "ci", "expires_in_hours": True}, "expires_in_hours"),
        ("/api/v1/tokens", {"name": "ci", "expires_in_hours": "5"}, "expires_in_hours"),
        ("/api/v1/tokens", {"name": "ci", "expires_in_hours": 5.0}, "expires_in_hours"),
        (
            "/api/v1/incidents",
            {"playbook": "product-recall", "title": "t", "severity": "sev1", "drill": "true"},
            "drill",
        ),
        ("/api/v1/tickets/1/survey", {"csat": True, "reason": "by phone"}, "csat"),
        ("/api/v1/tickets/1/resolve", {"resolution": "r", "compensation_amount": "5"}, None),
    ],
)
def test_json_values_are_not_coerced(client, headers, path, body, field):
    answer = client.post(path, json=body, headers=headers(Role.admin))

    assert answer.status_code == 422, answer.json()
    if field:
        assert answer.json()["field"] == field


# --- bounds: nothing malformed reaches the database ----------------------------------------


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/incidents/99999999999999999999",
        "/api/v1/incidents/2147483648",
        "/api/v1/tickets/-1",
        "/api/v1/campaigns?incident_id=9223372036854775808",
        "/api/v1/tickets?cursor=99999999999999999999",
        "/api/v1/customers?cursor=2147483648",
    ],
)
def test_ids_beyond_the_database_range_are_refused(client, headers, path):
    answer = client.get(path, headers=headers(Role.admin))

    assert answer.status_code == 422
    assert answer.json()["errors"]


def test_an_id_in_a_body_beyond_the_range_is_refused(client, headers):
    campaign = {
        "name": "n",
        "channel": "sms",
        "template": "recall",
        "audience": {"rule": "open_tickets"},
        "incident_id": 2**40,
    }
    answer = client.post("/api/v1/campaigns", json=campaign, headers=headers(Role.admin))

    assert answer.status_code == 422
    assert answer.json()["field"] == "incident_id"


@pytest.mark.parametrize(
    ("method", "path", "body", "field"),
    [
        (
            "post",
            "/api/v1/incidents",
            {"playbook": "product-recall", "title": "PX\x00200", "severity": "sev1"},
            "title",
        ),
        ("post", "/api/v1/auth/login", {"username": "a\x00", "password": "x"}, "username"),
        (
            "post",
            "/api/v1/campaigns",
            {
                "name": "n",
                "channel": "sms",
                "template": "recall",
                "audience": {"rule": "scope_purchasers", "products": ["PX\x00"]},
            },
            "audience.products.0",
        ),
        ("get", "/api/v1/tickets?product_model=PX%00200", None, "product_model"),
        ("get", "/api/v1/teams/key%00/on-call", None, "key"),
        ("get", "/api/v1/playbooks/recall%00", None, "key"),
    ],
)
def test_nul_characters_are_refused_naming_the_field(client, headers, method, path, body, field):
    answer = client.request(method, path, json=body, headers=headers(Role.admin))

    assert answer.status_code == 422
    assert answer.json()["field"] == field


def test_nul_characters_in_a_login_form_are_refused(client):
    answer = client.post(
        "/login", data={"username": "duty\x00", "password": "x"}, follow_redirects=False
    )

    assert answer.status_code == 422


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        (
            "/api/v1/teams/duty-managers/rotations/primary/overrides",
            {
                "user": "someone",
                "starts_at": "9999-12-31T23:00:00-05:00",
                "ends_at": "9999-12-31T23:30:00-05:00",
            },
            "starts_at",
        ),
        (
            "/api/v1/teams/duty-managers/rotations",
            {
                "name": "late",
                "shift": "daily",
                "handoff_time": "09:00",
                "anchor_date": "9999-12-31",
                "members": ["someone"],
            },
            "anchor_date",
        ),
    ],
)
def test_dates_beyond_2100_are_refused(client, headers, path, body, field):
    answer = client.post(path, json=body, headers=headers(Role.admin))

    assert answer.status_code == 422
    assert answer.json()["errors"][0]["field"] == field


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/teams/duty-managers/on-call?at=9999-12-31T23:00:00-05:00",
        "/api/v1/teams/duty-managers/on-call?at=0001-01-01T00:00:00%2B14:00",
        "/api/v1/reviews/monthly/0000-01",
        "/api/v1/reviews/monthly/9999-12",
    ],
)
def test_moments_out_of_range_in_the_url_are_refused(client, headers, path):
    assert client.get(path, headers=headers(Role.admin)).status_code == 422


@pytest.mark.parametrize(
    "amount", ["NaN", "Infinity", "-Infinity", "1e400", "100000000.01", "0.001"]
)
def test_amounts_are_bounded_decimals(client, headers, amount):
    body = '{"resolution": "refunded", "compensation_amount": ' + amount + "}"
    answer = client.post(
        "/api/v1/tickets/1/resolve",
        content=body,
        headers={**headers(Role.admin), "Content-Type": "application/json"},
    )

    assert answer.status_code == 422
    assert answer.json()["field"] == "compensation_amount"


def test_long_lists_and_strings_are_refused(client, headers):
    too_many = {
        "playbook": "product-recall",
        "title": "t",
        "severity": "sev1",
        "scope": {"products": [f"P{number}" for number in range(201)]},
    }
    answer = client.post("/api/v1/incidents", json=too_many, headers=headers(Role.admin))

    assert answer.status_code == 422
    assert answer.json()["field"] == "scope.products"


def test_bodies_over_the_limit_are_refused_before_they_are_read(client, headers):
    huge = {"name": "ci", "padding": "x" * MAX_BODY_BYTES}
    answer = client.post("/api/v1/tokens", json=huge, headers=headers(Role.admin))

    assert answer.status_code == 413
    assert set(answer.json()) == ERROR_KEYS


def test_streamed_bodies_are_cut_off_at_the_limit(client, headers):
    chunks = iter([b'{"name": "', b"x" * MAX_BODY_BYTES, b'"}'])
    answer = client.post(
        "/api/v1/tokens",
        content=chunks,
        headers={**headers(Role.admin), "Content-Type": "application/json"},
    )

    assert answer.status_code == 413
    assert set(answer.json()) == ERROR_KEYS
