"""The protocol core and the network model, compiled to C with mypyc when a compiler is at hand.

Theory of operation
-------------------
The hot modules (:data:`COMPILED`) are plain, typed Python. ``mqttsim native
build`` (run by ``make``; :mod:`mqttsim.commands.native`) compiles them with mypyc into
extension modules beside their sources, and writes a manifest of the source
hashes they were built from. The same source gives the same results either
way; ``tests/test_native.py`` runs one scenario both ways and compares.

Python prefers an extension module to a source file of the same name, so a
compiled module edited afterwards would silently keep running its old code.
:func:`select`, called when :mod:`mqttsim` is imported, prevents that: unless
every compiled module was built from the source now on disk, it makes all of
them load from source, and :func:`status` says why. ``MQTTSIM_PURE=1`` asks
for the sources whatever the manifest says (to debug, profile, or compare).
It is all or nothing because compiled modules call each other directly, not
through the import system.

Writing for mypyc
-----------------
mypyc compiles what is written in a class, but a dataclass's generated
``__init__`` stays Python code that calls ``object.__setattr__`` per field:
building a frozen dataclass of seven fields took 890 ns, against 29 ns for
the same ``__init__`` written in the class body (``init=False``), which mypyc
turns into stores into the object. The classes built for every message
(segments, acknowledgement events, in-flight and queued messages) therefore
write theirs out; the others keep the generated one.
"""

from __future__ import annotations

# Imported with every `import mqttsim`, so only what the interpreter has
# loaded already; the rest is imported where a build exists or runs.
import importlib.machinery
import importlib.util
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

__all__ = [
    "COMPILED",
    "MANIFEST",
    "compiled_files",
    "digest",
    "is_compiled",
    "select",
    "source",
    "status",
]

PACKAGE_DIR = Path(__file__).resolve().parent
MANIFEST = PACKAGE_DIR / "native.json"
GROUP = "mqttsim._native"  # mypyc's shared library becomes mqttsim/_native__mypyc.*.so

#: The modules compiled, hot ones only. Exceptions and cold modules (presets,
#: pcap, sweeps) gain nothing and stay Python; so do the hooks (users subclass
#: them, and Python cannot subclass a compiled class) and the enums: compiled,
#: an enum makes every field typed with it refuse a plain int (``qos=1``) with
#: a TypeError, so the hot path reads their members from ``protocol.members``.
COMPILED: tuple[str, ...] = tuple(
    [
        f"mqttsim.protocol.{name}"
        for name in (
            "admission broker broker_config broker_connection client client_flows"
            " client_inbound client_liveness codec"
            " decoding encoding events forwarding members packets properties retained"
            " session stats subscribing tables timers topics"
        ).split()
    ]
    + [
        f"mqttsim.sim.{name}"
        for name in (
            "immediate link loopback loss metrics node path tcp tcp_ack tcp_congestion"
            " tcp_recovery tcp_segment tcp_timers transport"
        ).split()
    ]
    + ["mqttsim.sim.scenarios.pipeline_operations"]
)

_status: str | None = None  # set once, by select()


def source(module: str) -> Path:
    """The ``.py`` file of ``module``."""
    return PACKAGE_DIR.parent.joinpath(*module.split(".")).with_suffix(".py")


def digest(module: str) -> str:
    """The hash of ``module``'s source, as the manifest records it."""
    import hashlib

    return hashlib.sha256(source(module).read_bytes()).hexdigest()


def _compiled_file(module: str) -> Path | None:
    path = source(module)
    for suffix in importlib.machinery.EXTENSION_SUFFIXES:
        candidate = path.with_suffix(suffix)
        if candidate.exists():
            return candidate
    return None


class _FromSource:
    """A meta path finder: loads the compiled modules from their ``.py`` files."""

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname not in COMPILED:
            return None
        return importlib.util.spec_from_file_location(fullname, source(fullname))


