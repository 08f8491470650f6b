"""A channel is named by ``ChannelName`` (or the enum of what it stands for there: how a page
was answered, how a complaint came in), never by a bare "sms", "email" or "voice": a typo in
a string is found by no checker, and a new channel should be found wherever channels are
listed. The only bare names left are enum values and the names of contact fields."""

import ast
from pathlib import Path

import incident_cmd

PACKAGE = Path(incident_cmd.__file__).parent
CHANNEL_WORDS = {"sms", "email", "voice"}
# (file, the module-level name the literal is in): why it is not a channel there.
ALLOWED = {
    ("auth/service.py", "update_user"): "the user's email field, which may be cleared",
    ("customers/service.py", "CUSTOMER_FIELDS"): "the customer's email field",
    ("web/admin.py", "USER_FIELDS"): "the user form's email field",
    ("web/queue.py", "INTAKE_FIELDS"): "the intake form's email field",
    ("web/queue.py", "take_in"): "the intake form's email field",
}


def _name_of(statement: ast.stmt) -> str:
    if isinstance(statement, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
        return statement.name
    if isinstance(statement, ast.Assign | ast.AnnAssign):
        targets = statement.targets if isinstance(statement, ast.Assign) else [statement.target]
        return ", ".join(ast.unparse(target) for target in targets)
    return type(statement).__name__


def _enum_values(tree: ast.Module) -> set[int]:
    """The ids of the literals that are the values of StrEnum members."""
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ClassDef) and any(
            ast.unparse(base) == "StrEnum" for base in node.bases
        ):
            for member in node.body:
                if isinstance(member, ast.Assign) and isinstance(member.value, ast.Constant):
                    found.add(id(member.value))
    return found


def bare_channel_names(package: Path) -> list[str]:
    found = []
    for path in sorted(package.rglob("*.py")):
        relative = path.relative_to(package).as_posix()
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        enum_values = _enum_values(tree)
        for statement in tree.body:
            name = _name_of(statement)
            for node in ast.walk(statement):
                if (
                    isinstance(node, ast.Constant)
                    and node.value in CHANNEL_WORDS
                    and id(node) not in enum_values
                    and (relative, name) not in ALLOWED
                ):
                    found.append(f"{relative}:{node.lineno} in {name}: {node.value!r}")
    return found


def test_no_channel_is_named_by_a_bare_string():
    assert bare_channel_names(PACKAGE) == []


def test_a_bare_channel_name_is_found(tmp_path):
    (tmp_path / "notices.py").write_text(
        "from enum import StrEnum\n\n\n"
        "class Way(StrEnum):\n    sms = 'sms'\n\n\n"
        "def send(channel: str) -> bool:\n    return channel == 'email'\n",
        encoding="utf-8",
    )
    assert bare_channel_names(tmp_path) == ["notices.py:9 in send: 'email'"]


def test_every_allowance_is_still_needed():
    """An allowance whose literal has gone would let a new one in unseen."""
    used = set()
    for relative, name in ALLOWED:
        tree = ast.parse((PACKAGE / relative).read_text(encoding="utf-8"))
        for statement in tree.body:
            if _name_of(statement) == name and any(
                isinstance(node, ast.Constant) and node.value in CHANNEL_WORDS
                for node in ast.walk(statement)
            ):
                used.add((relative, name))
    assert used == set(ALLOWED)
