"""Traffic: what clients publish, and when, as plain SimPy processes.

Each kind is a small frozen value (so a scenario can be copied, pickled and
written as TOML) whose :meth:`Traffic.run` is an ordinary SimPy generator:
wait with ``yield env.timeout(...)``, publish with
:meth:`World.publish <mqttsim.sim.world.World.publish>`. Copy one to write
your own, or pass any generator function to
:meth:`Scenario.process <mqttsim.sim.scenario.Scenario.process>`::

    def alarm_storm(world, client="rtu", at_s=600.0, count=50):
        yield world.env.timeout(at_s)
        for k in range(count):
            world.publish(client, f"plant/alarm/{k}", payload_bytes=40)

Every kind publishes from ``start_s`` (default 0) until ``stop_s`` (default
the scenario's ``duration_s``), at ``qos`` (default the run's QoS). A
payload holds the message's id, then filler up to ``payload_bytes``.

Random draws (Poisson arrivals, a random walk) come from the world's stream
``f"{seed}:{client}:traffic-{k}"``, ``k`` the traffic's place in the
scenario.
"""

from __future__ import annotations

import csv
import importlib
import math
import random
from collections.abc import Callable, Generator, Iterable
from dataclasses import dataclass
from os import PathLike
from pathlib import Path
from typing import Any, Protocol

import simpy

from mqttsim.protocol.errors import ConfigError


class WorldView(Protocol):
    """What traffic uses of the world it runs in (:class:`mqttsim.sim.world.World`
    is the one there is): the environment, the run's length, publishing, and
    the random streams."""

    env: simpy.Environment

    @property
    def duration_s(self) -> float:
        """How long traffic publishes: the scenario's ``duration_s``."""
        ...

    def publish(
        self,
        client: str,
        topic: str,
        *,
        payload_bytes: int = 32,
        qos: int | None = None,
        retain: bool = False,
        text: bytes = b"",
        kind: str = "data",
        flush: bool = True,
    ) -> int:
        """Publish for ``client`` now and log the message; its id."""
        ...

    def flush(self, client: str) -> None:
        """Write what ``client``'s core has to send."""
        ...

    def rng(self, name: str, purpose: str) -> random.Random:
        """The random stream ``f"{seed}:{name}:{purpose}"``."""
        ...


__all__ = [
    "TRAFFIC_KINDS",
    "Bursts",
    "ByException",
    "Periodic",
    "Poisson",
    "Process",
    "Replay",
    "Traffic",
]

Proc = Generator[simpy.Event, Any, None]


@dataclass(frozen=True, slots=True, kw_only=True)
class Traffic:
    """A source of traffic: ``run(world, k)`` is started when the world is built.

    Attributes:
        client: the client it publishes for (None for a process that is no
            one's in particular).
    """

    client: str | None

    def run(self, world: WorldView, k: int) -> Proc | None:
        """The process (a generator), or None when everything was done at once."""
        raise NotImplementedError


