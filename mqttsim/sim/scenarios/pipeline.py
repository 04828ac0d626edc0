"""The 1999 pipeline: stations report over a satellite link to a SCADA host.

The scene (``datasets/pipeline.json``, ``datasets/README.md``): remote
stations along an 800 km crude-oil line report pressure, flow, temperature
and valve state over the ``vsat-1999`` link to a broker at the control
centre; the SCADA host runs on the broker's machine. What every node does:

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

import os
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from os import PathLike
from typing import TYPE_CHECKING, Any

from mqttsim.protocol.enums import QoS
from mqttsim.protocol.errors import ConfigError
from mqttsim.protocol.packets import Will
from mqttsim.protocol.session import SESSION_NEVER_EXPIRES

from ..link import LinkRecord, OutageSchedule
from ..linkspec import LinkSpec, LossSpec
from ..metrics import LinkTotals, summarize
from ..presets import get_preset
from ..result import BrokerState, broker_state
from ..scenario import MQTT_VERSIONS, Scenario
from ..tcp_segment import TcpConfig
from ..world import World
from . import pipeline_operations as operations
from .pipeline_operations import SCADA_ID, PipelineOperations, station_id
from .telemetry import DAY_S, load_plans

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd  # type: ignore[import-untyped,unused-ignore]

__all__ = [
    "CONTROL_CENTRE",
    "PipelineConfig",
    "PipelineResult",
    "pipeline_scenario",
    "run_pipeline",
]

CONTROL_CENTRE = "control-centre"  # the site of the broker (and, on loopback, the SCADA host)


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
        host_link: how the SCADA host reaches the broker on its machine:
            ``"loopback"`` (bytes passed at once, no packets; see
            :mod:`mqttsim.sim.loopback`) or ``"lan"`` (the simulated TCP over
            a loss-free link, its packets logged).
        host_delay_s, host_bandwidth_bps: that LAN's delay and bit rate.
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
    host_link: str = "loopback"
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
        if self.mqtt_version not in MQTT_VERSIONS:
            raise ConfigError(
                f"mqtt_version must be one of {', '.join(MQTT_VERSIONS)}, got {self.mqtt_version!r}"
            )
        if not 0 <= self.keep_alive_s <= 65535:
            raise ConfigError(f"keep_alive_s must be in 0..65535, got {self.keep_alive_s!r}")
        if self.host_link not in ("loopback", "lan"):
            raise ConfigError(f"host_link must be loopback or lan, got {self.host_link!r}")
        OutageSchedule(self.outages)  # validates the windows
        self.link_preset()  # validates the preset name and the overrides

    @property
    def duration_s(self) -> float:
        """Simulated seconds during which stations publish."""
        return self.hours * 3600.0

    def link_preset(self) -> LinkSpec:
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
        deliveries: every delivery of a station's message to the SCADA host,
            duplicates included (see :meth:`MessageLog.deliveries_frame`).
        commands: one row per command the SCADA host sent (``station`` is
            the station it was for).
        packets: one row per packet on every link (see
            :meth:`PacketLog.frame`), or None without ``record_packets``.
        events: connections and wills: time_s, node, event, detail.
        totals: what the station links carried.
        wall_s: wall-clock seconds the simulation took.
        broker: the broker at the end of the run (its retained messages
            are each station's last known values and status).
    """

    config: PipelineConfig
    preset: LinkSpec
    messages: pd.DataFrame
    deliveries: pd.DataFrame
    commands: pd.DataFrame
    packets: pd.DataFrame | None
    events: pd.DataFrame
    totals: LinkTotals
    wall_s: float
    broker: BrokerState

    def summary(self) -> pd.DataFrame:
        """One row per QoS (see :func:`mqttsim.sim.metrics.summarize`)."""
        return summarize(self.messages, self.totals)

    def save_messages(self, path: str | PathLike[str]) -> None:
        """Write :attr:`messages` as ``.csv`` or ``.parquet`` (by the file's suffix).

        A message never delivered has an empty ``delivered_s`` and
        ``latency_s`` (null in Parquet).

        Raises:
            ConfigError: another suffix.
        """
        suffix = _suffix(path, (".csv", ".parquet"))
        frame = self.messages
        if suffix == ".csv":
            frame.to_csv(path, index=False, na_rep="")
        else:
            frame = frame.astype({"delivered_s": "Float64", "latency_s": "Float64"})
            frame.to_parquet(path, index=False)

    def save_summary(self, path: str | PathLike[str]) -> None:
        """Write the configuration and :meth:`summary` as JSON (NaN as null)."""
        import json

        rows = json.loads(self.summary().to_json(orient="records"))
        config = {
            f.name: getattr(self.config, f.name) for f in fields(self.config) if f.name != "tcp"
        }
        config["tcp"] = {f.name: getattr(self.config.tcp, f.name) for f in fields(self.config.tcp)}
        document = {
            "scenario": "pipeline",
            "config": config,
            "link": {"name": self.preset.name, "sources": self.preset.sources},
            "wall_s": self.wall_s,
            "summary": rows,
        }
        with open(path, "w", encoding="utf-8") as handle:
            json.dump(document, handle, indent=2)
            handle.write("\n")


