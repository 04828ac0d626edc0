"""The link emulator's forwarder: the simulator's link rules, applied to real packets.

Theory of operation
-------------------
Every site of an emulation (:mod:`mqttsim.validate.netns`) is a network
namespace whose only way out is a TUN device; this process holds the other
side of every TUN. It reads each IP packet a site sends, routes it by its
destination address to the direction of the link it crosses (``"<site> up"``
from a site to the hub, ``"<site> down"`` back; site to site crosses both,
up then down), and hands it to that direction's :class:`Transmitter`, which
decides its fate by the rules of :class:`mqttsim.sim.link.Link`, from the
same :class:`~mqttsim.sim.linkspec.LinkSpec`:

1. **FIFO queue** with an optional byte bound: a packet that would take the
   bytes queued or in transmission past ``queue_limit_bytes`` is
   tail-dropped (``queue_full``).
2. **Serialisation**: the transmitter is busy ``size * 8 / bps`` per packet
   (``size`` = IP bytes, headers included); a packet starts when the one
   before it has finished.
3. **Propagation delay** plus a jitter drawn from the spec's distribution
   (:data:`~mqttsim.sim.linkspec.JITTER_MODELS`), and never reordering:
   ``arrival = max(arrival, previous arrival)``.
4. **Outages**: the spec's scheduled windows and its random ones
   (:class:`~mqttsim.sim.link.RandomOutages`, drawn up to ``horizon_s``),
   shared by both directions; a packet is dropped if the link is down at any
   moment from its transmission start to its arrival. Outages added while
   running (:meth:`~mqttsim.validate.emulation.Emulation.outage_now`) are
   checked when the packet is due, since they were not known when it was
   offered.
5. **Loss**: otherwise the spec's loss model
   (:meth:`~mqttsim.sim.linkspec.LossSpec.build`) decides, asked with the
   transmission start time, once per packet that goes on the air.

Since all of this is fixed once a packet is offered, the fate and arrival
time are computed at once, exactly as ``Link.send`` does; the packet then
waits in its direction's in-flight queue (arrivals are in order) until it
is written to the far TUN. Randomness is ``random.Random(f"{seed}:{link}:{purpose}")``
for the purposes ``"loss-up"``, ``"loss-down"``, ``"jitter-up"``,
``"jitter-down"`` and ``"outages"``, the streams the simulator's
:class:`~mqttsim.sim.world.World` gives a link of the same name and seed.

Timing. Emulator time is ``time.monotonic()`` minus the moment the forwarder
started (clock zero, for scheduled outages). A packet's arrival time is
measured from when it was read. The loop waits in ``select(2)`` (microsecond
timeouts; timer slack set to 1 ns) until ~200 µs before the next packet is
due, then busy-waits, still reading input, and writes it; it runs as its own
process (no GIL shared with the harness), at ``SCHED_FIFO`` priority when
allowed, with the garbage collector frozen.

Accuracy measured on the machine this was written on (2 vCPU Xeon VM,
kernel 6.18, other work running; ``python -m mqttsim.validate.emulator
--accuracy``, two runs, worst figure over probe sizes of 64 to 1500 IP
bytes). Arrival error of spaced UDP probes: kernel receive timestamp minus
intended arrival (send time + serialisation + delay), so it includes the
sender's and receiver's kernel paths, all the emulator adds to a link:

    ==========  ========  ========  ========  ===========================
    rate        p50 µs    p99 µs    max µs    burst rate achieved / set
    ==========  ========  ========  ========  ===========================
    9600 bit/s  <= 115    <= 254    254       9,600.0 (1.00000)
    1 Mbit/s    <= 52     <= 141    209       1,000,001.7 (1.00000)
    10 Mbit/s   <= 92     <= 175    655       10,000,097 (1.00001)
    ==========  ========  ========  ========  ===========================

The forwarder's own write lateness (written minus due) was p50 2-3 µs, p99
51-59 µs, max 303-643 µs. Without ``SCHED_FIFO`` the p99 error grew to
~400 µs and the max to ~740 µs. Against a 280 ms GEO hop this is 0.03 %
at p99; it matters only for LAN-speed links or sub-millisecond figures.

Control: the parent (:class:`~mqttsim.validate.emulation.Emulation`) talks
to this process over a socket pair, length-prefixed pickles: the
configuration, then ``("counters",)``, ``("outage", link, start_s,
duration_s)`` and ``("stop",)``. The parent starts it as ``python -c`` calling :func:`serve`
(not ``-m``, under which its classes would be ``__main__``'s, not those the
configuration was pickled with). When the parent goes away the socket closes
and the forwarder exits, and with it every TUN device.

Run as a program: ``python -m mqttsim.validate.emulator --accuracy``
measures the timing accuracy (:mod:`mqttsim.validate.accuracy`);
``--cleanup`` deletes every ``mqv-*`` namespace left by killed runs.
"""

from __future__ import annotations

import argparse
import ctypes
import gc
import math
import os
import pickle
import select
import socket
import struct
import sys
import time
from array import array
from dataclasses import dataclass
from typing import Any

