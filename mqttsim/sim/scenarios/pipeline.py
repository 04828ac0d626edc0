"""The 1999 pipeline: stations report over a satellite link to a SCADA host.

The scene (``datasets/pipeline.json``, ``datasets/README.md``): remote
stations along an 800 km crude-oil line report pressure, flow, temperature
and valve state over the ``vsat-1999`` link to a broker at the control
centre; the SCADA host sits beside the broker on a LAN. What every node does:

* **Stations** (MQTT clients ``st-01`` ...): connect with a persistent session
  (Clean Session 0) and a will, ``pipeline/{st}/status`` = ``lost``
  (retained), then publish ``online`` there (retained). Each reading of the
  trace goes to ``pipeline/{st}/{sensor}`` (retained, so a SCADA host that
  starts later finds the last known values), the readings of one instant in
  one write; alarms (see :mod:`.telemetry`) go to
  ``pipeline/{st}/alarm/{sensor}``, by exception. Payloads are text,
  ``"{seq} {t_s} {value}"`` or ``"{seq} {t_s} {ALARM} {value}"``, where
  ``seq`` counts the station's messages (as an RTU's sequence number does)
  and ``t_s`` is the reading's time in the trace. A station subscribes to
  ``pipeline/{st}/cmd/#``; a ``close`` command closes its valve, which it
  reports at once, and its later valve readings say 0.
* **The SCADA host** (client ``scada-host``) subscribes to
  ``pipeline/+/+`` and ``pipeline/+/alarm/+`` at QoS 2 (so every message
  arrives at the QoS it was published with). On the first ``LOW`` alarm from
  a block valve it isolates that section of line: ``close`` to that valve
  and to the nearest block valves up- and downstream.
* **Reconnects**: a station whose connection dies reconnects with back-off
  and resumes its session (:class:`~mqttsim.sim.node.SimClient`); meanwhile
  it keeps its QoS 1/2 messages and drops QoS 0, in the core.

Every message uses the run's QoS. Only live deliveries count: a retained
message that the broker replays on a new subscription arrives with RETAIN=1
[MQTT-3.3.1-8] and is not counted as a delivery.

More than 22 stations: station ``i`` replays the trace of station
``i mod 22`` under its own id (``st-23`` onwards). Longer than a day: the
day is replayed. With ``stagger`` the stations' report clocks are spread
evenly over the 60 s reporting period (``60 * i / N`` seconds late), as
RTUs with unsynchronised clocks are; without it every station reports at
the trace's instants.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Generator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import simpy

from mqttsim.protocol.broker import Broker, BrokerConfig
from mqttsim.protocol.client import ClientConnection
from mqttsim.protocol.enums import ProtocolVersion
from mqttsim.protocol.errors import ConfigError
from mqttsim.protocol.packets import Will
from mqttsim.protocol.session import SESSION_NEVER_EXPIRES

from ..link import Link, LinkRecord, OutageSchedule, RandomOutages
from ..loss import Bernoulli, GilbertElliott, LossModel
from ..metrics import LinkTotals, MessageLog, PacketLog, summarize
from ..node import SimBroker, SimClient
from ..path import Path, TcpListener
from ..presets import LinkPreset, get_preset
from ..tcp_segment import TcpConfig
from .telemetry import DAY_S, StationPlan, load_plans

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd  # type: ignore[import-untyped,unused-ignore]

__all__ = ["PipelineConfig", "PipelineResult", "run_pipeline"]

Proc = Generator[simpy.Event, Any, None]
_VERSIONS = {"3.1.1": ProtocolVersion.V311, "5": ProtocolVersion.V5}
_REPORT_PERIOD_S = 60.0
SCADA_ID = "scada-host"


@dataclass(frozen=True, slots=True, kw_only=True)
class PipelineConfig:
    """Everything that defines a run; the same config and seed give the same result.

    Attributes:
        stations: how many stations (the line has 22; more replay them).
        hours: simulated time during which stations publish.
        start_s: where in the trace (seconds from its 00:00) the run starts.
        drain_s: extra time at the end with no new messages, for the last
            ones to arrive.
        qos: the QoS of every message (0, 1 or 2).
        link: the link preset of the stations (see ``datasets/links.json``).
        loss_rate, delay_s, jitter_s, bandwidth_bps, mean_burst_len:
            overrides of the preset's figures (None keeps the preset's);
            ``mean_burst_len`` 1 means independent (Bernoulli) loss.
        random_outages: draw outages from the preset's outage model.
        outages: ``(start_s, duration_s)`` windows when every station's link
            is down (a hub outage), on top of the random ones.
        seed: the seed of every random draw of the run.
        mqtt_version: ``"3.1.1"`` or ``"5"``.
        keep_alive_s: the stations' and the SCADA host's MQTT Keep Alive.
        stagger: spread the stations' report clocks over the period.
        tcp: TCP settings of every end.
        backoff_initial_s, backoff_max_s: the clients' reconnect back-off.
        host_delay_s, host_bandwidth_bps: the SCADA host's LAN to the broker.
        record_packets: keep the per-packet log (``PipelineResult.packets``).
    """

    stations: int = 22
    hours: float = 24.0
    start_s: float = 0.0
    drain_s: float = 600.0
    qos: int = 1
    link: str = "vsat-1999"
    loss_rate: float | None = None
    delay_s: float | None = None
    jitter_s: float | None = None
    bandwidth_bps: float | None = None
    mean_burst_len: float | None = None
    random_outages: bool = True
    outages: tuple[tuple[float, float], ...] = ()
    seed: int = 1999
    mqtt_version: str = "3.1.1"
    keep_alive_s: int = 120
    stagger: bool = True
    tcp: TcpConfig = field(default_factory=TcpConfig)
    backoff_initial_s: float = 2.0
    backoff_max_s: float = 120.0
    host_delay_s: float = 0.0005
    host_bandwidth_bps: float = 100e6
    record_packets: bool = True

    def __post_init__(self) -> None:
        if self.qos not in (0, 1, 2):
            raise ConfigError(f"qos must be 0, 1 or 2, got {self.qos!r}")
        if not 1 <= self.stations <= 10_000:
            raise ConfigError(f"stations must be in 1..10000, got {self.stations!r}")
        if not 0 < self.hours <= 24 * 366:
            raise ConfigError(f"hours must be > 0 (and at most a year), got {self.hours!r}")
        if not 0 <= self.start_s < DAY_S:
            raise ConfigError(f"start_s must be in [0, {DAY_S}), got {self.start_s!r}")
        if self.drain_s < 0:
            raise ConfigError(f"drain_s must be >= 0, got {self.drain_s!r}")
        if self.mqtt_version not in _VERSIONS:
            raise ConfigError(
                f"mqtt_version must be one of {', '.join(_VERSIONS)}, got {self.mqtt_version!r}"
            )
        if not 0 <= self.keep_alive_s <= 65535:
            raise ConfigError(f"keep_alive_s must be in 0..65535, got {self.keep_alive_s!r}")
        OutageSchedule(self.outages)  # validates the windows
        self.link_preset()  # validates the preset name and the overrides

    @property
    def duration_s(self) -> float:
        """Simulated seconds during which stations publish."""
        return self.hours * 3600.0

    def link_preset(self) -> LinkPreset:
        """The stations' link: the preset with this config's overrides."""
        return get_preset(self.link).with_overrides(
            loss_rate=self.loss_rate,
            delay_s=self.delay_s,
            jitter_s=self.jitter_s,
            bandwidth_bps=self.bandwidth_bps,
            mean_burst_len=self.mean_burst_len,
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class PipelineResult:
    """What a run produced.

    Attributes:
        config: the run's configuration.
        preset: the stations' link, overrides applied.
        messages: one row per message a station published (see
            :meth:`MessageLog.frame`; ``kind`` is report, alarm, status or
            valve).
        commands: one row per command the SCADA host sent (``station`` is
            the station it was for).
        packets: one row per packet on every link (see
            :meth:`PacketLog.frame`), or None without ``record_packets``.
        events: connections and wills: time_s, node, event, detail.
        totals: what the station links carried.
        wall_s: wall-clock seconds the simulation took.
    """

    config: PipelineConfig
    preset: LinkPreset
    messages: pd.DataFrame
    commands: pd.DataFrame
    packets: pd.DataFrame | None
    events: pd.DataFrame
    totals: LinkTotals
    wall_s: float

    def summary(self) -> pd.DataFrame:
        """One row per QoS (see :func:`mqttsim.sim.metrics.summarize`)."""
        return summarize(self.messages, self.totals)


class _Station:
    """One station: its plan, its client, its message ids by sequence number."""

    def __init__(self, index: int, node: str, plan: StationPlan, client: SimClient) -> None:
        self.index = index
        self.node = node
        self.plan = plan
        self.client = client
        self.ids: list[int] = []  # message id of seq n at [n - 1]
        self.valve_open = True
        self.uplink: Link | None = None


class _Run:
    """The world of one run: nodes, links, logs, and the scenario's processes."""

    def __init__(
        self, config: PipelineConfig, observer: Callable[[LinkRecord], None] | None
    ) -> None:
        self.config = config
        self.preset = config.link_preset()
        self.env = simpy.Environment()
        self.horizon = config.duration_s + config.drain_s
        self.messages = MessageLog()
        self.commands = MessageLog()
        self.packets = PacketLog() if config.record_packets else None
        self.extra_observer = observer
        self.version = _VERSIONS[config.mqtt_version]
        self.listener = TcpListener(self.env, config=config.tcp)
        broker = Broker(BrokerConfig(sys_interval_s=0), now=0.0)
        self.broker = SimBroker(self.env, self.listener, broker)
        self.wills: list[tuple[float, str]] = []
        self.isolated = False
        pipeline, plans = load_plans()
        self.layout = pipeline.stations
        self.stations: list[_Station] = []
        self.by_node: dict[str, _Station] = {}
        n = config.stations
        for i in range(n):
            plan = plans[i % len(plans)]
            node = plan.station.id if i < len(plans) else f"st-{i + 1:02d}"
            self._add_station(i, node, plan)
        self.scada = self._client(SCADA_ID, self._lan(), will=None)
        self.env.process(self._scada_subscriber())
        self.env.process(self._scada_receiver())

    # -- building ----------------------------------------------------------------------

    def _rng(self, node: str, purpose: str) -> random.Random:
        return random.Random(f"{self.config.seed}:{node}:{purpose}")

    def _loss(self, node: str, direction: str) -> LossModel | None:
        p = self.preset
        if p.loss_rate <= 0.0:
            return None
        rng = self._rng(node, f"loss-{direction}")
        if p.mean_burst_len <= 1.0:
            return Bernoulli(p.loss_rate, rng)
        return GilbertElliott.from_mean(p.loss_rate, p.mean_burst_len, rng)

    def _observers(self, node: str) -> tuple[Any, Any]:
        up_name, down_name = f"{node} up", f"{node} down"
        observers: list[Any] = [None, None]
        if self.packets is not None:
            observers = list(self.packets.observers(node, up_name, down_name))
        extra = self.extra_observer
        if extra is not None:
            observers = [_both(o, extra) for o in observers]
        return observers[0], observers[1]

    def _station_path(self, node: str) -> Path:
        p, config, env = self.preset, self.config, self.env
        windows = list(config.outages)
        if config.random_outages and p.outage is not None:
            drawn = RandomOutages(
                p.outage.mean_up_s, p.outage.mean_down_s, self._rng(node, "outages"), self.horizon
            )
            windows += drawn.windows
        outages = OutageSchedule(windows) if windows else None
        up_obs, down_obs = self._observers(node)
        links = [
            Link(
                env,
                name=f"{node} {direction}",
                delay_s=p.delay_s,
                jitter_s=p.jitter_s,
                bandwidth_bps=bandwidth,
                loss=self._loss(node, direction),
                outages=outages,  # one antenna: a fade cuts both ways
                rng=self._rng(node, f"jitter-{direction}"),
                observer=obs,
            )
            for direction, bandwidth, obs in (
                ("up", p.uplink_bps, up_obs),
                ("down", p.downlink_bps, down_obs),
            )
        ]
        return Path(
            env, uplink=links[0], downlink=links[1], listener=self.listener,
            rng=self._rng(node, "isn"),
        )

    def _lan(self) -> Path:
        c = self.config
        up_obs, down_obs = self._observers(SCADA_ID)
        links = [
            Link(
                self.env, name=f"{SCADA_ID} {d}", delay_s=c.host_delay_s,
                bandwidth_bps=c.host_bandwidth_bps, observer=obs,
            )
            for d, obs in (("up", up_obs), ("down", down_obs))
        ]
        return Path(
            self.env, uplink=links[0], downlink=links[1], listener=self.listener,
            rng=self._rng(SCADA_ID, "isn"),
        )

    def _client(self, node: str, path: Path, will: Will | None) -> SimClient:
        c = self.config
        v5 = self.version is ProtocolVersion.V5
        connection = ClientConnection(
            client_id=node,
            version=self.version,
            keep_alive_s=c.keep_alive_s,
            clean_start=False,
            session_expiry_interval_s=SESSION_NEVER_EXPIRES if v5 else 0,
            will=will,
        )
        return SimClient(
            self.env, path, connection, rng=self._rng(node, "backoff"), tcp_config=c.tcp,
            backoff_initial_s=c.backoff_initial_s, backoff_max_s=c.backoff_max_s,
        )

    def _add_station(self, index: int, node: str, plan: StationPlan) -> None:
        path = self._station_path(node)
        will = Will(topic=f"pipeline/{node}/status", payload=b"lost", qos=self.config.qos,
                    retain=True)
        station = _Station(index, node, plan, self._client(node, path, will))
        station.uplink = path.uplink
        self.stations.append(station)
        self.by_node[node] = station
        env = self.env
        env.process(self._reports(station))
        env.process(self._status(station))
        env.process(self._commands_in(station))

    # -- stations ----------------------------------------------------------------------

    def _publish(self, station: _Station, items: list[tuple[str, str, str]]) -> None:
        """Publish ``(topic, kind, text)`` messages in one write, logging each."""
        now = self.env.now
        qos = self.config.qos
        ids = station.ids
        log = self.messages.published
        out = []
        for topic, kind, text in items:
            payload = b"%d %s" % (len(ids) + 1, text.encode())
            ids.append(log(station.node, topic, kind, qos, now, len(payload)))
            out.append((topic, payload, qos, kind != "alarm"))
        station.client.publish_many(out)

    def _reports(self, station: _Station) -> Proc:
        env, config = self.env, self.config
        sensors = station.plan.station.sensors
        prefix = f"pipeline/{station.node}/"
        topics = [prefix + s.name for s in sensors]
        alarm_topics = [f"{prefix}alarm/{s.name}" for s in sensors]
        valves = {j for j, s in enumerate(sensors) if s.kind == "valve_state"}
        offset = _REPORT_PERIOD_S * station.index / config.stations if config.stagger else 0.0
        start, end = config.start_s, config.duration_s
        day = 0
        while True:
            for batch in station.plan.batches:
                t_abs = batch.t_s + day * DAY_S
                at = t_abs - start + offset
                if at < 0:
                    continue
                if at >= end:
                    return
                if at > env.now:
                    yield env.timeout(at - env.now)
                items = [
                    (
                        topics[j],
                        "report",
                        f"{t_abs} {'0' if j in valves and not station.valve_open else text}",
                    )
                    for j, text in batch.readings
                ]
                items += [
                    (alarm_topics[j], "alarm", f"{t_abs} {kind} {text}")
                    for j, kind, text in batch.alarms
                ]
                self._publish(station, items)
            day += 1

    def _status(self, station: _Station) -> Proc:
        client = station.client
        while True:
            connected = yield client.connected()
            if not client.is_connected:
                continue
            if not connected.session_present:
                client.subscribe(f"pipeline/{station.node}/cmd/#", qos=self.config.qos)
            t = int(self.env.now + self.config.start_s)
            self._publish(station, [(f"pipeline/{station.node}/status", "status", f"{t} online")])

    def _commands_in(self, station: _Station) -> Proc:
        client = station.client
        while True:
            event = yield client.messages.get()
            publish = event.publish
            if publish.retain:
                continue  # a replay, not a command
            seq = _seq(publish.payload)
            if seq is None:
                continue
            self.commands.delivered(seq - 1, self.env.now)
            if publish.payload.endswith(b"close") and station.valve_open:
                station.valve_open = False
                sensors = station.plan.station.sensors
                t = int(self.env.now + self.config.start_s)
                items = [
                    (f"pipeline/{station.node}/{s.name}", "valve", f"{t} 0")
                    for s in sensors
                    if s.kind == "valve_state"
                ]
                if items:
                    self._publish(station, items)

    # -- the SCADA host ----------------------------------------------------------------

    def _scada_subscriber(self) -> Proc:
        client = self.scada
        while True:
            connected = yield client.connected()
            if client.is_connected and not connected.session_present:
                client.subscribe([("pipeline/+/+", 2), ("pipeline/+/alarm/+", 2)])

    def _scada_receiver(self) -> Proc:
        env = self.env
        delivered = self.messages.delivered
        by_node = self.by_node
        get = self.scada.messages.get
        while True:
            event = yield get()
            publish = event.publish
            if publish.retain:
                continue  # a retained replay on subscription, not a delivery
            node = publish.topic.split("/", 2)[1]
            station = by_node.get(node)
            seq = _seq(publish.payload)
            if station is None:
                continue
            if seq is None:  # the will: "lost"
                self.wills.append((env.now, node))
                continue
            message_id = station.ids[seq - 1]
            delivered(message_id, env.now)
            if not self.isolated and b" LOW " in publish.payload:
                self._isolate(station)

    def _isolate(self, station: _Station) -> None:
        """Close the block valves around the station that raised the alarm."""
        here = station.plan.station
        if here.type != "block_valve":
            return
        self.isolated = True
        valves = [s for s in self.stations if s.plan.station.type == "block_valve"]
        valves.sort(key=lambda s: (s.plan.station.km, s.index))
        k = valves.index(station)
        targets = valves[max(k - 1, 0) : k + 2]
        client = self.scada
        qos = self.config.qos
        out = []
        t = int(self.env.now + self.config.start_s)
        for target in targets:
            seq = len(self.commands) + 1
            topic = f"pipeline/{target.node}/cmd/valve"
            payload = b"%d %d close" % (seq, t)
            self.commands.published(target.node, topic, "command", qos, self.env.now, len(payload))
            out.append((topic, payload, qos, False))
        client.publish_many(out)


