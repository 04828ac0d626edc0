"""Wake-ups that skip SimPy's queue run exactly where queued ones would.

:mod:`mqttsim.sim.immediate` runs an event's callbacks at once when SimPy
would process that event next anyway. These tests compare with plain
``event.succeed()``: the same order of callbacks in a hand-made case, and
the same DataFrames, bit for bit, from a pipeline run.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pandas as pd
import pytest
import simpy
from simpy.events import URGENT

from mqttsim.sim.immediate import Immediate, immediate
from mqttsim.sim.loopback import LoopbackEnd
from mqttsim.sim.path import TcpListener
from mqttsim.sim.scenarios.pipeline import PipelineConfig, run_pipeline


@pytest.fixture
def plain(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Every Immediate.succeed() becomes a plain succeed(): events go through the queue."""

    monkeypatch.setattr(Immediate, "succeed", _plain_succeed)
    monkeypatch.setattr(Immediate, "soon", _plain_soon)
    yield


def _plain_succeed(self: Immediate, event: simpy.Event, value: Any = None) -> None:
    event.succeed(value)


def _plain_soon(self: Immediate, callback: Callable[[Any], None]) -> None:
    event = self.env.event()
    event.callbacks.append(callback)
    event.succeed()


def _story() -> list[str]:
    """Callbacks at t=1 that wake others now, with queued events in between."""
    env = simpy.Environment()
    now = immediate(env)
    seen: list[str] = []

    def note(name: str) -> Callable[[simpy.Event], None]:
        return lambda _event: seen.append(name)

    def wake(name: str, then: Callable[[], None] | None = None) -> None:
        event = env.event()
        event.callbacks.append(note(name))
        if then is not None:
            event.callbacks.append(lambda _event: then())
        now.succeed(event)

    def first(_event: simpy.Event) -> None:
        now.enter()
        try:
            seen.append("first")
            wake("a", then=lambda: wake("a2"))
            env.timeout(0).callbacks.append(note("queued-after-a"))
            wake("b")
        finally:
            now.leave()

    def second(_event: simpy.Event) -> None:
        now.enter()
        try:
            seen.append("second")
            wake("c")
            urgent = env.event()
            urgent._ok, urgent._value = True, None
            urgent.callbacks.append(note("urgent"))
            env.schedule(urgent, URGENT)  # must still come before c
            wake("d")
        finally:
            now.leave()

    def third(_event: simpy.Event) -> None:
        now.enter()
        try:
            seen.append("third")
            wake("e", then=lambda: wake("f"))  # e runs at once; f waits its turn
            env.timeout(0).callbacks.append(note("queued-after-e"))
        finally:
            now.leave()

    def fourth(_event: simpy.Event) -> None:
        now.enter()
        try:
            seen.append("fourth")
            wake("g", then=lambda: wake("h"))  # nothing else at t=4: both at once
            now.soon(note("i"))  # after g, before the h that g wakes
        finally:
            now.leave()

    env.timeout(1).callbacks.append(first)
    env.timeout(1).callbacks.append(note("queued-before-a"))
    env.timeout(2).callbacks.append(second)
    env.timeout(3).callbacks.append(third)
    env.timeout(4).callbacks.append(fourth)
    env.timeout(5).callbacks.append(lambda _event: now.soon(note("j")))  # outside enter()
    env.run()
    return seen


# SimPy's own order for _story(), with plain succeed(): the immediate path must give it too.
_ORDER = [
    "first",
    "queued-before-a",
    "a",
    "queued-after-a",
    "b",
    "a2",
    "second",
    "urgent",
    "c",
    "d",
    "third",
    "e",
    "queued-after-e",
    "f",
    "fourth",
    "g",
    "i",
    "h",
    "j",
]


def test_wake_ups_keep_their_place_among_queued_events(plain: None) -> None:
    assert _story() == _ORDER


def test_immediate_wake_ups_give_the_same_order() -> None:
    assert _story() == _ORDER


def _frames(config: PipelineConfig) -> list[pd.DataFrame]:
    result = run_pipeline(config)
    assert result.packets is not None
    frames = [result.messages, result.deliveries, result.commands, result.packets, result.events]
    return [*frames, result.summary()]


CONFIG = PipelineConfig(
    stations=6, hours=0.75, qos=2, loss_rate=0.05, outages=((600.0, 400.0),), host_link="lan"
)


@pytest.mark.pure_python  # compiled code calls Immediate's methods past the patch
def test_a_pipeline_run_is_bit_for_bit_the_same_without_them(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    fast = _frames(CONFIG)
    monkeypatch.setattr(Immediate, "succeed", _plain_succeed)
    monkeypatch.setattr(Immediate, "soon", _plain_soon)
    slow = _frames(CONFIG)
    for a, b in zip(fast, slow, strict=True):
        pd.testing.assert_frame_equal(a, b, check_exact=True)


def test_the_listener_hands_over_what_is_queued() -> None:
    env = simpy.Environment()
    listener = TcpListener(env)
    end = LoopbackEnd(env)
    got: list[object] = []
    listener.accept().callbacks.append(lambda event: got.append(event.value))
    listener.enqueue(end)
    env.run()
    assert got == [end]


def test_run_until_a_woken_event_stops_there() -> None:
    env = simpy.Environment()
    now = immediate(env)
    seen: list[str] = []
    target = env.event()

    def wake(_event: simpy.Event) -> None:
        now.enter()
        try:
            now.succeed(target, "value")
            later = env.event()
            later.callbacks.append(lambda _e: seen.append("later"))
            now.succeed(later)
        finally:
            now.leave()

    env.timeout(1).callbacks.append(wake)
    assert env.run(until=target) == "value"
    assert seen == [] and env.now == 1
    env.run()
    assert seen == ["later"]


def test_wake_ups_of_a_callback_that_raised_still_happen() -> None:
    env = simpy.Environment()
    now = immediate(env)
    seen: list[str] = []

    def broken(_event: simpy.Event) -> None:
        now.enter()
        try:
            woken = env.event()
            woken.callbacks.append(lambda _e: seen.append("woken"))
            now.succeed(woken)
            raise RuntimeError("boom")
        except BaseException:
            now.bail()
            raise

    env.timeout(1).callbacks.append(broken)
    with pytest.raises(RuntimeError, match="boom"):
        env.run()
    assert seen == [] and now.depth == 0
    env.run()
    assert seen == ["woken"]
