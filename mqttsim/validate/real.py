"""A case run by the real stack: brokers and clients in namespaces, through the link emulator.

:func:`run_real` brings up an :class:`~.emulation.Emulation` with the case's
links (``field`` and, for the remote layout, ``office``, both to ``hub``),
starts the broker in ``hub`` (``mqttsim broker``, or Debian's ``mosquitto``
with a two-line configuration that keeps every default but the listener and
anonymous access), the subscribing agent beside it or in ``office``, and
the publishing agent in ``field`` (:mod:`.agent`), each told to start
connecting at the emulator time its simulated twin does
(:data:`~.cases.SUBSCRIBER_START_S`, :data:`~.cases.PUBLISHER_START_S`), so
that both worlds share one clock; then it waits for both agents to finish
and reads the figures from their logs and the emulator's counters.

Every wait is bounded; every process is ended when the emulation closes.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from pathlib import Path

from mqttsim.protocol.errors import ConfigError

from .cases import FIRST_AT_S, PUBLISHER_START_S, STACKS, SUBSCRIBER_START_S, Case
from .emulation import Emulation
from .figures import Figures, from_agent_logs
from .netns import EmulatorError

__all__ = ["PORT", "available_stacks", "run_real"]

PORT = 1883
_START_TIMEOUT_S = 30.0


def available_stacks() -> list[str]:
    """The stacks this machine can run: mqttsim always; paho + mosquitto when
    ``mosquitto`` is on PATH and paho-mqtt imports."""
    stacks = ["mqttsim"]
    try:
        import paho.mqtt.client  # noqa: F401
    except ImportError:
        return stacks
    if shutil.which("mosquitto"):
        stacks.append("paho+mosquitto")
    return stacks


def _broker_argv(case: Case, address: str, workdir: Path) -> list[str]:
    _, broker = STACKS[case.stack]
    if broker == "mosquitto-2":
        conf = workdir / "mosquitto.conf"
        conf.write_text(f"listener {PORT} {address}\nallow_anonymous true\n", encoding="utf-8")
        mosquitto = shutil.which("mosquitto")
        if mosquitto is None:
            raise ConfigError(
                "the paho+mosquitto stack needs mosquitto (apt-get install mosquitto)"
            )
        return [mosquitto, "-c", str(conf)]
    return [
        sys.executable,
        "-m",
        "mqttsim",
        "broker",
        "--host",
        address,
        "--port",
        str(PORT),
        "--allow-anonymous",
        "--log-level",
        "warning",
    ]


def _wait_for_port(emu: Emulation, site: str, address: str) -> None:
    deadline = time.monotonic() + _START_TIMEOUT_S
    while time.monotonic() < deadline:
        probe = emu.socket(site)
        probe.settimeout(1.0)
        try:
            probe.connect((address, PORT))
            return
        except OSError:
            time.sleep(0.05)  # the broker is still starting: poll its port again
        finally:
            probe.close()
    raise EmulatorError(
        f"the broker did not listen on {address}:{PORT} within {_START_TIMEOUT_S} s"
    )


def run_real(case: Case, *, seed: int, workdir: Path, pcap: bool = False) -> Figures:
    """Run ``case`` on the real stack; its figures (and, with ``pcap``, a
    capture per link in ``workdir``: ``field.pcap``, ``office.pcap``).

    Raises:
        EmulatorError: the machine cannot emulate (not root, no TUN), or a
            program did not start in time.
    """
    workdir.mkdir(parents=True, exist_ok=True)
    client, _ = STACKS[case.stack]
    agent_client = "paho" if client == "paho-2" else "mqttsim"
    links = {"field": case.spec}
    if case.layout == "remote":
        links["office"] = case.spec
    total_s = case.duration_s + case.drain_s
    pub_log, sub_log = workdir / "rtu.jsonl", workdir / "scada.jsonl"
    pcap_dir = workdir if pcap else None
    with Emulation(links, seed=seed, horizon_s=total_s + 120.0, pcap_dir=pcap_dir) as emu:
        hub = emu.address("hub")
        quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
        emu.run_in("hub", _broker_argv(case, hub, workdir), **quiet)
        _wait_for_port(emu, "hub", hub)
        zero = time.monotonic() - emu.clock_s()  # emulator time 0 = simulated time 0
        if emu.clock_s() > SUBSCRIBER_START_S - 0.5:
            raise EmulatorError(
                f"the broker took {emu.clock_s():.1f} s to listen; the subscriber"
                f" must start at {SUBSCRIBER_START_S} s, as in the simulator"
            )
        agent = [sys.executable, "-m", "mqttsim.validate.agent"]
        to_broker = ["--client", agent_client, "--host", hub, "--port", str(PORT)]
        to_broker += ["--keep-alive", str(case.keep_alive_s)]
        subscriber = emu.run_in(
            "office" if case.layout == "remote" else "hub",
            [*agent, "subscribe", *to_broker, "--id", "scada", "--filter", "plant/#",
             "--qos", "2", "--seconds", str(total_s + 10.0), "--out", str(sub_log),
             "--start-at", repr(zero + SUBSCRIBER_START_S)],
        )  # fmt: skip
        publisher = emu.run_in(
            "field",
            [*agent, "publish", *to_broker, "--id", "rtu", "--topic", "plant/p",
             "--qos", str(case.qos), "--every", str(case.every_s), "--count", str(case.count),
             "--payload-bytes", str(case.payload_bytes), "--first-at", str(FIRST_AT_S),
             "--linger", str(case.drain_s), "--out", str(pub_log),
             "--start-at", repr(zero + PUBLISHER_START_S)],
        )  # fmt: skip
        if publisher.wait(timeout=total_s + 60.0) != 0:
            raise EmulatorError(f"the publishing agent failed (exit {publisher.returncode})")
        subscriber.terminate()
        subscriber.wait(timeout=30.0)
        counters = emu.counters()
        drops = emu.tun_drops()
    if any(drops.values()):
        raise EmulatorError(f"the machine dropped packets at a TUN device: {drops}")
    return from_agent_logs(
        pub_log,
        sub_log,
        ip_bytes=float(sum(c["bytes_sent"] for c in counters.values())),
        retransmitted_segments=float(sum(c["tcp_retransmissions"] for c in counters.values())),
    )
