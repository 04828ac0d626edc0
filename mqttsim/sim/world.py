"""One run of a scenario: the SimPy environment and everything in it.

:meth:`Scenario.run <mqttsim.sim.scenario.Scenario.run>` builds a
:class:`World` and runs it; a user's process receives the world and uses
``world.env`` (the SimPy environment), ``world.publish(...)`` (publish and
log a message), ``world.clients[name]`` (the
:class:`~mqttsim.sim.node.SimClient`), ``world.rng(name, purpose)`` and
``world.state`` (a dict for processes that share something).

Building order, which fixes the order of same-time events (and so the
results, bit for bit): the brokers; the links; processes that belong to no
client; then each client in the scenario's order, followed at once by its
subscriber (the ``subscribe`` list, renewed on every CONNACK that finds no
session) and by its traffic, in the order declared.
"""

from __future__ import annotations

import functools
import random
import time
from collections.abc import Callable, Generator
from typing import TYPE_CHECKING, Any

import simpy

from mqttsim.protocol.broker import Broker
from mqttsim.protocol.client import ClientConnection
from mqttsim.protocol.enums import ProtocolVersion
from mqttsim.protocol.errors import ConfigError
from mqttsim.protocol.events import (
    ClientDisconnected,
    Connected,
    Disconnected,
    MessageReceived,
    PublishDropped,
)

from .gcfreeze import frozen_setup
from .link import Link, LinkRecord
from .loopback import LoopbackPath
from .metrics import MessageLog, PacketLog
from .node import SimBroker, SimClient
from .path import Path, TcpListener
from .profiles import broker_profile, client_profile

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd  # type: ignore[import-untyped,unused-ignore]

    from .result import ScenarioResult
    from .scenario import ClientNode, LinkNode, Scenario
    from .traffic import Traffic

__all__ = ["VERSIONS", "World"]

Proc = Generator[simpy.Event, Any, None]
VERSIONS = {"3.1.1": ProtocolVersion.V311, "5": ProtocolVersion.V5}


