"""Keep-alive and half-open connections, on mqttsim's broker core and a fake clock (lesson 07).

A satellite link can die without a word: no FIN, no RST reaches either end.
TCP notices only when it has something to send and no acknowledgement comes
back, so a quiet connection stays "open" at both ends: half-open. MQTT's
keep-alive gives both ends something to send. The client sends PINGREQ when
it has sent nothing for Keep Alive seconds, and gives up when no PINGRESP
comes back within Keep Alive; the broker gives up on a client it has heard
nothing from for 1.5 x Keep Alive [MQTT-3.1.2-24], and then publishes its
will. Both take time, and pinging costs bytes on a link billed per byte:
:func:`detection_table` and :func:`ping_cost_table` put figures on the
trade-off, and :class:`KeepAliveExplorer` lets a learner move it.

Every time here comes from running the core (:class:`~mqttsim.widgets.timeline.Timeline`),
not from the formula; the formula is what the tests check it against.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import ipywidgets as widgets  # type: ignore[import-untyped,unused-ignore]

from mqttsim.protocol import ConfigError, PingReq, PingResp, ProtocolVersion, encode

from .controls import redraw_on_change
from .figures import new_figure, png_bytes
from .timeline import Timeline, will_message
from .wire import TCP_IP_HEADER_BYTES

if TYPE_CHECKING:
    import pandas as pd  # type: ignore[import-untyped,unused-ignore]
    from matplotlib.figure import Figure

__all__ = [
    "Detection",
    "KeepAliveExplorer",
    "TCP_IP_HEADER_BYTES",
    "detect",
    "detection_table",
    "keepalive_story",
    "ping_cost_table",
    "plot_keepalive",
]

STATION = "st-07"
STATUS = f"pipeline/{STATION}/status"
STATIONS = 22
"""Stations on the course's pipeline (``datasets/pipeline.json``)."""
_DAY_S = 86_400


def keepalive_story(
    keep_alive_s: int = 60, *, dies_at: float = 100.0, until: float | None = None
) -> Timeline:
    """Station st-07 goes quiet, and its satellite link dies silently.

    The SCADA host subscribes to ``pipeline/+/status``. At t = 0 st-07
    connects with ``keep_alive_s`` and a retained will "offline", publishes
    "online" (retained) and then sends nothing of its own. At ``dies_at``
    its link dies: from then on every byte either end sends is lost, and
    neither end is told. The clock runs to ``until`` (by default three
    keep-alive periods after the death, or one hour without keep-alive).

    Raises:
        ConfigError: a negative keep-alive or death time, or ``until``
            before the death.
    """
    if keep_alive_s < 0 or dies_at < 0:
        raise ConfigError("keep_alive_s and dies_at must be 0 or more")
    end = until if until is not None else dies_at + (3 * keep_alive_s or 3600)
    if end < dies_at:
        raise ConfigError(f"until ({end:g} s) must not be before dies_at ({dies_at:g} s)")
    timeline = Timeline()
    timeline.connect("scada")
    timeline.subscribe("scada", "pipeline/+/status")
    timeline.connect(STATION, keep_alive_s=keep_alive_s, will=will_message(STATUS, "offline"))
    timeline.publish(STATION, STATUS, "online", qos=1, retain=True)
    timeline.cut(STATION, at=dies_at)
    return timeline.run_until(end)


@dataclass(frozen=True, slots=True)
class Detection:
    """When each end noticed the dead link (``None``: not within the run).

    Attributes:
        died_at: when the link died.
        broker_at: when the broker closed the connection (and sent the will).
        station_at: when the station gave up on the broker.
    """

    died_at: float
    broker_at: float | None
    station_at: float | None

    @property
    def broker_after_s(self) -> float | None:
        return None if self.broker_at is None else self.broker_at - self.died_at

    @property
    def station_after_s(self) -> float | None:
        return None if self.station_at is None else self.station_at - self.died_at


def detect(timeline: Timeline) -> Detection:
    """Read from a :func:`keepalive_story` run when each end noticed."""
    died = broker = station = None
    for row in timeline.rows:
        if row.who == "link" and died is None:
            died = row.time
        elif row.who == "broker" and row.what.startswith("closes") and STATION in row.detail:
            broker = row.time if broker is None else broker
        elif row.who == STATION and row.what == "gives up" and station is None:
            station = row.time
    if died is None:
        raise ConfigError("this timeline has no dead link")
    return Detection(died, broker, station)


