"""The QoS trade-off explorer: one pipeline scenario run at QoS 0, 1 and 2, side by side.

Choosing the QoS for a satellite link is a trade: QoS 0 sends no
acknowledgements and loses what a broken connection swallows; QoS 1 keeps
what it could not get acknowledged and sends it again later, at the price of
acknowledgements and the odd duplicate; QoS 2 never duplicates and costs the
most bytes. QoS 0 is not always the cheapest: a station that hears nothing
back pings every Keep Alive, and with a Linux TCP (the simulator's default) a
ping costs four segments (PINGREQ, the broker's quick ACK, PINGRESP, the
station's ACK), more than the PUBACKs that spare it on the 1999 pipeline.
This module makes the trade visible for any link:

* :func:`run_qos` runs the 1999 pipeline scenario
  (:func:`mqttsim.sim.run_pipeline`) three times with the same link, the same
  stations and the same seed, once per QoS;
* :func:`qos_table` turns the three runs into one table (delivery, lost,
  duplicates, latency percentiles, link bytes per payload byte, cost);
  :func:`compare_qos` does both at once;
* :func:`plot_qos_comparison` draws the latency distribution of each QoS
  and the delivery, byte and cost figures as bars;
* :func:`outage_fate` says what became of the messages published during an
  outage;
* :class:`QosExplorer` puts controls for the link and the scenario in front
  of all that, with a Run button and a progress bar.

The default scenario (:func:`explorer_config`: 4 stations for 2 simulated
hours on the ``vsat-1999`` link) is small on purpose: the simulator handles
some thousands of messages per wall-clock second, and a rerun of all three
QoS levels should show its result within a second (``python -m bench
explorer`` measures it). Bigger scenarios work too; the progress bar shows
how far they are.
"""

from __future__ import annotations

import dataclasses
import html
import math
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import ipywidgets as widgets  # type: ignore[import-untyped,unused-ignore]
import numpy as np
import pandas as pd  # type: ignore[import-untyped,unused-ignore]

from mqttsim.protocol.errors import ConfigError
from mqttsim.sim import PipelineConfig, PipelineResult, run_pipeline
from mqttsim.sim.linkspec import LinkSpec
from mqttsim.sim.presets import get_preset, preset_names

from .controls import bounded_number, error_html, redraw_on_change, slider
from .figures import new_figure, png_bytes

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = [
    "QOS_LEVELS",
    "QosRuns",
    "QosExplorer",
    "compare_qos",
    "describe",
    "explorer_config",
    "format_outages",
    "outage_fate",
    "parse_outages",
    "plot_qos_comparison",
    "qos_table",
    "run_qos",
]

QOS_LEVELS = (0, 1, 2)
_COLOURS = {0: "#b26a00", 1: "#1f4e9c", 2: "#2e7d32"}
# Curves of equal delivery lie on top of each other: QoS 0 wide and pale underneath.
_LINES = {0: ("-", 4.0, 0.55), 1: ("-", 1.8, 1.0), 2: ("--", 1.8, 1.0)}
_TABLE_CLASS = "mqttsim-qos-table"

Progress = Callable[[float, float], None]


def explorer_config(**overrides: Any) -> PipelineConfig:
    """The explorer's default scenario, with any :class:`PipelineConfig` field overridden.

    Four stations report for two simulated hours over the ``vsat-1999``
    link, seed 1999, without the per-packet log (the explorer does not show
    it, and it costs time). About a thousand messages per QoS level: all
    three levels run in well under a second.

    Raises:
        ConfigError: a field is out of range (see :class:`PipelineConfig`).
    """
    settings: dict[str, Any] = {"stations": 4, "hours": 2.0, "record_packets": False}
    settings.update(overrides)
    if "outages" in settings:
        settings["outages"] = _as_windows(settings["outages"])
    return PipelineConfig(**settings)


def _as_windows(windows: Iterable[Sequence[float]]) -> tuple[tuple[float, float], ...]:
    # Plain tuples of floats, so that lists typed in a notebook compare and hash.
    return tuple((float(start), float(duration)) for start, duration in windows)