from mqttsim.sim.linkspec import LinkSpec

from .netns import EmulatorError, cleanup_stale
from .packets import PcapWriter, ipv4_route
from .transmitter import Transmitter, transmitters

__all__ = [
    "ForwarderConfig",
    "lateness_summary",
    "main",
    "serve",
    "recv_message",
    "send_message",
]

SPIN_S = 200e-6  # busy-wait this long before a packet is due
_MAX_SAMPLES = 1 << 20  # lateness samples kept (8 MiB)
_READS_PER_ROUND = 64
_PR_SET_TIMERSLACK = 29


# --- the control channel ----------------------------------------------------------------------


def send_message(sock: socket.socket, message: object) -> None:
    """Send one length-prefixed pickle."""
    data = pickle.dumps(message)
    sock.sendall(struct.pack("!I", len(data)) + data)


def recv_message(sock: socket.socket) -> Any:
    """Receive one length-prefixed pickle; EOFError when the peer has gone."""

    def exactly(n: int) -> bytes:
        chunks = bytearray()
        while len(chunks) < n:
            chunk = sock.recv(n - len(chunks))
            if not chunk:
                raise EOFError("control channel closed")
            chunks += chunk
        return bytes(chunks)

    (length,) = struct.unpack("!I", exactly(4))
    return pickle.loads(exactly(length))


@dataclass(frozen=True, slots=True)
class ForwarderConfig:
    """What the parent sends the forwarder first.

    Attributes:
        sites: site name -> (TUN descriptor in the forwarder, IPv4 address).
        hub: the hub's site name.
        links: site name -> its link to the hub.
        seed: the seed of the random streams.
        horizon_s: random outages are drawn up to this emulator time.
        pcap_dir: write ``<site>.pcap`` per link there, or None.
        realtime: ask for ``SCHED_FIFO`` (silently kept off when refused).
        spin_s: busy-wait this long before a packet is due.
    """

    sites: dict[str, tuple[int, str]]
    hub: str
    links: dict[str, LinkSpec]
    seed: int | str
    horizon_s: float
    pcap_dir: str | None = None
    realtime: bool = True
    spin_s: float = SPIN_S


