"""An in-memory network for protocol scenarios: client objects wired to a
broker object by byte queues, a fake clock, and a switch to cut any link.

No sockets, no asyncio, no sleeps: a scenario reads as "the client does X,
bytes move, assert on what each side saw".
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from mqttsim.protocol.broker import Broker, BrokerConfig
from mqttsim.protocol.broker_connection import BrokerConnection
from mqttsim.protocol.client import ClientConnection
from mqttsim.protocol.codec import StreamDecoder, encode
from mqttsim.protocol.enums import ProtocolVersion, ReasonCode
from mqttsim.protocol.events import (
    Connected,
    Disconnected,
    Event,
    MessageReceived,
)
from mqttsim.protocol.packets import ConnAck, Connect, Packet, Publish

MAX_ROUNDS = 1000
V5 = ProtocolVersion.V5


@dataclass
class Link:
    client: ClientConnection
    conn: BrokerConnection | None
    events: list[Event] = field(default_factory=list)
    frozen: bool = False  # the client's host died: it sends and hears nothing


class Net:
    """A broker and named clients on a lossless, instant network."""

    def __init__(
        self,
        broker: Broker | None = None,
        *,
        config: BrokerConfig | None = None,
        now: float = 0.0,
        **broker_kwargs: Any,
    ) -> None:
        self.now = now
        self.broker = broker or Broker(config, now=now, **broker_kwargs)
        self.links: dict[str, Link] = {}
        self.broker_events: list[Event] = []

    # -- set-up ------------------------------------------------------------

    def client(self, name: str, **kwargs: Any) -> ClientConnection:
        kwargs.setdefault("client_id", name)
        client = ClientConnection(**kwargs)
        self.links[name] = Link(client=client, conn=None)
        return client

    def connect(self, name: str, **kwargs: Any) -> list[Event]:
        """Open a transport for ``name`` (creating the client if new) and
        run the CONNECT exchange; returns the client's events."""
        if name not in self.links:
            self.client(name, **kwargs)
        return self.reconnect(name)

    def reconnect(self, name: str, *, clean_start: bool | None = None) -> list[Event]:
        link = self.links[name]
        link.client.connect(now=self.now, clean_start=clean_start)
        link.conn = self.broker.connection_made(now=self.now)
        start = len(link.events)
        self.pump()
        return link.events[start:]

    # -- moving bytes ----------------------------------------------------------

    def to_broker(self, name: str) -> int:
        """Deliver what ``name`` has queued to the broker; bytes moved."""
        link = self.links[name]
        if link.frozen:
            return 0
        data = link.client.data_to_send(now=self.now)
        if data and link.conn is not None:
            self.broker_events += link.conn.receive_data(data, now=self.now)
        return len(data)

    def to_client(self, name: str) -> int:
        """Deliver what the broker has queued for ``name``; bytes moved."""
        link = self.links[name]
        if link.conn is None:
            return 0
        data = link.conn.data_to_send(now=self.now)
        if link.frozen:
            return len(data)  # into the void of a half-open connection
        if data:
            link.events += link.client.receive_data(data, now=self.now)
        if link.conn.is_closed and not link.conn.data_to_send(now=self.now):
            # The broker closed: the transport goes down under the client.
            link.conn = None
            link.events += link.client.connection_lost(now=self.now)
        return len(data)

    def pump(self) -> None:
        """Move bytes both ways until nothing moves (bounded)."""
        for _ in range(MAX_ROUNDS):
            moved = 0
            for name in list(self.links):
                moved += self.to_broker(name)
            for conn in self.broker.pending_connections():
                name = self._name_of(conn)
                if name is not None:
                    moved += self.to_client(name)
                else:
                    conn.data_to_send(now=self.now)
            for name, link in self.links.items():
                if link.conn is not None and link.conn.is_closed:
                    moved += self.to_client(name)
            if not moved:
                return
        raise AssertionError("network did not settle")

    def _name_of(self, conn: BrokerConnection) -> str | None:
        for name, link in self.links.items():
            if link.conn is conn:
                return name
        return None

    def cut(self, name: str) -> None:
        """The network fails under ``name``: bytes in flight are lost and
        both ends see the transport close."""
        link = self.links[name]
        link.client.data_to_send(now=self.now)
        if link.conn is not None:
            link.conn.data_to_send(now=self.now)
            self.broker_events += link.conn.connection_lost(now=self.now)
            link.conn = None
        link.events += link.client.connection_lost(now=self.now)
        self.pump()

    def freeze(self, name: str) -> None:
        """The client's host dies silently (power cut, radio gone): the
        broker keeps a half-open connection until keep-alive notices."""
        self.links[name].frozen = True

    # -- time --------------------------------------------------------------------

    def advance_to(self, when: float) -> None:
        """Move the clock to ``when``, firing every deadline on the way in order."""
        for _ in range(MAX_ROUNDS):
            deadlines = [d for d in self._deadlines() if d <= when]
            if not deadlines:
                break
            self.now = max(self.now, min(deadlines))
            self._fire()
            self.pump()
        self.now = when
        self._fire()
        self.pump()

    def advance(self, seconds: float) -> None:
        self.advance_to(self.now + seconds)

    def _deadlines(self) -> list[float]:
        found = []
        b = self.broker.next_deadline()
        if b is not None:
            found.append(b)
        for link in self.links.values():
            c = None if link.frozen else link.client.next_deadline()
            if c is not None:
                found.append(c)
            if link.conn is not None:
                d = link.conn.next_deadline()
                if d is not None:
                    found.append(d)
        return found

    def _fire(self) -> None:
        self.broker_events += self.broker.handle_timeout(now=self.now)
        for link in self.links.values():
            if link.conn is not None:
                self.broker_events += link.conn.handle_timeout(now=self.now)
            if not link.frozen:
                link.events += link.client.handle_timeout(now=self.now)

    # -- reading results ----------------------------------------------------------

    def events(self, name: str, kind: type[Event] = Event) -> list[Any]:
        return [e for e in self.links[name].events if isinstance(e, kind)]

    def received(self, name: str) -> list[Publish]:
        """Application messages ``name`` received, in order."""
        return [e.publish for e in self.events(name, MessageReceived)]

    def payloads(self, name: str) -> list[bytes]:
        return [p.payload for p in self.received(name)]

    def connected(self, name: str) -> Connected:
        found = self.events(name, Connected)
        assert found, f"{name} never connected: {self.links[name].events}"
        return found[-1]

    def disconnected(self, name: str) -> list[Disconnected]:
        return self.events(name, Disconnected)


class RawClient:
    """A hand-driven peer: writes chosen bytes, reads the broker's packets."""

    def __init__(self, broker: Broker, version: ProtocolVersion = V5) -> None:
        self.broker = broker
        self.version = version
        self.conn = broker.connection_made(now=0.0)
        self.decoder = StreamDecoder(version=version)
        self.events: list[object] = []

    def send(self, *packets: Packet | bytes) -> list[Packet]:
        for item in packets:
            data = item if isinstance(item, bytes) else encode(item, self.version)
            self.events += self.conn.receive_data(data, now=0.0)
        return self.read()

    def read(self) -> list[Packet]:
        return self.decoder.feed(self.conn.data_to_send(now=0.0))


def connected_raw(broker: Broker, version: ProtocolVersion = V5, cid: str = "raw") -> RawClient:
    raw = RawClient(broker, version)
    [connack] = raw.send(Connect(version=version, client_id=cid))
    assert isinstance(connack, ConnAck) and connack.reason_code == ReasonCode.SUCCESS
    return raw
