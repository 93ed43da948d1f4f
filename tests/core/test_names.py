"""Names that say one thing each: no two modules of helperhub define the same public top-level
function or class (an import or re-export is not a definition)."""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

import helperhub

PACKAGE = Path(helperhub.__file__).parent
ALLOWED = {"main"}  # entry points: each module's own


def public_definitions() -> dict[str, list[str]]:
    """Public top-level function and class name -> the modules defining it (dunder modules left out)."""
    found: dict[str, list[str]] = defaultdict(list)
    for path in sorted(PACKAGE.rglob("*.py")):
        if path.name.startswith("__"):
            continue
        module = ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        for node in ast.parse(path.read_text(encoding="utf-8")).body:
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef) and not (
                node.name.startswith("_") or node.name in ALLOWED
            ):
                found[node.name].append(module)
    return found


def test_the_walk_sees_the_package() -> None:
    found = public_definitions()
    assert "helperhub.core.metadata" in found["parse_core_metadata"]
    assert "helperhub.lock.lockfile" in found["PackagePin"]


def test_no_public_name_is_defined_by_two_modules() -> None:
    twice = {name: modules for name, modules in public_definitions().items() if len(modules) > 1}
    assert twice == {}, "rename so each name says its one thing, or merge the two: " + repr(twice)
