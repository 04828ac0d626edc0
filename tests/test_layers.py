"""The layering rules of docs/ARCHITECTURE.md ("Layers"), checked on the import graph.

    protocol  <-  aio, sim  <-  widgets  <-  notebooks
                  aio, sim  <-  validate  <-  cli, commands

* ``mqttsim.protocol`` is pure: standard library only, and never a module that
  reads a clock, draws a random number, opens a socket, starts a thread or logs.
* ``mqttsim.sim`` and ``mqttsim.aio`` build on the protocol and never on each other
  or on the widgets.
* Nothing in the package imports ``mqttsim.widgets`` but the widgets themselves.
* ``mqttsim.validate`` (the link emulator and the validation harness: root,
  namespaces, real stacks) may build on the protocol, the simulator and aio;
  nothing imports it but ``mqttsim.cli``, ``mqttsim.commands`` and itself.

The checks read the source with ``ast`` (no import runs), so a violation inside a
function body or an ``if TYPE_CHECKING:`` block is caught too. Each file is its own
test case, and a failure names the file, the line and the import.
"""

from __future__ import annotations

import ast
import importlib
import json
import re
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "mqttsim"
SOURCES = sorted(PACKAGE.rglob("*.py"))
PROTOCOL_SOURCES = sorted((PACKAGE / "protocol").rglob("*.py"))

# Standard-library modules the protocol core must not touch: each one is a clock,
# randomness, I/O, concurrency or console output (docs/ARCHITECTURE.md, "Layers").
PROTOCOL_FORBIDDEN_STDLIB = frozenset(
    {"asyncio", "socket", "selectors", "threading", "time", "random", "logging"}
)
# Third-party packages named by the rules; any other non-stdlib import is refused too.
PROTOCOL_FORBIDDEN_THIRD_PARTY = frozenset({"simpy", "ipywidgets", "pandas"})

# For each driver layer, the package layers it may not import.
FORBIDDEN_LAYERS = {
    "mqttsim.sim": ("mqttsim.aio", "mqttsim.widgets", "mqttsim.cli"),
    "mqttsim.aio": ("mqttsim.sim", "mqttsim.widgets", "mqttsim.cli"),
    "mqttsim.validate": ("mqttsim.widgets", "mqttsim.cli", "mqttsim.commands"),
}
# The only modules that may import mqttsim.validate (besides its own).
VALIDATE_IMPORTERS = ("mqttsim.validate", "mqttsim.cli", "mqttsim.commands")


