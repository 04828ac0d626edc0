"""The link emulator on real stacks: namespaces up and down, RTT, loss, serialisation, outages.

Root only (network namespaces, TUN devices); skipped in one line otherwise.
Every wait has a timeout and waits on a socket or a process, never a bare
sleep; all traffic stays inside the namespaces the emulation makes.
"""

from __future__ import annotations

import os
import random
import select
import signal
import socket
import struct
import subprocess
import sys
import time

import pytest

if os.geteuid() != 0:
    pytest.skip("the link emulator needs root", allow_module_level=True)

from mqttsim.sim.linkspec import LinkSpec, LossSpec
from mqttsim.validate import Emulation, EmulatorError
from mqttsim.validate.accuracy import measure_accuracy
from mqttsim.validate.netns import NETNS_PREFIX

SO_TIMESTAMPNS = 35
SO_RCVBUFFORCE = 33
GEO = LinkSpec(name="geo", delay_s=0.28, uplink_bps=1e6, downlink_bps=1e6)
LAN = LinkSpec(name="lan", delay_s=0.0, uplink_bps=None, downlink_bps=None)


def our_namespaces() -> list[str]:
    names = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    mine = f"{NETNS_PREFIX}{os.getpid()}-"
    return [line.split()[0] for line in names.splitlines() if line.startswith(mine)]


def udp_pair(emu: Emulation, site: str, port: int) -> tuple[socket.socket, socket.socket]:
    """A receiver in the hub (kernel receive timestamps) and a sender in ``site``."""
    rx = emu.socket("hub", type=socket.SOCK_DGRAM)
    rx.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
    rx.setsockopt(socket.SOL_SOCKET, SO_RCVBUFFORCE, 16 << 20)  # a burst must not overflow it
    rx.bind((emu.address("hub"), port))
    tx = emu.socket(site, type=socket.SOCK_DGRAM)
    tx.connect((emu.address("hub"), port))
    return rx, tx


def receive(rx: socket.socket, timeout_s: float) -> tuple[bytes, float] | None:
    """One datagram and its kernel receive time (CLOCK_REALTIME, s), or None on timeout."""
    if not select.select([rx], [], [], timeout_s)[0]:
        return None
    data, ancillary, _, _ = rx.recvmsg(65536, 64)
    sec, nsec = struct.unpack("qq", ancillary[0][2][:16])
    return data, sec + nsec / 1e9


def tcp_rtt_s(sock: socket.socket) -> float:
    """The kernel's smoothed RTT of a TCP socket (``tcpi_rtt``, struct tcp_info, µs)."""
    info = sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 104)
    return int(struct.unpack_from("I", info, 68)[0]) / 1e6


def test_topology_comes_up_with_its_addresses_and_goes_away() -> None:
    with Emulation(links={"field": GEO, "office": LAN}) as emu:
        assert emu.sites == ("hub", "field", "office")
        assert [emu.address(s) for s in emu.sites] == ["10.250.0.1", "10.250.1.1", "10.250.2.1"]
        assert sorted(our_namespaces()) == sorted(emu.netns(s) for s in emu.sites)
        shown = subprocess.run(
            ["ip", "-n", emu.netns("field"), "-4", "addr", "show", "mqv0"],
            capture_output=True, text=True, timeout=10,
        ).stdout  # fmt: skip
        assert "10.250.1.1/24" in shown
        sleeper = emu.run_in("office", ["sleep", "60"])
    assert our_namespaces() == []
    assert sleeper.poll() is not None  # ended with the emulation


def test_an_exception_inside_still_tears_everything_down() -> None:
    with pytest.raises(RuntimeError, match="boom"):
        with Emulation(links={"field": LAN}) as emu:
            sleeper = emu.run_in("hub", ["sleep", "60"])
            raise RuntimeError("boom")
    assert our_namespaces() == []
    assert sleeper.poll() is not None


def test_a_crashed_forwarder_is_reported_and_cleaned_up() -> None:
    with pytest.raises(EmulatorError, match="forwarder exited"):
        with Emulation(links={"field": LAN}) as emu:
            pid = emu.forwarder_pid
            assert pid is not None
            os.kill(pid, signal.SIGKILL)
            with pytest.raises(EmulatorError):
                for _ in range(1000):  # bounded: fails as soon as the death is seen
                    emu.counters()
    assert our_namespaces() == []


