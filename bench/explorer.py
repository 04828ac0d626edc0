"""The QoS explorer's rerun time: what a learner waits for after pressing Run.

Run it with ``python -m bench.explorer`` (options: ``--stations``, ``--hours``,
``--outages``, ``--repeat``). It builds a :class:`mqttsim.widgets.QosExplorer`
on the default scenario (or the one given), then presses Run ``--repeat``
times and prints, for each rerun, the wall-clock time from the click to the
table and the chart being in place, and the part of it spent in the three
simulations. The issue asks for a rerun of the default scenario to show its
result within a second; this prints whether it does on this machine, it never
fails on a slow one.
"""

from __future__ import annotations

import argparse
import statistics
import time

import matplotlib

__all__ = ["main"]


def main(argv: list[str] | None = None) -> int:
    """Print the explorer's rerun time (click to results) and its simulation share."""
    parser = argparse.ArgumentParser(prog="python -m bench.explorer", description=__doc__)
    parser.add_argument("--stations", type=int, default=None, help="default: the explorer's")
    parser.add_argument("--hours", type=float, default=None, help="default: the explorer's")
    parser.add_argument("--outages", default="", help='e.g. "1800:900"')
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args(argv)
    matplotlib.use("Agg")  # no display; the PNG is still rendered, as in the widget

    from mqttsim.widgets import QosExplorer, explorer_config, parse_outages

    overrides = {"outages": parse_outages(args.outages)}
    if args.stations is not None:
        overrides["stations"] = args.stations
    if args.hours is not None:
        overrides["hours"] = args.hours
    config = explorer_config(**overrides)
    explorer = QosExplorer(config)  # the first run warms imports and the telemetry cache
    assert explorer.runs is not None
    messages = len(explorer.runs.result(0).messages)
    print(
        f"QoS explorer rerun: {config.link}, {config.stations} stations,"
        f" {config.hours:g} simulated hours, {messages:,} messages per QoS"
    )
    totals, sims = [], []
    for n in range(1, args.repeat + 1):
        started = time.perf_counter()
        explorer.run_button.click()
        totals.append(time.perf_counter() - started)
        sims.append(explorer.runs.wall_s)
        print(f"  rerun {n}: {totals[-1]:.2f} s (simulations {sims[-1]:.2f} s)")
    median = statistics.median(totals)
    verdict = "within" if median < 1.0 else "NOT within"
    print(
        f"  median {median:.2f} s (simulations {statistics.median(sims):.2f} s, table and"
        f" chart the rest): {verdict} a second"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