def _suffix(path: str | PathLike[str], allowed: tuple[str, ...]) -> str:
    suffix = os.path.splitext(os.fspath(path))[1].lower()
    if suffix not in allowed:
        raise ConfigError(f"{os.fspath(path)}: the file name must end in {' or '.join(allowed)}")
    return suffix


def pipeline_scenario(config: PipelineConfig | None = None) -> Scenario:
    """The pipeline as a :class:`~mqttsim.sim.Scenario`: a link per station to
    the control centre, the broker there, the stations and the SCADA host,
    and their behaviours (:mod:`.pipeline_operations`).

    Its links and clients are ordinary scenario parts; ``scenario.run()``
    gives the generic :class:`~mqttsim.sim.result.ScenarioResult`, and
    :func:`run_pipeline` the pipeline's own :class:`PipelineResult`.
    """
    c = config if config is not None else PipelineConfig()
    _, plans = load_plans()
    spec = c.link_preset().with_overrides(outages=c.outages)
    if not c.random_outages:
        spec = spec.with_overrides(outage=None)
    net = Scenario(
        name="pipeline-1999",
        duration_s=c.duration_s,
        drain_s=c.drain_s,
        seed=c.seed,
        qos=c.qos,
        mqtt_version=c.mqtt_version,
    )
    net.broker("broker", site=CONTROL_CENTRE, tcp=c.tcp)
    nodes = [station_id(i, plans) for i in range(c.stations)]
    for node in nodes:
        net.link(node, CONTROL_CENTRE, spec, name=node)
    host_site = CONTROL_CENTRE
    if c.host_link == "lan":
        host_site = SCADA_ID
        net.link(SCADA_ID, CONTROL_CENTRE, _lan(c), name=SCADA_ID, billed=False)
    net.process(operations.install, stations=c.stations, stagger=c.stagger, start_s=c.start_s)
    v5 = c.mqtt_version == "5"
    common: dict[str, Any] = {
        "keep_alive_s": c.keep_alive_s,
        "clean_start": False,
        "session_expiry_s": SESSION_NEVER_EXPIRES if v5 else 0,
        "tcp": c.tcp,
        "backoff_initial_s": c.backoff_initial_s,
        "backoff_max_s": c.backoff_max_s,
        "connect_timeout_s": None,  # a 1999 RTU waits for TCP's own SYN retries
    }
    for node in nodes:
        will = Will(topic=f"pipeline/{node}/status", payload=b"lost", qos=QoS(c.qos), retain=True)
        net.client(node, site=node, will=will, **common)
        net.process(operations.station, client=node)
    net.client(
        SCADA_ID,
        site=host_site,
        subscribe=[("pipeline/+/+", 2), ("pipeline/+/alarm/+", 2)],
        **common,
    )
    net.process(operations.scada, client=SCADA_ID)
    return net


def _lan(c: PipelineConfig) -> LinkSpec:
    """The SCADA host's LAN to the broker: a short, fast, loss-free link."""
    return LinkSpec(
        name="lan",
        description="the control centre's LAN",
        delay_s=c.host_delay_s,
        jitter_s=0.0,
        uplink_bps=c.host_bandwidth_bps,
        downlink_bps=c.host_bandwidth_bps,
        loss=LossSpec.of("none"),
        outage=None,
    )


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
        The logs as DataFrames, the link totals and the broker's final state.
    """
    import pandas as pd

    config = config if config is not None else PipelineConfig()
    world = World(
        pipeline_scenario(config), record_packets=config.record_packets, observer=observer
    )
    wall = world.simulate(progress)
    ops: PipelineOperations = world.state["pipeline"]
    rows = world.event_rows()
    rows += [(t, node, "WillReceived", "SCADA host got the will") for t, node in ops.wills]
    rows.sort(key=lambda row: row[0])
    return PipelineResult(
        config=config,
        preset=config.link_preset(),
        messages=world.messages.frame(),
        deliveries=world.messages.deliveries_frame(),
        commands=ops.commands.frame(),
        packets=world.packets.frame() if world.packets is not None else None,
        events=pd.DataFrame(rows, columns=["time_s", "node", "event", "detail"]),
        totals=_station_totals(world, config),
        wall_s=wall,
        broker=broker_state(world.brokers["broker"]),
    )


def _station_totals(world: World, config: PipelineConfig) -> LinkTotals:
    """What the station links carried (the billed links), at the preset's price."""
    total_bytes = packets = 0
    radio = 0.0
    stations = 0
    for node in world.scenario.links:
        if not node.billed:
            continue
        stations += 1
        up, down = world.links[node.name]
        for link in (up, down):
            total_bytes += link.stats.bytes_sent
            packets += link.stats.packets_sent
        if up.bandwidth_bps is not None:
            radio += up.stats.bytes_sent * 8.0 / up.bandwidth_bps
    p = config.link_preset()
    return LinkTotals(
        bytes=total_bytes,
        packets=packets,
        radio_on_s=radio,
        node_time_s=config.duration_s * stations,
        price_per_mb_usd=p.price_per_mb_usd,
        price_per_message_usd=p.price_per_message_usd,
    )
