"""Links: serialisation, queueing, delay, jitter, outages, loss and bad settings."""

from __future__ import annotations

import ast
import random
from collections.abc import Generator
from pathlib import Path
from typing import Any

import pytest
import simpy

from mqttsim.protocol.errors import ConfigError
from mqttsim.sim.link import Link, LinkRecord, OutageSchedule, RandomOutages
from mqttsim.sim.loss import Bernoulli


def collect(env: simpy.Environment, link: Link, count: int) -> list[tuple[float, object]]:
    """Start a process that receives ``count`` items; return the (time, item) list it fills."""
    got: list[tuple[float, object]] = []

    def receiver() -> Generator[simpy.Event, Any, None]:
        for _ in range(count):
            item = yield link.recv()
            got.append((env.now, item))

    env.process(receiver())
    return got


def test_one_packet_arrives_after_serialisation_plus_delay() -> None:
    env = simpy.Environment()
    link = Link(env, name="up", delay_s=0.25, bandwidth_bps=9600)
    got = collect(env, link, 1)
    link.send("pkt", 100)
    env.run()
    assert got == [(pytest.approx(100 * 8 / 9600 + 0.25), "pkt")]


def test_back_to_back_packets_queue_behind_each_other() -> None:
    env = simpy.Environment()
    records: list[LinkRecord] = []
    link = Link(env, name="up", delay_s=0.25, bandwidth_bps=9600, observer=records.append)
    got = collect(env, link, 2)
    link.send("first", 100)
    link.send("second", 100)
    env.run()
    tx = 100 * 8 / 9600
    assert [item for _, item in got] == ["first", "second"]
    assert got[0][0] == pytest.approx(tx + 0.25)
    assert got[1][0] == pytest.approx(2 * tx + 0.25)
    # The second packet's transmission starts when the first one's ends.
    assert [r.time_s for r in records] == [0.0, pytest.approx(tx)]
    assert link.stats.bytes_sent == 200


def test_infinite_bandwidth_means_pure_delay() -> None:
    env = simpy.Environment()
    link = Link(env, name="up", delay_s=0.3)
    got = collect(env, link, 2)
    link.send("a", 1500)
    link.send("b", 1500)
    env.run()
    assert got == [(pytest.approx(0.3), "a"), (pytest.approx(0.3), "b")]


def test_an_idle_link_does_not_queue() -> None:
    env = simpy.Environment()
    link = Link(env, name="up", delay_s=0.1, bandwidth_bps=8000)
    got = collect(env, link, 1)
    env.run(until=5.0)
    link.send("late", 10)
    env.run()
    assert got == [(pytest.approx(5.0 + 0.01 + 0.1), "late")]


def test_packets_sent_during_an_outage_are_dropped_and_recorded() -> None:
    env = simpy.Environment()
    records: list[LinkRecord] = []
    outages = OutageSchedule([(1.0, 2.0)])
    link = Link(env, name="up", delay_s=0.25, outages=outages, observer=records.append)
    got = collect(env, link, 2)

    def sender() -> Generator[simpy.Event, Any, None]:
        for t, item in [(0.5, "before"), (0.9, "in flight"), (1.5, "during"), (3.5, "after")]:
            yield env.timeout(t - env.now)
            link.send(item, 50)

    env.process(sender())
    env.run()
    assert [item for _, item in got] == ["before", "after"]
    assert [(r.item, r.outcome) for r in records] == [
        ("before", "delivered"),
        ("in flight", "outage"),  # still propagating when the outage began
        ("during", "outage"),
        ("after", "delivered"),
    ]
    assert records[1].arrival_s is None
    assert link.stats.outage == 2
    assert link.stats.delivered == 2


def test_outage_schedule_windows_are_half_open_and_merged() -> None:
    outages = OutageSchedule([(5.0, 1.0), (1.0, 2.0), (2.5, 1.0)])
    assert outages.windows == ((1.0, 2.5), (5.0, 1.0))
    assert outages.down_s == pytest.approx(3.5)
    assert not outages.is_down(0.999)
    assert outages.is_down(1.0)
    assert outages.is_down(3.4)
    assert not outages.is_down(3.5)
    assert outages.is_down(5.5)
    assert not outages.is_down(6.0)
    assert outages.down_between(0.0, 1.0)
    assert not outages.down_between(3.5, 4.9)
    assert outages.down_between(3.6, 7.0)


def test_random_outages_follow_the_means_and_repeat_with_the_seed() -> None:
    a = RandomOutages(mean_up_s=100.0, mean_down_s=10.0, rng=random.Random(9), horizon_s=1e6)
    b = RandomOutages(mean_up_s=100.0, mean_down_s=10.0, rng=random.Random(9), horizon_s=1e6)
    assert a.windows == b.windows
    windows = a.windows
    assert all(0.0 <= start < 1e6 and duration > 0 for start, duration in windows)
    assert len(windows) == pytest.approx(1e6 / 110, rel=0.1)
    assert a.down_s / 1e6 == pytest.approx(10 / 110, rel=0.1)
    assert not a.is_down(0.0)  # the link starts up