@dataclass(frozen=True, slots=True, kw_only=True)
class _Publishing(Traffic):
    """What every publishing kind has."""

    client: str
    topic: str = "data"
    payload_bytes: int = 32
    qos: int | None = None
    retain: bool = False
    start_s: float = 0.0
    stop_s: float | None = None

    def __post_init__(self) -> None:
        _check(self.payload_bytes >= 1, "payload_bytes", ">= 1", self.payload_bytes)
        _check(self.qos in (None, 0, 1, 2), "qos", "0, 1 or 2", self.qos)
        _check(self.start_s >= 0, "start_s", ">= 0", self.start_s)
        if self.stop_s is not None:
            _check(self.stop_s > self.start_s, "stop_s", "> start_s", self.stop_s)
        if not self.topic or any(c in self.topic for c in "+#"):
            raise ConfigError(f"topic must be a topic name without wildcards, got {self.topic!r}")

    def _end(self, world: WorldView) -> float:
        return world.duration_s if self.stop_s is None else self.stop_s

    def _send(self, world: WorldView, *, flush: bool = True) -> None:
        world.publish(
            self.client,
            self.topic,
            payload_bytes=self.payload_bytes,
            qos=self.qos,
            retain=self.retain,
            flush=flush,
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class Periodic(_Publishing):
    """A message every ``every_s`` seconds, the first at ``start_s + offset_s``."""

    every_s: float = 60.0
    offset_s: float = 0.0

    def __post_init__(self) -> None:
        _Publishing.__post_init__(self)
        _check(self.every_s > 0, "every_s", "> 0", self.every_s)
        _check(self.offset_s >= 0, "offset_s", ">= 0", self.offset_s)

    def run(self, world: WorldView, k: int) -> Proc:
        env = world.env
        end = self._end(world)
        at = self.start_s + self.offset_s
        n = 0
        while at < end:
            yield env.timeout(at - env.now)
            self._send(world)
            n += 1
            at = self.start_s + self.offset_s + n * self.every_s  # no drift from rounding


@dataclass(frozen=True, slots=True, kw_only=True)
class Poisson(_Publishing):
    """Messages at random instants, ``rate_per_s`` on average (exponential gaps)."""

    rate_per_s: float = 1.0

    def __post_init__(self) -> None:
        _Publishing.__post_init__(self)
        _check(self.rate_per_s > 0, "rate_per_s", "> 0", self.rate_per_s)

    def run(self, world: WorldView, k: int) -> Proc:
        env = world.env
        rng = world.rng(self.client, f"traffic-{k}")
        end = self._end(world)
        yield env.timeout(self.start_s)
        while True:
            # Inverse transform: 1 - u lies in (0, 1], so the log is finite.
            yield env.timeout(-math.log(1.0 - rng.random()) / self.rate_per_s)
            if env.now >= end:
                return
            self._send(world)


@dataclass(frozen=True, slots=True, kw_only=True)
class Bursts(_Publishing):
    """``count`` messages every ``every_s`` seconds, ``spacing_s`` apart
    (0: written at once, so they share TCP segments)."""

    every_s: float = 60.0
    count: int = 10
    spacing_s: float = 0.0

    def __post_init__(self) -> None:
        _Publishing.__post_init__(self)
        _check(self.every_s > 0, "every_s", "> 0", self.every_s)
        _check(self.count >= 1, "count", ">= 1", self.count)
        _check(self.spacing_s >= 0, "spacing_s", ">= 0", self.spacing_s)

    def run(self, world: WorldView, k: int) -> Proc:
        env = world.env
        end = self._end(world)
        n = 0
        while (at := self.start_s + n * self.every_s) < end:
            yield env.timeout(at - env.now)
            for j in range(self.count):
                if j and self.spacing_s:
                    yield env.timeout(self.spacing_s)
                self._send(world, flush=bool(self.spacing_s))
            if not self.spacing_s:
                world.flush(self.client)  # one write: the burst shares segments
            n += 1


@dataclass(frozen=True, slots=True, kw_only=True)
class Replay(Traffic):
    """Publish a trace: ``rows`` of (time_s, topic, payload_bytes), in time order.

    Build it with :meth:`of` from a list of tuples, a DataFrame or a CSV
    file with columns ``time_s``, ``topic``, ``payload_bytes``.
    """

    client: str
    rows: tuple[tuple[float, str, int], ...] = ()
    qos: int | None = None
    retain: bool = False

    def __post_init__(self) -> None:
        _check(self.qos in (None, 0, 1, 2), "qos", "0, 1 or 2", self.qos)
        last = 0.0
        for t, topic, size in self.rows:
            if not (t >= last and math.isfinite(t)):
                raise ConfigError(f"trace times must be finite, >= 0 and in order; got {t!r}")
            if not topic or any(c in topic for c in "+#"):
                raise ConfigError(f"trace topic must be a topic name, got {topic!r}")
            _check(size >= 1, "payload_bytes", ">= 1", size)
            last = t

    @classmethod
    def of(cls, client: str, trace: Any, **kwargs: Any) -> Replay:
        """A replay from tuples, a DataFrame, or a CSV file's path."""
        if isinstance(trace, str | PathLike):
            rows = _read_trace(Path(trace))
        elif hasattr(trace, "itertuples"):  # a DataFrame
            missing = {"time_s", "topic", "payload_bytes"} - set(trace.columns)
            if missing:
                raise ConfigError(f"trace frame lacks columns: {', '.join(sorted(missing))}")
            rows = [
                (float(t), str(tp), int(n))
                for t, tp, n in zip(
                    trace["time_s"], trace["topic"], trace["payload_bytes"], strict=True
                )
            ]
        else:
            rows = [(float(t), str(tp), int(n)) for t, tp, n in trace]
        return cls(client=client, rows=tuple(sorted(rows, key=lambda r: r[0])), **kwargs)

    def run(self, world: WorldView, k: int) -> Proc:
        env = world.env
        end = world.duration_s
        for t, topic, size in self.rows:
            if t >= end:
                return
            if t > env.now:
                yield env.timeout(t - env.now)
            world.publish(self.client, topic, payload_bytes=size, qos=self.qos, retain=self.retain)


@dataclass(frozen=True, slots=True, kw_only=True)
class ByException(_Publishing):
    """Report-by-exception: sample a value every ``sample_every_s`` and publish
    it only when it moved more than ``deadband`` from the last value published
    (and at least every ``heartbeat_s``, if set, so silence means "no change",
    not "dead").

    The value is ``values`` (a trace of (time_s, value), held between
    samples) or, without one, a seeded random walk from ``start_value`` with
    steps of standard deviation ``walk_sd``. Payloads carry the value.
    """

    sample_every_s: float = 10.0
    deadband: float = 1.0
    heartbeat_s: float | None = None
    values: tuple[tuple[float, float], ...] = ()
    start_value: float = 0.0
    walk_sd: float = 1.0

    def __post_init__(self) -> None:
        _Publishing.__post_init__(self)
        _check(self.sample_every_s > 0, "sample_every_s", "> 0", self.sample_every_s)
        _check(self.deadband >= 0, "deadband", ">= 0", self.deadband)
        _check(self.walk_sd >= 0, "walk_sd", ">= 0", self.walk_sd)
        if self.heartbeat_s is not None:
            _check(self.heartbeat_s > 0, "heartbeat_s", "> 0", self.heartbeat_s)

    def run(self, world: WorldView, k: int) -> Proc:
        env = world.env
        rng = world.rng(self.client, f"traffic-{k}")
        end = self._end(world)
        trace = list(self.values)
        value = self.start_value
        last_value: float | None = None
        last_at = -math.inf
        n = 0
        while (at := self.start_s + n * self.sample_every_s) < end:
            yield env.timeout(at - env.now)
            if trace:
                while len(trace) > 1 and trace[1][0] <= at:
                    trace.pop(0)
                value = trace[0][1]
            elif n:
                value += rng.gauss(0.0, self.walk_sd)
            beat = self.heartbeat_s is not None and at - last_at >= self.heartbeat_s
            if last_value is None or abs(value - last_value) > self.deadband or beat:
                world.publish(
                    self.client,
                    self.topic,
                    payload_bytes=self.payload_bytes,
                    qos=self.qos,
                    retain=self.retain,
                    text=b"%.6g" % value,
                )
                last_value, last_at = value, at
            n += 1


@dataclass(frozen=True, slots=True, kw_only=True)
class Process(Traffic):
    """A function of the user's: ``function(world, **options)``, and
    ``client=`` its client's name when it belongs to one.

    A generator function runs as a SimPy process; a plain function is called
    once when the world is built. ``function`` may be an import path,
    ``"package.module:function"`` (as a TOML scenario names it).
    """

    function: Callable[..., Any] | str
    options: tuple[tuple[str, Any], ...] = ()

    @classmethod
    def of(
        cls, function: Callable[..., Any] | str, *, client: str | None, options: dict[str, Any]
    ) -> Process:
        if isinstance(function, str):
            _import(function)  # fails now, with one line, if it cannot be found
        elif not callable(function):
            raise ConfigError(f"process must be a function or 'module:function', got {function!r}")
        return cls(client=client, function=function, options=tuple(options.items()))

    def run(self, world: WorldView, k: int) -> Proc | None:
        function = _import(self.function) if isinstance(self.function, str) else self.function
        options = dict(self.options)
        if self.client is not None:
            options["client"] = self.client
        made = function(world, **options)
        return made if isinstance(made, Generator) else None


TRAFFIC_KINDS: dict[str, type[Traffic]] = {
    "periodic": Periodic,
    "poisson": Poisson,
    "bursts": Bursts,
    "replay": Replay,
    "by-exception": ByException,
    "process": Process,
}
"""The kinds a TOML scenario names in ``[[traffic]] kind = ...``."""


def _check(ok: bool, name: str, allowed: str, value: object) -> None:
    if not ok:
        raise ConfigError(f"{name} must be {allowed}, got {value!r}")


def _import(path: str) -> Callable[..., Any]:
    module, colon, name = path.partition(":")
    if not colon or not module or not name:
        raise ConfigError(f"process {path!r}: expected 'package.module:function'")
    try:
        found = getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError) as exc:
        raise ConfigError(f"process {path!r}: cannot import it ({exc})") from None
    if not callable(found):
        raise ConfigError(f"process {path!r} is not a function")
    return found  # type: ignore[no-any-return]


def _read_trace(path: Path) -> list[tuple[float, str, int]]:
    try:
        with path.open(newline="", encoding="utf-8") as handle:
            reader = csv.DictReader(handle)
            missing = {"time_s", "topic", "payload_bytes"} - set(reader.fieldnames or ())
            if missing:
                raise ConfigError(f"{path}: trace lacks columns: {', '.join(sorted(missing))}")
            return [
                (float(row["time_s"]), row["topic"], int(row["payload_bytes"])) for row in reader
            ]
    except FileNotFoundError:
        raise ConfigError(f"trace file not found: {path}") from None
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise ConfigError(f"cannot read trace {path}: {exc}") from None


def values_from(trace: Iterable[tuple[float, float]]) -> tuple[tuple[float, float], ...]:
    """A (time_s, value) trace for :class:`ByException`, sorted by time."""
    return tuple(sorted((float(t), float(v)) for t, v in trace))
