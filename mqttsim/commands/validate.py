"""``mqttsim validate``: the simulator against real stacks through the link emulator.

Examples::

    mqttsim validate --report docs/validation.md          # the whole grid (hours)
    mqttsim validate --grid ci                             # the CI subset (minutes)
    mqttsim validate --links clean,"loss 5 %" --qos 2 --seeds 10

Needs root (network namespaces and TUN devices) and says so in one line
otherwise. Everything here is also a Python call
(:func:`mqttsim.validate.run.validate`).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from ..protocol.errors import ConfigError
from .common import positive_int

__all__ = ["add_arguments", "run"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--grid", choices=("full", "ci"), default="full", help="default full")
    parser.add_argument(
        "--links", metavar="NAMES", help="comma-separated link variants (default: every one)"
    )
    parser.add_argument("--qos", metavar="LEVELS", help="comma-separated QoS levels, e.g. 1,2")
    parser.add_argument("--stacks", metavar="NAMES", help="mqttsim and/or paho+mosquitto")
    parser.add_argument("--layouts", metavar="NAMES", help="beside and/or remote")
    parser.add_argument(
        "--seeds", type=positive_int, default=1, help="real runs per case (seeds 1..N; default 1)"
    )
    parser.add_argument(
        "--sim-seeds", type=positive_int, help="simulated runs per case (default: as --seeds)"
    )
    parser.add_argument("--count", type=positive_int, default=60, help="messages per case")
    parser.add_argument("--every", type=float, default=1.0, help="seconds between messages")
    parser.add_argument(
        "--drain", type=float, default=30.0, help="seconds after the last message (default 30)"
    )
    parser.add_argument("--report", metavar="FILE.md", help="write the report there")
    parser.add_argument(
        "--deviations", metavar="FILE.md", help="the report's explanations, written by hand"
    )
    parser.add_argument("--csv", metavar="FILE.csv", help="write the cell table there")
    parser.add_argument(
        "--pcap", action="store_true", help="keep a capture per link of every real run"
    )
    parser.add_argument(
        "--workdir",
        metavar="DIR",
        help="keep the agents' logs there; a case already run there is read, not run again",
    )


def _pick(values: str | None, allowed: list[str], flag: str) -> set[str] | None:
    if values is None:
        return None
    chosen = {v.strip() for v in values.split(",") if v.strip()}
    unknown = sorted(chosen - set(allowed))
    if unknown:
        raise ConfigError(f"{flag}: unknown {', '.join(unknown)}; allowed: {', '.join(allowed)}")
    return chosen


def run(args: argparse.Namespace) -> int:
    from ..validate.cases import LINKS, STACKS, ci_subset, grid
    from ..validate.netns import EmulatorError
    from ..validate.run import validate

    for path, suffix in ((args.report, ".md"), (args.csv, ".csv")):
        if path is not None:
            target = Path(path)
            if target.suffix != suffix:
                raise ConfigError(f"{path}: the file name must end in {suffix}")
            if not target.parent.is_dir():
                raise ConfigError(f"{path}: no such directory {target.parent}")
    if not args.every > 0:
        raise ConfigError(f"--every must be > 0, got {args.every:g}")
    if not args.drain >= 0:
        raise ConfigError(f"--drain must be >= 0, got {args.drain:g}")
    deviations = ""
    if args.deviations is not None:
        try:
            deviations = Path(args.deviations).read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigError(f"--deviations {args.deviations}: {exc.strerror}") from None
    links = _pick(args.links, list(LINKS), "--links")
    levels = _pick(args.qos, ["0", "1", "2"], "--qos")
    stacks = _pick(args.stacks, list(STACKS), "--stacks")
    layouts = _pick(args.layouts, ["beside", "remote"], "--layouts")
    cases = (
        ci_subset()
        if args.grid == "ci"
        else grid(count=args.count, every_s=args.every, drain_s=args.drain)
    )
    cases = [
        c
        for c in cases
        if (links is None or c.link in links)
        and (levels is None or str(c.qos) in levels)
        and (stacks is None or c.stack in stacks)
        and (layouts is None or c.layout in layouts)
    ]
    if not cases:
        raise ConfigError("no case left after --links/--qos/--stacks/--layouts")
    workdir = Path(args.workdir) if args.workdir else Path(tempfile.mkdtemp(prefix="mqttsim-val-"))
    try:
        table = validate(
            cases,
            seeds=args.seeds,
            sim_seeds=args.sim_seeds,
            pcap=args.pcap,
            workdir=workdir,
            deviations=deviations,
            report=Path(args.report) if args.report else None,
            say=lambda line: print(line, file=sys.stderr),
        )
    except EmulatorError as exc:
        print(f"mqttsim: {exc}", file=sys.stderr)
        return 1
    if args.csv:
        table.to_csv(args.csv, index=False)
    within = table["within"].mean()
    print(f"{len(cases)} cases, {len(table)} cells, {within:.0%} within tolerance")
    return 0