def _seq(payload: bytes) -> int | None:
    head = payload.split(b" ", 1)[0]
    return int(head) if head.isdigit() else None


def _both(
    first: Callable[[LinkRecord], None] | None, second: Callable[[LinkRecord], None]
) -> Callable[[LinkRecord], None]:
    if first is None:
        return second

    def observe(record: LinkRecord) -> None:
        first(record)
        second(record)

    return observe


def run_pipeline(
    config: PipelineConfig | None = None,
    *,
    progress: Callable[[float, float], None] | None = None,
    observer: Callable[[LinkRecord], None] | None = None,
) -> PipelineResult:
    """Run the pipeline scenario and collect its logs.

    Args:
        config: the run; ``PipelineConfig()`` if None.
        progress: called as ``progress(done_s, total_s)`` in simulated
            seconds, about a hundred times.
        observer: also called with every :class:`LinkRecord` (for instance
            to keep them for :func:`mqttsim.sim.pcap.write_pcap`).

    Returns:
        The logs as DataFrames, and the link totals.
    """
    import pandas as pd

    config = config if config is not None else PipelineConfig()
    started = time.perf_counter()
    run = _Run(config, observer)
    env = run.env
    steps = 100
    for k in range(1, steps + 1):
        env.run(until=run.horizon * k / steps)
        if progress is not None:
            progress(env.now, run.horizon)
    wall = time.perf_counter() - started
    totals = _totals(run)
    events = pd.DataFrame(_event_rows(run), columns=["time_s", "node", "event", "detail"])
    return PipelineResult(
        config=config,
        preset=run.preset,
        messages=run.messages.frame(),
        commands=run.commands.frame(),
        packets=run.packets.frame() if run.packets is not None else None,
        events=events,
        totals=totals,
        wall_s=wall,
    )


