"""The world of one pipeline run: links, nodes, and what stations and the SCADA host do.

:func:`~mqttsim.sim.scenarios.pipeline.run_pipeline` builds a
:class:`PipelineWorld` from a :class:`~mqttsim.sim.scenarios.pipeline.PipelineConfig`,
runs its SimPy environment and reads its logs. The behaviour of every node
is described in :mod:`mqttsim.sim.scenarios.pipeline`.

Random draws: every link, client and outage schedule has its own
``random.Random`` seeded with ``f"{seed}:{node}:{purpose}"``, so adding a
station or changing the QoS leaves the other streams where they were.
"""

from __future__ import annotations

import random
from collections import deque
from collections.abc import Callable, Generator
from typing import TYPE_CHECKING, Any, Final

import simpy

from mqttsim.protocol.broker import Broker, BrokerConfig
from mqttsim.protocol.client import ClientConnection
from mqttsim.protocol.enums import ProtocolVersion, QoS
from mqttsim.protocol.events import (
    ClientDisconnected,
    Connected,
    Disconnected,
    MessageReceived,
    PublishDropped,
)
from mqttsim.protocol.packets import Publish, Will
from mqttsim.protocol.session import SESSION_NEVER_EXPIRES

from ..immediate import call_soon, immediate
from ..link import Link, LinkRecord, OutageSchedule, RandomOutages
from ..loopback import LoopbackPath
from ..loss import Bernoulli, GilbertElliott, LossModel
from ..metrics import LinkTotals, MessageLog, PacketLog
from ..node import SimBroker, SimClient
from ..path import Path, TcpListener
from .telemetry import DAY_S, StationPlan, load_plans

if TYPE_CHECKING:  # pragma: no cover
    from .pipeline import PipelineConfig

__all__ = ["MQTT_VERSIONS", "SCADA_ID", "PipelineWorld"]

Proc = Generator[simpy.Event, Any, None]
MQTT_VERSIONS = {"3.1.1": ProtocolVersion.V311, "5": ProtocolVersion.V5}
SCADA_ID = "scada-host"
_REPORT_PERIOD_S: Final = 60.0


class _Station:
    """One station: its plan, its client, its message ids by sequence number."""

    def __init__(
        self, index: int, node: str, plan: StationPlan, client: SimClient, path: Path
    ) -> None:
        self.index = index
        self.path = path
        self.node = node
        self.plan = plan
        self.client = client
        self.ids: list[int] = []  # message id of seq n at [n - 1]
        self.valve_open = True


