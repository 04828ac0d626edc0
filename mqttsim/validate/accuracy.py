"""How exactly does the emulator keep time? Probes through emulated links, measured.

Theory of operation
-------------------
One :class:`~mqttsim.validate.emulation.Emulation` with one link per rate
(9600 bit/s, 1 Mbit/s, 10 Mbit/s; 20 ms propagation delay, no jitter, no
loss). From each link's site, a UDP socket sends probes to a socket in the
hub that asks the kernel for receive timestamps (``SO_TIMESTAMPNS``):

* **Spaced probes**, each sent once the one before has arrived (so none ever
  queues), of several IP sizes. The intended arrival is the send time plus
  ``size * 8 / rate`` plus the delay; the error is the kernel's receive
  timestamp minus that. It includes the sender's kernel path to the TUN,
  the forwarder's reading, scheduling and writing, and the receiver's kernel
  path: all the emulator adds to a real link. Reported as p50/p99/max and
  the minimum, in microseconds.
* **A burst** of back-to-back packets of one size: they leave the
  transmitter one serialisation time apart, so the receive timestamps of
  the first and last give the achieved rate, compared with the configured
  one. (A burst that lost packets, which none should, is measured over those
  that arrived; the count is shown, and the TUN drops.)

The forwarder's own write lateness (when it wrote a packet, minus when the
packet was due) is reported too. Run ``python -m mqttsim.validate.emulator
--accuracy``; the figures measured when this was written are in
:mod:`mqttsim.validate.emulator`'s docstring.
"""

from __future__ import annotations

import math
import select
import socket
import struct
import time
from dataclasses import dataclass, field

from mqttsim.sim.linkspec import LinkSpec

from .emulation import Emulation
from .netns import EmulatorError

__all__ = ["AccuracyReport", "ProbeRow", "RateRow", "measure_accuracy", "percentile"]

SO_TIMESTAMPNS = 35  # <asm-generic/socket.h>; SCM_TIMESTAMPNS is the same number
SO_RCVBUFFORCE = 33
_UDP_IP_HEADERS = 28
_PORT = 9000
_DELAY_S = 0.020


def percentile(values: list[float], q: float) -> float:
    """The ``q``-quantile (0..1) of ``values`` by the nearest-rank rule; NaN when empty."""
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))]


@dataclass(frozen=True, slots=True)
class ProbeRow:
    """Arrival error of spaced probes of one size at one rate (microseconds)."""

    rate_bps: float
    size_bytes: int
    count: int
    min_us: float
    p50_us: float
    p99_us: float
    max_us: float


@dataclass(frozen=True, slots=True)
class RateRow:
    """A burst's achieved serialisation rate against the configured one."""

    rate_bps: float
    size_bytes: int
    count: int
    received: int
    achieved_bps: float

    @property
    def ratio(self) -> float:
        """Achieved over configured (1.0 is exact)."""
        return self.achieved_bps / self.rate_bps


@dataclass(slots=True)
class AccuracyReport:
    """The figures of :func:`measure_accuracy`."""

    probes: list[ProbeRow] = field(default_factory=list)
    rates: list[RateRow] = field(default_factory=list)
    forwarder: dict[str, float] = field(default_factory=dict)
    tun_drops: int = 0
    realtime: bool = False

    def table(self) -> str:
        """The report as plain text."""
        lines = [
            f"link emulator timing accuracy (forwarder at SCHED_FIFO: {self.realtime})",
            "arrival error of spaced probes (receive timestamp - intended arrival), µs:",
            f"{'rate bit/s':>12} {'IP bytes':>8} {'n':>5}"
            f" {'min':>8} {'p50':>8} {'p99':>8} {'max':>8}",
        ]
        for p in self.probes:
            lines.append(
                f"{p.rate_bps:>12,.0f} {p.size_bytes:>8} {p.count:>5} {p.min_us:>8.0f}"
                f" {p.p50_us:>8.0f} {p.p99_us:>8.0f} {p.max_us:>8.0f}"
            )
        lines.append("serialisation rate of a back-to-back burst:")
        lines.append(
            f"{'rate bit/s':>12} {'IP bytes':>8} {'sent':>5} {'recv':>5}"
            f" {'achieved':>14} {'ratio':>8}"
        )
        for r in self.rates:
            lines.append(
                f"{r.rate_bps:>12,.0f} {r.size_bytes:>8} {r.count:>5} {r.received:>5}"
                f" {r.achieved_bps:>14,.1f} {r.ratio:>8.5f}"
            )
        f = self.forwarder
        lines.append(
            f"forwarder write lateness over {f.get('count', 0):.0f} packets, µs:"
            f" p50 {f.get('p50_us', math.nan):.0f}, p99 {f.get('p99_us', math.nan):.0f},"
            f" max {f.get('max_us', math.nan):.0f}; packets dropped by a TUN: {self.tun_drops}"
        )
        return "\n".join(lines)


