"""Simulation speed: the pipeline scenario beside a bare SimPy model of the same traffic.

Run it with ``python -m bench.sim_pipeline`` (options: ``--stations``,
``--hours``, ``--qos``, ``--repeat``, ``--packets on|off|both``). It prints
simulated application messages per wall-clock second, and wall-clock
microseconds per message, for

* **mqttsim**: :func:`mqttsim.sim.scenarios.pipeline.run_pipeline` (MQTT client
  and broker cores, the small TCP, links with loss and outages, the logs and
  their DataFrames), with and without the per-packet log. It counts every
  message a station published: the trace's readings and alarms, plus the
  ``online`` status after each CONNACK and the valve reports after a
  ``close`` command (``len(result.messages)``), and
* **bare SimPy**: the same stations replaying the same telemetry batches at
  the same instants (readings, then alarms), each message formatted the same
  way, given one loss draw and one delay draw (the link's delay plus jitter),
  carried by a process per message into the SCADA host's Store as SimPy's
  own "latency" example does, and logged on arrival; no protocol at all. It
  counts the readings and alarms published (the status and valve messages
  exist only because of the protocol: about 0.2 % of mqttsim's count).

in the same run, one after the other, and the ratio (mqttsim / bare). The
first line says whether mqttsim runs compiled (``make`` compiles the protocol
core and the network model with mypyc; see :mod:`mqttsim.native`) or as
Python; ``MQTTSIM_PURE=1`` measures the latter on purpose. Both
figures count messages published per second of wall-clock time spent in
``env.run`` and the log-building around it; module imports and the
telemetry file are loaded before either clock starts.
"""

from __future__ import annotations

import argparse
import gc
import random
import time
from collections.abc import Generator
from typing import Any

import simpy

from mqttsim import native
from mqttsim.sim.presets import get_preset
from mqttsim.sim.scenarios.pipeline import PipelineConfig, run_pipeline
from mqttsim.sim.scenarios.telemetry import DAY_S, load_plans

__all__ = ["bare_pipeline", "main"]


def bare_pipeline(*, stations: int, hours: float, seed: int, link: str = "vsat-1999") -> int:
    """Run the bare SimPy model; return the number of messages published."""
    _, plans = load_plans()
    preset = get_preset(link)
    env = simpy.Environment()
    rng = random.Random(seed)
    inbox = simpy.Store(env)
    end = hours * 3600.0
    delay, jitter, loss = preset.delay_s, preset.jitter_s, preset.loss_rate
    sent: list[float] = []
    delivered: list[float] = []

    def carry(message: tuple[int, str, bytes]) -> Generator[simpy.Event, Any, None]:
        yield env.timeout(delay + jitter * rng.random())
        inbox.put(message)

    def station(index: int) -> Generator[simpy.Event, Any, None]:
        plan = plans[index % len(plans)]
        node = plan.station.id if index < len(plans) else f"st-{index + 1:02d}"
        topics = [f"pipeline/{node}/{s.name}" for s in plan.station.sensors]
        alarm_topics = [f"pipeline/{node}/alarm/{s.name}" for s in plan.station.sensors]
        offset = 60.0 * index / stations
        seq = 0
        day = 0
        while True:
            for batch in plan.batches:
                t_abs = batch.t_s + day * DAY_S
                at = t_abs + offset
                if at >= end:
                    return
                if at > env.now:
                    yield env.timeout(at - env.now)
                for j, text in batch.readings:
                    seq += 1
                    payload = b"%d %d %s" % (seq, t_abs, text)
                    sent.append(env.now)
                    if rng.random() >= loss:
                        env.process(carry((len(sent) - 1, topics[j], payload)))
                for j, kind, text in batch.alarms:
                    seq += 1
                    payload = b"%d %d %s %s" % (seq, t_abs, kind, text)
                    sent.append(env.now)
                    if rng.random() >= loss:
                        env.process(carry((len(sent) - 1, alarm_topics[j], payload)))
            day += 1

    def scada() -> Generator[simpy.Event, Any, None]:
        while True:
            message = yield inbox.get()
            delivered.append(env.now - sent[message[0]])

    for i in range(stations):
        env.process(station(i))
    env.process(scada())
    env.run(until=end + 60.0)
    return len(sent)


def _timed(fn: Any, **kwargs: Any) -> tuple[int, float]:
    gc.collect()
    started = time.perf_counter()
    count = fn(**kwargs)
    return count, time.perf_counter() - started


def _mqttsim(*, stations: int, hours: float, seed: int, qos: int, packets: bool) -> int:
    config = PipelineConfig(
        stations=stations, hours=hours, seed=seed, qos=qos, record_packets=packets
    )
    return len(run_pipeline(config).messages)


def main(argv: list[str] | None = None) -> int:
    """Print messages per wall-clock second for both models, and their ratio."""
    parser = argparse.ArgumentParser(prog="python -m bench.sim_pipeline", description=__doc__)
    parser.add_argument("--stations", type=int, default=200)
    parser.add_argument("--hours", type=float, default=24.0)
    parser.add_argument("--qos", type=int, default=1, choices=(0, 1, 2))
    parser.add_argument("--seed", type=int, default=1999)
    parser.add_argument("--repeat", type=int, default=1, help="runs of each; the best counts")
    parser.add_argument(
        "--packets",
        choices=("on", "off", "both"),
        default="both",
        help="with the per-packet log (the API's default), without it (the CLI's), or both",
    )
    args = parser.parse_args(argv)
    load_plans()  # read the telemetry once, outside every clock
    common = {"stations": args.stations, "hours": args.hours, "seed": args.seed}
    print(
        f"pipeline scenario: {args.stations} stations, {args.hours:g} simulated hours,"
        f" QoS {args.qos}, link vsat-1999; mqttsim {native.status()}"
    )
    models: list[tuple[str, Any, dict[str, Any]]] = []
    for log in ("on", "off"):
        if args.packets in (log, "both"):
            extra = {"qos": args.qos, "packets": log == "on"}
            models.append((f"mqttsim, packet log {log}", _mqttsim, extra))
    models.append(("bare SimPy", bare_pipeline, {}))
    best: dict[str, tuple[int, float]] = {}
    for _ in range(args.repeat):
        for name, fn, extra in models:
            count, wall = _timed(fn, **common, **extra)
            if name not in best or wall < best[name][1]:
                best[name] = (count, wall)
    rates = {}
    for name, (count, wall) in best.items():
        rates[name] = count / wall
        print(
            f"  {name:<24} {count:>9,} messages in {wall:7.2f} s = {rates[name]:>9,.0f} msg/s"
            f" ({1e6 * wall / count:6.1f} us/message)"
        )
    bare = rates.pop("bare SimPy")
    for name, rate in rates.items():
        print(f"  ratio ({name} / bare SimPy): {rate / bare:.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
