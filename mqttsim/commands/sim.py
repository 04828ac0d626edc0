"""``mqttsim sim``: run scenarios from the command line.

Three subcommands::

    mqttsim sim run datasets/scenarios/geo-station.toml --qos 0,1,2 --seeds 1-10 \\
        --set link.loss=0.02 --out messages.parquet --json runs.json
    mqttsim sim presets --sources
    mqttsim sim pipeline --qos 0 --link vsat-1999 --loss 0.02 --outage 3600:900 \\
        --out messages.parquet --json summary.json --pcap traffic.pcap

``run`` reads a TOML scenario (:mod:`mqttsim.sim.scenario_file`,
``docs/scenarios.md``) and runs it once per QoS and seed, printing one table
with the runs side by side; ``presets`` lists the link presets and, with
``--sources``, where each figure comes from; ``pipeline`` is the shortcut for
``run datasets/scenarios/pipeline.toml`` with the pipeline's own flags.

Progress bars go to standard error, tables to standard output. Output files
are checked (their suffix, and a folder that exists and can be written)
before anything runs, so a typo costs no simulation. Everything here is
also a Python call (:func:`mqttsim.sim.scenario_file.load_scenario`,
:meth:`Scenario.run <mqttsim.sim.Scenario.run>`,
:func:`mqttsim.sim.run_pipeline`); this module only turns options into
those calls and files.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TextIO

from ..protocol.errors import ConfigError
from .common import positive_int

__all__ = [
    "add_arguments",
    "run",
    "config_from_args",
    "ProgressBar",
    "format_presets",
    "format_runs",
    "format_summary",
]

_MAX_RUNS = 10_000  # --qos x --seeds: a typo such as 1-1000000 is refused, not started


def _number(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"{text!r} is not a finite number")
    return value


def _outage(text: str) -> tuple[float, float]:
    """``START_S:DURATION_S`` -> (start, duration); start >= 0, duration > 0."""
    start, colon, duration = text.partition(":")
    if not colon:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not START_S:DURATION_S (e.g. 3600:600 for ten minutes from 1 h)"
        )
    begin, length = _number(start), _number(duration)
    if begin < 0 or length <= 0:
        raise argparse.ArgumentTypeError(f"{text!r}: START_S must be >= 0 and DURATION_S > 0")
    return begin, length


def _qos_levels(text: str) -> list[int]:
    """``0,1,2`` -> [0, 1, 2]: QoS levels, comma-separated, each once."""
    levels: list[int] = []
    for item in text.split(","):
        if item.strip() not in ("0", "1", "2"):
            raise argparse.ArgumentTypeError(
                f"{text!r}: expected QoS levels 0, 1 or 2, comma-separated (e.g. 0,1,2)"
            )
        if int(item) not in levels:
            levels.append(int(item))
    return levels


def _seeds(text: str) -> list[int]:
    """``1-10`` or ``1,4,7`` (or both, ``1-3,9``) -> the seeds, each once, in order."""
    seeds: dict[int, None] = {}
    for item in text.split(","):
        first, dash, last = item.strip().partition("-")
        if not first.isdigit() or (dash and not last.isdigit()):
            raise argparse.ArgumentTypeError(
                f"{text!r}: expected seeds >= 0 as 1-10, 1,4,7 or both (1-3,9)"
            )
        low, high = int(first), int(last) if dash else int(first)
        if high < low:
            raise argparse.ArgumentTypeError(f"{text!r}: a range goes up, A-B with A <= B")
        if high - low >= _MAX_RUNS or len(seeds) + high - low >= _MAX_RUNS:
            raise argparse.ArgumentTypeError(f"{text!r}: at most {_MAX_RUNS} seeds")
        seeds.update(dict.fromkeys(range(low, high + 1)))
    return list(seeds)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    commands = parser.add_subparsers(dest="scenario", metavar="COMMAND", required=True)
    _add_run(commands)
    presets = commands.add_parser(
        "presets",
        help="the link presets and their figures",
        description="List every link preset (datasets/links.json) with its figures.",
    )
    presets.add_argument("--sources", action="store_true", help="also the source of every figure")
    pipe = commands.add_parser(
        "pipeline",
        help="the 1999 pipeline: sim run datasets/scenarios/pipeline.toml, with its own flags",
        description="Simulate the 1999 pipeline scenario (see datasets/README.md): the"
        " shortcut for 'mqttsim sim run datasets/scenarios/pipeline.toml' with the"
        " pipeline's own flags (--hours 1 --loss 0.02 here is --set"
        " scenario.duration_s=3600 --set link.loss=0.02 there).",
    )
    run_opts = pipe.add_argument_group("scenario")
    run_opts.add_argument("--qos", type=int, choices=(0, 1, 2), default=1, help="default 1")
    run_opts.add_argument("--stations", type=positive_int, default=22, help="default 22")
    run_opts.add_argument("--hours", type=_number, default=24.0, help="default 24")
    run_opts.add_argument("--seed", type=int, default=1999, help="default 1999")
    run_opts.add_argument(
        "--start-s", type=_number, default=0.0, help="start this far into the day's trace"
    )
    run_opts.add_argument("--mqtt-version", choices=("3.1.1", "5"), default="3.1.1")
    run_opts.add_argument(
        "--keep-alive", type=int, default=120, metavar="SECONDS", help="default 120"
    )
    link = pipe.add_argument_group("link")
    link.add_argument("--link", default="vsat-1999", metavar="PRESET", help="default vsat-1999")
    link.add_argument("--loss", type=_number, help="packet loss rate per direction, 0..1")
    link.add_argument("--burst", type=_number, metavar="PACKETS", help="mean loss burst (1 = iid)")
    link.add_argument("--delay-ms", type=_number, help="one-way delay")
    link.add_argument("--jitter-ms", type=_number, help="one-way jitter")
    link.add_argument("--bandwidth-kbps", type=_number, help="both directions")
    link.add_argument(
        "--outage",
        type=_outage,
        action="append",
        default=[],
        metavar="START_S:DURATION_S",
        help="every station's link is down then (repeatable)",
    )
    link.add_argument(
        "--no-random-outages", action="store_true", help="ignore the preset's random outages"
    )
    out = pipe.add_argument_group("output")
    out.add_argument("--out", metavar="FILE", help="one row per message: .csv or .parquet")
    out.add_argument("--json", metavar="FILE", help="the configuration and summary as JSON")
    out.add_argument("--pcap", metavar="FILE", help="every segment on the station links")
    out.add_argument("--quiet", action="store_true", help="no progress bar")


def _add_run(commands: Any) -> None:
    sim_run = commands.add_parser(
        "run",
        help="run a scenario file (TOML) for one or more QoS levels and seeds",
        description="Run a TOML scenario (docs/scenarios.md; examples in"
        " datasets/scenarios/) once per QoS level and seed, and print the runs side by side.",
    )
    sim_run.add_argument("file", metavar="FILE.toml", help="the scenario")
    runs = sim_run.add_argument_group("runs")
    runs.add_argument(
        "--qos",
        type=_qos_levels,
        metavar="LEVELS",
        help="QoS levels, e.g. 0,1,2 (default: the file's qos)",
    )
    runs.add_argument(
        "--seeds",
        type=_seeds,
        metavar="SEEDS",
        help="seeds, e.g. 1-10 or 1,4,7 (default: the file's seed)",
    )
    runs.add_argument(
        "--set",
        dest="values",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="change the file before it is read, in its own units: scenario.duration_s=600,"
        " link.loss=0.05, link.NAME.delay_ms=300, client.profile=paho-2 (repeatable)",
    )
    out = sim_run.add_argument_group("output")
    out.add_argument(
        "--out",
        metavar="FILE",
        help="every run's messages, with seed and run_qos: .csv or .parquet",
    )
    out.add_argument(
        "--json", metavar="FILE", help="each run's summary, links, connections and broker drops"
    )
    out.add_argument("--pcap", metavar="FILE", help="every segment on the links (one run only)")
    out.add_argument(
        "--packets",
        action="store_true",
        help="also every packet of every run, in --out's folder as NAME-packets.csv|.parquet",
    )
    out.add_argument("--quiet", action="store_true", help="no progress bars")


def _check_link_flags(args: argparse.Namespace) -> None:
    """Each link flag in the range of its figure (:func:`check_link_figure`), named as typed."""
    from ..sim.linkspec import LINK_FIGURES, check_link_figure

    for flag, figure, value, factor in (
        ("--loss", "loss_rate", args.loss, 1.0),
        ("--burst", "mean_burst_len", args.burst, 1.0),
        ("--delay-ms", "delay_s", args.delay_ms, 1e-3),
        ("--jitter-ms", "jitter_s", args.jitter_ms, 1e-3),
        ("--bandwidth-kbps", "bandwidth_bps", args.bandwidth_kbps, 1e3),
    ):
        if value is None:
            continue
        try:
            check_link_figure(figure, value * factor)
        except ConfigError:
            # argparse's type has made it a finite number: the message gives the range only.
            allowed = LINK_FIGURES[figure].text.removeprefix("a finite number ")
            raise ConfigError(f"{flag} must be {allowed}, got {value:g}") from None


def config_from_args(args: argparse.Namespace) -> Any:
    """The :class:`PipelineConfig` the options describe.

    Raises:
        ConfigError: a value out of range (one line naming the option).
    """
    from ..sim.scenarios.pipeline import PipelineConfig

    _check_link_flags(args)

    def scaled(value: float | None, factor: float) -> float | None:
        return None if value is None else value * factor

    return PipelineConfig(
        stations=args.stations,
        hours=args.hours,
        start_s=args.start_s,
        qos=args.qos,
        seed=args.seed,
        mqtt_version=args.mqtt_version,
        keep_alive_s=args.keep_alive,
        link=args.link,
        loss_rate=args.loss,
        mean_burst_len=args.burst,
        delay_s=scaled(args.delay_ms, 1e-3),
        jitter_s=scaled(args.jitter_ms, 1e-3),
        bandwidth_bps=scaled(args.bandwidth_kbps, 1e3),
        outages=tuple(args.outage),
        random_outages=not args.no_random_outages,
        record_packets=False,  # the summary and --out need no packet log; --pcap observes
    )


class ProgressBar:
    """A one-line progress bar: redrawn with ``\\r`` on a terminal, every 10 % otherwise.

    Args:
        stream: where it is drawn (standard error).
        width: characters in the bar.
    """

    def __init__(self, stream: TextIO, *, width: int = 30) -> None:
        self.stream = stream
        self.width = width
        self.tty = stream.isatty()
        self._shown = -1
        self._started = time.perf_counter()

    def __call__(self, done_s: float, total_s: float) -> None:
        fraction = min(done_s / total_s, 1.0) if total_s > 0 else 1.0
        percent = int(fraction * 100)
        step = 1 if self.tty else 10
        if percent // step == self._shown // step and percent < 100:
            return
        self._shown = percent
        filled = int(fraction * self.width)
        bar = "#" * filled + "-" * (self.width - filled)
        wall = time.perf_counter() - self._started
        text = (
            f"[{bar}] {percent:3d}%  {done_s / 3600:6.2f} of {total_s / 3600:.2f} h  {wall:5.1f} s"
        )
        if self.tty:
            self.stream.write("\r" + text + ("\n" if percent >= 100 else ""))
        else:
            self.stream.write(text + "\n")
        self.stream.flush()


_ROWS = (  # summary column, label, format
    ("messages", "messages published", "{:,.0f}"),
    ("delivered", "delivered", "{:,.0f}"),
    ("delivery_ratio", "delivery ratio", "{:.4f}"),
    ("duplicates", "duplicate deliveries", "{:,.0f}"),
    ("latency_p50_s", "latency p50 (s)", "{:.3f}"),
    ("latency_p95_s", "latency p95 (s)", "{:.3f}"),
    ("latency_p99_s", "latency p99 (s)", "{:.3f}"),
    ("latency_max_s", "latency max (s)", "{:.3f}"),
    ("link_bytes", "bytes on the link", "{:,.0f}"),
    ("link_bytes_per_payload_byte", "link bytes per payload byte", "{:.2f}"),
    ("cost_usd", "cost (USD)", "{:,.2f}"),
    ("cost_per_message_usd", "cost per message (USD)", "{:.5f}"),
    ("cost_per_message_billing_usd", "cost, billed per message (USD)", "{:,.2f}"),
    ("radio_on_s", "radio on, all stations (s)", "{:,.1f}"),
    ("radio_on_fraction", "radio on, share of time", "{:.4f}"),
)


def _cell(value: Any, fmt: str) -> str:
    return "-" if isinstance(value, float) and math.isnan(value) else fmt.format(value)


def _value_rows(records: Sequence[Mapping[str, Any]]) -> list[str]:
    """The table's rows, one value column per record; a row NaN everywhere is left out."""
    lines = []
    for column, label, fmt in _ROWS:
        values = [record.get(column, math.nan) for record in records]
        if all(isinstance(v, float) and math.isnan(v) for v in values):
            continue
        lines.append(f"{label:32}" + "".join(f"{_cell(v, fmt):>16}" for v in values))
    return lines


