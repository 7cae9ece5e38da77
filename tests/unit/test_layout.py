"""The layout the README promises: services import `shared/`, never each other, and neither
services nor the runtime library import the local tooling."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def python_files(folder: str) -> list[Path]:
    return sorted((ROOT / folder).rglob("*.py"))


@pytest.mark.parametrize("service", ["intake", "routing", "approval", "delivery"])
def test_a_service_imports_shared_and_itself_only(service: str) -> None:
    for path in python_files(f"services/{service}"):
        for module in imported_modules(path):
            parts = module.split(".")
            if parts[0] == "services":
                assert parts[1:2] == [service], f"{path.relative_to(ROOT)} imports {module}"
            assert parts[0] != "tooling", f"{path.relative_to(ROOT)} imports {module}"


def test_the_runtime_library_imports_neither_services_nor_tooling() -> None:
    for path in python_files("shared"):
        for module in imported_modules(path):
            top = module.split(".")[0]
            assert top not in ("services", "tooling"), f"{path.relative_to(ROOT)} imports {module}"
