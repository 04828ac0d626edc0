"""The SimPy world: simulated links, a small TCP, MQTT nodes, scenarios and metrics.

Nothing here imports asyncio, :mod:`mqttsim.aio` or :mod:`mqttsim.widgets`, and
importing it loads no pandas: the DataFrames are made when a run asks for them.

For notebooks::

    from mqttsim.sim import PipelineConfig, run_pipeline, sweep

    result = run_pipeline(PipelineConfig(qos=1, hours=6, loss_rate=0.02))
    result.summary()            # delivery, duplicates, latency, bytes, cost, radio time
    result.messages             # one row per message a station published
"""

from __future__ import annotations

from .link import Link, LinkRecord, LinkStats, OutageSchedule, RandomOutages
from .loopback import LoopbackEnd, LoopbackPath
from .loss import Bernoulli, GilbertElliott, LossModel, NoLoss
from .metrics import LinkTotals, MessageLog, PacketLog, summarize
from .node import SimBroker, SimClient
from .path import Path, TcpListener
from .scenarios.pipeline import PipelineConfig, PipelineResult, run_pipeline
from .sweep import sweep, sweep_configs
from .tcp import (
    ConnectionClosed,
    ConnectionFailed,
    TcpEndpoint,
    TcpState,
)
from .tcp_segment import Flag, Segment, TcpConfig

__all__ = [
    "Bernoulli",
    "ConnectionClosed",
    "ConnectionFailed",
    "Flag",
    "GilbertElliott",
    "Link",
    "LinkRecord",
    "LinkStats",
    "LinkTotals",
    "LoopbackEnd",
    "LoopbackPath",
    "LossModel",
    "MessageLog",
    "NoLoss",
    "OutageSchedule",
    "PacketLog",
    "Path",
    "PipelineConfig",
    "PipelineResult",
    "RandomOutages",
    "Segment",
    "SimBroker",
    "SimClient",
    "TcpConfig",
    "TcpEndpoint",
    "TcpListener",
    "TcpState",
    "run_pipeline",
    "summarize",
    "sweep",
    "sweep_configs",
]
