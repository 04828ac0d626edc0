"""``mqttsim validate``: run the grid in both worlds, compare, and write the report.

For each case of the grid (:mod:`.cases`), :func:`validate` runs the real
stack through the link emulator (:mod:`.real`) and the simulator, each with
the seeds 1..``seeds`` (the emulator draws a seed's losses and outages from
the very streams the simulator does), compares the means of their figures
(:mod:`.figures`), shows the simulator's spread over more seeds
(``sim_seeds``) beside them and, when asked,
writes ``docs/validation.md`` (:mod:`.report`) with the emulator's own
timing accuracy measured in the same run. Stacks this machine cannot run
(mosquitto or paho-mqtt missing) are left out, each with one line.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING

from .cases import Case
from .figures import Figures, compare, from_result, mean
from .real import available_stacks, run_real

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd  # type: ignore[import-untyped,unused-ignore]

__all__ = ["emulate_each", "simulate_each", "validate"]


def simulate_each(case: Case, *, seeds: int) -> list[Figures]:
    """The simulator's figures for ``case``, one per seed 1..``seeds``."""
    scenario = case.scenario()
    return [from_result(scenario.run(seed=seed)) for seed in range(1, seeds + 1)]


def emulate_each(case: Case, *, seeds: int, workdir: Path, pcap: bool = False) -> list[Figures]:
    """The real stack's figures for ``case``, one per seed: 1..``seeds``, then
    every further seed already kept in ``workdir`` (2, 3 ... as long as they go).

    Each run's figures are kept in ``workdir`` (``<case>-<seed>/figures.json``)
    and read from there instead of running again: a long grid can be run in
    parts, in parallel processes sharing a workdir, and the simulated side
    recomputed alone. Delete a run's directory to run it again. With
    ``pcap`` each run also keeps a capture per link there.
    """
    slug = _slug(case.name)
    runs = [
        _emulate_once(case, seed, workdir / f"{slug}-{seed}", pcap) for seed in range(1, seeds + 1)
    ]
    seed = seeds + 1
    while (workdir / f"{slug}-{seed}" / "figures.json").exists():
        runs.append(_emulate_once(case, seed, workdir / f"{slug}-{seed}", pcap))
        seed += 1
    return runs


def _emulate_once(case: Case, seed: int, rundir: Path, pcap: bool) -> Figures:
    kept = rundir / "figures.json"
    if kept.exists():
        return Figures(**json.loads(kept.read_text(encoding="utf-8")))
    figures = run_real(case, seed=seed, workdir=rundir, pcap=pcap)
    kept.write_text(json.dumps(asdict(figures)), encoding="utf-8")
    return figures


def _machine() -> str:
    """One line on what ran the real side: CPUs, kernel, the stacks' versions."""
    import os
    import platform
    import shutil
    import subprocess

    parts = [f"Machine: {os.cpu_count()} CPUs, Linux {platform.release()}"]
    mosquitto = shutil.which("mosquitto")
    if mosquitto:
        out = subprocess.run([mosquitto, "-h"], capture_output=True, text=True, timeout=10)
        first = (out.stdout or out.stderr).splitlines()[:1]
        if first:
            parts.append(first[0].strip())
    from importlib.metadata import PackageNotFoundError, version

    try:
        parts.append(f"paho-mqtt {version('paho-mqtt')}")
    except PackageNotFoundError:
        pass  # the paho+mosquitto stack was skipped
    parts.append(f"Python {platform.python_version()}")
    return ", ".join(parts) + "."


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def validate(
    cases: Iterable[Case],
    *,
    seeds: int,
    workdir: Path,
    sim_seeds: int | None = None,
    pcap: bool = False,
    report: Path | None = None,
    deviations: str = "",
    say: Callable[[str], None] = print,
) -> pd.DataFrame:
    """Run every case in both worlds; the comparison table (and the report).

    The real stack runs seeds 1..``seeds`` and the simulator the same seeds,
    so that both draw the same losses (the compared figures); with
    ``sim_seeds`` > ``seeds`` the simulator also runs seeds up to
    ``sim_seeds``, and the table shows the mean, least and greatest of each
    figure over them. ``deviations`` is the report's hand-written
    explanation of what differs, in Markdown.

    Raises:
        EmulatorError: the machine cannot emulate (one line: not root...).
    """
    stacks = available_stacks()
    rows: list[tuple[str, int, Figures, Figures]] = []
    spread: dict[str, list[Figures]] = {}
    real_seeds: dict[str, int] = {}
    skipped: set[str] = set()
    for case in cases:
        if case.stack not in stacks:
            if case.stack not in skipped:
                say(f"skipping the {case.stack} stack: not installed on this machine")
                skipped.add(case.stack)
            continue
        real_runs = emulate_each(case, seeds=seeds, workdir=workdir, pcap=pcap)
        n = real_seeds[case.name] = len(real_runs)
        real = mean(real_runs)
        runs = simulate_each(case, seeds=max(n, sim_seeds or seeds))
        simulated = mean(runs[:n])
        rows.append((case.name, case.qos, real, simulated))
        if len(runs) > n:
            spread[case.name] = runs
        say(
            f"{case.name}: p50 real {real.latency_p50_s:.3f} s, sim {simulated.latency_p50_s:.3f} s"
        )
    table = compare(rows, spread, real_seeds)
    if report is not None:
        from .accuracy import measure_accuracy
        from .report import write_report

        accuracy = measure_accuracy(quick=True)
        top = write_report(
            report,
            table,
            accuracy=accuracy.table(),
            deviations=deviations,
            seeds=seeds,
            sim_seeds=sim_seeds or seeds,
            notes=_machine(),
        )
        say(
            f"{report}: {top['within']:.0%} of cells within tolerance;"
            f" QoS 2 latency cells {top['qos2_latency_within']:.0%} within 25 %"
        )
    return table
