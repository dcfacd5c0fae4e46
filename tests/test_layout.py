"""The house's rooms: no module imports another module's private (`_name`) helpers; a helper two
modules share is public in one of them. (The import direction itself is `lint-imports`' job.)"""

from __future__ import annotations

import ast
from pathlib import Path

import trainlab

SRC = Path(trainlab.__file__).parent


def private_imports(root: Path) -> list[str]:
    """`path:line module._name` for each `from trainlab... import _name` below `root`."""
    found = []
    for path in sorted(root.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("trainlab"):
                found += [
                    f"{path.relative_to(root)}:{node.lineno} {node.module}.{a.name}"
                    for a in node.names
                    if a.name.startswith("_") and not a.name.startswith("__")
                ]
    return found


def test_no_module_imports_another_modules_private_names() -> None:
    assert private_imports(SRC) == []


def test_the_check_sees_a_private_import(tmp_path: Path) -> None:
    (tmp_path / "a.py").write_text("from trainlab.data.files import _secret, public\n")
    assert private_imports(tmp_path) == ["a.py:1 trainlab.data.files._secret"]