def _receive(sock: socket.socket, timeout_s: float) -> tuple[bytes, int]:
    """One datagram and its kernel receive timestamp (ns, CLOCK_REALTIME)."""
    ready = select.select([sock], [], [], timeout_s)[0]
    if not ready:
        raise EmulatorError(f"a probe did not arrive within {timeout_s:g} s")
    data, ancillary, _, _ = sock.recvmsg(65536, 64)
    for level, kind, blob in ancillary:
        if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS:
            sec, nsec = struct.unpack("qq", blob[:16])
            return data, sec * 1_000_000_000 + nsec
    raise EmulatorError("the kernel gave no receive timestamp (SO_TIMESTAMPNS)")


def _site_name(rate_bps: float) -> str:
    return f"r{int(rate_bps)}"


def measure_accuracy(
    *,
    rates: tuple[float, ...] = (9600.0, 1e6, 1e7),
    quick: bool = False,
    realtime: bool = True,
) -> AccuracyReport:
    """Measure the emulator's timing (see the module docstring); needs root.

    ``quick`` sends fewer probes (a few seconds in all, for tests).
    """
    links = {
        _site_name(rate): LinkSpec(
            name=f"probe-{rate:g}", delay_s=_DELAY_S, uplink_bps=rate, downlink_bps=rate
        )
        for rate in rates
    }
    report = AccuracyReport()
    with Emulation(links=links, realtime=realtime) as emu:
        report.realtime = emu.realtime_granted
        hub = emu.address("hub")
        for k, rate in enumerate(rates):
            site = _site_name(rate)
            with (
                emu.socket("hub", type=socket.SOCK_DGRAM) as rx,
                emu.socket(site, type=socket.SOCK_DGRAM) as tx,
            ):
                rx.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
                rx.setsockopt(socket.SOL_SOCKET, SO_RCVBUFFORCE, 32 << 20)
                rx.bind((hub, _PORT + k))
                tx.connect((hub, _PORT + k))
                slow = rate < 1e5
                sizes = (64, 256) if slow else (64, 576, 1500)
                count = (5 if slow else 20) if quick else (15 if slow else 100)
                for size in sizes:
                    report.probes.append(_spaced(rx, tx, rate, size, count))
                burst_size = 256 if slow else 1500
                if quick:
                    burst = 8 if slow else 100
                else:
                    burst = 16 if slow else (300 if rate < 5e6 else 2000)
                report.rates.append(_burst(rx, tx, rate, burst_size, burst))
        report.forwarder = emu.forwarder_stats()
        report.tun_drops = sum(emu.tun_drops().values())
    return report


def _spaced(rx: socket.socket, tx: socket.socket, rate: float, size: int, count: int) -> ProbeRow:
    errors = []
    wait_s = size * 8 / rate + _DELAY_S + 2.0
    for i in range(count):
        payload = struct.pack("!I", i).ljust(size - _UDP_IP_HEADERS, b"\0")
        sent_ns = time.time_ns()
        tx.send(payload)
        data, received_ns = _receive(rx, wait_s)
        if struct.unpack("!I", data[:4])[0] != i:
            raise EmulatorError("a probe arrived out of turn")
        intended_ns = sent_ns + (size * 8 / rate + _DELAY_S) * 1e9
        errors.append((received_ns - intended_ns) / 1e3)
    p50, p99 = percentile(errors, 0.5), percentile(errors, 0.99)
    return ProbeRow(rate, size, count, min(errors), p50, p99, max(errors))


def _burst(rx: socket.socket, tx: socket.socket, rate: float, size: int, count: int) -> RateRow:
    payload = b"\0" * (size - _UDP_IP_HEADERS)
    for _ in range(count):
        tx.send(payload)
    deadline = time.monotonic() + count * size * 8 / rate + _DELAY_S + 2.0
    stamps: list[int] = []
    while len(stamps) < count and (left := deadline - time.monotonic()) > 0:
        try:
            stamps.append(_receive(rx, left)[1])
        except EmulatorError:
            break
    if len(stamps) < 2:
        raise EmulatorError(f"only {len(stamps)} of a burst of {count} probes arrived")
    span_s = (stamps[-1] - stamps[0]) / 1e9
    return RateRow(rate, size, count, len(stamps), (len(stamps) - 1) * size * 8 / span_s)
