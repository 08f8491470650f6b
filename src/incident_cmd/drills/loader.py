"""Reads drill scenario files as playbooks are read: every problem with its file, line and
field, and what the scenario names of its playbook (severity, roster roles) checked."""

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from incident_cmd.drills.schema import Scenario
from incident_cmd.errors import NotFound
from incident_cmd.playbooks.loader import FileInvalid, Location, Problem, problems_at, read_document
from incident_cmd.playbooks.schema import Playbook
from incident_cmd.playbooks.service import PlaybookRegistry


class ScenarioInvalid(FileInvalid):
    pass


@dataclass(frozen=True)
class LoadedScenario:
    scenario: Scenario
    path: Path
    snapshot: dict[str, Any]


def _cross_references(
    scenario: Scenario, playbooks: PlaybookRegistry
) -> list[tuple[Location, str]]:
    problems: list[tuple[Location, str]] = []
    for section in ("objectives", "injects"):
        seen: set[str] = set()
        for position, item in enumerate(getattr(scenario, section)):
            if item.key in seen:
                problems.append(((section, position, "key"), f"duplicate key {item.key!r}"))
            seen.add(item.key)
    injects = {inject.key for inject in scenario.injects}
    cadence = scenario.cadence
    if cadence.month > cadence.every_months:
        problems.append(
            (
                ("cadence", "month"),
                f"month {cadence.month} is not in a period of {cadence.every_months} months",
            )
        )
    if len(set(cadence.participants)) != len(cadence.participants):
        problems.append((("cadence", "participants"), "a participant is named twice"))
    for position, objective in enumerate(scenario.objectives):
        if objective.after is not None and objective.after not in injects:
            problems.append((("objectives", position, "after"), f"no inject {objective.after!r}"))
    try:
        playbook: Playbook = playbooks.get(scenario.playbook).playbook
    except NotFound:
        known = ", ".join(item.playbook.key for item in playbooks.all())
        return [*problems, (("playbook",), f"no playbook {scenario.playbook!r} (known: {known})")]
    if playbook.severity(scenario.severity) is None:
        problems.append(
            (("severity",), f"playbook {playbook.key} has no severity {scenario.severity!r}")
        )
    roles = {role.key for role in playbook.roles}
    for position, participant in enumerate(scenario.participants):
        if participant.role not in roles:
            problems.append(
                (("participants", position, "role"), f"no roster role {participant.role!r}")
            )
    for position, inject in enumerate(scenario.injects):
        role = getattr(inject.action, "role", None)
        if role is not None and role not in roles:
            problems.append((("injects", position, "action", "role"), f"no roster role {role!r}"))
    return problems


def parse_scenario(text: str, path: Path, playbooks: PlaybookRegistry) -> LoadedScenario:
    scenario, line_of = read_document(text, path, Scenario, ScenarioInvalid, "drill scenario")
    problems = problems_at(path, _cross_references(scenario, playbooks), line_of)
    if problems:
        raise ScenarioInvalid(problems)
    return LoadedScenario(scenario, path, scenario.model_dump(mode="json", by_alias=True))


def load_file(path: Path, playbooks: PlaybookRegistry) -> LoadedScenario:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ScenarioInvalid([Problem(path, None, "", f"cannot read: {exc}")]) from None
    return parse_scenario(text, path, playbooks)


def load_directory(directory: Path, playbooks: PlaybookRegistry) -> dict[str, LoadedScenario]:
    """Every ``*.yaml`` scenario in the directory; all problems of all files, or none."""
    if not directory.is_dir():
        raise ScenarioInvalid([Problem(directory, None, "", "drill directory does not exist")])
    loaded: dict[str, LoadedScenario] = {}
    problems: list[Problem] = []
    for path in sorted([*directory.glob("*.yaml"), *directory.glob("*.yml")]):
        try:
            item = load_file(path, playbooks)
        except ScenarioInvalid as exc:
            problems.extend(exc.problems)
            continue
        if item.scenario.key in loaded:
            other = loaded[item.scenario.key].path.name
            problems.append(
                Problem(path, 1, "key", f"key {item.scenario.key!r} also used by {other}")
            )
            continue
        loaded[item.scenario.key] = item
    if problems:
        raise ScenarioInvalid(problems)
    return loaded
