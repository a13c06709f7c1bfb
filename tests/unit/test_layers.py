"""The package layering stated in batchml/__init__.py: no module imports from a package above it.

Every import counts, at the top of a module, inside a function or under TYPE_CHECKING.
"""

from __future__ import annotations

import ast
from pathlib import Path

import batchml

ROOT = Path(batchml.__file__).parent


def _package(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[0] == "batchml" else None


def _imports(path: Path) -> list[tuple[int, str]]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            if node.module != "batchml":
                found.append((node.lineno, node.module))
            else:  # `from batchml import cli` imports a package; `__version__` is the root's
                names = (alias.name for alias in node.names if (ROOT / alias.name).is_dir())
                found += [(node.lineno, f"batchml.{name}") for name in names]
    return found


def upward_imports() -> list[str]:
    rank = {name: index for index, name in enumerate(reversed(batchml.LAYERS))}
    problems = []
    for path in sorted(ROOT.rglob("*.py")):
        relative = path.relative_to(ROOT)
        if len(relative.parts) < 2:
            continue
        own = relative.parts[0]
        for line, module in _imports(path):
            other = _package(module)
            if other is None or other == own:
                continue
            if other not in rank or own not in rank:
                problems.append(f"{relative}:{line}: {own} or {other} is not in batchml.LAYERS")
            elif rank[other] >= rank[own]:
                problems.append(f"{relative}:{line}: {own} imports {module}, which is not below it")
    return problems


def test_every_package_is_in_a_layer() -> None:
    packages = {p.name for p in ROOT.iterdir() if p.is_dir() and (p / "__init__.py").exists()}
    assert packages == set(batchml.LAYERS)


def test_no_module_imports_from_a_package_above_it() -> None:
    assert upward_imports() == []


def test_the_check_sees_an_upward_import(tmp_path: Path) -> None:
    module = tmp_path / "m.py"
    module.write_text("def f():\n    from batchml.cli.app import run\n")
    assert _imports(module) == [(2, "batchml.cli.app")]
