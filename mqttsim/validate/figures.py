"""The figures compared between the real stack and the simulator, and their comparison.

For each case both worlds give the same :class:`Figures`: messages
delivered, duplicate deliveries, latency p50/p95/p99 (publisher's send to
subscriber's receipt), IP bytes on the links per delivered message, and TCP
segments retransmitted. The simulator's come from a
:class:`~mqttsim.sim.result.ScenarioResult` (averaged over seeds); the real
stack's from the agents' logs (:mod:`.agent`) and the emulator's counters.

:func:`compare` puts them side by side, cell by cell, with the ratio
simulated / real, and says whether each cell is within its tolerance: 10 %,
or 25 % for QoS 2 latency; small counts (a handful of retransmissions or
duplicates) are compared by difference, not ratio, since a ratio of 1 to 2
says little.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd  # type: ignore[import-untyped,unused-ignore]

    from mqttsim.sim.result import ScenarioResult

__all__ = ["FIGURES", "Figures", "compare", "from_agent_logs", "from_result", "mean"]

#: The compared figures, with what a cell may differ by: (relative, absolute).
FIGURES: dict[str, tuple[float, float]] = {
    "delivered": (0.10, 1.0),
    "duplicates": (0.10, 2.0),
    "latency_p50_s": (0.10, 0.005),
    "latency_p95_s": (0.10, 0.005),
    "latency_p99_s": (0.10, 0.005),
    "ip_bytes_per_message": (0.10, 0.0),
    "retransmitted_segments": (0.10, 3.0),
}
_QOS2_LATENCY = 0.25  # a QoS 2 latency cell may differ by 25 %


@dataclass(frozen=True, slots=True)
class Figures:
    """What one run of a case gave (NaN where nothing was delivered)."""

    delivered: float
    duplicates: float
    latency_p50_s: float
    latency_p95_s: float
    latency_p99_s: float
    ip_bytes_per_message: float
    retransmitted_segments: float


def _percentiles(latencies: Sequence[float]) -> tuple[float, float, float]:
    if not latencies:
        return math.nan, math.nan, math.nan
    import numpy as np

    p = np.percentile(np.asarray(latencies, dtype=float), [50, 95, 99])
    return float(p[0]), float(p[1]), float(p[2])


def from_result(result: ScenarioResult, subscriber: str = "scada") -> Figures:
    """The simulator's figures for one run."""
    m = result.messages
    m = m[m["subscriber"] == subscriber]
    got = m[m["deliveries"] > 0]
    p50, p95, p99 = _percentiles(got["latency_s"].tolist())
    delivered = len(got)
    ip_bytes = float(result.links["bytes"].sum())
    c = result.connections
    return Figures(
        delivered=float(delivered),
        duplicates=float((m["deliveries"] - 1).clip(lower=0).sum()),
        latency_p50_s=p50,
        latency_p95_s=p95,
        latency_p99_s=p99,
        ip_bytes_per_message=ip_bytes / delivered if delivered else math.nan,
        retransmitted_segments=float(  # data segments, as the emulator counts them
            c["data_retransmissions_up"].sum() + c["data_retransmissions_down"].sum()
        ),
    )


def _events(path: Path) -> list[dict[str, Any]]:
    with path.open(encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def from_agent_logs(
    publisher: Path, subscriber: Path, *, ip_bytes: float, retransmitted_segments: float
) -> Figures:
    """The real stack's figures: latencies from the agents' logs (one clock),
    bytes and retransmissions from the emulator's counters."""
    sent = {e["id"]: e["t"] for e in _events(publisher) if e["event"] == "sent"}
    first: dict[int, float] = {}
    deliveries = 0
    for event in _events(subscriber):
        if event["event"] == "received" and event.get("id") in sent:
            deliveries += 1
            first.setdefault(event["id"], event["t"])
    latencies = [t - sent[k] for k, t in first.items()]
    p50, p95, p99 = _percentiles(latencies)
    delivered = len(first)
    return Figures(
        delivered=float(delivered),
        duplicates=float(deliveries - delivered),
        latency_p50_s=p50,
        latency_p95_s=p95,
        latency_p99_s=p99,
        ip_bytes_per_message=ip_bytes / delivered if delivered else math.nan,
        retransmitted_segments=float(retransmitted_segments),
    )


def mean(runs: Iterable[Figures]) -> Figures:
    """The mean of several seeded runs, figure by figure (NaNs left out)."""
    rows = [asdict(r) for r in runs]
    out = {}
    for f in fields(Figures):
        values = [row[f.name] for row in rows if not math.isnan(row[f.name])]
        out[f.name] = sum(values) / len(values) if values else math.nan
    return Figures(**out)


def within(figure: str, real: float, simulated: float, *, qos: int) -> bool:
    """Whether a simulated figure is close enough to the real one."""
    if math.isnan(real) and math.isnan(simulated):
        return True
    if math.isnan(real) or math.isnan(simulated):
        return False
    relative, absolute = FIGURES[figure]
    if qos == 2 and figure.startswith("latency"):
        relative = _QOS2_LATENCY
    return abs(simulated - real) <= max(relative * abs(real), absolute)


def compare(
    rows: Iterable[tuple[str, int, Figures, Figures]],
    spread: Mapping[str, Sequence[Figures]] | None = None,
    seeds: Mapping[str, int] | None = None,
) -> pd.DataFrame:
    """One row per case and figure: real, simulated, ratio, within tolerance.

    Args:
        rows: ``(case name, qos, real, simulated)``; ``simulated`` is the
            simulator run with the real run's seeds.
        spread: case name -> the simulator's runs over more seeds, for the
            columns ``sim_mean``, ``sim_low`` and ``sim_high`` (mean, least and
            greatest over them) and ``in_spread`` (the real figure within
            tolerance of one of them, or between the least and the greatest).
        seeds: case name -> how many seeds the real figures are the mean of
            (the ``seeds`` column; 1 where not given).
    """
    import pandas as pd

    out = []
    for case, qos, real, simulated in rows:
        runs = list((spread or {}).get(case, ()))
        for f in fields(Figures):
            r, s = getattr(real, f.name), getattr(simulated, f.name)
            row: dict[str, object] = {
                "case": case,
                "seeds": (seeds or {}).get(case, 1),
                "figure": f.name,
                "real": r,
                "simulated": s,
                "ratio": s / r if r and not math.isnan(r) else math.nan,
                "within": within(f.name, r, s, qos=qos),
            }
            if runs:
                values = [getattr(run, f.name) for run in runs]
                known = [v for v in values if not math.isnan(v)]
                low, high = (min(known), max(known)) if known else (math.nan, math.nan)
                row["sim_mean"] = sum(known) / len(known) if known else math.nan
                row["sim_low"], row["sim_high"] = low, high
                row["in_spread"] = (bool(known) and low <= r <= high) or any(
                    within(f.name, r, v, qos=qos) for v in values
                )
            out.append(row)
    return pd.DataFrame(out)