def format_summary(summary: Any, title: str) -> str:
    """The summary frame as a two-column table (one value column per QoS)."""
    header = "".join(f"{'QoS ' + str(q):>16}" for q in summary["qos"])
    records = summary.to_dict(orient="records")
    return "\n".join([title, f"{'':32}{header}", *_value_rows(records)])


@dataclass(frozen=True, slots=True)
class RunColumn:
    """One value column of :func:`format_runs`.

    Attributes:
        top, bottom: its two header lines, e.g. ``"seed 3"`` and ``"QoS 1"``.
        values: summary column -> value (a row of :func:`mqttsim.sim.metrics.summarize`).
    """

    top: str
    bottom: str
    values: Mapping[str, Any]


def format_runs(columns: Sequence[RunColumn], title: str) -> str:
    """Runs side by side: the rows of :func:`format_summary`, one column per run."""
    if not columns:
        return f"{title}\n(no message had a subscriber: nothing to summarise)"
    tops = "".join(f"{c.top:>16}" for c in columns)
    bottoms = "".join(f"{c.bottom:>16}" for c in columns)
    rows = _value_rows([c.values for c in columns])
    return "\n".join([title, f"{'':32}{tops}", f"{'':32}{bottoms}", *rows])


def _mean(records: Sequence[Mapping[str, Any]]) -> dict[str, float]:
    """Each summary column's mean over the records, NaN left out (NaN if all are)."""
    means: dict[str, float] = {}
    for column, _, _ in _ROWS:
        values = [float(r[column]) for r in records if column in r]
        finite = [v for v in values if not math.isnan(v)]
        means[column] = sum(finite) / len(finite) if finite else math.nan
    return means