class World:
    """The nodes, links and logs of one run (see the module docstring).

    Args:
        scenario: what to build.
        seed: overrides the scenario's seed.
        qos: overrides the scenario's QoS (for traffic naming none).
        record_packets: keep the per-packet log.
        observer: also called with every packet's LinkRecord.

    Attributes:
        env: the SimPy environment.
        scenario, seed, qos: what the run was built from.
        horizon_s: when the run ends.
        messages: one row per message published through :meth:`publish`.
        packets: the packet log, or None.
        brokers, clients: the nodes by name.
        links: name -> (up, down) :class:`~mqttsim.sim.link.Link`.
        paths: link name -> the :class:`~mqttsim.sim.path.Path` over it.
        loopbacks: the loopback paths of clients on their broker's site.
        state: free for processes to share things in.
        frames: name -> a function making an extra DataFrame for the result.
    """

    def __init__(
        self,
        scenario: Scenario,
        *,
        seed: int | None = None,
        qos: int | None = None,
        record_packets: bool = False,
        observer: Callable[[LinkRecord], None] | None = None,
    ) -> None:
        if not scenario.brokers:
            raise ConfigError(f"scenario {scenario.name!r} has no broker")
        self.scenario = scenario
        self.seed = scenario.seed if seed is None else seed
        self.qos = scenario.qos if qos is None else qos
        if self.qos not in (0, 1, 2):
            raise ConfigError(f"qos must be 0, 1 or 2, got {self.qos!r}")
        self.env = simpy.Environment()
        self.horizon_s = scenario.horizon_s
        self.messages = MessageLog()
        self.packets = PacketLog() if record_packets else None
        self._extra_observer = observer
        self.state: dict[str, Any] = {}
        self.frames: dict[str, Callable[[], pd.DataFrame]] = {}
        self.brokers: dict[str, SimBroker] = {}
        self.clients: dict[str, SimClient] = {}
        self.links: dict[str, tuple[Link, Link]] = {}
        self.paths: dict[str, Path] = {}
        self.loopbacks: list[LoopbackPath] = []
        self._path_broker: dict[str, str] = {}  # link name -> the broker its Path serves
        self._path_site: dict[str, str] = {}  # link name -> the site of its clients
        self._listeners: dict[str, TcpListener] = {}
        self._joining = {frozenset((x.a, x.b)): x for x in scenario.links}
        self._build()

    # -- what processes use ----------------------------------------------------------

    @property
    def duration_s(self) -> float:
        """How long traffic publishes: the scenario's ``duration_s``."""
        return self.scenario.duration_s

    def rng(self, name: str, purpose: str) -> random.Random:
        """The random stream ``f"{seed}:{name}:{purpose}"``."""
        return random.Random(f"{self.seed}:{name}:{purpose}")

    def publish(
        self,
        client: str,
        topic: str,
        *,
        payload_bytes: int = 32,
        qos: int | None = None,
        retain: bool = False,
        text: bytes = b"",
        kind: str = "data",
        flush: bool = True,
    ) -> int:
        """Publish a message for ``client`` now and log it; return its message id.

        The payload is ``b"{id} {text}"``, padded with dots to
        ``payload_bytes`` (longer if id and text need more). ``qos`` None
        takes the run's; ``kind`` labels the message in the log. With
        ``flush=False`` the bytes wait for :meth:`flush` (messages written
        at once share TCP segments).
        """
        level = self.qos if qos is None else qos
        sim_client = self.clients[client]
        message_id = len(self.messages)
        payload = b"%d %s" % (message_id, text)
        if len(payload) < payload_bytes:
            payload += b"." * (payload_bytes - len(payload))
        now = self.env.now
        self.messages.published(client, topic, kind, level, now, len(payload))
        sim_client.connection.publish(topic, payload, qos=level, retain=retain, now=now)
        if flush:
            sim_client.flush()
        return message_id

    def flush(self, client: str) -> None:
        """Write what ``client``'s core has to send."""
        self.clients[client].flush()

    # -- building --------------------------------------------------------------------

    def _build(self) -> None:
        scenario = self.scenario
        for broker in scenario.brokers:
            profile = broker_profile(broker.profile).with_overrides(**dict(broker.settings))
            listener = TcpListener(
                self.env, config=broker.tcp or profile.tcp_config(), port=broker.port
            )
            self._listeners[broker.name] = listener
            self.brokers[broker.name] = SimBroker(
                self.env,
                listener,
                Broker(profile.config, now=0.0),
                write_each_packet=profile.write_each_packet,
            )
        for link in scenario.links:
            self.links[link.name] = link.spec.links(
                self.env,
                name=link.name,
                rng=functools.partial(self.rng, link.name),
                horizon_s=self.horizon_s,
                observers=self._observers(link.name),
            )
        by_client: dict[str | None, list[tuple[int, Traffic]]] = {}
        for k, traffic in enumerate(scenario.traffic):
            by_client.setdefault(traffic.client, []).append((k, traffic))
        for k, traffic in by_client.get(None, []):
            self._start(traffic.run(self, k))
        for node in scenario.clients:
            self._add_client(node)
            if node.subscribe:
                self.env.process(self._subscriber(node))
            for k, traffic in by_client.get(node.name, []):
                self._start(traffic.run(self, k))

    def _start(self, process: Proc | None) -> None:
        if process is not None:
            self.env.process(process)

    def _observers(self, name: str) -> tuple[Any, Any]:
        observers: list[Any] = [None, None]
        if self.packets is not None:
            observers = list(self.packets.observers(name, f"{name} up", f"{name} down"))
        extra = self._extra_observer
        if extra is not None:
            observers = [_both(o, extra) for o in observers]
        return observers[0], observers[1]

    def link_between(self, site: str, other: str) -> LinkNode:
        """The link joining two sites; ConfigError, saying why, if none does."""
        link = self._joining.get(frozenset((site, other)))
        if link is not None:
            return link
        raise ConfigError(
            f"no link joins sites {site!r} and {other!r}; a client reaches its broker over"
            " one link, or over loopback on the broker's own site"
        )

    def _path(self, node: ClientNode) -> Path | LoopbackPath:
        broker = next(b for b in self.scenario.brokers if b.name == node.broker)
        listener = self._listeners[broker.name]
        if node.site == broker.site:
            loopback = LoopbackPath(self.env, listener)
            self.loopbacks.append(loopback)
            return loopback
        link = self.link_between(node.site, broker.site)
        path = self.paths.get(link.name)
        if path is not None:
            if self._path_broker[link.name] != broker.name:
                raise ConfigError(
                    f"link {link.name!r} would carry connections to brokers"
                    f" {self._path_broker[link.name]!r} and {broker.name!r}: one broker per link"
                )
            if self._path_site[link.name] != node.site:
                raise ConfigError(f"link {link.name!r}: clients on both of its ends")
            return path
        up, down = self.links[link.name]
        if node.site == link.b:  # the client sits at the far end: its uplink is "down"
            up, down = down, up
        path = Path(
            self.env,
            uplink=up,
            downlink=down,
            listener=listener,
            rng=self.rng(link.name, "isn"),
        )
        self.paths[link.name] = path
        self._path_broker[link.name] = broker.name
        self._path_site[link.name] = node.site
        return path

    def _add_client(self, node: ClientNode) -> None:
        profile = client_profile(node.profile).with_overrides(**dict(node.settings))
        version = VERSIONS[node.mqtt_version or self.scenario.mqtt_version]
        v5 = version is ProtocolVersion.V5
        connection = ClientConnection(
            client_id=node.name,
            version=version,
            keep_alive_s=node.keep_alive_s,
            clean_start=node.clean_start,
            session_expiry_interval_s=node.session_expiry_s if v5 else 0,
            will=node.will,
            max_inflight=profile.max_inflight,
            qos2_handover=profile.qos2_handover,
            ping_every_keep_alive=profile.ping_every_keep_alive,
        )
        client = SimClient(
            self.env,
            self._path(node),
            connection,
            rng=self.rng(node.name, "backoff"),
            tcp_config=node.tcp or profile.tcp_config(),
            backoff_initial_s=profile.backoff_initial_s,
            backoff_max_s=profile.backoff_max_s,
            backoff_jitter=profile.backoff_jitter,
            connect_timeout_s=profile.connect_timeout_s,
            autostart=node.start_s == 0,
            on_message=self._tracker(node.name),
            write_each_packet=profile.write_each_packet,
        )
        self.clients[node.name] = client
        if node.start_s:
            self.env.process(self._start_later(client, node.start_s))

    def _start_later(self, client: SimClient, at_s: float) -> Proc:
        yield self.env.timeout(at_s)
        client.start()

    def _subscriber(self, node: ClientNode) -> Proc:
        """On every CONNACK that finds no session: subscribe to the node's list."""
        client = self.clients[node.name]
        subscriptions: list[Any] = list(node.subscribe)
        while True:
            connected = yield client.connected()
            if client.is_connected and not connected.session_present:
                client.subscribe(subscriptions)

    def _tracker(self, subscriber: str) -> Callable[[MessageReceived], None]:
        """Log each live delivery of a message :meth:`publish` made."""
        log = self.messages
        env = self.env

        def arrived(event: MessageReceived) -> None:
            publish = event.publish
            if publish.retain:
                return  # a retained replay on subscription, not a live delivery
            head = publish.payload.split(b" ", 1)[0]
            if not head.isdigit():
                return
            message_id = int(head)
            if message_id < len(log) and log.topic[message_id] == publish.topic:
                log.delivered(message_id, env.now, subscriber)

        return arrived

    # -- running ---------------------------------------------------------------------

    def simulate(self, progress: Callable[[float, float], None] | None = None) -> float:
        """Run the environment to the horizon; return the wall-clock seconds it took."""
        started = time.perf_counter()
        env = self.env
        steps = 100
        with frozen_setup():
            for k in range(1, steps + 1):
                env.run(until=self.horizon_s * k / steps)
                if progress is not None:
                    progress(env.now, self.horizon_s)
        return time.perf_counter() - started

    def run(self, progress: Callable[[float, float], None] | None = None) -> ScenarioResult:
        """:meth:`simulate`, then collect the result."""
        from .result import collect

        wall = self.simulate(progress)
        return collect(self, wall)

    def event_rows(self) -> list[tuple[float, str, str, str]]:
        """Connections and disconnections as ``(time_s, node, event, detail)``, in time order:
        every client's, then the brokers' view of each disconnection."""
        rows: list[tuple[float, str, str, str]] = []
        for client in self.clients.values():
            node = client.connection.client_id
            for t, event in client.log:
                match event:
                    case Connected(session_present=present):
                        detail = f"session_present={present}"
                    case Disconnected(detail=text) | PublishDropped(reason=text):
                        detail = text
                    case _:
                        detail = ""
                rows.append((t, node, type(event).__name__, detail))
        for broker in self.brokers.values():
            for t, event in broker.log:
                if isinstance(event, ClientDisconnected):
                    detail = f"{event.detail}; will_published={event.will_published}"
                    rows.append((t, event.client_id, "BrokerClosed", detail))
        rows.sort(key=lambda row: row[0])
        return rows


def _both(
    first: Callable[[LinkRecord], None] | None, second: Callable[[LinkRecord], None]
) -> Callable[[LinkRecord], None]:
    if first is None:
        return second

    def observe(record: LinkRecord) -> None:
        first(record)
        second(record)

    return observe