def _totals(run: _Run) -> LinkTotals:
    total_bytes = packets = 0
    radio = 0.0
    for station in run.stations:
        path = station.client.path
        for link in (path.uplink, path.downlink):
            total_bytes += link.stats.bytes_sent
            packets += link.stats.packets_sent
        up = path.uplink
        if up.bandwidth_bps is not None:
            radio += up.stats.bytes_sent * 8.0 / up.bandwidth_bps
    p = run.preset
    return LinkTotals(
        bytes=total_bytes,
        packets=packets,
        radio_on_s=radio,
        node_time_s=run.config.duration_s * len(run.stations),
        price_per_mb_usd=p.price_per_mb_usd,
        price_per_message_usd=p.price_per_message_usd,
    )


def _event_rows(run: _Run) -> list[tuple[float, str, str, str]]:
    rows: list[tuple[float, str, str, str]] = []
    for client in [s.client for s in run.stations] + [run.scada]:
        node = client.connection.client_id
        for t, event in client.log:
            name = type(event).__name__
            detail = getattr(event, "detail", "") or ""
            if name == "Connected":
                detail = f"session_present={getattr(event, 'session_present', False)}"
            rows.append((t, node, name, detail))
    for t, event in run.broker.log:
        name = type(event).__name__
        if name == "ClientDisconnected":
            will = getattr(event, "will_published", False)
            detail = f"{getattr(event, 'detail', '')}; will_published={will}"
            rows.append((t, getattr(event, "client_id", ""), "BrokerClosed", detail))
    rows += [(t, node, "WillReceived", "SCADA host got the will") for t, node in run.wills]
    rows.sort(key=lambda row: row[0])
    return rows