def test_tcp_through_a_clean_geo_link_shows_the_round_trip() -> None:
    with Emulation(links={"field": GEO}) as emu:
        with emu.socket("hub") as server, emu.socket("field") as client:
            server.bind((emu.address("hub"), 1883))
            server.listen()
            client.settimeout(5.0)
            t0 = time.monotonic()
            client.connect((emu.address("hub"), 1883))
            connect_s = time.monotonic() - t0
            server.settimeout(5.0)
            peer, _ = server.accept()
            with peer:
                peer.settimeout(5.0)
                t0 = time.monotonic()
                client.sendall(b"x" * 100)
                assert peer.recv(100) == b"x" * 100
                peer.sendall(b"y" * 100)
                assert client.recv(100) == b"y" * 100
                echo_s = time.monotonic() - t0
            kernel_rtt_s = tcp_rtt_s(client)
        counters = emu.counters()
    # SYN and SYN-ACK are 60 IP bytes (40 of TCP header and options): 0.48 ms each at 1 Mbit/s.
    handshake = 0.56 + 2 * 60 * 8 / 1e6
    # The kernel's own RTT estimate (µs, from its timestamps) is free of this test's scheduling.
    assert kernel_rtt_s == pytest.approx(handshake, abs=0.001)
    # As this process sees it: never faster, and late only by its own wake-ups.
    assert handshake <= connect_s < handshake + 0.02
    # 100 bytes of payload, 32 of TCP header with timestamps, 20 of IP.
    echo = 0.56 + 2 * 152 * 8 / 1e6
    assert echo <= echo_s < echo + 0.02
    assert counters["field up"]["tcp_syn"] == 1
    assert counters["field up"]["tcp_retransmissions"] == 0
    assert counters["field down"]["tcp_retransmissions"] == 0


def test_the_configured_loss_is_applied_packet_by_packet_as_seeded() -> None:
    spec = LinkSpec(
        name="lossy", delay_s=0.002, uplink_bps=None, downlink_bps=None,
        loss=LossSpec.per_packet(0.1),
    )  # fmt: skip
    n, seed = 400, 7
    model = spec.loss.build(random.Random(f"{seed}:field:loss-up"))
    assert model is not None
    expected_lost = sum(model.lost(0.0) for _ in range(n))
    with Emulation(links={"field": spec}, seed=seed) as emu:
        rx, tx = udp_pair(emu, "field", 9000)
        with rx, tx:
            for i in range(n):
                tx.send(struct.pack("!I", i))
            got = 0
            while got < n - expected_lost and receive(rx, 2.0) is not None:
                got += 1
            assert receive(rx, 0.1) is None  # nothing more arrives
        up = emu.counters()["field up"]
        assert emu.tun_drops() == {"hub": 0, "field": 0}
    assert 20 <= expected_lost <= 60
    assert (up["offered"], up["lost"], up["delivered"]) == (n, expected_lost, n - expected_lost)
    assert got == n - expected_lost


def test_serialisation_at_9600_bit_s_spaces_packets_as_computed() -> None:
    spec = LinkSpec(name="slow", delay_s=0.05, uplink_bps=9600, downlink_bps=9600)
    size, n = 120, 5  # IP bytes: 0.1 s each at 9600 bit/s
    with Emulation(links={"field": spec}) as emu:
        rx, tx = udp_pair(emu, "field", 9001)
        with rx, tx:
            sent = time.time()
            for _ in range(n):
                tx.send(bytes(size - 28))
            stamps = []
            for _ in range(n):
                got = receive(rx, 2.0)
                assert got is not None
                stamps.append(got[1])
    tx_s = size * 8 / 9600
    assert stamps[0] - sent == pytest.approx(tx_s + 0.05, abs=0.002)
    gaps = [b - a for a, b in zip(stamps, stamps[1:], strict=False)]
    assert gaps == pytest.approx([tx_s] * (n - 1), abs=0.001)


