"""The SimPy world: simulated links, a small TCP, and (later) nodes and scenarios.

Nothing here imports asyncio, :mod:`mqttsim.aio` or :mod:`mqttsim.widgets`.
"""

from __future__ import annotations

from .link import Link, LinkRecord, LinkStats, OutageSchedule, RandomOutages
from .loss import Bernoulli, GilbertElliott, LossModel, NoLoss
from .path import Path, TcpListener
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
    "LossModel",
    "NoLoss",
    "OutageSchedule",
    "Path",
    "RandomOutages",
    "Segment",
    "TcpConfig",
    "TcpEndpoint",
    "TcpListener",
    "TcpState",
]
