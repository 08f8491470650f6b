"""Reads playbook files and reports every problem with its file, line and field."""

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from incident_cmd.i18n import LOCALES
from incident_cmd.playbooks.schema import Playbook

Location = tuple[str | int, ...]


@dataclass(frozen=True)
class Problem:
    file: Path
    line: int | None
    field: str
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else str(self.file)
        return (
            f"{where}: {self.field}: {self.message}" if self.field else f"{where}: {self.message}"
        )


class FileInvalid(Exception):
    """A file refused, with every problem found in it."""

    def __init__(self, problems: list[Problem]) -> None:
        super().__init__("\n".join(str(problem) for problem in problems))
        self.problems = problems


class PlaybookInvalid(FileInvalid):
    pass


@dataclass(frozen=True)
class LoadedPlaybook:
    playbook: Playbook
    path: Path
    content_hash: str
    snapshot: dict[str, Any]


def _field(location: Location) -> str:
    text = ""
    for part in location:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def _line_index(node: yaml.Node, path: Location, index: dict[Location, int], dupes: list) -> None:
    if isinstance(node, yaml.MappingNode):
        seen: set[str] = set()
        for key_node, value_node in node.value:
            key = key_node.value
            child = (*path, key)
            if key in seen:
                dupes.append((child, key_node.start_mark.line + 1))
            seen.add(key)
            index[child] = key_node.start_mark.line + 1
            _line_index(value_node, child, index, dupes)
    elif isinstance(node, yaml.SequenceNode):
        for position, item in enumerate(node.value):
            child = (*path, position)
            index[child] = item.start_mark.line + 1
            _line_index(item, child, index, dupes)


def _line_for(location: Location, index: dict[Location, int]) -> int | None:
    for end in range(len(location), -1, -1):
        line = index.get(tuple(location[:end]))
        if line is not None:
            return line
    return None


def _cross_references(playbook: Playbook, template_dir: Path | None) -> list[tuple[Location, str]]:
    problems: list[tuple[Location, str]] = []
    for section in (
        "severities",
        "roles",
        "tasks",
        "notifications",
        "status_templates",
        "review",
        "triggers",
    ):
        seen: set[str] = set()
        for position, item in enumerate(getattr(playbook, section)):
            if item.key in seen:
                problems.append(((section, position, "key"), f"duplicate key {item.key!r}"))
            seen.add(item.key)
    roles = {role.key for role in playbook.roles}
    tasks = {task.key: task for task in playbook.tasks}
    for position, task in enumerate(playbook.tasks):
        if task.role not in roles:
            problems.append((("tasks", position, "role"), f"no roster role {task.role!r}"))
        if task.depends_on is not None and task.depends_on not in tasks:
            problems.append((("tasks", position, "depends_on"), f"no task {task.depends_on!r}"))
    for position, task in enumerate(playbook.tasks):
        visited = {task.key}
        current = task
        while current.depends_on in tasks:
            current = tasks[current.depends_on]
            if current.key in visited:
                problems.append((("tasks", position, "depends_on"), "dependencies form a cycle"))
                break
            visited.add(current.key)
    for position, role in enumerate(playbook.roles):
        if role.acting is not None and (role.acting not in roles or role.acting == role.key):
            problems.append(
                (("roles", position, "acting"), f"no other roster role {role.acting!r}")
            )
        if "acting" in role.escalation.chain and role.acting is None:
            problems.append(
                (("roles", position, "escalation"), "the acting step needs the role's acting")
            )
    for position, item in enumerate(playbook.review):
        if item.role not in roles:
            problems.append((("review", position, "role"), f"no roster role {item.role!r}"))
    notices = {notice.key for notice in playbook.notifications}
    for position, notice in enumerate(playbook.notifications):
        if notice.skip_if_replied_to is not None and notice.skip_if_replied_to not in notices:
            problems.append(
                (
                    ("notifications", position, "skip_if_replied_to"),
                    f"no notification {notice.skip_if_replied_to!r}",
                )
            )
        if template_dir is not None:
            for locale in LOCALES:
                name = f"{notice.template}.{notice.channel}.{locale}.j2"
                if not (template_dir / "messages" / name).is_file():
                    problems.append(
                        (
                            ("notifications", position, "template"),
                            f"no template messages/{name} in {template_dir}",
                        )
                    )
    return problems


