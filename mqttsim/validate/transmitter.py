"""One direction of an emulated link: the rules of :class:`mqttsim.sim.link.Link`, in real time.

Theory of operation
-------------------
:class:`Transmitter` is the emulator's copy of ``Link.send``: given the time
a packet is offered and its IP size, it applies, in this order, the FIFO
queue's byte bound (tail drop), serialisation (the transmitter is busy
``size * 8 / bps``; a packet starts when the one before has finished),
propagation delay plus jitter with no reordering, outages over transmission
start to arrival, and the loss model asked at transmission start. The fate
and arrival time are known at once; a packet to deliver waits in
``in_flight``, in arrival order, until the forwarder
(:mod:`mqttsim.validate.emulator`) writes it out.

Nothing is re-implemented from the figures: :func:`transmitters` builds the
loss model with :meth:`~mqttsim.sim.linkspec.LossSpec.build`, the jitter with
the spec's entry of :data:`~mqttsim.sim.linkspec.JITTER_MODELS`, and the
outages with :class:`~mqttsim.sim.link.OutageSchedule` and
:class:`~mqttsim.sim.link.RandomOutages`, from the streams
``random.Random(f"{seed}:{link}:{purpose}")`` the simulator's ``World`` gives
a link of the same name. tests/validate/test_transmitter.py checks that a
packet sequence meets the same fates, at the same times, in both.

The one addition is outages decided while running (``extra``): they were
not known when a packet was offered, so the forwarder checks them when the
packet is due (:meth:`Transmitter.cut_by_new_outage`).
"""

from __future__ import annotations

import math
import random
from collections import deque
from collections.abc import Callable

from mqttsim.sim.link import OutageSchedule
from mqttsim.sim.linkspec import JITTER_MODELS, LinkSpec
from mqttsim.sim.loss import LossModel

from .packets import Counters, PcapWriter

__all__ = ["Transmitter", "transmitters"]


class Transmitter:
    """One direction of an emulated link: :meth:`mqttsim.sim.link.Link.send`'s rules.

    ``offer(now, packet, then)`` decides the packet's fate at once; a packet
    to be delivered waits in ``in_flight`` as ``(arrival_s, start_s, packet,
    then)``, arrivals in order. ``then`` is the next :class:`Transmitter` on
    a two-link path, or None: the packet is written to ``out_fd``, the far
    end's TUN.
    """

    __slots__ = (
        "name", "delay_s", "jitter", "loss", "schedule", "extra", "counters", "pcap",
        "queue_limit_bytes", "in_flight", "out_fd", "_s_per_byte", "_tx_free_s", "_last_arrival_s",
        "_in_queue", "_queued_bytes",
    )  # fmt: skip

    def __init__(
        self,
        name: str,
        *,
        delay_s: float,
        bandwidth_bps: float | None,
        jitter: Callable[[], float] | None = None,
        loss: LossModel | None = None,
        schedule: OutageSchedule | None = None,
        extra: list[tuple[float, float]] | None = None,
        queue_limit_bytes: int | None = None,
        pcap: PcapWriter | None = None,
        out_fd: int = -1,
    ) -> None:
        self.name = name
        self.out_fd = out_fd
        self.delay_s = delay_s
        self.jitter = jitter
        self.loss = loss
        self.schedule = schedule
        self.extra: list[tuple[float, float]] = [] if extra is None else extra
        self.queue_limit_bytes = queue_limit_bytes
        self.counters = Counters()
        self.pcap = pcap
        self.in_flight: deque[tuple[float, float, bytes, Transmitter | None]] = deque()
        self._s_per_byte = 0.0 if bandwidth_bps is None else 8.0 / bandwidth_bps
        self._tx_free_s = -math.inf
        self._last_arrival_s = -math.inf
        self._in_queue: deque[tuple[float, int]] = deque()
        self._queued_bytes = 0

    def offer(self, now: float, packet: bytes, then: Transmitter | None = None) -> None:
        """A sender hands ``packet`` to this direction at emulator time ``now``."""
        c = self.counters
        c.count_offered(packet)
        if self.pcap is not None:
            self.pcap.write(now, packet)
        size = len(packet)
        if self.queue_limit_bytes is not None:
            in_queue = self._in_queue
            while in_queue and in_queue[0][0] <= now:
                self._queued_bytes -= in_queue.popleft()[1]
            if self._queued_bytes + size > self.queue_limit_bytes:
                c.queue_full += 1
                c.queue_full_bytes += size
                return
        start = now if now > self._tx_free_s else self._tx_free_s
        end = start + size * self._s_per_byte
        self._tx_free_s = end
        if self.queue_limit_bytes is not None:
            self._in_queue.append((end, size))
            self._queued_bytes += size
        c.packets_sent += 1
        c.bytes_sent += size
        arrival = end + self.delay_s
        if self.jitter is not None:
            arrival += self.jitter()
        if arrival < self._last_arrival_s:  # no reordering, as Link
            arrival = self._last_arrival_s
        if self.schedule is not None and self.schedule.down_between(start, arrival):
            c.outage += 1
            c.outage_bytes += size
        elif self.loss is not None and self.loss.lost(start):
            c.lost += 1
            c.lost_bytes += size
        else:
            self._last_arrival_s = arrival
            self.in_flight.append((arrival, start, packet, then))

    def cut_by_new_outage(self, start: float, arrival: float) -> bool:
        """True if an outage added while running covers part of ``[start, arrival]``."""
        return any(s <= arrival and e > start for s, e in self.extra)


def transmitters(
    name: str, spec: LinkSpec, *, seed: int | str, horizon_s: float
) -> tuple[Transmitter, Transmitter, list[tuple[float, float]]]:
    """The up and down :class:`Transmitter` of link ``name``, and their shared list of new outages.

    Built from ``spec`` with the simulator's seeded streams (see the module docstring).
    """

    def rng(purpose: str) -> random.Random:
        return random.Random(f"{seed}:{name}:{purpose}")

    schedule = spec.outage_schedule(rng, horizon_s)
    extra: list[tuple[float, float]] = []
    made = []
    for direction, bps in (("up", spec.uplink_bps), ("down", spec.downlink_bps)):
        jitter = None
        if spec.jitter_s > 0.0:
            jitter = JITTER_MODELS[spec.jitter].sampler(spec.jitter_s, rng(f"jitter-{direction}"))
        loss = None if spec.loss.model == "none" else spec.loss.build(rng(f"loss-{direction}"))
        made.append(
            Transmitter(
                f"{name} {direction}",
                delay_s=spec.delay_s,
                bandwidth_bps=bps,
                jitter=jitter,
                loss=loss,
                schedule=schedule,
                extra=extra,
                queue_limit_bytes=spec.queue_limit_bytes,
            )
        )
    return made[0], made[1], extra
