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


# The services already in the shape of issue 16: the others join this list as they take it.
SHAPED = ["approval", "delivery"]
# A use case may take the validated request body as its command, when a copy would only repeat
# its fields (the carrier's tracking report).
COMMANDS_FROM_SCHEMAS = {"services/delivery/usecases/dispatch.py"}


@pytest.mark.parametrize("service", SHAPED)
def test_a_service_has_the_one_shape(service: str) -> None:
    folder = ROOT / "services" / service
    for module in ("main.py", "deps.py", "api.py", "schemas.py", "domain.py", "db.py"):
        assert (folder / module).is_file(), f"services/{service}/{module} is missing"
    assert (folder / "usecases" / "__init__.py").is_file()
    assert not (folder / "service.py").exists(), "the use cases live in usecases/"


@pytest.mark.parametrize("service", SHAPED)
def test_the_layers_import_downwards_only(service: str) -> None:
    package = f"services.{service}"
    for path in python_files(f"services/{service}"):
        name = path.relative_to(ROOT).as_posix()
        modules = imported_modules(path)
        if path.name == "api.py":
            # Endpoints take deps.py's dependencies, never the runtime, and shape schemas from
            # what the use cases return, never from ORM rows.
            assert f"{package}.db" not in modules, f"{name} imports ORM rows"
            assert "shared.runtime" not in modules, f"{name} imports the runtime"
        if path.name == "domain.py":
            for module in modules:
                top = module.split(".")[0]
                assert top not in ("sqlalchemy", "fastapi", "httpx"), f"{name} imports {module}"
        if "usecases" in path.parts:
            for layer in ("api", "deps", "main", "consumers"):
                assert f"{package}.{layer}" not in modules, f"{name} imports {layer}"
            if name not in COMMANDS_FROM_SCHEMAS:
                assert f"{package}.schemas" not in modules, f"{name} imports HTTP schemas"
            assert "fastapi" not in modules, f"{name} imports FastAPI"