# --- mqttsim sim presets ------------------------------------------------------------------------


def _figure(value: Any, suffix: str = "") -> str:
    return "-" if value is None else f"{value:g}{suffix}"


def format_presets(rows: Sequence[Mapping[str, Any]], *, sources: bool = False) -> str:
    """The rows of :func:`mqttsim.sim.presets.preset_table` as a table; with
    ``sources``, then each preset's description and the source of every figure."""
    header = (
        "preset",
        "delay ms",
        "jitter ms",
        "up kbit/s",
        "down kbit/s",
        "loss model",
        "loss",
        "burst",
        "outage up/down s",
        "US$/MB",
        "US$/msg",
        "year",
    )
    table = [header]
    for row in rows:
        outage = (
            "-"
            if row["outage_mean_up_s"] is None
            else f"{row['outage_mean_up_s']:g} / {row['outage_mean_down_s']:g}"
        )
        table.append(
            (
                row["name"],
                _figure(row["delay_ms"]),
                _figure(row["jitter_ms"]),
                _figure(row["uplink_kbps"]),
                _figure(row["downlink_kbps"]),
                row["loss_model"],
                f"{row['mean_loss_rate']:.2%}",
                _figure(row["mean_burst_len"]),
                outage,
                _figure(row["price_per_mb_usd"]),
                _figure(row["price_per_message_usd"]),
                _figure(row["price_year"]),
            )
        )
    widths = [max(len(line[k]) for line in table) for k in range(len(header))]
    lines = [
        "  ".join(
            cell.ljust(width) if k in (0, 5) else cell.rjust(width)
            for k, (cell, width) in enumerate(zip(line, widths, strict=True))
        ).rstrip()
        for line in table
    ]
    if sources:
        for row in rows:
            lines += ["", f"{row['name']}: {row['description']}"]
            lines.append(f"  jitter model: {row['jitter_model']}; loss: {row['loss']}")
            named = row["sources"]
            width = max(len(key) for key in named)
            lines += [f"  {key:{width}}  {text}" for key, text in named.items()]
    return "\n".join(lines)


