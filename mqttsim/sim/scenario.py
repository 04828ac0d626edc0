"""Build your own network: sites, links, brokers, clients and traffic.

A :class:`Scenario` is a description, plain data that can be copied,
pickled, saved as TOML and run many times; :meth:`Scenario.run` builds a
:class:`~mqttsim.sim.world.World` from it (SimPy environment, links, TCP,
the protocol cores) and returns a :class:`~mqttsim.sim.result.ScenarioResult`.

::

    from mqttsim.sim import Scenario

    net = Scenario("one GEO station", duration_s=3600)
    net.link("station", "hub", "geo-vsat")
    net.broker("broker", site="hub", profile="mosquitto-2")
    net.client("rtu", site="station", profile="paho-2")
    net.client("scada", site="hub", subscribe=[("plant/#", 2)])
    net.periodic("rtu", "plant/pressure", every_s=10, payload_bytes=24)
    result = net.run(seed=1, qos=1)
    result.summary()

The vocabulary:

* **Sites** are hosts, named by the links and nodes placed at them.
* **Links** join two sites: ``link(a, b, spec)``; "up" is a -> b, "down"
  b -> a. A link is one :class:`~mqttsim.sim.linkspec.LinkSpec` (a preset
  name, or a spec, with overrides). A client reaches a broker over the link
  between their sites, or over loopback when they share a site; routes over
  several links are not modelled.
* **Brokers** and **clients** are placed at sites with an endpoint profile
  (:mod:`mqttsim.sim.profiles`); any profile field may be overridden.
  A client's ``subscribe`` list is (re)subscribed on every CONNACK without a
  session present.
* **Traffic** is a SimPy process publishing for a client: periodic, Poisson,
  bursts, a replayed trace, report-by-exception (:mod:`mqttsim.sim.traffic`),
  or any generator function of your own, ``process(fn)``, which receives
  the :class:`~mqttsim.sim.world.World` and reads like any SimPy process.

Each message published by traffic is logged with an id, written at the
start of its payload, so the result can tell which subscriber got which
message and when. Random draws come from streams seeded with
``f"{seed}:{name}:{purpose}"`` (link, client), so changing one part of a
scenario leaves the others' draws where they were.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from mqttsim.protocol.errors import ConfigError
from mqttsim.protocol.packets import Will

from .linkspec import LinkSpec, overridden
from .presets import get_preset
from .profiles import broker_profile, client_profile
from .tcp_segment import TcpConfig
from .traffic import (
    Bursts,
    ByException,
    Periodic,
    Poisson,
    Process,
    Replay,
    Traffic,
)

if TYPE_CHECKING:  # pragma: no cover
    from .link import LinkRecord
    from .result import ScenarioResult

__all__ = ["BrokerNode", "ClientNode", "LinkNode", "MQTT_VERSIONS", "Scenario"]

MQTT_VERSIONS = ("3.1.1", "5")


@dataclass(frozen=True, slots=True, kw_only=True)
class LinkNode:
    """A link between two sites.

    Attributes:
        name: the link's name (its random streams and its rows in results).
        a, b: the sites; "up" is a -> b.
        spec: what the link is.
        billed: whether its bytes count in the summary's bytes, cost and
            radio time (a LAN beside the broker is not billed).
    """

    name: str
    a: str
    b: str
    spec: LinkSpec
    billed: bool = True


@dataclass(frozen=True, slots=True, kw_only=True)
class BrokerNode:
    """A broker placed at a site.

    Attributes:
        name: the broker's name.
        site: where it runs.
        profile: a key of :data:`~mqttsim.sim.profiles.BROKER_PROFILES`.
        settings: overrides of the profile's fields or of its
            :class:`~mqttsim.protocol.BrokerConfig`, as ``(name, value)``.
        port: its listening port.
        tcp: the TCP settings of its ends; None for the profile's.
    """

    name: str
    site: str
    profile: str = "mqttsim"
    settings: tuple[tuple[str, Any], ...] = ()
    port: int = 1883
    tcp: TcpConfig | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class ClientNode:
    """A client placed at a site.

    Attributes:
        name: the client's name and MQTT client identifier.
        site: where it runs.
        broker: the broker it connects to.
        profile: a key of :data:`~mqttsim.sim.profiles.CLIENT_PROFILES`.
        settings: overrides of the profile's fields, as ``(name, value)``.
        keep_alive_s: its MQTT Keep Alive.
        clean_start: Clean Start (Clean Session in 3.1.1).
        session_expiry_s: its Session Expiry Interval (MQTT 5; a 3.1.1
            session with Clean Session 0 is kept by the broker regardless).
        subscribe: ``(filter, qos)`` pairs, subscribed on every CONNACK
            that finds no session.
        will: its Will Message, or None.
        start_s: when it starts connecting.
        tcp: its TCP settings; None for the profile's.
        mqtt_version: overrides the scenario's version for this client.
    """

    name: str
    site: str
    broker: str
    profile: str = "mqttsim"
    settings: tuple[tuple[str, Any], ...] = ()
    keep_alive_s: int = 60
    clean_start: bool = True
    session_expiry_s: int = 0
    subscribe: tuple[tuple[str, int], ...] = ()
    will: Will | None = None
    start_s: float = 0.0
    tcp: TcpConfig | None = None
    mqtt_version: str | None = None


@dataclass(slots=True)
class Scenario:
    """A network, its nodes and their traffic (see the module docstring).

    Attributes:
        name: a label for results and files.
        duration_s: how long traffic publishes.
        drain_s: time after that, with no new messages, for the last ones
            to arrive.
        seed: the seed of every random draw (``run(seed=)`` overrides it).
        qos: the QoS of traffic that does not name its own.
        mqtt_version: ``"3.1.1"`` or ``"5"``.
        links, brokers, clients, traffic: what the builder methods added.
    """

    name: str = "scenario"
    duration_s: float = 3600.0
    drain_s: float = 60.0
    seed: int = 1
    qos: int = 1
    mqtt_version: str = "3.1.1"
    links: list[LinkNode] = field(default_factory=list)
    brokers: list[BrokerNode] = field(default_factory=list)
    clients: list[ClientNode] = field(default_factory=list)
    traffic: list[Traffic] = field(default_factory=list)
    # Names taken so far, so that building a 10,000-station scenario stays linear.
    _links: set[str] = field(default_factory=set, init=False, repr=False, compare=False)
    _joined: set[frozenset[str]] = field(default_factory=set, init=False, repr=False, compare=False)
    _nodes: set[str] = field(default_factory=set, init=False, repr=False, compare=False)
    _broker_sites: dict[str, str] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )
    _clients: set[str] = field(default_factory=set, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        self.check_settings()
        self._links = {x.name for x in self.links}
        self._joined = {frozenset((x.a, x.b)) for x in self.links}
        self._broker_sites = {b.name: b.site for b in self.brokers}
        self._clients = {c.name for c in self.clients}
        self._nodes = set(self._broker_sites) | self._clients

    def check_settings(self) -> None:
        """Check the scenario-wide values; one line naming the bad one."""
        if not 0 < self.duration_s <= 366 * 86400:
            raise ConfigError(
                f"duration_s must be > 0 (and at most a year), got {self.duration_s!r}"
            )
        if not 0 <= self.drain_s <= 366 * 86400:
            raise ConfigError(f"drain_s must be >= 0, got {self.drain_s!r}")
        if self.qos not in (0, 1, 2):
            raise ConfigError(f"qos must be 0, 1 or 2, got {self.qos!r}")
        _check_version(self.mqtt_version)
        if isinstance(self.seed, bool) or not isinstance(self.seed, int):
            raise ConfigError(f"seed must be an integer, got {self.seed!r}")

    @property
    def horizon_s(self) -> float:
        """Publishing time plus the drain: how long a run lasts."""
        return self.duration_s + self.drain_s

    @property
    def sites(self) -> list[str]:
        """Every site named by a link or a node, in order of first mention."""
        names: dict[str, None] = {}
        for link in self.links:
            names[link.a] = names[link.b] = None
        for broker in self.brokers:
            names[broker.site] = None
        for client in self.clients:
            names[client.site] = None
        return list(names)

    # -- building ------------------------------------------------------------------

    def link(
        self,
        a: str,
        b: str,
        spec: LinkSpec | str,
        *,
        name: str | None = None,
        billed: bool = True,
        **overrides: Any,
    ) -> LinkNode:
        """Join sites ``a`` and ``b`` with a link (a preset name or a :class:`LinkSpec`).

        ``overrides`` are :meth:`LinkSpec.with_overrides` keywords, e.g.
        ``loss_rate=0.05`` or ``delay_s=0.3``.
        """
        if a == b:
            raise ConfigError(f"a link joins two different sites, got {a!r} twice")
        base = get_preset(spec) if isinstance(spec, str) else spec
        node = LinkNode(
            name=name if name is not None else f"{a}-{b}",
            a=a,
            b=b,
            spec=overridden(base, overrides),
            billed=billed,
        )
        self._unique(node.name, self._links, "link")
        if frozenset((a, b)) in self._joined:
            raise ConfigError(f"sites {a!r} and {b!r} are already joined by a link")
        self.links.append(node)
        self._links.add(node.name)
        self._joined.add(frozenset((a, b)))
        return node

    def broker(
        self,
        name: str,
        *,
        site: str,
        profile: str = "mqttsim",
        port: int = 1883,
        tcp: TcpConfig | None = None,
        **settings: Any,
    ) -> BrokerNode:
        """Place a broker at ``site``; ``settings`` override its profile."""
        self._unique(name, self._nodes, "node")
        for other, where in self._broker_sites.items():
            if where == site:
                raise ConfigError(f"site {site!r} already has broker {other!r}: one per site")
        broker_profile(profile).with_overrides(**settings)  # validates them now
        if not 1 <= port <= 65535:
            raise ConfigError(f"port must be in 1..65535, got {port!r}")
        node = BrokerNode(
            name=name,
            site=site,
            profile=profile,
            settings=tuple(settings.items()),
            port=port,
            tcp=tcp,
        )
        self.brokers.append(node)
        self._broker_sites[name] = site
        self._nodes.add(name)
        return node

    def client(
        self,
        name: str,
        *,
        site: str,
        broker: str | None = None,
        profile: str = "mqttsim",
        keep_alive_s: int = 60,
        clean_start: bool = True,
        session_expiry_s: int = 0,
        subscribe: Iterable[tuple[str, int]] | str = (),
        will: Will | None = None,
        start_s: float = 0.0,
        tcp: TcpConfig | None = None,
        mqtt_version: str | None = None,
        **settings: Any,
    ) -> ClientNode:
        """Place a client at ``site``; ``settings`` override its profile.

        ``broker`` may be left out when the scenario has one broker.
        ``subscribe`` takes ``(filter, qos)`` pairs, or one filter at QoS 2.
        """
        self._unique(name, self._nodes, "node")
        if broker is None:
            if len(self.brokers) != 1:
                raise ConfigError(f"client {name!r}: say which broker (broker=...)")
            broker = self.brokers[0].name
        elif broker not in self._broker_sites:
            known = ", ".join(self._broker_sites) or "none yet"
            raise ConfigError(f"client {name!r}: unknown broker {broker!r}; brokers: {known}")
        client_profile(profile).with_overrides(**settings)  # validates them now
        if not 0 <= keep_alive_s <= 65535:
            raise ConfigError(f"keep_alive_s must be in 0..65535, got {keep_alive_s!r}")
        if not 0 <= session_expiry_s <= 0xFFFFFFFF:
            raise ConfigError(
                f"session_expiry_s must be in 0..4294967295, got {session_expiry_s!r}"
            )
        if not 0 <= start_s < self.duration_s + self.drain_s:
            raise ConfigError(f"start_s must be in [0, the run's length), got {start_s!r}")
        if mqtt_version is not None:
            _check_version(mqtt_version)
        pairs = [(subscribe, 2)] if isinstance(subscribe, str) else list(subscribe)
        for topic_filter, qos in pairs:
            if qos not in (0, 1, 2):
                raise ConfigError(
                    f"client {name!r}: subscription QoS must be 0, 1 or 2, got {qos!r}"
                )
            _check_filter(topic_filter)
        node = ClientNode(
            name=name,
            site=site,
            broker=broker,
            profile=profile,
            settings=tuple(settings.items()),
            keep_alive_s=keep_alive_s,
            clean_start=clean_start,
            session_expiry_s=session_expiry_s,
            subscribe=tuple((f, int(q)) for f, q in pairs),
            will=will,
            start_s=start_s,
            tcp=tcp,
            mqtt_version=mqtt_version,
        )
        self.clients.append(node)
        self._clients.add(name)
        self._nodes.add(name)
        return node

    def add(self, traffic: Traffic) -> Traffic:
        """Add a traffic source (any :class:`~mqttsim.sim.traffic.Traffic`)."""
        if traffic.client is not None and traffic.client not in self._clients:
            known = ", ".join(c.name for c in self.clients) or "none yet"
            raise ConfigError(f"traffic for unknown client {traffic.client!r}; clients: {known}")
        self.traffic.append(traffic)
        return traffic

    def periodic(self, client: str, topic: str, **kwargs: Any) -> Traffic:
        """A message every ``every_s`` seconds (see :class:`~mqttsim.sim.traffic.Periodic`)."""
        return self.add(Periodic(client=client, topic=topic, **kwargs))

    def poisson(self, client: str, topic: str, **kwargs: Any) -> Traffic:
        """Messages at random, ``rate_per_s`` on average (:class:`~mqttsim.sim.traffic.Poisson`)."""
        return self.add(Poisson(client=client, topic=topic, **kwargs))

    def bursts(self, client: str, topic: str, **kwargs: Any) -> Traffic:
        """``count`` messages every ``every_s`` seconds (:class:`~mqttsim.sim.traffic.Bursts`)."""
        return self.add(Bursts(client=client, topic=topic, **kwargs))

    def replay(self, client: str, trace: Any, **kwargs: Any) -> Traffic:
        """Publish a trace of (time_s, topic, payload_bytes)
        (:class:`~mqttsim.sim.traffic.Replay`)."""
        return self.add(Replay.of(client, trace, **kwargs))

    def by_exception(self, client: str, topic: str, **kwargs: Any) -> Traffic:
        """Report-by-exception (:class:`~mqttsim.sim.traffic.ByException`)."""
        return self.add(ByException(client=client, topic=topic, **kwargs))

    def process(
        self, function: Callable[..., Any] | str, *, client: str | None = None, **options: Any
    ) -> Traffic:
        """Run ``function(world, **options)`` as part of the world (with
        ``client=`` the client's name when ``client`` is given).

        ``function`` is a generator function (it then runs as a SimPy
        process) or a plain function (called once, when the world is built;
        it may start processes of its own), or its import path
        ``"package.module:function"``. With ``client`` it starts right after
        that client is built; without, before any client.
        """
        return self.add(Process.of(function, client=client, options=options))

    # -- variants --------------------------------------------------------------------

    def copy(self) -> Scenario:
        """An independent copy (its lists are new; their items are immutable)."""
        return replace(
            self,
            links=list(self.links),
            brokers=list(self.brokers),
            clients=list(self.clients),
            traffic=list(self.traffic),
        )

    def with_values(self, values: dict[str, Any] | Sequence[tuple[str, Any]]) -> Scenario:
        """A copy with values set by dotted keys.

        Keys: a scenario field (``qos``, ``seed``, ``duration_s``,
        ``drain_s``, ``mqtt_version``); ``link.FIELD`` for every link or
        ``link.NAME.FIELD`` for one (FIELD: a :meth:`LinkSpec.with_overrides`
        keyword, or ``preset``); ``client.FIELD`` / ``client.NAME.FIELD``
        and ``broker.FIELD`` / ``broker.NAME.FIELD`` (a profile or profile
        setting, or a node field such as ``keep_alive_s``).

        Raises:
            ConfigError: one line naming the key and what is allowed.
        """
        from .variants import apply_values

        return apply_values(self, dict(values))

    def run(
        self,
        *,
        seed: int | None = None,
        qos: int | None = None,
        record_packets: bool = False,
        observer: Callable[[LinkRecord], None] | None = None,
        progress: Callable[[float, float], None] | None = None,
    ) -> ScenarioResult:
        """Build the world and run it to the horizon.

        Args:
            seed: overrides :attr:`seed`.
            qos: overrides :attr:`qos` (the QoS of traffic naming none).
            record_packets: keep the per-packet log (``result.packets``).
            observer: also called with every packet's :class:`LinkRecord`
                (e.g. to write a pcap with :func:`mqttsim.sim.pcap.write_pcap`).
            progress: called as ``progress(done_s, total_s)`` about a
                hundred times.
        """
        from .world import World

        world = World(self, seed=seed, qos=qos, record_packets=record_packets, observer=observer)
        return world.run(progress=progress)

    # -- helpers ---------------------------------------------------------------------

    @staticmethod
    def _unique(name: str, taken: set[str], what: str) -> None:
        if not isinstance(name, str) or not name:
            raise ConfigError(f"a {what} needs a non-empty name, got {name!r}")
        if name in taken:
            raise ConfigError(f"{what} name {name!r} is used twice")


def _check_version(version: str) -> None:
    if version not in MQTT_VERSIONS:
        raise ConfigError(
            f"mqtt_version must be one of {', '.join(MQTT_VERSIONS)}, got {version!r}"
        )


def _check_filter(topic_filter: str) -> None:
    from mqttsim.protocol.errors import TopicFilterInvalid
    from mqttsim.protocol.topics import validate_topic_filter

    try:
        validate_topic_filter(topic_filter)
    except TopicFilterInvalid as exc:
        raise ConfigError(f"subscription {topic_filter!r}: {exc.detail}") from None
