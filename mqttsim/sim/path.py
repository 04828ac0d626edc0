"""A client host and the broker host, joined by two links: where segments meet endpoints.

A :class:`Path` owns the receiving side of its two :class:`~mqttsim.sim.link.Link`
objects. An arriving segment is handed, by port, to its
:class:`~mqttsim.sim.tcp.TcpEndpoint`; a SYN for the listener's port makes a
new broker-side end; anything else for no connection is answered with a RST,
as a real host does (RFC 9293 §3.10.7.1). That RST is how a live end learns
that its peer's host has forgotten the connection.

One path serves any number of connections in turn (a client reconnecting
after a failure gets the next ephemeral port). Many paths may share one
:class:`TcpListener`: one broker, many stations.
"""

from __future__ import annotations

import simpy

from .immediate import triggered, when
from .link import Link
from .loss import RandomSource
from .tcp import TcpEndpoint
from .tcp_segment import ACK, RST, SYN, Segment, TcpConfig
from .transport import Transport

__all__ = ["Path", "TcpListener"]


class TcpListener:
    """The broker's listening socket: ``accept()`` yields established ends.

    A :class:`Path` queues each server-side end whose handshake completes
    (:meth:`enqueue`); a :class:`~mqttsim.sim.loopback.LoopbackPath` queues
    its ends the same way.

    Args:
        env: the SimPy environment.
        config: settings for every accepted end.
        port: the port clients connect to.
    """

    def __init__(
        self, env: simpy.Environment, *, config: TcpConfig | None = None, port: int = 1883
    ) -> None:
        self.env = env
        self.config = config if config is not None else TcpConfig()
        self.port = port
        self._store = simpy.Store(env)

    def accept(self) -> simpy.Event:
        """Return an event firing with the next established server-side end.

        Each call takes one connection (as :meth:`simpy.Store.get` does).
        """
        return self._store.get()

    def enqueue(self, endpoint: Transport) -> None:
        """Put an established server-side end on the accept queue (as a
        kernel does when a handshake completes); ``accept()`` hands it over."""
        self._store.put(endpoint)


class Path:
    """A client host and the broker host, joined by an uplink and a downlink.

    Args:
        env: the SimPy environment.
        uplink: the link from the client to the broker.
        downlink: the link from the broker to the client.
        listener: the broker's listener.
        rng: random source for initial sequence numbers (RFC 9293 §3.4.1);
            without one every ISN is 0.
        first_port: the first ephemeral port for the client's connections.
    """

    def __init__(
        self,
        env: simpy.Environment,
        *,
        uplink: Link,
        downlink: Link,
        listener: TcpListener,
        rng: RandomSource | None = None,
        first_port: int = 49152,
    ) -> None:
        self.env = env
        self.uplink = uplink
        self.downlink = downlink
        self.listener = listener
        self._rng = rng
        self._next_port = first_port
        self._clients: dict[int, TcpEndpoint] = {}  # by the client's port
        self._servers: dict[int, TcpEndpoint] = {}  # by the client's port
        self.endpoints: list[TcpEndpoint] = []  # every end ever made here, both sides
        uplink.attach(self._at_server)
        downlink.attach(self._at_client)

    def connect(
        self, config: TcpConfig | None = None, *, timeout_s: float | None = None, owner: str = ""
    ) -> simpy.Event:
        """Open a connection from the client to the listener.

        Args:
            config: the client end's settings (defaults: TcpConfig()).
            timeout_s: abort the attempt if not established by then (a
                socket ``connect()`` with a timeout); None: TCP's own SYN
                retries decide.
            owner: a label for both ends (the client's name), for the
                per-connection figures of a result.

        Returns:
            An event that fires with the client's :class:`TcpEndpoint` once the
            SYN-ACK arrives, or fails with :class:`ConnectionFailed`.
        """
        port = self._next_port
        for _ in range(65536):  # skip ports still in use (bounded: at most every port)
            self._next_port = port + 1 if port < 65535 else 49152
            if port not in self._clients:
                break
            port = self._next_port
        endpoint = TcpEndpoint(
            self.env,
            config=config if config is not None else TcpConfig(),
            link=self.uplink,
            local_port=port,
            remote_port=self.listener.port,
            iss=self._isn(),
            on_forget=self._forget_client,
        )
        endpoint.owner = owner
        self._clients[port] = endpoint
        self.endpoints.append(endpoint)
        endpoint._open_active()
        if timeout_s is not None:
            when(self.env.timeout(timeout_s), lambda _e: _give_up(endpoint))
        return endpoint.opened

    def _isn(self) -> int:
        return 0 if self._rng is None else int(self._rng.random() * 2**32)

    def _at_server(self, seg: Segment) -> None:
        endpoint = self._servers.get(seg.src_port)
        if endpoint is not None:
            endpoint._receive(seg)
        elif seg.flags & (SYN | ACK | RST) == SYN and seg.dst_port == self.listener.port:
            endpoint = TcpEndpoint(
                self.env,
                config=self.listener.config,
                link=self.downlink,
                local_port=self.listener.port,
                remote_port=seg.src_port,
                iss=self._isn(),
                on_forget=self._forget_server,
                on_established=self.listener.enqueue,
            )
            client = self._clients.get(seg.src_port)
            endpoint.owner = client.owner if client is not None else ""
            self._servers[seg.src_port] = endpoint
            self.endpoints.append(endpoint)
            endpoint._open_passive(seg)
        else:
            self._reset(seg, self.downlink)

    def _at_client(self, seg: Segment) -> None:
        endpoint = self._clients.get(seg.dst_port)
        if endpoint is not None:
            endpoint._receive(seg)
        else:
            self._reset(seg, self.uplink)

    @staticmethod
    def _reset(seg: Segment, link: Link) -> None:
        """Answer a segment for no connection with a RST (RFC 9293 §3.10.7.1)."""
        if seg.flags & RST:
            return
        if seg.flags & ACK:
            seq, ack, flags = seg.ack, 0, RST
        else:
            seq, ack, flags = 0, seg.seq + seg.seq_len, RST | ACK
        rst = Segment(
            src_port=seg.dst_port,
            dst_port=seg.src_port,
            seq=seq,
            ack=ack,
            flags=flags,
            payload=b"",
            header_bytes=seg.header_bytes,
            window=0,
        )
        link.send(rst, rst.header_bytes)

    def _forget_client(self, endpoint: TcpEndpoint) -> None:
        if self._clients.get(endpoint.local_port) is endpoint:
            del self._clients[endpoint.local_port]

    def _forget_server(self, endpoint: TcpEndpoint) -> None:
        if self._servers.get(endpoint.remote_port) is endpoint:
            del self._servers[endpoint.remote_port]


def _give_up(endpoint: TcpEndpoint) -> None:
    """The connect timeout: an attempt still opening is abandoned (no RST in SYN-SENT,
    RFC 9293 §3.10.5); its ``opened`` event fails."""
    if not triggered(endpoint.opened):
        endpoint.abort()