@dataclass(frozen=True, slots=True)
class QosRuns:
    """The same scenario run once per QoS level.

    Attributes:
        config: the scenario (its ``qos`` field is that of the QoS 0 run).
        results: the runs, in the order of :data:`QOS_LEVELS`.
    """

    config: PipelineConfig
    results: tuple[PipelineResult, ...]

    def result(self, qos: int) -> PipelineResult:
        """The run at ``qos``."""
        return self.results[QOS_LEVELS.index(qos)]

    def summary(self) -> pd.DataFrame:
        """All the columns of :func:`mqttsim.sim.metrics.summarize`, one row per QoS."""
        return pd.concat([r.summary() for r in self.results], ignore_index=True)

    def latencies(self, qos: int) -> np.ndarray:
        """The latencies (s) of the messages delivered at ``qos``, sorted."""
        return np.sort(self.result(qos).messages["latency_s"].dropna().to_numpy())

    @property
    def wall_s(self) -> float:
        """Wall-clock seconds the three simulations took."""
        return sum(r.wall_s for r in self.results)


def run_qos(
    config: PipelineConfig | None = None, *, progress: Progress | None = None, **overrides: Any
) -> QosRuns:
    """Run one scenario at QoS 0, 1 and 2 with the same link, stations and seed.

    Args:
        config: the scenario; :func:`explorer_config` if None.
        progress: called as ``progress(done, 3.0)``, ``done`` counting runs
            (fractions included), about a hundred times per run.
        **overrides: fields of :class:`PipelineConfig` to change, e.g.
            ``loss_rate=0.05`` or ``outages=[(1800, 900)]``.

    Raises:
        ConfigError: a setting is out of range.
    """
    if config is None:
        config = explorer_config(**overrides)
    elif overrides:
        if "outages" in overrides:
            overrides["outages"] = _as_windows(overrides["outages"])
        config = dataclasses.replace(config, **overrides)
    results = []
    for i, qos in enumerate(QOS_LEVELS):
        report = None if progress is None else _share(progress, i)
        results.append(run_pipeline(dataclasses.replace(config, qos=qos), progress=report))
    return QosRuns(dataclasses.replace(config, qos=QOS_LEVELS[0]), tuple(results))


def _share(progress: Progress, index: int) -> Progress:
    def report(done_s: float, total_s: float) -> None:
        progress(index + (done_s / total_s if total_s else 1.0), float(len(QOS_LEVELS)))

    return report


def _cost(row: pd.Series) -> float:
    # A service that bills per message (Iridium SBD) is priced that way.
    billing = row["cost_per_message_billing_usd"]
    return float(row["cost_usd"] if pd.isna(billing) else billing)


def _significant(value: float, digits: int = 3) -> float:
    if not math.isfinite(value) or value == 0:
        return value
    return round(value, digits - 1 - math.floor(math.log10(abs(value))))


def qos_table(runs: QosRuns) -> pd.DataFrame:
    """The trade-off as a table, one row per QoS, rounded for reading.

    Columns: messages (published), delivered, lost, duplicates (deliveries
    beyond the first), delivery ratio, the latency percentiles p50, p95, p99
    and max in seconds (three significant digits), bytes per payload byte
    (everything the station links carried, TCP/IP headers, acknowledgements
    and retransmissions included, over the payload bytes delivered), and
    cost in US dollars at the link's price (per MB, or per message where the
    service bills so).
    """
    summary = runs.summary()
    table = pd.DataFrame(
        {
            "messages": summary["messages"],
            "delivered": summary["delivered"],
            "lost": summary["lost"],
            "duplicates": summary["duplicates"],
            "delivery ratio": summary["delivery_ratio"].round(4),
            "p50 (s)": summary["latency_p50_s"].map(_significant),
            "p95 (s)": summary["latency_p95_s"].map(_significant),
            "p99 (s)": summary["latency_p99_s"].map(_significant),
            "max (s)": summary["latency_max_s"].map(_significant),
            "bytes per payload byte": summary["link_bytes_per_payload_byte"].round(2),
            "cost (US$)": [_significant(_cost(row)) for _, row in summary.iterrows()],
        }
    )
    table.index = pd.Index([f"QoS {q}" for q in summary["qos"]], name="QoS")
    return table


def compare_qos(config: PipelineConfig | None = None, **overrides: Any) -> pd.DataFrame:
    """Run the scenario at each QoS and return :func:`qos_table` of the runs.

    Takes the same arguments as :func:`run_qos` (without ``progress``).
    """
    return qos_table(run_qos(config, **overrides))


