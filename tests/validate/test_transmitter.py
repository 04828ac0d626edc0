"""The emulator's transmitter applies the simulator's link rules: same spec, same seed, same fates.

No root needed: :class:`~mqttsim.validate.emulator.Transmitter` is pure
arithmetic on offer times; these tests run the same offers through the
simulator's :class:`~mqttsim.sim.link.Link` (built by ``LinkSpec.links``
with the streams the emulator uses) and compare every packet's fate and
arrival time.
"""

from __future__ import annotations

import random
from collections.abc import Generator
from typing import Any

import pytest
import simpy

from mqttsim.sim.link import LinkRecord
from mqttsim.sim.linkspec import LinkSpec, LossSpec, Outage
from mqttsim.validate.transmitter import Transmitter, transmitters

SEED = 1999

SPECS = {
    "clean-geo": LinkSpec(name="geo", delay_s=0.28, uplink_bps=1e6, downlink_bps=1e6),
    "bernoulli-jitter": LinkSpec(
        name="b", delay_s=0.05, jitter_s=0.02, uplink_bps=64_000, downlink_bps=256_000,
        loss=LossSpec.per_packet(0.1),
    ),
    "bursty-queue": LinkSpec(
        name="ge", delay_s=0.3, jitter_s=0.01, jitter="exponential", uplink_bps=9600,
        downlink_bps=9600, queue_limit_bytes=3000, loss=LossSpec.per_packet(0.05, 3.0),
    ),
    "timed-loss-outages": LinkSpec(
        name="t", delay_s=0.1, jitter="normal", jitter_s=0.005, uplink_bps=2400,
        downlink_bps=None, loss=LossSpec.of("gilbert-elliott-time", mean_good_s=5, mean_bad_s=1),
        outages=((3.0, 2.0),), outage=Outage(mean_up_s=10.0, mean_down_s=1.0),
    ),
}  # fmt: skip


def offers(n: int = 400, seed: int = 5) -> list[tuple[float, int]]:
    """Random offer times (bunched, so queues form) and IP sizes."""
    rng = random.Random(seed)
    t, out = 0.0, []
    for _ in range(n):
        t += rng.expovariate(20.0)
        out.append((t, rng.choice((52, 60, 120, 576, 1500))))
    return out


def simulated(spec: LinkSpec, direction: str, load: list[tuple[float, int]]) -> list[LinkRecord]:
    env = simpy.Environment()
    records: list[LinkRecord] = []
    up, down = spec.links(
        env,
        name="field",
        rng=lambda purpose: random.Random(f"{SEED}:field:{purpose}"),
        horizon_s=100.0,
        observers=(records.append, records.append),
    )
    link = up if direction == "up" else down
    link.attach(lambda item: None)

    def sender() -> Generator[simpy.Event, Any, None]:
        for t, size in load:
            yield env.timeout(t - env.now)
            link.send(None, size)

    env.process(sender())
    env.run()
    return records


@pytest.mark.parametrize("direction", ["up", "down"])
@pytest.mark.parametrize("name", list(SPECS))
def test_every_packet_meets_the_fate_the_simulator_gives_it(name: str, direction: str) -> None:
    spec = SPECS[name]
    load = offers()
    up, down, _ = transmitters("field", spec, seed=SEED, horizon_s=100.0)
    tx: Transmitter = up if direction == "up" else down
    for t, size in load:
        tx.offer(t, bytes(size))
    records = simulated(spec, direction, load)
    c = tx.counters
    outcomes = [r.outcome for r in records]
    assert (c.delivered + len(tx.in_flight), c.lost, c.outage, c.queue_full) == (
        0 + outcomes.count("delivered"),
        outcomes.count("lost"),
        outcomes.count("outage"),
        outcomes.count("queue-full"),
    )
    assert c.packets_sent == len(load) - c.queue_full
    arrivals = [r.arrival_s for r in records if r.outcome == "delivered"]
    assert [a for a, *_ in tx.in_flight] == pytest.approx(arrivals, abs=1e-9)


def test_transmission_is_fifo_and_serialised() -> None:
    tx = Transmitter("x up", delay_s=0.25, bandwidth_bps=9600)
    tx.offer(0.0, bytes(120))
    tx.offer(0.0, bytes(120))
    tx.offer(1.0, bytes(120))
    arrivals = [a for a, *_ in tx.in_flight]
    assert arrivals == pytest.approx([0.1 + 0.25, 0.2 + 0.25, 1.1 + 0.25])


def test_a_new_outage_is_checked_against_transmission_start_to_arrival() -> None:
    tx = Transmitter("x up", delay_s=0.5, bandwidth_bps=None)
    tx.offer(0.0, bytes(60))  # on the air over [0, 0.5]
    tx.extra.append((0.4, 0.6))
    assert tx.cut_by_new_outage(*(tx.in_flight[0][1], tx.in_flight[0][0]))
    assert not tx.cut_by_new_outage(0.7, 1.2)