M = TypeVar("M", bound=BaseModel)


def read_document(
    text: str, path: Path, model: type[M], invalid: type[FileInvalid], what: str
) -> tuple[M, Callable[[Location], int | None]]:
    """A YAML file read into ``model``, or ``invalid`` raised with every problem at its line:
    bad YAML, a key given twice, a field the model refuses. Also returns how to find the line
    of any other location, for the caller's own cross-reference checks. Playbooks and drill
    scenarios are both read this way."""
    try:
        root = yaml.compose(text)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        reason = getattr(exc, "problem", None) or str(exc)
        raise invalid([Problem(path, line, "", f"not valid YAML: {reason}")]) from None
    if not isinstance(data, dict):
        raise invalid([Problem(path, 1, "", f"a {what} must be a YAML mapping")])
    index: dict[Location, int] = {}
    duplicates: list[tuple[Location, int]] = []
    _line_index(root, (), index, duplicates)
    problems = [Problem(path, line, _field(loc), "key appears twice") for loc, line in duplicates]
    try:
        document = model.model_validate(data)
    except ValidationError as exc:
        for error in exc.errors():
            location = tuple(error["loc"])
            problems.append(
                Problem(path, _line_for(location, index), _field(location), error["msg"])
            )
        raise invalid(problems) from None
    if problems:
        raise invalid(problems)
    return document, lambda location: _line_for(location, index)


def problems_at(
    path: Path, found: list[tuple[Location, str]], line_of: Callable[[Location], int | None]
) -> list[Problem]:
    return [
        Problem(path, line_of(location), _field(location), message) for location, message in found
    ]


def parse_playbook(text: str, path: Path, template_dir: Path | None = None) -> LoadedPlaybook:
    playbook, line_of = read_document(text, path, Playbook, PlaybookInvalid, "playbook")
    problems = problems_at(path, _cross_references(playbook, template_dir), line_of)
    if problems:
        raise PlaybookInvalid(problems)
    snapshot = playbook.model_dump(mode="json", by_alias=True)
    canonical = json.dumps(snapshot, sort_keys=True, ensure_ascii=False).encode()
    return LoadedPlaybook(playbook, path, hashlib.sha256(canonical).hexdigest(), snapshot)


def load_file(path: Path, template_dir: Path | None = None) -> LoadedPlaybook:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise PlaybookInvalid([Problem(path, None, "", f"cannot read: {exc}")]) from None
    return parse_playbook(text, path, template_dir)


def load_directory(directory: Path, template_dir: Path | None = None) -> dict[str, LoadedPlaybook]:
    """Every ``*.yaml`` playbook in the directory; all problems of all files, or none."""
    if not directory.is_dir():
        raise PlaybookInvalid([Problem(directory, None, "", "playbook directory does not exist")])
    loaded: dict[str, LoadedPlaybook] = {}
    problems: list[Problem] = []
    for path in sorted([*directory.glob("*.yaml"), *directory.glob("*.yml")]):
        try:
            item = load_file(path, template_dir)
        except PlaybookInvalid as exc:
            problems.extend(exc.problems)
            continue
        if item.playbook.key in loaded:
            other = loaded[item.playbook.key].path.name
            problems.append(
                Problem(path, 1, "key", f"key {item.playbook.key!r} also used by {other}")
            )
            continue
        loaded[item.playbook.key] = item
    if problems:
        raise PlaybookInvalid(problems)
    return loaded
