"""``mqttsim sim pipeline``: run the 1999 pipeline scenario from the command line.

Examples::

    mqttsim sim pipeline --qos 1 --hours 24
    mqttsim sim pipeline --qos 0 --link vsat-1999 --loss 0.02 --outage 3600:900 \\
        --out messages.parquet --json summary.json --pcap traffic.pcap

A progress bar goes to standard error, the summary table to standard output.
Everything here is also a Python call (:func:`mqttsim.sim.run_pipeline`);
this module only turns options into a :class:`PipelineConfig` and files.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from collections.abc import Callable
from typing import Any, TextIO

from ..protocol.errors import ConfigError
from .common import positive_int

__all__ = ["add_arguments", "run", "config_from_args", "ProgressBar"]


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


def add_arguments(parser: argparse.ArgumentParser) -> None:
    scenarios = parser.add_subparsers(dest="scenario", metavar="SCENARIO", required=True)
    pipe = scenarios.add_parser(
        "pipeline",
        help="the 1999 pipeline: stations report over a satellite link to a SCADA host",
        description="Simulate the 1999 pipeline scenario (see datasets/README.md).",
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


def config_from_args(args: argparse.Namespace) -> Any:
    """The :class:`PipelineConfig` the options describe.

    Raises:
        ConfigError: a value out of range (one line naming the option).
    """
    from ..sim.scenarios.pipeline import PipelineConfig

    if args.loss is not None and not 0.0 <= args.loss <= 1.0:
        raise ConfigError(f"--loss must be in [0, 1], got {args.loss:g}")
    for name in ("delay_ms", "jitter_ms"):
        value = getattr(args, name)
        if value is not None and value < 0:
            raise ConfigError(f"--{name.replace('_', '-')} must be >= 0, got {value:g}")
    if args.bandwidth_kbps is not None and args.bandwidth_kbps <= 0:
        raise ConfigError(f"--bandwidth-kbps must be > 0, got {args.bandwidth_kbps:g}")
    if args.burst is not None and args.burst < 1:
        raise ConfigError(f"--burst must be >= 1, got {args.burst:g}")

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


def format_summary(summary: Any, title: str) -> str:
    """The summary frame as a two-column table (one value column per QoS)."""
    lines = [title]
    header = "".join(f"{'QoS ' + str(q):>16}" for q in summary["qos"])
    lines.append(f"{'':32}{header}")
    for column, label, fmt in _ROWS:
        values = summary[column].tolist()
        if all(isinstance(v, float) and math.isnan(v) for v in values):
            continue
        cells = "".join(
            f"{'-' if isinstance(v, float) and math.isnan(v) else fmt.format(v):>16}"
            for v in values
        )
        lines.append(f"{label:32}{cells}")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    from ..sim.scenarios.pipeline import run_pipeline

    config = config_from_args(args)
    for path, allowed in ((args.out, (".csv", ".parquet")), (args.json, (".json",))):
        if path is not None and not path.lower().endswith(allowed):
            raise ConfigError(f"{path}: the file name must end in {' or '.join(allowed)}")
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