class PipelineWorld:
    """The world of one run: nodes, links, logs, and the scenario's processes.

    Args:
        config: the run.
        observer: also called with every LinkRecord.

    Attributes:
        env: the SimPy environment; run it to ``horizon``.
        horizon: publishing time plus the drain.
        messages, commands: the message logs.
        packets: the packet log, or None.
        broker: the SimBroker (its core's ``retained`` holds the last known values).
        stations: one per station, in order.
        scada: the SCADA host's SimClient.
    """

    def __init__(
        self, config: PipelineConfig, observer: Callable[[LinkRecord], None] | None
    ) -> None:
        self.config = config
        self.preset = config.link_preset()
        self.env = simpy.Environment()
        self._immediate = immediate(self.env)  # its clock reads cheaply
        self.horizon = config.duration_s + config.drain_s
        self.messages = MessageLog()
        self.commands = MessageLog()
        self.packets = PacketLog() if config.record_packets else None
        self.extra_observer = observer
        self.version = MQTT_VERSIONS[config.mqtt_version]
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
        host_path: Path | LoopbackPath = (
            LoopbackPath(self.env, self.listener) if config.host_link == "loopback" else self._lan()
        )
        # The SCADA host's reader (see _scada_arrived): messages not yet read,
        # and whether the two events of a Store's put and get are pending.
        self._scada_inbox: deque[Publish] = deque()
        self._scada_put_pending = False
        self._scada_get_pending = False
        self.scada = self._client(SCADA_ID, host_path, will=None, on_message=self._scada_arrived)
        self.env.process(self._scada_subscriber())

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
            env,
            uplink=links[0],
            downlink=links[1],
            listener=self.listener,
            rng=self._rng(node, "isn"),
        )

    def _lan(self) -> Path:
        c = self.config
        up_obs, down_obs = self._observers(SCADA_ID)
        links = [
            Link(
                self.env,
                name=f"{SCADA_ID} {d}",
                delay_s=c.host_delay_s,
                bandwidth_bps=c.host_bandwidth_bps,
                observer=obs,
            )
            for d, obs in (("up", up_obs), ("down", down_obs))
        ]
        return Path(
            self.env,
            uplink=links[0],
            downlink=links[1],
            listener=self.listener,
            rng=self._rng(SCADA_ID, "isn"),
        )

    def _client(
        self,
        node: str,
        path: Any,
        will: Will | None,
        on_message: Callable[[MessageReceived], None] | None = None,
    ) -> SimClient:
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
            self.env,
            path,
            connection,
            rng=self._rng(node, "backoff"),
            tcp_config=c.tcp,
            backoff_initial_s=c.backoff_initial_s,
            backoff_max_s=c.backoff_max_s,
            on_message=on_message,
        )

    def _add_station(self, index: int, node: str, plan: StationPlan) -> None:
        path = self._station_path(node)
        will = Will(
            topic=f"pipeline/{node}/status", payload=b"lost", qos=QoS(self.config.qos), retain=True
        )
        station = _Station(index, node, plan, self._client(node, path, will), path)
        self.stations.append(station)
        self.by_node[node] = station
        env = self.env
        call_soon(env, _Reporter(self, station).start)  # where a process would start
        env.process(self._status(station))
        env.process(self._commands_in(station))

    # -- stations ----------------------------------------------------------------------

    def _publish(self, station: _Station, items: list[tuple[str, str, bytes, bool]]) -> None:
        """Publish ``(topic, kind, text, retain)`` messages in one write, logging each.

        The payload is ``b"{seq} {text}"``; the write goes out once, so the
        messages of one instant share TCP segments.
        """
        now = self._immediate.now()
        qos = self.config.qos
        ids = station.ids
        node = station.node
        log = self.messages.published
        out = []
        for topic, kind, text, retain in items:
            payload = b"%d %s" % (len(ids) + 1, text)
            ids.append(log(node, topic, kind, qos, now, len(payload)))
            out.append((topic, payload, qos, retain))
        station.client.publish_many(out)

    def _clock(self) -> int:
        """The trace's time now, for status and command payloads."""
        return int(self.env.now + self.config.start_s)

    def _status(self, station: _Station) -> Proc:
        """On every CONNACK: subscribe if the session is new, then say ``online``."""
        client = station.client
        topic = f"pipeline/{station.node}/status"
        while True:
            connected = yield client.connected()
            if not client.is_connected:
                continue  # it dropped again in the same instant
            if not connected.session_present:
                client.subscribe(f"pipeline/{station.node}/cmd/#", qos=self.config.qos)
            self._publish(station, [(topic, "status", b"%d online" % self._clock(), True)])

    def _commands_in(self, station: _Station) -> Proc:
        """Commands from the SCADA host: log the delivery, close the valve."""
        client = station.client
        topics = [
            f"pipeline/{station.node}/{s.name}"
            for s in station.plan.station.sensors
            if s.kind == "valve_state"
        ]
        while True:
            publish = (yield client.messages.get()).publish
            seq = _seq(publish.payload)
            if publish.retain or seq is None:
                continue  # a retained replay is not a command
            self.commands.delivered(seq - 1, self.env.now)
            if publish.payload.endswith(b"close") and station.valve_open:
                station.valve_open = False
                t = self._clock()
                if topics:
                    self._publish(station, [(tp, "valve", b"%d 0" % t, True) for tp in topics])

    # -- the SCADA host ----------------------------------------------------------------

    def _scada_subscriber(self) -> Proc:
        client = self.scada
        while True:
            connected = yield client.connected()
            if client.is_connected and not connected.session_present:
                client.subscribe([("pipeline/+/+", 2), ("pipeline/+/alarm/+", 2)])

    # The host reads its messages in the event where a reader process taking
    # them from the client's Store would: that Store's put event triggers the
    # get, whose event resumes the reader, which then also takes every
    # message that came meanwhile. Two bare events stand for those (a put
    # event while one is pending, or while the get is, does nothing), so
    # the commands of _isolate leave at the very same point of the run as
    # with the Store, for a fraction of its cost per message.

    def _scada_arrived(self, event: MessageReceived) -> None:
        self._scada_inbox.append(event.publish)
        if not (self._scada_put_pending or self._scada_get_pending):
            self._scada_put_pending = True
            self._immediate.soon(self._scada_put_done)

    def _scada_put_done(self, _event: object) -> None:
        self._scada_put_pending = False
        self._scada_get_pending = True
        self._immediate.soon(self._scada_read)

    def _scada_read(self, _event: object) -> None:
        """Log each live delivery; isolate a section on a block valve's LOW alarm."""
        self._scada_get_pending = False
        inbox = self._scada_inbox
        while inbox:
            self._scada_message(inbox.popleft())

    def _scada_message(self, publish: Publish) -> None:
        if publish.retain:
            return  # a retained replay on subscription, not a delivery
        station = self.by_node.get(publish.topic.split("/", 2)[1])
        if station is None:
            return
        seq = _seq(publish.payload)
        if seq is None:  # the will: "lost"
            self.wills.append((self.env.now, station.node))
            return
        self.messages.delivered(station.ids[seq - 1], self._immediate.now())
        # find(), not `in`: bytes' `in` first tries its operand as an int.
        if not self.isolated and publish.payload.find(b" LOW ") >= 0:
            self._isolate(station)

    def _isolate(self, station: _Station) -> None:
        """Close the block valves around the station that raised the alarm."""
        here = station.plan.station
        if here.type != "block_valve":
            return
        self.isolated = True
        line = station.index // len(self.layout)  # which copy of the line, past 22 stations
        valves = [
            s
            for s in self.stations
            if s.plan.station.type == "block_valve" and s.index // len(self.layout) == line
        ]
        valves.sort(key=lambda s: s.plan.station.km)
        k = valves.index(station)
        targets = valves[max(k - 1, 0) : k + 2]
        client = self.scada
        qos = self.config.qos
        out = []
        t = self._clock()
        for target in targets:
            seq = len(self.commands) + 1
            topic = f"pipeline/{target.node}/cmd/valve"
            payload = b"%d %d close" % (seq, t)
            self.commands.published(target.node, topic, "command", qos, self.env.now, len(payload))
            out.append((topic, payload, qos, False))
        client.publish_many(out)

    def totals(self) -> LinkTotals:
        """What the station links carried (the billed links)."""
        total_bytes = packets = 0
        radio = 0.0
        for station in self.stations:
            path = station.path
            for link in (path.uplink, path.downlink):
                total_bytes += link.stats.bytes_sent
                packets += link.stats.packets_sent
            up = path.uplink
            if up.bandwidth_bps is not None:
                radio += up.stats.bytes_sent * 8.0 / up.bandwidth_bps
        p = self.preset
        return LinkTotals(
            bytes=total_bytes,
            packets=packets,
            radio_on_s=radio,
            node_time_s=self.config.duration_s * len(self.stations),
            price_per_mb_usd=p.price_per_mb_usd,
            price_per_message_usd=p.price_per_message_usd,
        )

    def event_rows(self) -> list[tuple[float, str, str, str]]:
        """Connections, disconnections and wills: ``(time_s, node, event, detail)``."""
        rows: list[tuple[float, str, str, str]] = []
        for client in [s.client for s in self.stations] + [self.scada]:
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
        for t, event in self.broker.log:
            if isinstance(event, ClientDisconnected):
                detail = f"{event.detail}; will_published={event.will_published}"
                rows.append((t, event.client_id, "BrokerClosed", detail))
        rows += [(t, node, "WillReceived", "SCADA host got the will") for t, node in self.wills]
        rows.sort(key=lambda row: row[0])
        return rows


