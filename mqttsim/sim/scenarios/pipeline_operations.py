"""What the pipeline's stations and SCADA host do, installed in a scenario's world.

:func:`~mqttsim.sim.scenarios.pipeline.pipeline_scenario` describes the
network (a link per station, the broker at the control centre, the clients)
and adds these behaviours as processes of the scenario: :func:`install`
(once, before the clients), :func:`station` (after each station's client)
and :func:`scada` (after the SCADA host's). Every node's behaviour is
described in :mod:`mqttsim.sim.scenarios.pipeline`.

The behaviours are plain SimPy: a station's reporter, its status and its
commands are generator processes; the SCADA host reads each message in its
client's ``on_message`` as it arrives. The module is compiled with the
model (:mod:`mqttsim.native`) only because a 24-hour run of 200 stations
publishes half a million messages through it.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import TYPE_CHECKING, Any, Final

import simpy

from mqttsim.protocol.events import MessageReceived
from mqttsim.protocol.packets import Publish

from ..metrics import MessageLog
from ..node import SimClient
from .telemetry import DAY_S, StationPlan, load_plans

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd  # type: ignore[import-untyped,unused-ignore]

    from ..world import World

__all__ = ["SCADA_ID", "PipelineOperations", "install", "scada", "station"]

Proc = Generator[simpy.Event, Any, None]
SCADA_ID = "scada-host"
_REPORT_PERIOD_S: Final = 60.0
_KEY: Final = "pipeline"  # where the operations live in world.state


class _Station:
    """One station: its plan, its client, its message ids by sequence number."""

    def __init__(self, index: int, node: str, plan: StationPlan, client: SimClient) -> None:
        self.index = index
        self.node = node
        self.plan = plan
        self.client = client
        self.ids: list[int] = []  # message id of seq n at [n - 1]
        self.valve_open = True


def install(world: World, *, stations: int, stagger: bool, start_s: float) -> None:
    """Set up the pipeline's shared state (called once, before any client)."""
    ops = PipelineOperations(world, stations=stations, stagger=stagger, start_s=start_s)
    world.state[_KEY] = ops
    world.frames["commands"] = ops.commands_frame


def station(world: World, *, client: str) -> None:
    """Start the station whose client was just built: reporter, status, commands.

    Stations are numbered in the order they are built: the trace's
    station ``i mod 22`` is replayed by the ``i``-th.
    """
    ops: PipelineOperations = world.state[_KEY]
    ops.add_station(client)


def scada(world: World, *, client: str = SCADA_ID) -> None:
    """The SCADA host's client was just built: read its messages (it subscribes
    through its node's ``subscribe`` list)."""
    ops: PipelineOperations = world.state[_KEY]
    ops.scada = world.clients[client]
    ops.scada_name = client
    ops.scada.on_message = ops._scada_received