def _why_not_compiled() -> str | None:
    """None if the compiled modules may be used, else the reason they may not."""
    if os.environ.get("MQTTSIM_PURE", "") not in ("", "0"):
        return "MQTTSIM_PURE is set"
    if not MANIFEST.exists():
        return "not built (mqttsim native build)"
    import json

    try:
        manifest = json.loads(MANIFEST.read_text())
        built: dict[str, str] = manifest["modules"]
    except (OSError, ValueError, KeyError, TypeError):
        return f"{MANIFEST.name} is unreadable; rebuild"
    if manifest.get("cache_tag") != sys.implementation.cache_tag:
        return f"built for {manifest.get('cache_tag')}, running {sys.implementation.cache_tag}"
    for module in COMPILED:
        if _compiled_file(module) is None or module not in built:
            return f"{module} is not compiled; rebuild"
        if built[module] != digest(module):
            return f"{source(module).name} changed since it was compiled; rebuild"
    return None


def select() -> str:
    """Choose compiled or source modules for this process (once; before they are imported)."""
    global _status
    if _status is not None:
        return _status
    reason = _why_not_compiled()
    if reason is None:
        _status = "compiled with mypyc"
        sys.meta_path.insert(0, _Compiled())
    else:
        _status = f"pure Python: {reason}"
        if any(_compiled_file(module) for module in COMPILED):
            sys.meta_path.insert(0, _FromSource())
    return _status


def status() -> str:
    """One line: ``"compiled with mypyc"`` or ``"pure Python: <why>"``."""
    return select()


def is_compiled() -> bool:
    """True if this process runs the compiled modules."""
    return select() == "compiled with mypyc"


def compiled_files() -> list[Path]:
    """mypyc's output in the package: the extension modules and the manifest."""
    files = [p for p in PACKAGE_DIR.rglob("*") if p.suffix in (".so", ".pyd")]
    return files + ([MANIFEST] if MANIFEST.exists() else [])


def _rebuild(cls: type, fields: dict[str, Any]) -> Any:
    return cls(**fields)


def _reduce_frozen(obj: Any) -> tuple[Any, ...]:
    import dataclasses

    fields = {f.name: getattr(obj, f.name) for f in dataclasses.fields(obj) if f.init}
    return _rebuild, (type(obj), fields)


def _register_pickling() -> None:
    """Make the loaded compiled modules' frozen dataclasses picklable (and copyable) again.

    dataclasses gives a frozen, slotted class a ``__setstate__`` that gets
    round its frozen ``__setattr__``; mypyc's native classes lose it, so
    unpickling one raises FrozenInstanceError (a sweep's configurations go to
    worker processes by pickle). Each is rebuilt through ``__init__`` instead.
    A compiled module imports the others of its build without the import
    system, so each time one loads, all that are loaded by then are looked at
    (again: one seen half-initialised, in an import cycle, is complete later).
    """
    for name in COMPILED:
        module = sys.modules.get(name)
        if module is not None:
            _register_module(module)


def _register_module(module: ModuleType) -> None:
    import copyreg
    import dataclasses

    for obj in vars(module).values():
        if (
            isinstance(obj, type)
            and obj.__module__ == module.__name__
            and dataclasses.is_dataclass(obj)
            and obj.__dataclass_params__.frozen  # type: ignore[attr-defined]
        ):
            copyreg.pickle(obj, _reduce_frozen)


class _Compiled:
    """A meta path finder: finds the compiled modules as usual, and registers
    their pickling once loaded.

    Only the first compiled module that Python code imports comes through
    here; the ones it imports in turn are loaded by the compiled code itself.
    """

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname not in COMPILED:
            return None
        spec = importlib.machinery.PathFinder.find_spec(fullname, path, target)
        if spec is not None and spec.loader is not None:
            spec.loader = _ThenRegister(spec.loader)  # type: ignore[assignment]
        return spec


class _ThenRegister:
    """A loader: ``loader``'s work, then :func:`_register_pickling`."""

    def __init__(self, loader: Any) -> None:
        self._loader = loader

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType | None:
        module: ModuleType | None = self._loader.create_module(spec)
        return module

    def exec_module(self, module: ModuleType) -> None:
        self._loader.exec_module(module)
        _register_pickling()
