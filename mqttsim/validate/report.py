"""``docs/validation.md``: the comparison table, the method and the deviations, as Markdown.

:func:`write_report` takes the table :func:`~.figures.compare` made (one row
per case and figure), the emulator's measured timing accuracy, and the
explanations of the deviations (one paragraph per case or mechanism), and
writes the report with its headline: the share of cells within tolerance and
of QoS 2 latency cells within 25 %, over the rows without an outage.
"""

from __future__ import annotations

import math
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd  # type: ignore[import-untyped,unused-ignore]

__all__ = ["headline", "write_report"]

_METHOD = """\
Each case runs twice. **Real**: mqttsim's asyncio broker and client, or
Debian's mosquitto 2 and paho-mqtt 2, in Linux network namespaces joined by
the project's link emulator (`mqttsim/validate/emulator.py`: a user-space
forwarder on TUN devices with a FIFO queue per direction, serialisation at
the link's rate, loss decided at transmission start, propagation delay and
outages), on this machine's Linux TCP. **Simulated**: the same scenario
(`mqttsim/validate/cases.py`) in the simulator, with the matching endpoint
profiles (`mqttsim/sim/profiles.py`) and its `linux` TCP, the default.

Both worlds share one clock: time 0 is when the emulator starts forwarding,
the subscriber starts connecting at 3 s and the publisher at 6 s, in both
(an agent that starts late fails the run), and outages fall at the same
second. Both run the same seeds, and the emulator draws each link's losses
from the very random streams the simulator does: while the two stacks offer
the same packets, the same packets are lost. A publisher sends one message a
second to a broker across the link; the subscriber sits beside the broker or
behind a link of its own.

A cell is within tolerance when the simulated figure is within 10 % of the
real one (25 % for QoS 2 latencies), or within a small absolute difference
for counts that are small by nature (a few retransmissions, duplicates or
deliveries). Latency is measured from the publisher's send to the
subscriber's receipt on one clock (`CLOCK_MONOTONIC`, shared by every
namespace); bytes are IP bytes on the links per delivered message;
retransmitted segments are data segments sent again, counted by the
emulator (a segment starting below the highest byte already sent) and by
the model alike.

A real case takes its length in wall-clock time (about 100 s; 280 s with
the outage), so the grid takes about three hours on one emulator. It can
run in parts: several `mqttsim validate --links ... --workdir DIR` at once,
each with its own namespaces, sharing DIR; a run kept there is read, not
run again, and a last `mqttsim validate --workdir DIR --report ...` over
the whole grid writes this report (`--pcap` keeps a capture per link).
"""


def headline(table: pd.DataFrame) -> dict[str, float]:
    """The share of cells within tolerance, without the outage rows, and of
    the QoS 2 latency cells among them (and, where the table has the
    simulator's spread over seeds, the share of cells within it)."""
    rows = table[~table["case"].str.contains("outage")]
    qos2 = rows[rows["case"].str.contains("QoS 2") & rows["figure"].str.startswith("latency")]
    top = {
        "cells": float(len(rows)),
        "within": float(rows["within"].mean()) if len(rows) else math.nan,
        "qos2_latency_cells": float(len(qos2)),
        "qos2_latency_within": float(qos2["within"].mean()) if len(qos2) else math.nan,
    }
    if "in_spread" in rows and len(rows):
        top["in_spread"] = float(rows["in_spread"].fillna(False).astype(bool).mean())
    return top


def _seeds_line(table: pd.DataFrame, seeds: int) -> str:
    counts = sorted({int(n) for n in table["seeds"]}) if "seeds" in table else [seeds]
    if len(counts) == 1:
        return f"real and simulated figures {_runs(counts[0])} (the same draws)"
    most = counts[-1]
    return (
        f"real and simulated figures {_runs(most)} (the same draws) where the seeds column"
        f" says {most}, {_runs(counts[0])} elsewhere"
    )


def _runs(seeds: int) -> str:
    return f"the mean over seeds 1 to {seeds}" if seeds > 1 else "from seed 1"


def _cell(value: float) -> str:
    if isinstance(value, float) and math.isnan(value):
        return "–"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    return f"{value:.3g}"


def _table(table: pd.DataFrame) -> list[str]:
    spread = "sim_mean" in table
    head = "| case | seeds | figure | real | simulated | ratio | within |"
    rule = "|---|---:|---|---:|---:|---:|:---:|"
    if spread:
        head += " more seeds: mean [least, greatest] |"
        rule += "---:|"
    lines = [head, rule]
    for row in table.itertuples(index=False):
        mark = "yes" if row.within else "**no**"
        line = (
            f"| {row.case} | {getattr(row, 'seeds', 1)} | {row.figure} | {_cell(row.real)}"
            f" | {_cell(row.simulated)}"
            f" | {_cell(row.ratio)} | {mark} |"
        )
        if spread:
            line += f" {_cell(row.sim_mean)} [{_cell(row.sim_low)}, {_cell(row.sim_high)}] |"
        lines.append(line)
    return lines


def write_report(
    path: str | Path,
    table: pd.DataFrame,
    *,
    accuracy: str,
    deviations: str,
    seeds: int,
    sim_seeds: int | None = None,
    notes: str = "",
) -> dict[str, float]:
    """Write the report; return its headline figures.

    Args:
        path: where (``docs/validation.md``).
        table: :func:`~.figures.compare`'s rows.
        accuracy: the emulator's measured timing accuracy, as its table
            (:meth:`~.accuracy.AccuracyReport.table`).
        deviations: the explanation of what differs, in Markdown (written by
            hand after reading the table: a case or a mechanism per paragraph).
        seeds: the real stack's runs per case (seeds 1..N).
        sim_seeds: the simulator's (default: as many).
        notes: anything else the run wants said (machine, versions).
    """
    top = headline(table)
    sim_seeds = sim_seeds or seeds
    lines = [
        "# Validation: the simulator against real stacks",
        "",
        f"Made by `mqttsim validate` on {date.today().isoformat()}. {notes}".rstrip(),
        "",
        "## Headline",
        "",
        f"- Without the outage rows: {top['within']:.0%} of {int(top['cells'])} cells within"
        " tolerance.",
        f"- QoS 2 latency cells: {top['qos2_latency_within']:.0%} of"
        f" {int(top['qos2_latency_cells'])} within 25 %.",
        *(
            [
                f"- Real figures within the simulator's spread over seeds 1 to {sim_seeds}"
                f" (or within tolerance of one of its runs): {top['in_spread']:.0%}."
            ]
            if "in_spread" in top
            else []
        ),
        f"- {len(set(table['case']))} cases; {_seeds_line(table, seeds)}"
        + (f", and seeds 1 to {sim_seeds} for the spread." if sim_seeds > seeds else "."),
        "",
        "## Method",
        "",
        _METHOD,
        "## The emulator's own accuracy",
        "",
        "```text",
        accuracy,
        "```",
        "",
        "## Deviations, explained",
        "",
    ]
    lines += [deviations.strip() or "None written.", ""]
    lines += ["## Every cell", "", *_table(table), ""]
    Path(path).write_text("\n".join(lines), encoding="utf-8")
    return top