def detection_table(keep_alive_s: int = 60, deaths: Iterable[float] | None = None) -> pd.DataFrame:
    """How long each end takes to notice, for deaths at several points of the
    keep-alive cycle (by default just after a ping was answered, a third and
    two thirds into the cycle, and just before the next ping).

    Raises:
        ConfigError: ``keep_alive_s`` is not positive.
    """
    import pandas as pd

    if keep_alive_s <= 0:
        raise ConfigError("keep_alive_s must be positive: without keep-alive nobody notices")
    k = keep_alive_s
    if deaths is None:
        deaths = (k + 1, k + k / 3, k + 2 * k / 3, 2 * k - 1)
    rows = []
    for died_at in deaths:
        found = detect(keepalive_story(k, dies_at=float(died_at)))
        rows.append(
            {
                "link dies at (s)": round(found.died_at, 1),
                "broker notices after (s)": _round(found.broker_after_s),
                "station notices after (s)": _round(found.station_after_s),
            }
        )
    return pd.DataFrame(rows)


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 1)


def _ping_exchange_bytes() -> int:
    """One idle keep-alive cycle on the wire: PINGREQ and PINGRESP, each in a
    TCP segment of its own, and the station's bare TCP acknowledgement of
    the PINGRESP (the broker's acknowledgement of the PINGREQ rides on the
    PINGRESP)."""
    mqtt = len(encode(PingReq(), ProtocolVersion.V5)) + len(encode(PingResp(), ProtocolVersion.V5))
    return mqtt + 3 * TCP_IP_HEADER_BYTES


def ping_cost_table(
    keep_alive_values: Iterable[int] = (30, 60, 120, 300, 600, 1800),
    *,
    stations: int = STATIONS,
    price_per_mb_usd: float | None = None,
) -> pd.DataFrame:
    """What keep-alive costs a quiet station, and what it buys.

    A station that reports by exception may send nothing for hours, so its
    pings are all its traffic: one cycle every Keep Alive seconds, of
    :func:`_ping_exchange_bytes` bytes (2-byte PINGREQ and PINGRESP plus
    TCP/IP headers, and a bare TCP acknowledgement). A station that
    publishes more often than its Keep Alive never pings at all.

    Args:
        keep_alive_values: the Keep Alive settings to compare, in seconds.
        stations: how many quiet stations share the bill.
        price_per_mb_usd: by default the ``vsat-1999`` preset's (an estimate,
            see datasets/README.md).

    Returns:
        One row per Keep Alive: pings a day, bytes a day per station and for
        all stations, US dollars a day, and the worst-case detection times
        (broker 1.5 x, station 2 x Keep Alive) as the core gives them.
    """
    import pandas as pd

    from mqttsim.sim.metrics import MB
    from mqttsim.sim.presets import get_preset

    price = price_per_mb_usd
    if price is None:
        price = get_preset("vsat-1999").price_per_mb_usd
    cycle = _ping_exchange_bytes()
    rows = []
    for k in keep_alive_values:
        if k <= 0:
            raise ConfigError(f"keep-alive values must be positive, not {k}")
        worst = detect(keepalive_story(k, dies_at=k + 1e-3))  # just after an answered ping
        pings = _DAY_S / k
        per_station = round(pings * cycle)
        rows.append(
            {
                "keep-alive (s)": k,
                "pings/day": round(pings, 1),
                "bytes/day per station": per_station,
                f"bytes/day, {stations} stations": per_station * stations,
                "US$/day": round(per_station * stations / MB * price, 2),
                "broker notices within (s)": round(worst.broker_after_s or 0),
                "station notices within (s)": round(worst.station_after_s or 0),
            }
        )
    return pd.DataFrame(rows)


# --- the picture ------------------------------------------------------------------------------

_LANES = {STATION: 2.0, "broker": 1.0, "scada": 0.0}
_RED, _GREEN, _BLUE, _GREY = "#c62828", "#2e7d32", "#1f4e9c", "0.45"


def plot_keepalive(timeline: Timeline, *, title: str | None = None) -> Figure:
    """Draw a :func:`keepalive_story` run: time left to right, one lane each for
    the station, the broker and the SCADA host; pings as arrows, lost ones
    stopping at a red ×; the death of the link and who noticed it when."""
    found = detect(timeline)
    end = timeline.now
    figure, ax = new_figure((9, 3.4))
    for y in _LANES.values():
        ax.plot([0, end], [y, y], color="0.8", linewidth=1, gid="lane")
    nudge = end * 0.006
    for packet in timeline.packet_rows:
        if {packet.sender, packet.receiver} != {STATION, "broker"} or packet.time == 0:
            continue
        _packet_arrow(
            ax, packet.time, packet.sender, packet.receiver, packet.packet, packet.lost, nudge
        )
    ax.axvline(found.died_at, color=_RED, linestyle="--", linewidth=1.2, gid="link-dies")
    ax.text(found.died_at, 2.45, " link dies", color=_RED, fontsize=8, va="bottom")
    ax.annotate(
        "connects, 'online'", (0, 2), xytext=(2, 2.18), fontsize=8, color=_GREY, va="bottom"
    )
    if found.broker_at is not None:
        t = found.broker_at
        ax.annotate(
            "",
            (t, 0.05),
            xytext=(t, 0.95),
            arrowprops={"arrowstyle": "-|>", "color": _GREEN},
            gid="will",
        )
        ax.plot([t], [1], marker="s", color=_GREEN, gid="broker-gives-up")
        ax.text(t + nudge, 0.4, " will: 'offline'", color=_GREEN, fontsize=8, va="center")
        ax.text(
            t + nudge,
            0.82,
            f" broker gives up (+{found.broker_after_s:g} s)",
            color=_GREEN,
            fontsize=8,
            va="center",
        )
    if found.station_at is not None:
        t = found.station_at
        ax.plot([t], [2], marker="s", color=_BLUE, gid="station-gives-up")
        ax.text(
            t + nudge,
            2.12,
            f" station gives up (+{found.station_after_s:g} s)",
            color=_BLUE,
            fontsize=8,
        )
    ax.set_yticks(list(_LANES.values()), ["station st-07", "broker", "SCADA host"])
    ax.set_ylim(-0.35, 2.75)
    ax.set_xlim(-end * 0.02, end * 1.22)
    ax.set_xlabel("time (s)")
    for side in ("top", "right", "left"):
        ax.spines[side].set_visible(False)
    ax.set_title(title if title is not None else _title(timeline, found), fontsize=11)
    return figure


