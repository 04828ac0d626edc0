"""Validation against real stacks: the link emulator (Linux namespaces, TUN, a forwarder).

The simulator's figures are only worth their agreement with real TCP stacks.
This package runs real programs (the asyncio broker, paho-mqtt, mosquitto)
over emulated links that follow the simulator's own link rules, from the same
:class:`~mqttsim.sim.linkspec.LinkSpec`:

* :mod:`~mqttsim.validate.netns`: the namespaces, TUN devices and addresses
  (10.250.0.0/16, inside the namespaces only), and their removal;
* :mod:`~mqttsim.validate.emulator`: the forwarder, a separate process that
  queues, serialises, delays, loses and cuts packets as
  :class:`~mqttsim.sim.link.Link` does, and counts them;
* :mod:`~mqttsim.validate.packets`: IPv4/TCP parsing, counters, pcap;
* :mod:`~mqttsim.validate.emulation`: :class:`Emulation`, the API a harness uses;
* :mod:`~mqttsim.validate.accuracy`: the emulator's own timing accuracy.

It needs root. Only ``mqttsim.cli`` and ``mqttsim.commands`` import it.

Example (see :class:`Emulation` for the whole API)::

    import sys
    from mqttsim.sim.linkspec import LinkSpec, LossSpec
    from mqttsim.validate import Emulation

    geo = LinkSpec(name="geo", delay_s=0.28, uplink_bps=1e6, downlink_bps=1e6,
                   loss=LossSpec.per_packet(0.05))
    with Emulation(links={"field": geo}, seed=1) as emu:
        hub = emu.address("hub")  # 10.250.0.1; "field" is 10.250.1.1
        broker = emu.run_in("hub", [sys.executable, "-m", "mqttsim", "broker", "--host", hub])
        client = emu.run_in("field", [sys.executable, "pub.py", hub])
        client.wait(timeout=60)
        print(emu.counters_frame())  # per direction: packets, bytes, losses, TCP figures
        assert all(n == 0 for n in emu.tun_drops().values())

(mosquitto 2 without a configuration listens on loopback only: give it one
with ``listener 1883 0.0.0.0`` and ``allow_anonymous true``.)
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .netns import HUB_ADDRESS, SUBNET, EmulatorError, cleanup_stale, in_netns, socket_in

if TYPE_CHECKING:  # pragma: no cover
    from .emulation import Emulation

__all__ = [
    "HUB_ADDRESS",
    "SUBNET",
    "Emulation",
    "EmulatorError",
    "cleanup_stale",
    "in_netns",
    "socket_in",
]


def __getattr__(name: str) -> Any:
    # Lazy, so ``python -m mqttsim.validate.emulator`` does not import the
    # emulator twice (once through this package, once as __main__).
    if name == "Emulation":
        from .emulation import Emulation

        return Emulation
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
