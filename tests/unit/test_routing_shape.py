"""The shape of routing and the console (README's layout): endpoints are handed what they need
by `deps.py`, never the whole runtime; routers import no ORM rows; use cases import no HTTP
schemas and no FastAPI; the HTTP models live in `schemas.py`."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def imports_of(path: Path) -> set[str]:
    """Every module and every `module.name` the file imports."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


@pytest.mark.parametrize("service", ["routing", "console"])
def test_endpoints_take_dependencies_not_the_runtime_and_no_orm_rows(service: str) -> None:
    api = ROOT / "services" / service / "api.py"
    imported = imports_of(api)
    assert "shared.webapp.Runtime" not in imported
    assert "shared.runtime" not in imported
    assert f"services.{service}.db" not in imported
    assert f"services.{service}.deps" in imported
    assert not (ROOT / "services" / service / "service.py").exists()


def test_routing_use_cases_import_no_http_schemas_nor_fastapi() -> None:
    modules = sorted((ROOT / "services" / "routing" / "usecases").glob("*.py"))
    assert {path.stem for path in modules} >= {"routing", "agreements", "rules", "ledger"}
    for path in modules:
        for name in imports_of(path):
            assert not name.startswith(("fastapi", "services.routing.schemas")), (path, name)


def test_routing_http_models_are_in_schemas() -> None:
    api = ast.parse((ROOT / "services" / "routing" / "api.py").read_text(encoding="utf-8"))
    classes = [node.name for node in ast.walk(api) if isinstance(node, ast.ClassDef)]
    assert classes == []
    schemas = ast.parse((ROOT / "services" / "routing" / "schemas.py").read_text("utf-8"))
    assert {node.name for node in ast.walk(schemas) if isinstance(node, ast.ClassDef)} >= {
        "ResolveRequest",
        "AgreementOut",
        "VerifyOut",
    }
