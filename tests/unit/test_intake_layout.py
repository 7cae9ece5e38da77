"""Intake's shape, held: pure rules, thin routers, use cases that never see the HTTP models but
the request bodies they are handed, and no module too big to read."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tests.unit.test_layout import ROOT, imported_modules, python_files

INTAKE = "services/intake"
# The validated request bodies a command may carry as they are (converting them would only copy
# their fields); every other HTTP model is built by the routers.
COMMAND_BODIES = {"ApplicationIn", "SupplementIn"}


def schema_names_imported(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module == "services.intake.schemas":
            names.update(alias.name for alias in node.names)
    return names


@pytest.mark.parametrize("path", python_files(f"{INTAKE}/domain"), ids=lambda p: p.name)
def test_intakes_rules_import_neither_the_database_nor_the_web(path: Path) -> None:
    for module in imported_modules(path):
        assert module.split(".")[0] not in ("sqlalchemy", "fastapi", "starlette"), module
        assert module != "services.intake.db", module


def test_intakes_routers_import_no_orm_rows() -> None:
    assert "services.intake.db" not in imported_modules(ROOT / INTAKE / "api.py")


@pytest.mark.parametrize("path", python_files(f"{INTAKE}/usecases"), ids=lambda p: p.name)
def test_intakes_use_cases_see_no_http_model_but_the_request_bodies(path: Path) -> None:
    assert not any(m.split(".")[0] in ("fastapi", "starlette") for m in imported_modules(path))
    assert schema_names_imported(path) <= COMMAND_BODIES


def test_no_module_of_intake_is_over_400_lines() -> None:
    for path in python_files(INTAKE):
        if "migrations" in path.parts:
            continue
        lines = len(path.read_text(encoding="utf-8").splitlines())
        assert lines <= 400, f"{path.relative_to(ROOT)} has {lines} lines"


def test_intake_has_no_service_module_left() -> None:
    assert not (ROOT / INTAKE / "service.py").exists()