class _Reporter:
    """Replay one station's batches of the trace: readings, then alarms.

    The loop of a process (wait for the next batch's instant, publish it),
    written as callbacks on its timeouts: a process's resumption costs more
    than the rest of a batch's bookkeeping. Each batch goes out in the event
    where the process would have sent it.
    """

    __slots__ = (
        "world",
        "station",
        "topics",
        "alarm_topics",
        "valves",
        "offset",
        "batches",
        "k",
        "day",
        "start_s",
        "end_s",
        "_publish_cb",
    )

    def __init__(self, world: PipelineWorld, station: _Station) -> None:
        config = world.config
        sensors = station.plan.station.sensors
        prefix = f"pipeline/{station.node}/"
        self.world = world
        self.station = station
        self.topics = [prefix + s.name for s in sensors]
        self.alarm_topics = [f"{prefix}alarm/{s.name}" for s in sensors]
        self.valves = frozenset(j for j, s in enumerate(sensors) if s.kind == "valve_state")
        self.offset = _REPORT_PERIOD_S * station.index / config.stations if config.stagger else 0.0
        self.batches = station.plan.batches
        self.k = 0  # the next batch, of day ``day`` of the replay
        self.day = 0
        self.start_s = config.start_s
        self.end_s = config.duration_s
        self._publish_cb = self._publish

    def start(self, _event: simpy.Event | None = None) -> None:
        self._next()

    def _next(self) -> None:
        """Publish the batches due now, then wait for the next one (or stop)."""
        clock = self.world._immediate
        start, end = self.start_s, self.end_s
        batches = self.batches
        while True:
            if self.k == len(batches):
                self.k = 0
                self.day += 1
            at = batches[self.k].t_s + self.day * DAY_S - start + self.offset
            if at < 0:
                self.k += 1
                continue
            if at >= end:
                return
            now = clock.now()
            if at > now:
                clock.timeout(at - now, self._publish_cb)
                return
            self._publish()

    def _publish(self, _event: object = None) -> None:
        """Publish batch ``k``, then go on."""
        batch = self.batches[self.k]
        self.k += 1
        t_abs = batch.t_s + self.day * DAY_S
        closed = not self.station.valve_open
        topics, valves = self.topics, self.valves
        items = [
            (topics[j], "report", b"%d %s" % (t_abs, b"0" if closed and j in valves else v), True)
            for j, v in batch.readings
        ]
        if batch.alarms:
            alarm_topics = self.alarm_topics
            items += [
                (alarm_topics[j], "alarm", b"%d %s %s" % (t_abs, kind, v), False)
                for j, kind, v in batch.alarms
            ]
        self.world._publish(self.station, items)
        if _event is not None:
            self._next()


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
