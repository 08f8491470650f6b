"""Domains call each other only in flows. The directory domains (who people are, who is on
call, which playbooks exist, who the customers are) are looked up by everyone and look up no
one; the working domains (incidents, paging, tickets, campaigns) reach one another only
through a ``flows.py`` (or an ``api.py``, which may call any service or flow), and otherwise
read no more of each other than models and schemas."""

import ast
from pathlib import Path

import incident_cmd

PACKAGE = Path(incident_cmd.__file__).parent
DIRECTORY = {"auth", "teams", "playbooks", "customers"}
WORKING = {
    "incidents",
    "paging",
    "tickets",
    "campaigns",
    "statements",
    "subscriptions",
    "sitreps",
    "postmortems",
    "accountability",
    "drills",
}
# What one domain may read of another outside flows: its tables and its data shapes.
SHAPES = {"models", "schemas", "schema"}
CROSSING = {"api", "flows"}


def _modules(path: Path) -> set[str]:
    """``incident_cmd.<package>.<module>`` for every import in the file, anywhere in it."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            if node.module.count(".") == 1:
                # ``from incident_cmd.paging import pages``: the names are modules.
                found |= {f"{node.module}.{alias.name}" for alias in node.names}
            else:
                found.add(node.module)
    return {module for module in found if module.startswith("incident_cmd.")}


def _crossings(domain: str, reaching: set[str], allowed_kinds: set[str]) -> dict[str, list[str]]:
    wrong = {}
    for path in sorted((PACKAGE / domain).glob("*.py")):
        if path.stem in CROSSING:
            continue
        bad = sorted(
            module
            for module in _modules(path)
            if len(parts := module.split(".")) > 2
            and parts[1] in reaching - {domain}
            and parts[2] not in allowed_kinds
        )
        if bad:
            wrong[str(path.relative_to(PACKAGE))] = bad
    return wrong


def test_working_domains_reach_each_other_only_in_flows():
    assert {path.parent.name for path in PACKAGE.glob("*/models.py")} >= DIRECTORY | WORKING
    wrong = {}
    for domain in WORKING:
        wrong |= _crossings(domain, WORKING, SHAPES)
    assert wrong == {}


def test_directory_domains_know_no_working_domain():
    wrong = {}
    for domain in DIRECTORY:
        wrong |= _crossings(domain, WORKING, set())
    assert wrong == {}