def _packet_arrow(
    ax: Any, t: float, sender: str, receiver: str, packet: str, lost: bool, nudge: float
) -> None:
    up = sender == STATION
    x = t if up else t + nudge  # an answer leaves just after its question
    y0, y1 = _LANES[sender], _LANES[receiver]
    if lost:
        mid = y0 + 0.45 * (y1 - y0)
        ax.plot([x, x], [y0, mid], color=_RED, linewidth=1.2, gid="lost")
        ax.plot(
            [x], [mid], marker="x", markersize=9, markeredgewidth=2, color=_RED, gid="loss-mark"
        )
    else:
        ax.annotate(
            "",
            (x, y1),
            xytext=(x, y0),
            arrowprops={"arrowstyle": "-|>", "color": _BLUE if up else _GREEN, "linewidth": 1.1},
            gid="packet",
        )
    left = up or lost  # a lost packet's label stays clear of what happens next to it
    ax.text(
        x - nudge if left else x + nudge,
        1.5 + (0.18 if up else -0.18),
        packet,
        fontsize=7,
        rotation=90,
        ha="right" if left else "left",
        va="center",
        color=_RED if lost else _GREY,
        gid="packet-label",
    )


def _title(timeline: Timeline, found: Detection) -> str:
    keep_alive = "no keep-alive"
    for row in timeline.packet_rows:
        if row.packet == "PINGREQ":
            keep_alive = f"keep-alive {row.time:g} s"
            break
    return f"The link dies at {found.died_at:g} s ({keep_alive})"


# --- the widget -------------------------------------------------------------------------------

_KEEP_ALIVE_CHOICES = (10, 30, 60, 120, 300, 600, 900, 1800)


class KeepAliveExplorer(widgets.VBox):  # type: ignore[misc,unused-ignore]
    """Choose a Keep Alive and when in the cycle the link dies; see when each
    end notices, and what the pings cost a day.

    Attributes:
        keep_alive: the Keep Alive, in seconds.
        dies_into_cycle: when the link dies, as a fraction of the cycle
            after the first answered ping.
        summary: the HTML sentence with the figures.
        chart: the Image widget with the timeline.
        detection: the :class:`Detection` last shown.
    """

    def __init__(self, keep_alive_s: int = 60, **kwargs: Any) -> None:
        self.keep_alive = widgets.SelectionSlider(
            options=list(_KEEP_ALIVE_CHOICES), value=keep_alive_s, description="keep-alive (s)"
        )
        self.dies_into_cycle = widgets.FloatSlider(
            value=0.67, min=0.01, max=0.99, step=0.01, description="dies at (cycle)"
        )
        self.summary = widgets.HTML()
        self.chart = widgets.Image(format="png")
        self.detection: Detection | None = None
        super().__init__(
            [self.keep_alive, self.dies_into_cycle, self.summary, self.chart], **kwargs
        )
        redraw_on_change([self.keep_alive, self.dies_into_cycle], self.show)
        self.show()

    def show(self) -> None:
        """Run the story the controls describe; redraw the sentence and the chart."""
        k = self.keep_alive.value
        dies_at = float(round(k * (1 + self.dies_into_cycle.value)))
        story = keepalive_story(k, dies_at=dies_at)
        self.detection = found = detect(story)
        cost = ping_cost_table([k]).iloc[0]
        self.summary.value = (
            f"<p>The link dies at {dies_at:g} s. The broker notices after "
            f"<b>{found.broker_after_s:g} s</b> and sends the will; the station gives up after "
            f"<b>{found.station_after_s:g} s</b>. Pinging every {k} s costs a quiet station "
            f"{int(cost['bytes/day per station']):,} bytes a day; all {STATIONS} stations: "
            f"US${cost['US$/day']:,.2f} a day.</p>"
        )
        self.chart.value = png_bytes(plot_keepalive(story))
