"""A loopback connection: two processes on one host, bytes passed at once.

When the MQTT client runs on the broker's own machine (the SCADA host beside
the broker at the control centre), its TCP connection never loses a packet
and takes no measurable time, so simulating its segments only costs CPU.
:class:`LoopbackPath` stands in for a :class:`~mqttsim.sim.path.Path` there:
``connect()`` gives a :class:`LoopbackEnd` at once and hands its peer to the
broker's listener; ``send()`` on one end makes the bytes readable on the
other in the same instant, in order. No packets exist, so none are logged
and none are billed.

The ends are :class:`~mqttsim.sim.transport.Transport` objects, as a
:class:`~mqttsim.sim.tcp.TcpEndpoint` is: ``send``, ``recv`` (an event with
the next bytes, ``b""`` at the end; the same event again while it is
pending), ``is_open``, ``close``, ``abort``, and a ``closed`` event.
"""

from __future__ import annotations

import simpy

from .immediate import immediate, triggered
from .path import TcpListener
from .tcp import ConnectionClosed
from .tcp_segment import TcpConfig
from .transport import Transport

__all__ = ["LoopbackEnd", "LoopbackPath"]


class LoopbackEnd(Transport):
    """One end of a loopback connection.

    Attributes:
        closed: fires once with ``"closed"`` when either end closes.
        bytes_sent: bytes this end sent (no packets: nothing is on a link).
        owner: a label set by the path (the client's name).
    """

    def __init__(self, env: simpy.Environment) -> None:
        self.env = env
        self.peer: LoopbackEnd | None = None
        self.closed = env.event()
        self._buffer: list[bytes] = []
        self._eof = False
        self._open = True
        self._recv: simpy.Event | None = None
        self._immediate = immediate(env)
        self.bytes_sent = 0
        self.owner = ""

    @property
    def is_open(self) -> bool:
        """True until either end closes."""
        return self._open

    def send(self, data: bytes) -> None:
        """Make ``data`` readable at the peer now.

        Raises:
            ConnectionClosed: after either end closed.
        """
        if not self._open:
            raise ConnectionClosed("send() on a closed loopback connection")
        if data and self.peer is not None:
            self.bytes_sent += len(data)
            self.peer._buffer.append(data)
            self.peer._wake()

    def recv(self) -> simpy.Event:
        """An event firing with the next bytes, ``b""`` once the connection ended."""
        event = self._recv
        if event is not None and not triggered(event):
            return event
        event = self._recv = self.env.event()
        self._wake()
        return event

    def close(self) -> None:
        """Close both directions; the peer reads what was sent, then ``b""``."""
        for end in (self, self.peer):
            if end is not None and end._open:
                end._open = False
                end._eof = True
                end.closed.succeed("closed")
                end._wake()

    def abort(self) -> None:
        """On loopback there is no RST to send: the same as :meth:`close`."""
        self.close()

    def _wake(self) -> None:
        event = self._recv
        if event is None or triggered(event):
            return
        if self._buffer:
            data = b"".join(self._buffer)
            self._buffer.clear()
            self._immediate.succeed(event, data)
        elif self._eof:
            self._immediate.succeed(event, b"")


class LoopbackPath:
    """A client on the broker's host: ``connect()`` as :meth:`Path.connect` does.

    Args:
        env: the SimPy environment.
        listener: the broker's listener, which accepts the server end.
    """

    def __init__(self, env: simpy.Environment, listener: TcpListener) -> None:
        self.env = env
        self.listener = listener
        self.endpoints: list[LoopbackEnd] = []  # every end made here, both sides

    def connect(
        self, config: TcpConfig | None = None, *, timeout_s: float | None = None, owner: str = ""
    ) -> simpy.Event:
        """An event that fires at once with the client's end (``config`` and
        ``timeout_s`` do not apply: nothing can delay it)."""
        client, server = LoopbackEnd(self.env), LoopbackEnd(self.env)
        client.peer, server.peer = server, client
        client.owner = server.owner = owner
        self.endpoints.extend((client, server))
        self.listener.enqueue(server)
        event = self.env.event()
        event.succeed(client)
        return event