class PipelineOperations:
    """The stations and the SCADA host of one run, and their logs.

    Args:
        world: the run's world (its ``messages`` log gets the stations'
            messages; the SCADA host's commands get a log of their own).
        stations: how many stations the scenario has.
        stagger: spread the stations' report clocks over the period.
        start_s: where in the trace the run starts.

    Attributes:
        messages, commands: the message logs.
        stations: one per station, in order.
        by_node: the stations by id.
        wills: ``(time_s, station)`` for every will the SCADA host received.
        isolated: whether a section of line has been closed off.
    """

    def __init__(self, world: World, *, stations: int, stagger: bool, start_s: float) -> None:
        self.world = world
        self.env = world.env
        self.qos = world.qos
        self.count = stations
        self.stagger = stagger
        self.start_s = start_s
        self.duration_s = world.scenario.duration_s
        self.messages = world.messages
        self.commands = MessageLog()
        self.wills: list[tuple[float, str]] = []
        self.isolated = False
        pipeline, self.plans = load_plans()
        self.layout = pipeline.stations
        self.stations: list[_Station] = []
        self.by_node: dict[str, _Station] = {}
        self.scada: SimClient | None = None
        self.scada_name = SCADA_ID

    def add_station(self, node: str) -> None:
        plans = self.plans
        index = len(self.stations)
        plan = plans[index % len(plans)]
        client = self.world.clients[node]
        client.on_message = None  # commands go to its Store: _commands_in reads them
        here = _Station(index, node, plan, client)
        self.stations.append(here)
        self.by_node[node] = here
        env = self.env
        env.process(self._report(here))
        env.process(self._status(here))
        env.process(self._commands_in(here))

    def commands_frame(self) -> pd.DataFrame:
        """One row per command the SCADA host sent (``station``: the one it was for)."""
        return self.commands.frame()

    # -- stations ----------------------------------------------------------------------

    def _publish(self, station: _Station, items: list[tuple[str, str, bytes, bool]]) -> None:
        """Publish ``(topic, kind, text, retain)`` messages in one write, logging each.

        The payload is ``b"{seq} {text}"``; the write goes out once, so the
        messages of one instant share TCP segments.
        """
        now = self.env.now
        qos = self.qos
        ids = station.ids
        node = station.node
        log = self.messages.published
        out = []
        for topic, kind, text, retain in items:
            payload = b"%d %s" % (len(ids) + 1, text)
            ids.append(log(node, topic, kind, qos, now, len(payload)))
            out.append((topic, payload, qos, retain))
        station.client.publish_many(out)

    def _report(self, station: _Station) -> Proc:
        """Replay the station's batches of the trace, each at its instant: readings, then alarms.

        The trace starts ``start_s`` into its day, is replayed day after day,
        and is shifted by the station's place in the reporting period when
        the clocks are staggered.
        """
        env = self.env
        sensors = station.plan.station.sensors
        prefix = f"pipeline/{station.node}/"
        topics = [prefix + s.name for s in sensors]
        alarm_topics = [f"{prefix}alarm/{s.name}" for s in sensors]
        valves = frozenset(j for j, s in enumerate(sensors) if s.kind == "valve_state")
        offset = _REPORT_PERIOD_S * station.index / self.count if self.stagger else 0.0
        day = 0
        while True:
            for batch in station.plan.batches:
                at = batch.t_s + day * DAY_S - self.start_s + offset
                if at < 0:
                    continue
                if at >= self.duration_s:
                    return
                if at > env.now:
                    yield env.timeout(at - env.now)
                t_abs = batch.t_s + day * DAY_S
                closed = not station.valve_open
                items = [
                    (
                        topics[j],
                        "report",
                        b"%d %s" % (t_abs, b"0" if closed and j in valves else v),
                        True,
                    )
                    for j, v in batch.readings
                ]
                items += [
                    (alarm_topics[j], "alarm", b"%d %s %s" % (t_abs, kind, v), False)
                    for j, kind, v in batch.alarms
                ]
                self._publish(station, items)
            day += 1

    def _clock(self) -> int:
        """The trace's time now, for status and command payloads."""
        return int(self.env.now + self.start_s)

    def _status(self, station: _Station) -> Proc:
        """On every CONNACK: subscribe if the session is new, then say ``online``."""
        client = station.client
        topic = f"pipeline/{station.node}/status"
        while True:
            connected = yield client.connected()
            if not client.is_connected:
                continue  # it dropped again in the same instant
            if not connected.session_present:
                client.subscribe(f"pipeline/{station.node}/cmd/#", qos=self.qos)
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
            self.commands.delivered(seq - 1, self.env.now, station.node)
            if publish.payload.endswith(b"close") and station.valve_open:
                station.valve_open = False
                t = self._clock()
                if topics:
                    self._publish(station, [(tp, "valve", b"%d 0" % t, True) for tp in topics])

    # -- the SCADA host ----------------------------------------------------------------

    def _scada_received(self, event: MessageReceived) -> None:
        """The SCADA host reads each message as it arrives (its client's ``on_message``)."""
        self._scada_message(event.publish)

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
        self.messages.delivered(station.ids[seq - 1], self.env.now, self.scada_name)
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
        assert client is not None
        qos = self.qos
        out = []
        t = self._clock()
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


def station_id(index: int, plans: tuple[StationPlan, ...]) -> str:
    """Station ``index``'s id: the trace's for the first 22, ``st-23`` onwards after."""
    return plans[index].station.id if index < len(plans) else f"st-{index + 1:02d}"