def lateness_summary(samples: array[float]) -> dict[str, float]:
    """p50, p99, max and count of the forwarder's write lateness, microseconds."""
    if not samples:
        return {"count": 0, "p50_us": math.nan, "p99_us": math.nan, "max_us": math.nan}
    ordered = sorted(samples)
    n = len(ordered)
    return {
        "count": n,
        "p50_us": ordered[n // 2] * 1e6,
        "p99_us": ordered[min(n - 1, int(n * 0.99))] * 1e6,
        "max_us": ordered[-1] * 1e6,
    }


# --- the loop -----------------------------------------------------------------------------------


class _Forwarder:
    def __init__(self, config: ForwarderConfig, control: socket.socket) -> None:
        self.config = config
        self.control = control
        self.t0 = time.monotonic()
        self.hub = config.hub
        self.fd = {site: fd for site, (fd, _) in config.sites.items()}
        self.site_of_fd = {fd: site for site, fd in self.fd.items()}
        self.site_of_addr = {socket.inet_aton(a): s for s, (_, a) in config.sites.items()}
        self.up: dict[str, Transmitter] = {}
        self.down: dict[str, Transmitter] = {}
        self.extra: dict[str, list[tuple[float, float]]] = {}
        self.pcaps: list[PcapWriter] = []
        for site, spec in config.links.items():
            up, down, extra = transmitters(site, spec, seed=config.seed, horizon_s=config.horizon_s)
            if config.pcap_dir is not None:
                pcap = PcapWriter(open(os.path.join(config.pcap_dir, f"{site}.pcap"), "wb"))
                self.pcaps.append(pcap)
                up.pcap = down.pcap = pcap
            up.out_fd, down.out_fd = self.fd[self.hub], self.fd[site]
            self.up[site], self.down[site], self.extra[site] = up, down, extra
        self.all = [*self.up.values(), *self.down.values()]
        self.other = {"non_ipv4": 0, "unroutable": 0, "write_errors": 0}
        self.lateness: array[float] = array("d")
        self.running = True

    def now(self) -> float:
        return time.monotonic() - self.t0

    def route(self, src: str, packet: bytes, now: float) -> None:
        dst_addr = ipv4_route(packet)
        if dst_addr is None:
            self.other["non_ipv4"] += 1
            return
        dst = self.site_of_addr.get(dst_addr)
        if dst is None or dst == src:
            self.other["unroutable"] += 1
            return
        if src == self.hub:
            self.down[dst].offer(now, packet)
        elif dst == self.hub:
            self.up[src].offer(now, packet)
        else:
            self.up[src].offer(now, packet, self.down[dst])

    def read_input(self, ready: list[int]) -> None:
        for fd in ready:
            if fd == self.control.fileno():
                self.command()
                continue
            src = self.site_of_fd[fd]
            for _ in range(_READS_PER_ROUND):
                try:
                    packet = os.read(fd, 65536)
                except BlockingIOError:
                    break
                self.route(src, packet, self.now())

    def deliver_due(self) -> None:
        for tx in self.all:
            flight = tx.in_flight
            while flight and flight[0][0] <= self.now():
                arrival, start, packet, then = flight.popleft()
                c = tx.counters
                if tx.extra and tx.cut_by_new_outage(start, arrival):
                    c.outage += 1
                    c.outage_bytes += len(packet)
                    continue
                if then is not None:
                    then.offer(arrival, packet)
                else:
                    if len(self.lateness) < _MAX_SAMPLES:
                        self.lateness.append(self.now() - arrival)
                    try:
                        os.write(tx.out_fd, packet)
                    except OSError:
                        self.other["write_errors"] += 1
                        continue
                c.delivered += 1
                c.delivered_bytes += len(packet)

    def next_due(self) -> float:
        return min((tx.in_flight[0][0] for tx in self.all if tx.in_flight), default=math.inf)

    def counters(self) -> dict[str, Any]:
        out: dict[str, Any] = {tx.name: tx.counters.as_dict() for tx in self.all}
        for tx in self.all:
            out[tx.name]["in_flight"] = len(tx.in_flight)
        out["forwarder"] = {**self.other, **lateness_summary(self.lateness)}
        return out

    def command(self) -> None:
        try:
            message = recv_message(self.control)
        except (EOFError, OSError):
            self.running = False  # the parent has gone: stop, and the TUNs go with us
            return
        kind = message[0]
        if kind == "counters":
            send_message(self.control, ("ok", self.counters()))
        elif kind == "outage":
            _, link, start_s, duration_s = message
            if link not in self.extra:
                send_message(self.control, ("error", f"no link {link!r}"))
                return
            start = self.now() if start_s is None else float(start_s)
            self.extra[link].append((start, start + float(duration_s)))
            send_message(self.control, ("ok", (start, start + float(duration_s))))
        elif kind == "stop":
            self.running = False
            send_message(self.control, ("ok", self.counters()))
        else:
            send_message(self.control, ("error", f"unknown command {kind!r}"))

    def run(self) -> None:
        rfds = [*self.site_of_fd, self.control.fileno()]
        spin = self.config.spin_s
        monotonic, t0, sel = time.monotonic, self.t0, select.select
        while self.running:
            due = self.next_due()
            wait = due - (monotonic() - t0)
            timeout = min(wait - spin, 1.0) if wait > spin else 0.0
            ready = sel(rfds, [], [], timeout)[0]
            if ready:
                self.read_input(ready)
                continue
            due = self.next_due()
            if due - (monotonic() - t0) > spin:
                continue  # woken early, or the wait was capped
            while monotonic() - t0 < due:  # the last ~200 µs: busy-wait, still reading
                ready = sel(rfds, [], [], 0.0)[0]
                if ready:
                    self.read_input(ready)
                    due = self.next_due()
            self.deliver_due()
        for pcap in self.pcaps:
            pcap.close()


def _tune_for_timing(realtime: bool) -> bool:
    """Timer slack 1 ns, the GC frozen, and SCHED_FIFO if ``realtime`` and allowed."""
    try:
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_TIMERSLACK, 1, 0, 0, 0)
    except (OSError, AttributeError):  # pragma: no cover - not Linux
        pass
    gc.collect()
    gc.freeze()
    gc.disable()  # the loop makes no reference cycles
    if not realtime:
        return False
    try:
        os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(10))
    except (OSError, AttributeError):
        return False
    return True


def serve(control_fd: int) -> int:
    """The forwarder process: read the configuration, run until told to stop or orphaned."""
    control = socket.socket(fileno=control_fd)
    config = recv_message(control)
    if not isinstance(config, ForwarderConfig):
        raise EmulatorError("the forwarder expected a ForwarderConfig first")
    forwarder = _Forwarder(config, control)
    realtime = _tune_for_timing(config.realtime)
    forwarder.t0 = time.monotonic()
    send_message(control, ("ready", forwarder.t0, {"realtime": realtime, "pid": os.getpid()}))
    forwarder.run()
    return 0


def main(argv: list[str] | None = None) -> int:
    """``python -m mqttsim.validate.emulator --accuracy | --cleanup``."""
    parser = argparse.ArgumentParser(
        prog="python -m mqttsim.validate.emulator",
        description="The link emulator: its timing accuracy, or a cleanup after killed runs.",
    )
    group = parser.add_mutually_exclusive_group(required=True)
    group.add_argument("--accuracy", action="store_true", help="measure the timing accuracy")
    group.add_argument("--cleanup", action="store_true", help="delete every stale mqv-* namespace")
    parser.add_argument("--quick", action="store_true", help="fewer probes (with --accuracy)")
    args = parser.parse_args(argv)
    try:
        if args.cleanup:
            from .netns import check_environment

            check_environment()
            removed = cleanup_stale(everything=True)
            print(f"removed {len(removed)} stale namespace(s) {' '.join(removed)}".rstrip())
            return 0
        from .accuracy import measure_accuracy

        print(measure_accuracy(quick=args.quick).table())
        return 0
    except EmulatorError as exc:
        print(f"{parser.prog}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
