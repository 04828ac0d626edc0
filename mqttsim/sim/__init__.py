"""The SimPy world: simulated links, a small TCP, MQTT nodes, scenarios and metrics.

Nothing here imports asyncio, :mod:`mqttsim.aio` or :mod:`mqttsim.widgets`, and
importing it loads no pandas: the DataFrames are made when a run asks for them.

Build your own network (:mod:`.scenario`)::

    from mqttsim.sim import Scenario

    net = Scenario("one GEO station", duration_s=3600)
    net.link("station", "hub", "geo-vsat")
    net.broker("broker", site="hub", profile="mosquitto-2")
    net.client("rtu", site="station", profile="paho-2")
    net.client("scada", site="hub", subscribe=[("plant/#", 2)])
    net.periodic("rtu", "plant/pressure", every_s=10, payload_bytes=24)
    result = net.run(seed=1, qos=2)
    result.summary()            # delivery, duplicates, latency, bytes, cost, radio time

or read one from a TOML file (:func:`load_scenario`), or run the 1999
pipeline::

    from mqttsim.sim import PipelineConfig, run_pipeline

    result = run_pipeline(PipelineConfig(qos=1, hours=6, loss_rate=0.02))
    result.messages             # one row per message a station published
"""

from __future__ import annotations

from .link import Link, LinkRecord, LinkStats, OutageSchedule, RandomOutages
from .linkspec import JITTER_MODELS, LOSS_MODELS, LinkSpec, LossSpec, Outage
from .loopback import LoopbackEnd, LoopbackPath
from .loss import Bernoulli, GilbertElliott, LossModel, NoLoss
from .metrics import LinkTotals, MessageLog, PacketLog, summarize
from .node import SimBroker, SimClient
from .path import Path, TcpListener
from .profiles import BROKER_PROFILES, CLIENT_PROFILES, BrokerProfile, ClientProfile
from .result import BrokerState, ScenarioResult
from .scenario import Scenario
from .scenario_file import load_scenario, parse_set
from .scenarios.pipeline import PipelineConfig, PipelineResult, pipeline_scenario, run_pipeline
from .sweep import SerialExecutor, sweep, sweep_configs
from .tcp import (
    ConnectionClosed,
    ConnectionFailed,
    TcpEndpoint,
    TcpState,
)
from .tcp_segment import Flag, Segment, TcpConfig
from .traffic import TRAFFIC_KINDS, Bursts, ByException, Periodic, Poisson, Process, Replay
from .world import World

__all__ = [
    "BROKER_PROFILES",
    "Bernoulli",
    "BrokerProfile",
    "BrokerState",
    "Bursts",
    "ByException",
    "CLIENT_PROFILES",
    "ClientProfile",
    "ConnectionClosed",
    "ConnectionFailed",
    "Flag",
    "GilbertElliott",
    "JITTER_MODELS",
    "LOSS_MODELS",
    "Link",
    "LinkRecord",
    "LinkSpec",
    "LinkStats",
    "LinkTotals",
    "LoopbackEnd",
    "LoopbackPath",
    "LossModel",
    "LossSpec",
    "MessageLog",
    "NoLoss",
    "Outage",
    "OutageSchedule",
    "PacketLog",
    "Path",
    "Periodic",
    "PipelineConfig",
    "PipelineResult",
    "Poisson",
    "Process",
    "RandomOutages",
    "Replay",
    "Scenario",
    "ScenarioResult",
    "Segment",
    "SerialExecutor",
    "SimBroker",
    "SimClient",
    "TRAFFIC_KINDS",
    "TcpConfig",
    "TcpEndpoint",
    "TcpListener",
    "TcpState",
    "World",
    "load_scenario",
    "parse_set",
    "pipeline_scenario",
    "run_pipeline",
    "summarize",
    "sweep",
    "sweep_configs",
]
