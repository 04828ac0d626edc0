"""Message-sequence charts of one exchange, drawn from recorded packets.

:func:`plot_sequence` takes the rows of :func:`~mqttsim.widgets.exchange.record_exchange`
(or the same columns in a DataFrame) and draws the classic chart: a lifeline
per party, time running down, one arrow per packet labelled the way the
specification names it ("PUBLISH id=1 QoS 1"). A lost packet is an arrow
that stops half-way at a red ×; a retransmission is dashed; each time the
subscriber hands the message to its application, the chart says so, so a
duplicate shows as "delivered #2". :class:`SequenceExplorer` redraws the
chart as the learner changes the QoS, the version and where the loss falls.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import ipywidgets as widgets  # type: ignore[import-untyped,unused-ignore]
import pandas as pd  # type: ignore[import-untyped,unused-ignore]

from .controls import QOS_CHOICES, redraw_on_change
from .exchange import HOP_S, TraceRow, exchange_frame, packet_label, record_exchange
from .figures import figure_for, png_bytes

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = ["LIFELINES", "plot_sequence", "SequenceExplorer"]

LIFELINES = ("publisher", "broker", "subscriber")
_X = {name: float(i) for i, name in enumerate(LIFELINES)}
_LOST_AT = 0.45  # a lost packet's arrow stops this far along its way
_COLOURS = {"PUBLISH": "#1f4e9c", "CONNECT": "0.45", "CONNACK": "0.45", "lost": "#c62828"}
_ACK_COLOUR = "#2e7d32"
_DELIVERED_COLOUR = "#2e7d32"


def _label(row: Any) -> str:
    pid = None if pd.isna(row.packet_id) else int(row.packet_id)
    qos = None if pd.isna(row.qos) else int(row.qos)
    return packet_label(row.packet, pid, qos, bool(row.dup))


def _title(frame: pd.DataFrame) -> str:
    publishes = frame[frame.packet == "PUBLISH"]
    qos = "?" if publishes.empty else int(publishes.qos.iloc[0])
    lost = int(frame.lost.sum())
    delivered = int(frame.delivered.sum())
    losses = "no loss" if not lost else f"{lost} packet{'s' * (lost > 1)} lost"
    return f"QoS {qos}, {losses}: delivered {delivered}×"


def plot_sequence(
    rows: Sequence[TraceRow] | pd.DataFrame, ax: Axes | None = None, *, title: str | None = None
) -> Figure:
    """Draw a message-sequence chart of one exchange.

    Args:
        rows: :class:`TraceRow` values, or a DataFrame with their columns
            (at least time, arrived, sender, receiver, packet, packet_id,
            qos, dup, lost, retransmission and delivered).
        ax: draw into these axes; a new figure if ``None``.
        title: the chart's title; by default the QoS, the losses and how
            many times the subscriber got the message.

    Returns:
        The figure (in a notebook, leave it as a cell's last value to show it).
    """
    frame = rows if isinstance(rows, pd.DataFrame) else exchange_frame(list(rows))
    hops = (frame.arrived - frame.time).dropna()
    hop = float(hops.median()) if len(hops) else HOP_S
    span = float(frame.time.max()) + hop if len(frame) else hop
    figure, ax = figure_for(ax, (8, min(11.0, 2.0 + 2.2 * span)))
    _lifelines(ax, span)
    delivered = losses = 0
    for row in frame.itertuples(index=False):
        delivered += bool(row.delivered)
        losses += bool(row.lost)
        text = _label(row)
        if row.lost:
            text += ": the connection breaks" if losses == 1 else " (lost)"
        elif row.packet == "CONNECT" and losses:
            text += " (reconnect)"
        _arrow(ax, row, hop, text, delivered)
    ax.set_ylim(span + 0.15, -0.35)
    ax.set_yticks([t for t in ax.get_yticks() if 0 <= t <= span])
    ax.set_xlim(-0.4, len(LIFELINES) - 1 + 0.75)
    ax.set_ylabel("time (s)")
    ax.set_xticks([])
    for side in ("top", "right", "bottom"):
        ax.spines[side].set_visible(False)
    ax.set_title(title if title is not None else _title(frame), fontsize=11)
    return figure


def _lifelines(ax: Axes, span: float) -> None:
    for name, x in _X.items():
        ax.plot([x, x], [-0.1, span + 0.1], color="0.7", linewidth=1, gid="lifeline")
        ax.text(
            x,
            -0.15,
            name,
            ha="center",
            va="bottom",
            fontsize=10,
            gid="lifeline-name",
            bbox={"boxstyle": "round,pad=0.3", "facecolor": "#eef2f7", "edgecolor": "0.6"},
        )


def _arrow(ax: Axes, row: Any, hop: float, text: str, delivered: int) -> None:
    from matplotlib.patches import FancyArrowPatch

    x0, x1 = _X[row.sender], _X[row.receiver]
    y0 = float(row.time)
    lost = bool(row.lost)
    if lost:
        x1, y1 = x0 + _LOST_AT * (x1 - x0), y0 + _LOST_AT * hop
        colour = _COLOURS["lost"]
    else:
        y1 = float(row.arrived)
        colour = _COLOURS.get(row.packet, _ACK_COLOUR)
    retransmission = bool(row.retransmission)
    patch = FancyArrowPatch(
        (x0, y0),
        (x1, y1),
        arrowstyle="-" if lost else "-|>",
        mutation_scale=12,
        color=colour,
        linewidth=1.4,
        linestyle="--" if retransmission else "-",
        gid="retransmission" if retransmission else "lost" if lost else "packet",
    )
    ax.add_patch(patch)
    box = {"boxstyle": "round,pad=0.15", "facecolor": "white", "edgecolor": "none"}
    if lost:
        # Beside the cross, on the far side from the sender: the arrow stays visible.
        ax.plot(
            [x1],
            [y1],
            marker="x",
            markersize=11,
            markeredgewidth=2.5,
            color=colour,
            gid="loss-mark",
        )
        ahead = 1 if x1 > x0 else -1
        ax.text(
            x1 + 0.06 * ahead,
            y1,
            text,
            ha="left" if ahead > 0 else "right",
            va="center",
            fontsize=8,
            color=colour,
            gid="label",
            bbox=box,
        )
    else:
        ax.text(
            (x0 + x1) / 2,
            (y0 + y1) / 2,
            text,
            ha="center",
            va="center",
            fontsize=8,
            color=colour,
            gid="label",
            bbox=box,
        )
    if row.delivered:
        ax.plot([x1], [y1], marker="o", markersize=5, color=_DELIVERED_COLOUR, gid="delivered")
        ax.text(
            x1 + 0.06,
            y1,
            f"delivered #{delivered}",
            ha="left",
            va="center",
            fontsize=8,
            color=_DELIVERED_COLOUR,
            gid="delivered-label",
        )


class SequenceExplorer(widgets.VBox):  # type: ignore[misc,unused-ignore]
    """Pick a QoS, a version and a loss, and see the exchange that follows.

    The chart is a PNG in an ``Image`` widget (see :mod:`.figures` for why).

    Attributes:
        qos, version, loss_on, loss_after: the controls.
        chart: the Image widget holding the chart.
        rows: the rows of the exchange last drawn.
        figure: the figure last drawn.
    """

    def __init__(self, qos: int = 1, loss_after: int | None = None, **kwargs: Any) -> None:
        self.qos = widgets.ToggleButtons(options=QOS_CHOICES, value=qos, description="QoS")
        self.version = widgets.ToggleButtons(
            options=[("MQTT 5.0", 5), ("MQTT 3.1.1", 4)], description="Version"
        )
        self.loss_on = widgets.ToggleButtons(
            options=[("publisher's link", "publisher"), ("subscriber's link", "subscriber")],
            description="Loss on",
        )
        choices: list[tuple[str, int | None]] = [("no loss", None)]
        choices += [(f"packet {n + 1} lost", n) for n in range(6)]
        self.loss_after = widgets.Dropdown(options=choices, value=loss_after, description="Loss")
        self.chart = widgets.Image(format="png")
        self.rows: list[TraceRow] = []
        self.figure: Figure | None = None
        controls = [self.qos, self.version, self.loss_after, self.loss_on]
        super().__init__([*controls, self.chart], **kwargs)
        redraw_on_change(controls, self.show)
        self.show()

    def show(self) -> None:
        """Record the exchange the controls describe and draw it."""
        self.rows = record_exchange(
            self.qos.value,
            version=self.version.value,
            loss_after=self.loss_after.value,
            loss_on=self.loss_on.value,
        )
        self.figure = plot_sequence(self.rows)
        self.chart.value = png_bytes(self.figure)
