"""The messaging package is the lowest sending layer: it knows no domain."""

import ast
from pathlib import Path

import incident_cmd

PACKAGE = Path(incident_cmd.__file__).parent
MESSAGING = PACKAGE / "messaging"
# What messaging may build on: the shared plumbing, and the timeline every layer writes to.
ALLOWED = {"messaging", "aio", "clock", "columns", "config", "db", "errors", "i18n", "timeline"}


def _our_imports(path: Path) -> set[str]:
    """The first part under ``incident_cmd`` of every module the file imports, anywhere."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        modules = []
        if isinstance(node, ast.Import):
            modules = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            modules = [node.module]
        found |= {m.split(".")[1] for m in modules if m.startswith("incident_cmd.")}
    return found


def test_messaging_imports_no_domain():
    wrong = {
        str(path.relative_to(PACKAGE)): sorted(_our_imports(path) - ALLOWED)
        for path in sorted(MESSAGING.rglob("*.py"))
    }
    assert {path: modules for path, modules in wrong.items() if modules} == {}
