"""One end of a connection, as the node drivers use it.

:class:`~mqttsim.sim.tcp.TcpEndpoint` and
:class:`~mqttsim.sim.loopback.LoopbackEnd` derive from :class:`Transport`
rather than merely fitting a Protocol: compiled, a driver's ``send`` and
``recv`` (several per message) then go straight through the class's method
table instead of a lookup by name and a call through the interpreter.
"""

from __future__ import annotations

import simpy

__all__ = ["Transport"]


class Transport:
    """Bytes in order both ways, and an orderly or abrupt end."""

    @property
    def is_open(self) -> bool:
        """True while ``send()`` is allowed."""
        raise NotImplementedError

    def send(self, data: bytes) -> None:
        """Queue ``data`` for the peer; never blocks."""
        raise NotImplementedError

    def recv(self) -> simpy.Event:
        """An event firing with the next bytes, ``b""`` at the end of the stream;
        the same event again while it is pending."""
        raise NotImplementedError

    def close(self) -> None:
        """End the connection after the bytes already sent."""
        raise NotImplementedError

    def abort(self) -> None:
        """End the connection at once."""
        raise NotImplementedError
