"""The rules of docs/ARCHITECTURE.md ("Writing compiled code") that a machine can check.

Read from the source with ``ast``, for every module in ``mqttsim.native.COMPILED``:

* a dataclass that writes its ``__init__`` out (the per-message objects: the
  generated one stays Python and is 30 times slower) says ``init=False``, takes
  exactly its fields as parameters, in their order, and sets every one; a field
  added to the class and forgotten in ``__init__`` would otherwise go unset;
* ``mqttsim/protocol/members.py`` names each member as the member it stands for,
  so that ``AT_LEAST_ONCE`` in compiled code is ``QoS.AT_LEAST_ONCE``.

Which code is on the per-message path (where members must be read from
``members.py``) is a judgement, not a rule a test can read, so it is not checked.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from mqttsim.native import COMPILED
from mqttsim.protocol import members
from mqttsim.protocol.enums import ProtocolVersion, QoS, ReasonCode

ROOT = Path(__file__).resolve().parent.parent


def _source(module: str) -> Path:
    return ROOT / (module.replace(".", "/") + ".py")


def _is_dataclass_call(node: ast.expr) -> bool:
    func = node.func if isinstance(node, ast.Call) else node
    return (isinstance(func, ast.Name) and func.id == "dataclass") or (
        isinstance(func, ast.Attribute) and func.attr == "dataclass"
    )


def _fields(cls: ast.ClassDef) -> list[str]:
    return [
        stmt.target.id
        for stmt in cls.body
        if isinstance(stmt, ast.AnnAssign)
        and isinstance(stmt.target, ast.Name)
        and "ClassVar" not in ast.unparse(stmt.annotation)
    ]


def _assigned(init: ast.FunctionDef) -> set[str]:
    """Attributes the ``__init__`` sets: ``self.x = ...`` or
    ``object.__setattr__(self, "x", ...)``."""
    names: set[str] = set()
    for node in ast.walk(init):
        if isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store):
            if isinstance(node.value, ast.Name) and node.value.id == "self":
                names.add(node.attr)
        if (
            isinstance(node, ast.Call)
            and ast.unparse(node.func).endswith("__setattr__")
            and len(node.args) >= 2
            and isinstance(node.args[1], ast.Constant)
            and isinstance(node.args[1].value, str)
        ):
            names.add(node.args[1].value)
    return names


def init_problems(source: str, where: str) -> list[str]:
    """Each dataclass whose written-out ``__init__`` breaks the rule, one line each."""
    problems = []
    for cls in ast.walk(ast.parse(source)):
        if not isinstance(cls, ast.ClassDef):
            continue
        decorators = [d for d in cls.decorator_list if _is_dataclass_call(d)]
        inits = [f for f in cls.body if isinstance(f, ast.FunctionDef) and f.name == "__init__"]
        if not decorators or not inits:
            continue
        decorator, init = decorators[0], inits[0]
        name = f"{where}:{init.lineno} {cls.name}.__init__"
        keywords = decorator.keywords if isinstance(decorator, ast.Call) else []
        if not any(
            k.arg == "init" and isinstance(k.value, ast.Constant) and k.value.value is False
            for k in keywords
        ):
            problems.append(f"{name}: written out, but the dataclass lacks init=False")
        fields = _fields(cls)
        params = [a.arg for a in init.args.posonlyargs + init.args.args + init.args.kwonlyargs]
        if params[:1] == ["self"]:
            params = params[1:]
        if params != fields:
            problems.append(f"{name}: parameters {params} are not the fields {fields}")
        unset = [f for f in fields if f not in _assigned(init)]
        if unset:
            problems.append(f"{name}: never sets {', '.join(unset)}")
    return problems


@pytest.mark.parametrize("module", COMPILED)
def test_a_written_out_init_matches_its_dataclass_fields(module: str) -> None:
    path = _source(module)
    assert path.exists(), f"COMPILED names {module}, but {path} does not exist"
    problems = init_problems(path.read_text(encoding="utf-8"), str(path.relative_to(ROOT)))
    assert not problems, "\n".join(problems)


def test_the_check_finds_a_forgotten_field() -> None:
    source = """
@dataclass(frozen=True, slots=True, init=False)
class Reading:
    topic: str
    qos: int
    retain: bool

    def __init__(self, topic: str, qos: int) -> None:
        object.__setattr__(self, "topic", topic)
        object.__setattr__(self, "qos", qos)


@dataclass(slots=True)
class Forgot:
    a: int

    def __init__(self, a: int) -> None:
        self.a = a
"""
    assert init_problems(source, "x.py") == [
        "x.py:8 Reading.__init__: parameters ['topic', 'qos'] are not the fields"
        " ['topic', 'qos', 'retain']",
        "x.py:8 Reading.__init__: never sets retain",
        "x.py:17 Forgot.__init__: written out, but the dataclass lacks init=False",
    ]


def test_members_are_the_members_they_name() -> None:
    for name in members.__all__:
        if name == "is_error":
            continue
        value = getattr(members, name)
        enum = {"V5": ProtocolVersion, "SUCCESS": ReasonCode}.get(name, QoS)
        assert value is enum[name], f"members.{name} is {value!r}, not {enum.__name__}.{name}"
    assert members.is_error(ReasonCode.UNSPECIFIED_ERROR) and not members.is_error(
        ReasonCode.SUCCESS
    )