# --- mqttsim sim run ----------------------------------------------------------------------------


def _check_output(flag: str, path: str | None, allowed: tuple[str, ...]) -> None:
    """Refuse an output file that could not be written, before any run: one line."""
    if path is None:
        return
    if not path.lower().endswith(allowed):
        raise ConfigError(f"{flag} {path}: the file name must end in {' or '.join(allowed)}")
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise ConfigError(f"{flag} {path}: folder {folder} does not exist")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise ConfigError(f"{flag} {path}: folder {folder} is not writable")
    if os.path.isdir(path):
        raise ConfigError(f"{flag} {path}: is a folder")


def _packets_path(out: str) -> str:
    stem, suffix = os.path.splitext(out)
    return f"{stem}-packets{suffix}"


@dataclass(slots=True)
class _Run:
    """What one (QoS, seed) run left for the table and the files."""

    qos: int
    seed: int
    wall_s: float
    summary: list[dict[str, Any]]
    document: dict[str, Any]


def _run_file(args: argparse.Namespace) -> int:
    from ..sim.scenario_file import load_scenario

    _check_output("--out", args.out, (".csv", ".parquet"))
    _check_output("--json", args.json, (".json",))
    _check_output("--pcap", args.pcap, (".pcap",))
    if args.packets:
        if args.out is None:
            raise ConfigError("--packets writes beside --out's file: give --out too")
        _check_output("--packets", _packets_path(args.out), (".csv", ".parquet"))
    scenario = load_scenario(args.file, values=args.values)
    levels: list[int] = args.qos or [scenario.qos]
    seeds: list[int] = args.seeds or [scenario.seed]
    count = len(levels) * len(seeds)
    if count > _MAX_RUNS:
        raise ConfigError(f"--qos and --seeds make {count} runs; at most {_MAX_RUNS}")
    if args.pcap:
        _check_pcap(scenario, count)
    records: list[Any] = []
    observer: Callable[[Any], None] | None = records.append if args.pcap else None
    runs: list[_Run] = []
    messages: list[Any] = []
    packets: list[Any] = []
    started = time.perf_counter()
    for qos in levels:
        # The file read again at each QoS, so that what defaults to the
        # scenario's QoS (a will's) follows it, as in the file.
        at_qos = (
            scenario
            if qos == scenario.qos
            else load_scenario(args.file, values=[*args.values, f"scenario.qos={qos}"])
        )
        for seed in seeds:
            progress = None
            if not args.quiet:
                if count > 1:
                    print(
                        f"run {len(runs) + 1} of {count}: QoS {qos}, seed {seed}", file=sys.stderr
                    )
                progress = ProgressBar(sys.stderr)
            result = at_qos.run(
                seed=seed,
                qos=qos,
                record_packets=args.packets,
                observer=observer,
                progress=progress,
            )
            runs.append(_collect(result, messages if args.out else None, packets))
    wall = time.perf_counter() - started
    if args.out:
        _save_rows(args.out, messages)
    if args.packets:
        _save_rows(_packets_path(args.out), packets)
    if args.json:
        _save_runs(args.json, args.file, args.values, runs)
    if args.pcap:
        from ..sim.pcap import write_pcap

        try:
            write_pcap(args.pcap, records, broker_port=scenario.brokers[0].port)
        except ValueError as exc:
            raise ConfigError(f"--pcap {args.pcap}: {exc}") from None
    links, clients = len(scenario.links), len(scenario.clients)
    title = (
        f"{scenario.name}: {_many(links, 'link')}, {_many(clients, 'client')},"
        f" {_duration(scenario.duration_s)}, {_many(count, 'run')} ({wall:.1f} s)"
    )
    print(format_runs(_columns(runs, several_seeds=len(seeds) > 1), title))
    return 0


