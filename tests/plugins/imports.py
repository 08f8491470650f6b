"""What a Python file imports, read from its syntax tree, for the tests that hold the layers
(of the package and of the tests themselves) to their rules."""

import ast
from pathlib import Path


def imported_modules(path: Path, root: Path) -> set[str]:
    """The full dotted name of everything the file imports, at its top or inside a function:
    ``import a.b`` gives ``a.b``; ``from a.b import c`` gives ``a.b.c`` whether ``c`` is a
    module or a name in ``a.b`` (so ``from incident_cmd import paging`` gives
    ``incident_cmd.paging``); a relative import is resolved against the file's package, its
    dotted path under ``root``."""
    package = path.relative_to(root).parent.parts
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else ()
            module = ".".join((*base, *([node.module] if node.module else [])))
            found |= {f"{module}.{alias.name}" for alias in node.names}
    return found