def outage_fate(runs: QosRuns, window: tuple[float, float]) -> pd.DataFrame:
    """What became of the messages published during ``window`` = (start_s, duration_s).

    Columns, one row per QoS: published, delivered, lost, and the first and
    last arrival (simulated seconds; NaN if none arrived).
    """
    start, duration = (float(x) for x in window)
    rows = []
    for qos in QOS_LEVELS:
        frame = runs.result(qos).messages
        inside = frame[(frame["sent_s"] >= start) & (frame["sent_s"] < start + duration)]
        arrived = inside["delivered_s"].dropna()
        rows.append(
            {
                "published": len(inside),
                "delivered": len(arrived),
                "lost": len(inside) - len(arrived),
                "first arrival (s)": round(float(arrived.min()), 1) if len(arrived) else np.nan,
                "last arrival (s)": round(float(arrived.max()), 1) if len(arrived) else np.nan,
            }
        )
    return pd.DataFrame(rows, index=pd.Index([f"QoS {q}" for q in QOS_LEVELS], name="QoS"))


def describe(config: PipelineConfig) -> str:
    """One line naming the scenario: link, overrides, outages, stations, hours, seed."""
    parts = [config.link]
    if config.loss_rate is not None:
        parts.append(f"loss {config.loss_rate * 100:g} %")
    if config.delay_s is not None:
        parts.append(f"delay {config.delay_s * 1000:g} ms")
    if config.bandwidth_bps is not None:
        parts.append(f"{config.bandwidth_bps / 1000:g} kbit/s")
    if config.outages:
        parts.append(f"outages {format_outages(config.outages)}")
    if not config.random_outages:
        parts.append("no random outages")
    parts.append(f"{config.stations} station{'s' * (config.stations != 1)}")
    parts.append(f"{config.hours:g} h")
    parts.append(f"seed {config.seed}")
    return " · ".join(parts)


def plot_qos_comparison(runs: QosRuns) -> Figure:
    """Draw the trade-off: latency distribution, delivery, bytes and cost per QoS.

    The left panel is the latency distribution: for each QoS, the share of
    all published messages delivered within a given time (log scale), so a
    curve that stops below 100 % lost messages. The bars give the delivery
    ratio (with duplicates), the link bytes per payload byte and the cost.

    Returns:
        The figure (in a notebook, leave it as a cell's last value to show it).
    """
    figure, axes = new_figure((12, 3.6), ncols=4, gridspec_kw={"width_ratios": [2.2, 1, 1, 1]})
    table = qos_table(runs)
    _latency_panel(axes[0], runs)
    labels = list(table.index)
    colours = [_COLOURS[q] for q in QOS_LEVELS]
    ratio = table["delivery ratio"].to_numpy() * 100
    notes = [f"{r:.1f} %\n{d} dup." for r, d in zip(ratio, table["duplicates"], strict=True)]
    _bars(axes[1], labels, ratio, colours, "delivered (%)", notes, top=125.0)
    per_byte = table["bytes per payload byte"].to_numpy()
    _bars(
        axes[2],
        labels,
        per_byte,
        colours,
        "link bytes per payload byte",
        [f"{v:.1f}" for v in per_byte],
    )
    cost = table["cost (US$)"].to_numpy()
    _bars(axes[3], labels, cost, colours, "cost (US$)", [f"{v:g}" for v in cost])
    figure.suptitle(describe(runs.config), fontsize=10)
    # Fixed margins: tight_layout would measure every label on each rerun.
    figure.subplots_adjust(left=0.06, right=0.99, bottom=0.15, top=0.82, wspace=0.35)
    return figure


def _latency_panel(ax: Any, runs: QosRuns) -> None:
    for qos in QOS_LEVELS:
        latency = runs.latencies(qos)
        published = max(len(runs.result(qos).messages), 1)
        if len(latency):
            share = np.arange(1, len(latency) + 1) / published * 100
            style, width, alpha = _LINES[qos]
            ax.step(
                latency,
                share,
                where="post",
                color=_COLOURS[qos],
                linestyle=style,
                linewidth=width,
                alpha=alpha,
                label=f"QoS {qos}",
                gid=f"cdf-qos{qos}",
            )
            # Where the curve ends: the last arrival, and the share that ever arrived.
            ax.plot([latency[-1]], [share[-1]], "o", color=_COLOURS[qos], markersize=5)
    ax.set_xscale("log")
    _plain_log_ticks(ax)
    ax.set_xlabel("latency (s, log scale)")
    ax.set_ylabel("messages delivered within (%)")
    ax.set_ylim(0, 102)
    ax.grid(True, which="major", color="0.9")
    ax.legend(loc="lower right", fontsize=9)
    ax.set_title("latency distribution", fontsize=10)


