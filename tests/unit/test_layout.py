"""The layout the README promises: services import `shared/`, never each other, and neither
services nor the runtime library import the local tooling; no import cycle anywhere; endpoints
shape no ORM rows and the domain imports no framework; the tooling imports no service; the
production image's entrypoint imports no launcher; no module is over 400 lines, data and
migrations aside.

The rules go by pattern (any module named `api` or `domain`, or inside such a package), not by
today's file names, so a service split into packages is held the same way."""

from __future__ import annotations

import ast
import graphlib
import subprocess
import sys
from functools import cache
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


# --- the module graph of the code base --------------------------------------------------------

LAYERS = ("shared", "services", "tooling")


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


@cache
def project_modules() -> dict[str, Path]:
    return {module_name(path): path for layer in LAYERS for path in python_files(layer)}


def every_import(name: str, path: Path) -> set[str]:
    """What a module imports, wherever the import is written: at the top, in a function (a lazy
    import), or under TYPE_CHECKING. Relative imports are resolved; `from a import b` counts as
    an import of the module a.b when there is one."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, *([node.module] if node.module else [])])
            for alias in node.names:
                found.add(
                    f"{base}.{alias.name}" if f"{base}.{alias.name}" in project_modules() else base
                )
    return found


@cache
def import_graph() -> dict[str, frozenset[str]]:
    """Each module of shared/, services/ and tooling/ with the modules of those it imports."""
    graph: dict[str, frozenset[str]] = {}
    for name, path in project_modules().items():
        targets = set()
        for module in every_import(name, path):
            while module and module not in project_modules():
                module = module.rpartition(".")[0]  # a name inside a module: the module
            if module and module != name:
                targets.add(module)
        graph[name] = frozenset(targets)
    return graph


def in_layer(module: str, layer: str) -> bool:
    """True if `module` is named `layer` or lies inside a package of that name (services.x.api,
    services.x.api.cases, services.x.usecases.api)."""
    return layer in module.split(".")[2:] if module.startswith("services.") else False


def test_no_import_cycle_in_shared_services_or_tooling() -> None:
    try:
        tuple(graphlib.TopologicalSorter(import_graph()).static_order())
    except graphlib.CycleError as cycle:
        pytest.fail(f"import cycle: {' -> '.join(reversed(cycle.args[1]))}")


def test_the_cycle_search_counts_lazy_imports() -> None:
    """A cycle closed by an import inside a function is still a cycle: `tongban run` imports
    the stack inside its command, and an import back from the stack would close one."""
    graph = import_graph()
    assert "tooling.stack" in graph["tooling.cli"]
    closed = {**graph, "tooling.stack": graph["tooling.stack"] | {"tooling.cli"}}
    with pytest.raises(graphlib.CycleError):
        tuple(graphlib.TopologicalSorter(closed).static_order())


def service_modules(layer: str) -> list[str]:
    return sorted(name for name in project_modules() if in_layer(name, layer))


def test_the_patterns_find_every_service_and_the_console() -> None:
    apis = {name.split(".")[1] for name in service_modules("api")}
    assert apis == {"intake", "routing", "approval", "delivery", "console", "portal"}
    assert service_modules("domain"), "no domain module found: the domain rule would hold nothing"


@pytest.mark.parametrize("module", service_modules("api"))
def test_an_api_module_imports_no_orm_rows(module: str) -> None:
    rows = sorted(target for target in import_graph()[module] if in_layer(target, "db"))
    assert not rows, f"{module} imports ORM rows from {', '.join(rows)}"


@pytest.mark.parametrize("module", service_modules("domain"))
def test_a_domain_module_imports_neither_sqlalchemy_nor_fastapi(module: str) -> None:
    frameworks = sorted(
        imported
        for imported in every_import(module, project_modules()[module])
        if imported.split(".")[0] in ("sqlalchemy", "fastapi", "starlette")
    )
    assert not frameworks, f"{module} imports {', '.join(frameworks)}"


def test_no_tooling_module_imports_a_service() -> None:
    """The operator commands read what they need of a service from shared/ (the audit ledger's
    code and table, shared.audit; who reads which topic, shared.messaging.readers), never from
    the service itself, lazily or not."""
    offenders = {
        name: sorted(target for target in targets if target.startswith("services"))
        for name, targets in import_graph().items()
        if name.startswith("tooling")
    }
    offenders = {name: services for name, services in offenders.items() if services}
    assert not offenders, f"tooling imports services: {offenders}"


def test_the_launchers_import_no_service_even_through_other_tooling() -> None:
    """The Kafka and PostgreSQL launchers (tooling.infra, less `python -m tooling.infra`, which
    hands them the ACL table) reach no service by any chain of imports."""
    reached: set[str] = set()
    frontier = [
        name
        for name in import_graph()
        if name.startswith("tooling.infra") and name != "tooling.infra.__main__"
    ]
    while frontier:
        module = frontier.pop()
        if module not in reached:
            reached.add(module)
            frontier.extend(import_graph()[module])
    assert not sorted(name for name in reached if name.startswith("services"))


def test_the_production_entrypoint_imports_no_launcher() -> None:
    """`tongban serve <service>` (the image's entrypoint) with each service's app factory, in a
    fresh interpreter: neither the Kafka and PostgreSQL launchers nor the local stack load."""
    factories = [
        f"services.{name}.main"
        for name in ("intake", "routing", "approval", "delivery", "console", "portal")
    ]
    probe = "; ".join(
        [
            "import importlib, sys",
            "import tooling.cli",
            *(f"importlib.import_module({factory!r})" for factory in factories),
            "print(' '.join(sorted(sys.modules)))",
        ]
    )
    loaded = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=120
    ).stdout.split()
    assert "tooling.cli" in loaded and set(factories) <= set(loaded)
    launchers = [name for name in loaded if name.startswith(("tooling.infra", "tooling.stack"))]
    assert not launchers, f"the entrypoint imports {launchers}"


# --- who may import whom ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "service", ["intake", "routing", "approval", "delivery", "console", "portal"]
)
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
SHAPED = ["approval", "delivery", "portal"]
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


# --- the size of a module ---------------------------------------------------------------------

MAX_LINES = 400
# The contract's models: one pydantic class per event type, a few fields and a docstring each,
# the event catalog as AsyncAPI and contracts/ publish it. Data more than code, read as one
# reference; split, it would only scatter that reference.
DATA_MODULES = {"shared/messaging/events.py"}
# split after issue 18's consumer/relay work lands
TEMPORARY_EXCEPTIONS = {"shared/messaging/relay.py", "shared/messaging/consumer.py"}


def module_lines() -> dict[str, int]:
    """Lines of each module of shared/, services/ and tooling/, less the services' Alembic
    revisions (migrations/: each one revision, as Alembic lays it out)."""
    return {
        path.relative_to(ROOT).as_posix(): len(path.read_text(encoding="utf-8").splitlines())
        for layer in LAYERS
        for path in python_files(layer)
        if "migrations" not in path.parent.parts
    }


def test_no_module_is_over_400_lines() -> None:
    """One module, one responsibility a reader takes in at once: a module that grows past about
    400 lines is split by what its parts do (the Kafka launcher's configuration, process and
    credentials; delivery's registry, printing and revocations), not by its line count."""
    exempt = DATA_MODULES | TEMPORARY_EXCEPTIONS
    too_long = {
        name: lines
        for name, lines in module_lines().items()
        if lines > MAX_LINES and name not in exempt
    }
    assert not too_long, f"modules over {MAX_LINES} lines: {too_long}"


def test_the_size_exceptions_name_modules_that_exist() -> None:
    """An exception for a module moved or renamed would hold nothing while reading as a rule."""
    missing = sorted(
        name for name in DATA_MODULES | TEMPORARY_EXCEPTIONS if name not in module_lines()
    )
    assert not missing, f"size exceptions for no module: {missing}"
