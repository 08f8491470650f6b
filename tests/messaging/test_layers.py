"""The messaging package is the lowest sending layer: it knows no domain."""

from pathlib import Path

import incident_cmd
from tests.plugins.imports import imported_modules

PACKAGE = Path(incident_cmd.__file__).parent
MESSAGING = PACKAGE / "messaging"
# What messaging may build on: the shared plumbing, and the timeline every layer writes to.
ALLOWED = {"messaging", "aio", "clock", "columns", "config", "db", "errors", "i18n", "timeline"}


def _our_imports(path: Path) -> set[str]:
    """The first part under ``incident_cmd`` of every module the file imports, anywhere
    (``incident_cmd.paging.pages`` and ``from incident_cmd import paging`` are both
    ``paging``)."""
    return {
        parts[1]
        for name in imported_modules(path, PACKAGE.parent)
        if (parts := name.split("."))[0] == "incident_cmd" and len(parts) > 1
    }


def test_messaging_imports_no_domain():
    wrong = {
        str(path.relative_to(PACKAGE)): sorted(_our_imports(path) - ALLOWED)
        for path in sorted(MESSAGING.rglob("*.py"))
    }
    assert {path: modules for path, modules in wrong.items() if modules} == {}