def _many(count: int, word: str) -> str:
    return f"{count} {word}{'s' * (count != 1)}"


def _duration(seconds: float) -> str:
    """``86400`` -> ``"24 h"``, ``600`` -> ``"600 s"``."""
    if seconds < 3600:
        return f"{seconds:g} s"
    hours = seconds / 3600
    return f"{hours:g} h" if hours.is_integer() else f"{hours:.2f} h"


def _check_pcap(scenario: Any, count: int) -> None:
    if count > 1:
        raise ConfigError("--pcap writes one run: give one --qos level and one --seeds seed")
    if len(scenario.links) > 254:
        raise ConfigError("--pcap numbers the links' far ends in one /24 network: at most 254")
    ports = sorted({b.port for b in scenario.brokers})
    if len(ports) > 1:
        raise ConfigError(
            f"--pcap tells a segment's direction by the broker's port; the brokers listen"
            f" on {', '.join(map(str, ports))}"
        )


def _collect(result: Any, messages: list[Any] | None, packets: list[Any]) -> _Run:
    import json

    def records(frame: Any) -> Any:
        return json.loads(frame.to_json(orient="records"))  # NaN as null

    summary = result.summary()
    if messages is not None:
        messages.append(_labelled(result.messages, result))
    if result.packets is not None:
        packets.append(_labelled(result.packets, result))
    document = {
        "seed": result.seed,
        "qos": result.qos,
        "wall_s": result.wall_s,
        "summary": records(summary),
        "links": records(result.links),
        "connections": records(result.connections),
        "broker_drops": {name: dict(state.dropped) for name, state in result.brokers.items()},
    }
    return _Run(
        qos=result.qos,
        seed=result.seed,
        wall_s=result.wall_s,
        summary=summary.to_dict(orient="records"),
        document=document,
    )