def _plain_log_ticks(ax: Any) -> None:
    """Label a log axis 0.5, 1, 2, 5 … rather than 5×10⁻¹ (learners read seconds)."""
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    low, high = ax.get_xlim()
    decades = math.log10(high / low) if low > 0 and high > low else 0.0
    ax.xaxis.set_major_locator(LogLocator(subs=(1.0,) if decades > 2 else (1.0, 2.0, 5.0)))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda value, _pos: f"{value:g}"))
    ax.xaxis.set_minor_formatter(NullFormatter())


def _bars(
    ax: Any,
    labels: list[str],
    values: np.ndarray,
    colours: list[str],
    title: str,
    notes: list[str],
    *,
    top: float | None = None,
) -> None:
    heights = np.nan_to_num(values.astype(float))
    from matplotlib.ticker import FuncFormatter

    bars = ax.bar(labels, heights, color=colours, gid="bar")
    for bar, note in zip(bars, notes, strict=True):
        ax.annotate(
            note,
            (bar.get_x() + bar.get_width() / 2, bar.get_height()),
            ha="center",
            va="bottom",
            fontsize=8,
            xytext=(0, 2),
            textcoords="offset points",
        )
    if top is None:  # room above the tallest bar for its note
        tallest = float(heights.max()) if len(heights) else 0.0
        top = tallest * 1.25 if tallest > 0 else 1.0
    ax.set_ylim(0, top)
    ax.yaxis.set_major_formatter(FuncFormatter(lambda value, _pos: f"{value:g}"))
    ax.set_title(title, fontsize=10)
    ax.tick_params(axis="x", labelsize=9)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)


# -- outages as text -----------------------------------------------------------------------

_NUMBER = r"\d+(?:\.\d*)?|\.\d+"
_WINDOW = re.compile(rf"\s*({_NUMBER})\s*:\s*({_NUMBER})\s*")
OUTAGE_FORMAT = "START_S:DURATION_S, e.g. 1800:900"


def parse_outages(text: str, *, run_s: float | None = None) -> tuple[tuple[float, float], ...]:
    """Read outage windows typed as ``START_S:DURATION_S, ...`` (seconds).

    An empty text means no outage. Windows may overlap (they merge).

    Args:
        text: e.g. ``"1800:900, 5000:60"``.
        run_s: if given, a window must start before this time (the end of
            the reports), or it would change nothing.

    Raises:
        ConfigError: a one-line message naming the window that is wrong.
    """
    if not text.strip():
        return ()
    windows = []
    for n, item in enumerate(text.split(","), start=1):
        match = _WINDOW.fullmatch(item)
        if match is None:
            shown = item.strip() or "(empty)"
            raise ConfigError(f"outage {n} {shown!r}: write {OUTAGE_FORMAT}")
        start, duration = float(match.group(1)), float(match.group(2))
        if duration <= 0:
            raise ConfigError(f"outage {n} {item.strip()!r}: the duration must be > 0 s")
        if run_s is not None and start >= run_s:
            raise ConfigError(
                f"outage {n} {item.strip()!r}: starts after the last report ({run_s:g} s)"
            )
        windows.append((start, duration))
    return tuple(windows)


def format_outages(windows: Iterable[Sequence[float]]) -> str:
    """The text :func:`parse_outages` reads back: ``"1800:900, 5000:60"``."""
    return ", ".join(f"{start:g}:{duration:g}" for start, duration in windows)


# -- the widget --------------------------------------------------------------------------------

_STYLE = {"description_width": "initial"}
_BANDWIDTH_MAX_KBPS = 200_000.0
_TABLE_CSS = (
    f"<style>.{_TABLE_CLASS} {{border-collapse: collapse; font-size: 12px; line-height: 1.4;}}"
    f" .{_TABLE_CLASS} th, .{_TABLE_CLASS} td {{padding: 2px 8px; text-align: right;"
    f" border-bottom: 1px solid #ddd;}}"
    f" .{_TABLE_CLASS} tbody th {{white-space: nowrap;}}</style>"
)


