"""What may import what, read from every file's imports (``import incident_cmd.paging.pages``,
``from incident_cmd.paging import pages``, ``from incident_cmd import paging`` alike).

Every package of ``incident_cmd`` is classified here, so a new one must be placed before
these tests pass: a *directory* domain (who people are, who is on call, which playbooks
exist, who the customers are), a *working* domain, or one of the layers that are no domain.

- Working domains reach one another only in a ``flows.py`` (or an ``api.py``, the HTTP layer,
  which may call any service or flow); elsewhere they read no more of each other than models
  and schemas.
- Directory domains are looked up by everyone and look up no working domain, outside their
  ``api.py``. They may look one another up in any module (teams find their members through
  ``auth``'s service, customers take ``auth``'s field types), for they are lookups; but never
  in a circle, or they would be one domain.
- The background sweeps ``scheduler.SWEEPS`` runs are each a function of a domain's
  ``jobs.py``, listed once.

The tests import one another's code the same way: only ``tests.factories`` and
``tests.plugins.*``, never another test module or a conftest."""

import ast
from pathlib import Path

import incident_cmd
from incident_cmd.scheduler import SWEEPS
from tests.plugins.imports import imported_modules

PACKAGE = Path(incident_cmd.__file__).parent
SOURCE = PACKAGE.parent
TESTS = Path(__file__).parent
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
# The packages that are no domain, and their own tests' rules.
NOT_DOMAINS = {
    "messaging",  # the sending layer: knows no domain (tests/messaging/test_layers.py)
    "integrations",  # providers' webhooks: know no domain (tests/integrations/test_layers.py)
    "timeline",  # the append-only log every layer writes to: knows no domain
    "live",  # live updates to browsers: knows no domain
    "web",  # the pages: the HTTP layer, like each domain's api.py
    "devtools",  # the fake Twilio server and the local server the tests and benchmarks run
}
# What one domain may read of another outside flows: its tables and its data shapes.
SHAPES = {"models", "schemas", "schema"}
CROSSING = {"api", "flows"}
HTTP = {"api"}


def _reads(path: Path) -> set[tuple[str, str | None]]:
    """(package, module) of each ``incident_cmd`` import; the module is None where the file
    imports the package itself."""
    found = set()
    for name in imported_modules(path, SOURCE):
        parts = name.split(".")
        if parts[0] == "incident_cmd" and len(parts) > 1:
            found.add((parts[1], parts[2] if len(parts) > 2 else None))
    return found


def _crossings(
    domain: str, reaching: set[str], allowed_kinds: set[str], exempt: set[str]
) -> dict[str, list[str]]:
    wrong = {}
    for path in sorted((PACKAGE / domain).rglob("*.py")):
        if path.stem in exempt:
            continue
        bad = sorted(
            f"{package}.{module or '(the package)'}"
            for package, module in _reads(path)
            if package in reaching - {domain} and module not in allowed_kinds
        )
        if bad:
            wrong[str(path.relative_to(PACKAGE))] = bad
    return wrong


def test_every_package_is_classified_once():
    packages = {path.parent.name for path in PACKAGE.glob("*/__init__.py")}
    assert not DIRECTORY & WORKING and not (DIRECTORY | WORKING) & NOT_DOMAINS
    assert packages == DIRECTORY | WORKING | NOT_DOMAINS


def test_working_domains_reach_each_other_only_in_flows():
    wrong = {}
    for domain in WORKING:
        wrong |= _crossings(domain, WORKING, SHAPES, CROSSING)
    assert wrong == {}


def test_directory_domains_know_no_working_domain():
    wrong = {}
    for domain in DIRECTORY:
        wrong |= _crossings(domain, WORKING, set(), HTTP)
    assert wrong == {}


def test_directory_domains_look_each_other_up_without_a_circle():
    looks_up = {
        domain: {
            package
            for path in (PACKAGE / domain).rglob("*.py")
            for package, _ in _reads(path)
            if package in DIRECTORY - {domain}
        }
        for domain in DIRECTORY
    }
    # Peel off the domains that look up nothing left; a circle is what cannot be peeled.
    left = dict(looks_up)
    while peelable := {domain for domain, others in left.items() if not others & left.keys()}:
        left = {domain: others for domain, others in left.items() if domain not in peelable}
    assert left == {}


def test_the_timeline_and_live_updates_know_no_domain():
    # Every domain writes to them; one that read a domain back would close a circle.
    wrong = {}
    for layer in ("timeline", "live"):
        wrong |= _crossings(layer, DIRECTORY | WORKING, set(), set())
    assert wrong == {}


def _public_functions(path: Path) -> set[str]:
    """The functions a module defines at its top for others to call."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return {
        node.name
        for node in tree.body
        if isinstance(node, ast.FunctionDef) and not node.name.startswith("_")
    }


def test_every_sweep_is_listed_once_from_a_domain_jobs_module():
    sweeps = list(SWEEPS.values())
    assert len(set(sweeps)) == len(sweeps)
    homes = {sweep.__module__ for sweep in sweeps}
    assert homes <= {f"incident_cmd.{domain}.jobs" for domain in DIRECTORY | WORKING}
    # And nothing a jobs module offers is left off the scheduler.
    offered = {
        (path.parent.name, name)
        for path in PACKAGE.glob("*/jobs.py")
        for name in _public_functions(path)
    }
    assert offered == {(sweep.__module__.split(".")[1], sweep.__name__) for sweep in sweeps}


def test_tests_import_only_factories_and_plugins():
    wrong = {}
    for path in sorted(TESTS.rglob("*.py")):
        bad = sorted(
            name
            for name in imported_modules(path, TESTS.parent)
            if name.split(".")[0] == "tests"
            and name.split(".")[1:2] not in (["factories"], ["plugins"])
        )
        if bad:
            wrong[str(path.relative_to(TESTS))] = bad
    assert wrong == {}