@pytest.mark.parametrize("how", ["spec", "outage_now"])
def test_an_outage_drops_everything_in_its_window(how: str) -> None:
    delay, start, length = 0.01, 0.6, 0.4
    spec = LinkSpec(name="cut", delay_s=delay, uplink_bps=1e6, downlink_bps=1e6)
    if how == "spec":  # emulator time: clock zero is when the forwarder started
        spec = spec.with_overrides(outages=[(start, length)])
    with Emulation(links={"field": spec}) as emu:
        if how == "outage_now":
            begin, end = emu.outage_now("field", length, start_in_s=start - emu.clock_s())
            assert (begin, end) == pytest.approx((start, start + length), abs=0.05)
            start, length = begin, end - begin
        rx, tx = udp_pair(emu, "field", 9002)
        sends: list[tuple[int, float, float]] = []
        arrived: set[int] = set()
        with rx, tx:
            for i in range(75):  # one every 20 ms, for 1.5 s
                due = i * 0.02
                while (now := emu.clock_s()) < due:
                    got = receive(rx, due - now)
                    if got is not None:
                        arrived.add(struct.unpack("!I", got[0][:4])[0])
                before = emu.clock_s()
                tx.send(struct.pack("!I", i).ljust(72, b"\0"))  # 100 IP bytes
                sends.append((i, before, emu.clock_s()))
            while (got := receive(rx, 0.5)) is not None:
                arrived.add(struct.unpack("!I", got[0][:4])[0])
        up = emu.counters()["field up"]
    span = 100 * 8 / 1e6 + delay  # transmission start to arrival
    margin = 0.005  # the forwarder reads a packet a little after send() returns
    end = start + length
    inside = {i for i, t0, t1 in sends if t0 > start - span + margin and t1 < end - margin}
    outside = {i for i, t0, t1 in sends if t1 < start - span - margin or t0 > end + margin}
    assert len(inside) >= 15
    assert not inside & arrived
    assert outside <= arrived
    assert up["outage"] == 75 - len(arrived)
    assert up["lost"] == 0


def test_a_retransmission_is_counted_when_tcp_recovers_a_loss() -> None:
    spec = LinkSpec(
        name="lossy", delay_s=0.005, uplink_bps=10e6, downlink_bps=10e6,
        loss=LossSpec.per_packet(0.05),
    )  # fmt: skip
    data = bytes(200_000)
    with Emulation(links={"field": spec}, seed=3) as emu:
        with emu.socket("hub") as server, emu.socket("field") as client:
            server.bind((emu.address("hub"), 1883))
            server.listen()
            for s in (server, client):
                s.settimeout(10.0)
            client.connect((emu.address("hub"), 1883))
            peer, _ = server.accept()
            with peer:
                peer.settimeout(10.0)
                client.sendall(data)
                client.shutdown(socket.SHUT_WR)
                received = 0
                while chunk := peer.recv(65536):
                    received += len(chunk)
        up = emu.counters()["field up"]
    assert received == len(data)
    assert up["lost"] >= 1
    assert up["tcp_retransmissions"] >= 1
    assert up["tcp_payload_bytes"] >= len(data)


RUN_UNTIL_SIGNALLED = """
import sys
from mqttsim.sim.linkspec import LinkSpec
from mqttsim.validate import Emulation
lan = LinkSpec(name="lan", delay_s=0.0, uplink_bps=None, downlink_bps=None)
with Emulation(links={"field": lan}) as emu:
    print(emu.netns("hub"), flush=True)
    sys.stdin.read()  # until the test signals us
"""


def namespaces_of(pid: int) -> list[str]:
    names = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    return [line.split()[0] for line in names.splitlines() if line.startswith(f"mqv-{pid}-")]


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT, signal.SIGKILL])
def test_a_signalled_run_leaves_no_namespace(sig: signal.Signals) -> None:
    run = subprocess.Popen(
        [sys.executable, "-c", RUN_UNTIL_SIGNALLED],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )  # fmt: skip
    try:
        assert run.stdout is not None
        ready = select.select([run.stdout], [], [], 30.0)[0]
        assert ready, "the emulation did not start within 30 s"
        assert run.stdout.readline().startswith(f"mqv-{run.pid}-")
        run.send_signal(sig)
        run.wait(timeout=30.0)
    finally:
        if run.poll() is None:
            run.kill()
            run.wait()
        assert run.stdin is not None and run.stdout is not None
        run.stdin.close()
        run.stdout.close()
    if sig == signal.SIGKILL:  # nobody could clean up: the next emulation does
        assert namespaces_of(run.pid)
        with Emulation(links={"field": LAN}):
            pass
    assert namespaces_of(run.pid) == []


def test_the_emulator_measures_its_own_timing() -> None:
    report = measure_accuracy(rates=(9600.0, 1e6), quick=True)
    assert {p.rate_bps for p in report.probes} == {9600.0, 1e6}
    for probe in report.probes:
        assert 0 < probe.p50_us < 2000  # the emulator adds microseconds, not milliseconds
    for rate in report.rates:
        assert rate.received == rate.count
        assert rate.ratio == pytest.approx(1.0, rel=0.01)
    assert report.tun_drops == 0
    assert "arrival error" in report.table()
