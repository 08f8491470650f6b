"""The webhooks know no domain: domains register handlers, the webhooks only ask them."""

from pathlib import Path

import incident_cmd
from tests.plugins.imports import imported_modules

PACKAGE = Path(incident_cmd.__file__).parent
# The sending layer and the timeline (an append-only log of any subject's changes, which the
# sending layer writes to as well) sit below the webhooks; every other package is above them.
BELOW_INTEGRATIONS = {"integrations", "messaging", "timeline"}


def _imported_by(folder: str) -> dict[str, set[str]]:
    return {
        str(path.relative_to(PACKAGE)): imported_modules(path, PACKAGE.parent)
        for path in sorted((PACKAGE / folder).rglob("*.py"))
    }


def _packages() -> set[str]:
    return {path.parent.name for path in PACKAGE.glob("*/__init__.py")}


def _in(module: str, packages: set[str]) -> bool:
    parts = module.split(".")
    return len(parts) > 1 and parts[0] == "incident_cmd" and parts[1] in packages


def test_integrations_import_no_domain():
    domains = _packages() - BELOW_INTEGRATIONS
    assert {"paging", "tickets", "incidents", "campaigns", "customers", "playbooks"} <= domains
    wrong = {
        path: sorted(module for module in modules if _in(module, domains))
        for path, modules in _imported_by("integrations").items()
    }
    assert {path: modules for path, modules in wrong.items() if modules} == {}