@dataclass(frozen=True, slots=True)
class Import:
    """One imported name, as an absolute dotted path, and where it was imported."""

    name: str
    line: int

    @property
    def top(self) -> str:
        return self.name.partition(".")[0]

    def within(self, module: str) -> bool:
        return self.name == module or self.name.startswith(module + ".")


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _resolve(path: Path, node: ast.ImportFrom) -> str:
    """The absolute module of ``from <module> import ...``, relative forms included."""
    if not node.level:
        return node.module or ""
    package = module_name(path).split(".")
    if path.name != "__init__.py":
        package.pop()
    base = package[: len(package) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def imports_of(path: Path) -> Iterator[Import]:
    """Every import anywhere in the file; ``from m import x`` yields ``m.x``.

    Naming ``m.x`` rather than ``m`` lets ``from mqttsim import widgets`` count as
    an import of ``mqttsim.widgets``; prefix matching keeps ``m.x`` inside ``m``.
    """
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield Import(alias.name, node.lineno)
        elif isinstance(node, ast.ImportFrom):
            base = _resolve(path, node)
            for alias in node.names:
                name = base if alias.name == "*" else f"{base}.{alias.name}"
                yield Import(name, node.lineno)


def layer_violations(path: Path) -> list[str]:
    """The broken layering rules in one source file, one readable line each."""
    module = module_name(path)
    problems = []
    for imp in imports_of(path):
        where = f"{path.relative_to(ROOT)}:{imp.line} imports {imp.name}"
        if module == "mqttsim.protocol" or module.startswith("mqttsim.protocol."):
            if imp.top in PROTOCOL_FORBIDDEN_STDLIB:
                problems.append(f"{where}: the protocol core never uses {imp.top}")
            elif imp.top == "mqttsim":
                if not imp.within("mqttsim.protocol"):
                    problems.append(f"{where}: the protocol imports only from mqttsim.protocol")
            elif imp.top in PROTOCOL_FORBIDDEN_THIRD_PARTY or (
                imp.top not in sys.stdlib_module_names
            ):
                problems.append(f"{where}: the protocol core uses the standard library only")
        for layer, forbidden in FORBIDDEN_LAYERS.items():
            if module == layer or module.startswith(layer + "."):
                for other in forbidden:
                    if imp.within(other):
                        problems.append(f"{where}: {layer} must not import {other}")
        if imp.within("mqttsim.widgets") and not (
            module == "mqttsim.widgets" or module.startswith("mqttsim.widgets.")
        ):
            problems.append(f"{where}: only notebooks and mqttsim.widgets import the widgets")
        if imp.within("mqttsim.validate") and not any(
            module == m or module.startswith(m + ".") for m in VALIDATE_IMPORTERS
        ):
            problems.append(
                f"{where}: only mqttsim.cli and mqttsim.commands import mqttsim.validate"
            )
    return problems


def _file_id(path: Path) -> str:
    return str(path.relative_to(ROOT))


@pytest.mark.parametrize("path", SOURCES, ids=_file_id)
def test_imports_respect_the_layers(path: Path) -> None:
    problems = layer_violations(path)
    assert not problems, "\n".join(problems)


# --- no module-level mutable state in the protocol core --------------------------------------

CONSTANT = re.compile(r"_?[A-Z][A-Z0-9_]*")
MUTABLE_FACTORIES = frozenset(
    {"list", "dict", "set", "bytearray", "defaultdict", "deque", "OrderedDict", "Counter"}
)


def _is_mutable(value: ast.expr | None) -> bool:
    if isinstance(value, ast.List | ast.Dict | ast.Set | ast.ListComp | ast.DictComp | ast.SetComp):
        return True
    if isinstance(value, ast.Call):
        func = value.func
        name = func.id if isinstance(func, ast.Name) else getattr(func, "attr", None)
        return name in MUTABLE_FACTORIES
    return False


def _module_level(body: list[ast.stmt]) -> Iterator[ast.stmt]:
    """Statements run at import time: the module body and its if/try/with blocks."""
    for node in body:
        yield node
        if isinstance(node, ast.If | ast.With):
            yield from _module_level(node.body)
            yield from _module_level(getattr(node, "orelse", []))
        elif isinstance(node, ast.Try):
            for block in (node.body, node.orelse, node.finalbody):
                yield from _module_level(block)
            for handler in node.handlers:
                yield from _module_level(handler.body)


def mutable_globals(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    problems = []
    value: ast.expr | None
    for node in _module_level(tree.body):
        if isinstance(node, ast.Assign):
            targets, value = node.targets, node.value
        elif isinstance(node, ast.AnnAssign):
            targets, value = [node.target], node.value
        else:
            continue
        if not _is_mutable(value):
            continue
        names = [n.id for t in targets for n in ast.walk(t) if isinstance(n, ast.Name)]
        for name in names:
            if name != "__all__" and not CONSTANT.fullmatch(name):
                problems.append(
                    f"{path.relative_to(ROOT)}:{node.lineno}: module-level mutable {name!r}; "
                    "keep state in the connection, broker or session objects, "
                    "or name a constant in CAPITALS"
                )
    return problems


@pytest.mark.parametrize("path", PROTOCOL_SOURCES, ids=_file_id)
def test_protocol_has_no_module_level_mutable_state(path: Path) -> None:
    problems = mutable_globals(path)
    assert not problems, "\n".join(problems)


# --- what actually loads, and what is exported ------------------------------------------------

PROTOCOL_MODULES = [module_name(p) for p in PROTOCOL_SOURCES]
DRIVER_MODULES = ["asyncio", "simpy", "ipywidgets", "pandas", "numpy", "matplotlib"]


@pytest.mark.parametrize("module", PROTOCOL_MODULES)
def test_importing_a_protocol_module_loads_no_driver(module: str) -> None:
    # The static check sees direct imports; this one also sees what they drag in.
    code = f"import json, sys, {module}; print(json.dumps(sorted(sys.modules)))"
    run = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert run.returncode == 0, f"import {module} failed:\n{run.stderr}"
    loaded = set(json.loads(run.stdout))
    unwanted = sorted(
        name
        for name in loaded
        if name.partition(".")[0] in DRIVER_MODULES
        or re.match(r"mqttsim\.(aio|sim|widgets|cli)\b", name)
    )
    assert not unwanted, f"import {module} loads {unwanted}"


def test_protocol_all_names_are_importable() -> None:
    protocol = importlib.import_module("mqttsim.protocol")
    exported = getattr(protocol, "__all__", None)
    if exported is None:
        pytest.skip("mqttsim/protocol/__init__.py does not define __all__ yet")
    assert len(exported) == len(set(exported)), "duplicate names in mqttsim.protocol.__all__"
    missing = [name for name in exported if not hasattr(protocol, name)]
    assert not missing, f"mqttsim.protocol.__all__ names what it does not define: {missing}"


@pytest.mark.parametrize("module", [m for m in PROTOCOL_MODULES if m != "mqttsim.protocol"])
def test_module_all_names_exist(module: str) -> None:
    mod = importlib.import_module(module)
    exported = getattr(mod, "__all__", None)
    if exported is None:
        pytest.skip(f"{module} has no __all__")
    missing = [name for name in exported if not hasattr(mod, name)]
    assert not missing, f"{module}.__all__ names what it does not define: {missing}"