def _field_values(preset: LinkSpec) -> dict[str, float]:
    """The preset's figures in the units of the fields (%, ms, kbit/s)."""
    up_bps = preset.uplink_bps
    return {
        "loss": round(preset.loss_rate * 100, 4),
        "delay": round(preset.delay_s * 1000, 3),
        # No limit shows as the field's top: the fastest link it can set.
        "bandwidth": _BANDWIDTH_MAX_KBPS if up_bps is None else round(up_bps / 1000, 3),
    }


class QosExplorer(widgets.VBox):  # type: ignore[misc,unused-ignore]
    """Change the link and the scenario, press Run, compare QoS 0, 1 and 2.

    Each field only accepts values in its range (typed values are clamped);
    the outage field is parsed strictly, and while it cannot be read a
    one-line error stands beside it and Run is disabled. Loss, delay and
    bandwidth start at the preset's figures and follow the preset when it
    changes; only a figure that differs from the preset's overrides it
    (bandwidth then sets both directions). Results are shown as an HTML
    table and a PNG chart (an ``Image`` widget, not an ``Output``, so the
    widget works the same in JupyterLab, nbconvert and nbval).

    Args:
        config: the scenario shown at first; :func:`explorer_config` if None.
        run: run it at once, so results are there before the first click.

    Attributes:
        link, loss, delay, bandwidth, outages, random_outages, stations,
            hours, seed: the controls.
        run_button, progress: the Run button and the progress bar (0-100 %).
        outage_error: the one-line error beside the outage field.
        status: what was run, or why not.
        table, chart: the results as an HTML table and a PNG.
        runs, frame, figure: the last results (:class:`QosRuns`,
            :func:`qos_table`, :func:`plot_qos_comparison`), None before the
            first run.
    """

    def __init__(
        self, config: PipelineConfig | None = None, *, run: bool = True, **kwargs: Any
    ) -> None:
        config = config if config is not None else explorer_config()
        preset = config.link_preset()  # the config's overrides applied: the fields show them
        self.link = widgets.Dropdown(
            options=list(preset_names()), value=config.link, description="link", style=_STYLE
        )
        shown = _field_values(preset)
        self.loss = bounded_number("loss (%)", shown["loss"], 0.0, 50.0, 0.1, width="150px")
        self.delay = bounded_number(
            "delay (ms)", shown["delay"], 0.0, 10_000.0, 10.0, width="170px"
        )
        self.bandwidth = bounded_number(
            "bandwidth (kbit/s)", shown["bandwidth"], 0.1, _BANDWIDTH_MAX_KBPS, 0.1, width="230px"
        )
        self.outages = widgets.Text(
            value=format_outages(config.outages),
            placeholder="1800:900, 5000:60",
            description="outages (start_s:duration_s)",
            style=_STYLE,
            layout={"width": "360px"},
            continuous_update=True,
        )
        self.outage_error = widgets.HTML(value="")
        self.random_outages = widgets.Checkbox(
            value=config.random_outages,
            description="preset's random outages",
            indent=False,
        )
        # int(): whole-number controls, whatever number type the config was given.
        self.stations = slider("stations", int(config.stations), 1, 50, label_width="initial")
        self.hours = bounded_number("hours", config.hours, 0.25, 48.0, 0.25, width="140px")
        self.seed = bounded_number("seed", int(config.seed), 0, 2**31 - 1, width="160px")
        self.run_button = widgets.Button(
            description="Run", button_style="primary", icon="play", tooltip="run QoS 0, 1 and 2"
        )
        self.progress = widgets.IntProgress(
            value=0, min=0, max=100, description="progress", style=_STYLE
        )
        self.status = widgets.HTML(value="")
        self.table = widgets.HTML(value="")
        self.chart = widgets.Image(format="png")
        self._base = config
        # What the preset itself says: a field that differs from it is an override.
        self._shown = _field_values(get_preset(config.link))
        self.runs: QosRuns | None = None
        self.frame: pd.DataFrame | None = None
        self.figure: Figure | None = None
        for widget, name in [
            (self.link, "link"),
            (self.loss, "loss"),
            (self.outages, "outages"),
            (self.run_button, "run"),
            (self.table, "results"),
            (self.status, "status"),
            (self.progress, "progress"),
            (self.outage_error, "outage-error"),
        ]:
            widget.add_class(f"mqttsim-{name}")  # stable hooks for the browser test
        rows = [
            widgets.HBox([self.link, self.loss, self.delay, self.bandwidth]),
            widgets.HBox([self.outages, self.outage_error]),
            widgets.HBox([self.random_outages, self.stations, self.hours, self.seed]),
            widgets.HBox([self.run_button, self.progress]),
        ]
        super().__init__([*rows, self.status, self.table, self.chart], **kwargs)
        self.add_class("mqttsim-qos-explorer")
        self.link.observe(self._on_link, names="value")
        redraw_on_change([self.outages, self.hours], self._on_outages)
        redraw_on_change(
            [self.loss, self.delay, self.bandwidth, self.random_outages, self.stations, self.seed],
            self._mark_stale,
        )
        self.run_button.on_click(lambda _button: self.run())
        self._validate()
        if run and not self.run_button.disabled:
            self.run()

    # -- reading the controls --

    def config(self) -> PipelineConfig:
        """The scenario the controls describe.

        Raises:
            ConfigError: the outage text cannot be read, or a value is refused.
        """
        windows = parse_outages(self.outages.value, run_s=self.hours.value * 3600)

        def override(name: str, to_si: Callable[[float], float]) -> float | None:
            value = getattr(self, name).value
            return None if value == self._shown[name] else to_si(value)

        return dataclasses.replace(
            self._base,
            link=self.link.value,
            # One correctly rounded step from the typed number: 0.3 % -> 0.003.
            loss_rate=override("loss", lambda percent: percent / 100),
            delay_s=override("delay", lambda ms: ms / 1000),
            bandwidth_bps=override("bandwidth", lambda kbps: kbps * 1000),
            outages=windows,
            random_outages=self.random_outages.value,
            stations=self.stations.value,
            hours=float(self.hours.value),
            seed=self.seed.value,
        )

    def _validate(self) -> bool:
        try:
            parse_outages(self.outages.value, run_s=self.hours.value * 3600)
        except ConfigError as exc:
            self.outage_error.value = error_html(str(exc))
            self.run_button.disabled = True
            return False
        self.outage_error.value = ""
        self.run_button.disabled = False
        return True

    # -- reacting to the controls --

    def _on_link(self, change: dict[str, Any]) -> None:
        self._shown = _field_values(get_preset(change["new"]))
        # Follow the preset: its figures are the starting point of any "what if".
        for name in ("loss", "delay", "bandwidth"):
            getattr(self, name).value = self._shown[name]
        self._mark_stale()

    def _on_outages(self) -> None:
        if self._validate():
            self._mark_stale()

    def _mark_stale(self) -> None:
        if self.runs is not None:
            self.status.value = "Settings changed: press <b>Run</b> to see their results."

    def _on_progress(self, done: float, total: float) -> None:
        value = int(self.progress.max * done / total)
        if value != self.progress.value:  # fewer messages to the browser
            self.progress.value = value

    # -- running --

    def run(self) -> None:
        """Run the scenario at QoS 0, 1 and 2 and show the results.

        A setting that is refused leaves the last results in place and says
        why in :attr:`status`, in one line.
        """
        if not self._validate():
            return
        try:
            config = self.config()
        except ConfigError as exc:
            self.status.value = error_html(str(exc))
            return
        self.run_button.disabled = True
        self.progress.value = 0
        self.status.value = "Running QoS 0, 1 and 2 …"
        try:
            runs = run_qos(config, progress=self._on_progress)
        except ConfigError as exc:
            self.status.value = error_html(str(exc))
            return
        finally:
            self._validate()
        self.runs = runs
        self.frame = qos_table(runs)
        self.figure = plot_qos_comparison(runs)
        self.table.value = _TABLE_CSS + self.frame.to_html(
            classes=_TABLE_CLASS, border=0, index_names=False
        )
        self.chart.value = png_bytes(self.figure, tight=False)  # its margins are fixed
        self.progress.value = self.progress.max
        messages = int(self.frame["messages"].iloc[0])
        self.status.value = (
            f"{html.escape(describe(config), quote=False)}: {messages} messages at each QoS,"
            f" simulated in {runs.wall_s:.2f} s."
        )
