"""The whole API fuzzed from its own OpenAPI document (schemathesis, every check): no input,
however malformed, gets a server error, and every answer is what the document promises —
its status code, content type and body. Runs on SQLite and PostgreSQL as an admin, with the
demo organisation seeded so that small ids exist."""

import pytest
import schemathesis
from hypothesis import HealthCheck, settings

from incident_cmd.app import create_app
from incident_cmd.auth.models import Role
from incident_cmd.config import get_settings

EXAMPLES_PER_OPERATION = 25
# Every check, as configured by default, except one allowance: a request the document calls
# valid may still be refused with 422 for what JSON Schema cannot say (a phone number that
# does not exist, a user who does not, a NUL character, a date past 2100).
CONFIG = schemathesis.Config.from_dict(
    {
        "checks": {
            "positive_data_acceptance": {
                "expected-statuses": ["2xx", "3xx", "401", "403", "404", "409", "422", "429"]
            }
        }
    }
)


def _documented_api() -> schemathesis.BaseSchema:
    """The document is read at collection, before the fixtures exist: from a known environment."""
    with pytest.MonkeyPatch.context() as environment:
        environment.setenv("INCIDENT_CMD_SECRET_KEY", "fuzz-collection-secret-" + "x" * 32)
        get_settings.cache_clear()
        document = create_app(check_schema=False, run_worker=False).openapi()
    get_settings.cache_clear()
    return schemathesis.openapi.from_dict(document, config=CONFIG)


schema = _documented_api()


@schema.parametrize()
@settings(
    max_examples=EXAMPLES_PER_OPERATION,
    derandomize=True,
    deadline=None,
    suppress_health_check=list(HealthCheck),
)
def test_every_operation_answers_as_documented(case, app, demo_org, headers):
    case.call_and_validate(app=app, headers=headers(Role.admin, "fuzz-admin"))