def test_random_outages_with_zero_horizon_are_empty() -> None:
    assert RandomOutages(1.0, 1.0, random.Random(0), 0.0).windows == ()


def test_lost_packets_are_recorded_and_not_delivered() -> None:
    env = simpy.Environment()
    records: list[LinkRecord] = []
    link = Link(
        env,
        name="up",
        delay_s=0.1,
        loss=Bernoulli(1.0, random.Random(0)),
        observer=records.append,
    )
    got = collect(env, link, 1)
    link.send("gone", 10)
    env.run()
    assert [(r.outcome, r.arrival_s) for r in records] == [("lost", None)]
    assert got == []
    assert link.stats.lost == 1


def test_a_full_queue_tail_drops_and_counts() -> None:
    env = simpy.Environment()
    records: list[LinkRecord] = []
    link = Link(
        env,
        name="up",
        delay_s=0.0,
        bandwidth_bps=8000,
        queue_limit_bytes=250,
        observer=records.append,
    )
    got = collect(env, link, 3)
    for item in ("a", "b", "c"):
        link.send(item, 100)  # 0.1 s each on the wire
    env.run(until=0.15)  # "a" is done, "b" is half sent: 100 bytes queued
    link.send("d", 100)
    env.run()
    assert [r.outcome for r in records] == ["delivered", "delivered", "queue-full", "delivered"]
    assert records[2].time_s == 0.0 and records[2].arrival_s is None
    assert [item for _, item in got] == ["a", "b", "d"]
    assert got[2][0] == pytest.approx(0.3)  # "d" waits for "b" to finish at 0.2
    assert link.stats.queue_full == 1
    assert link.stats.bytes_sent == 300


def test_jitter_stays_within_bounds_and_never_reorders() -> None:
    env = simpy.Environment()
    link = Link(env, name="up", delay_s=0.25, jitter_s=0.2, rng=random.Random(4))
    got = collect(env, link, 200)

    def sender() -> Generator[simpy.Event, Any, None]:
        for i in range(200):
            link.send(i, 10)
            yield env.timeout(0.01)

    env.process(sender())
    env.run()
    assert [item for _, item in got] == list(range(200))
    times = [t for t, _ in got]
    assert times == sorted(times)
    delays = [t - 0.01 * i for i, t in enumerate(times)]
    assert min(delays) >= 0.25 - 1e-9
    assert max(delays) <= 0.25 + 0.2 + 1e-9
    assert max(delays) - min(delays) > 0.1  # jitter did something


def test_an_attached_sink_receives_items_at_arrival() -> None:
    env = simpy.Environment()
    link = Link(env, name="up", delay_s=0.5)
    seen: list[tuple[float, object]] = []
    link.attach(lambda item: seen.append((env.now, item)))
    link.send("x", 1)
    env.run()
    assert seen == [(pytest.approx(0.5), "x")]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"delay_s": -0.1}, r"^delay_s must be a finite number >= 0, got -0.1$"),
        ({"delay_s": float("nan")}, r"^delay_s must be a finite number >= 0"),
        ({"delay_s": 0.1, "jitter_s": -1.0}, r"^jitter_s must be a finite number >= 0"),
        (
            {"delay_s": 0.1, "bandwidth_bps": 0},
            r"^bandwidth_bps must be a finite number > 0, got 0(\.0)?$",  # 0.0 when compiled
        ),
        ({"delay_s": 0.1, "bandwidth_bps": -9600}, r"^bandwidth_bps must be a finite number > 0"),
        ({"delay_s": 0.1, "jitter_s": 0.1}, r"^rng must be given when jitter_s > 0$"),
        ({"delay_s": 0.1, "queue_limit_bytes": 0}, r"^queue_limit_bytes must be > 0 or None"),
    ],
)
def test_bad_link_settings_raise_config_error(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        Link(simpy.Environment(), name="bad", **kwargs)


@pytest.mark.parametrize(
    ("windows", "message"),
    [
        ([(-1.0, 2.0)], r"^outage start_s must be a finite number >= 0"),
        ([(1.0, 0.0)], r"^outage duration_s must be a finite number > 0"),
    ],
)
def test_bad_outage_windows_raise_config_error(
    windows: list[tuple[float, float]], message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        OutageSchedule(windows)


def test_bad_random_outage_means_raise_config_error() -> None:
    with pytest.raises(ConfigError, match=r"^mean_down_s must be a finite number > 0"):
        RandomOutages(10.0, 0.0, random.Random(0), 100.0)


def test_the_simulator_never_imports_asyncio_aio_or_widgets() -> None:
    sim = Path(__file__).resolve().parents[2] / "mqttsim" / "sim"
    for name in ("__init__", "link", "loss", "path", "tcp", "tcp_segment", "tcp_timers"):
        tree = ast.parse((sim / f"{name}.py").read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                modules = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                modules = [node.module or ""]
            else:
                continue
            for module in modules:
                assert module.split(".")[0] != "asyncio", name
                assert not module.startswith(("mqttsim.aio", "mqttsim.widgets")), name