def _labelled(frame: Any, result: Any) -> Any:
    """``frame`` with the run's ``seed`` and ``run_qos`` in front (a message's own
    ``qos`` is the run's unless its traffic names one)."""
    frame = frame.copy()
    frame.insert(0, "run_qos", result.qos)
    frame.insert(0, "seed", result.seed)
    return frame


def _save_rows(path: str, frames: list[Any]) -> None:
    import pandas as pd  # type: ignore[import-untyped,unused-ignore]

    frame = pd.concat(frames, ignore_index=True)
    if path.lower().endswith(".csv"):
        frame.to_csv(path, index=False, na_rep="")
        return
    # Nullable floats: a message never delivered is null in Parquet, not NaN.
    floats = [c for c in ("delivered_s", "latency_s", "arrival_s") if c in frame.columns]
    frame.astype(dict.fromkeys(floats, "Float64")).to_parquet(path, index=False)


def _save_runs(path: str, file: str, values: list[str], runs: list[_Run]) -> None:
    import json

    document = {"file": file, "set": values, "runs": [r.document for r in runs]}
    with open(path, "w", encoding="utf-8") as handle:
        json.dump(document, handle, indent=2)
        handle.write("\n")


def _columns(runs: list[_Run], *, several_seeds: bool) -> list[RunColumn]:
    """A column per run and summary row; with several seeds, a mean per QoS after its runs."""
    columns: list[RunColumn] = []
    for qos in dict.fromkeys(r.qos for r in runs):
        mine = [r for r in runs if r.qos == qos]
        for one in mine:
            columns += [
                RunColumn(f"seed {one.seed}", f"QoS {row['qos']}", row) for row in one.summary
            ]
        if several_seeds:
            for level in dict.fromkeys(row["qos"] for one in mine for row in one.summary):
                rows = [row for one in mine for row in one.summary if row["qos"] == level]
                columns.append(RunColumn(f"mean of {len(rows)}", f"QoS {level}", _mean(rows)))
    return columns


# --- mqttsim sim pipeline -----------------------------------------------------------------------


def run(args: argparse.Namespace) -> int:
    if args.scenario == "run":
        return _run_file(args)
    if args.scenario == "presets":
        from ..sim.presets import preset_table

        print(format_presets(preset_table(), sources=args.sources))
        return 0
    return _run_pipeline(args)


def _run_pipeline(args: argparse.Namespace) -> int:
    from ..sim.scenarios.pipeline import run_pipeline

    config = config_from_args(args)
    _check_output("--out", args.out, (".csv", ".parquet"))
    _check_output("--json", args.json, (".json",))
    _check_output("--pcap", args.pcap, (".pcap",))
    if args.pcap and config.stations > 254:
        raise ConfigError("--pcap numbers stations in one /24 network: at most 254 stations")
    records: list[Any] = []
    observer: Callable[[Any], None] | None = records.append if args.pcap else None
    progress = None if args.quiet else ProgressBar(sys.stderr)
    result = run_pipeline(config, progress=progress, observer=observer)
    if args.out:
        result.save_messages(args.out)
    if args.json:
        result.save_summary(args.json)
    if args.pcap:
        from ..sim.pcap import write_pcap

        try:
            write_pcap(args.pcap, records)
        except ValueError as exc:
            raise ConfigError(f"--pcap {args.pcap}: {exc}") from None
    title = (
        f"pipeline: {config.stations} stations, {config.hours:g} h, link {config.link},"
        f" seed {config.seed} ({result.wall_s:.1f} s)"
    )
    print(format_summary(result.summary(), title))
    return 0
