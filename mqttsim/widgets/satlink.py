"""The satellite link of lesson 08: delay, bandwidth, loss, outages, and what TCP makes of them.

Everything here is computed, or simulated with :func:`mqttsim.sim.run_pipeline`
on the ``vsat-1999`` preset, so a lesson cell is one call:

* :func:`geo_hop_table`: the speed-of-light delay of one geostationary hop,
  from the geometry;
* :func:`serialisation_table`: how long real MQTT packets (from the codec)
  take to squeeze through a few kbit/s;
* :func:`latency_runs`, :func:`latency_summary`, :func:`plot_latency_cdf`:
  the pipeline at QoS 0 over links with different loss, message latencies
  and their distribution;
* :func:`backoff_schedule`, :func:`first_retry_after`: TCP's retransmission
  timeout doubling (RFC 6298 §5.5) up to its give-up;
* :func:`outage_trace`, :func:`plot_outage`, :func:`outage_table`: one
  station's packets through an outage, and what outages of growing length do;
* :class:`SatLinkExplorer`: sliders for loss, burst length, delay and an
  outage; a run button; the latency distribution and a summary.

Every simulated run takes its seed as an argument, so the same call gives the
same table, bit for bit.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import ipywidgets as widgets  # type: ignore[import-untyped,unused-ignore]
import numpy as np
import pandas as pd  # type: ignore[import-untyped,unused-ignore]

from mqttsim.protocol import ConfigError, Connect, ProtocolVersion, Publish, QoS, Will, encode
from mqttsim.sim import PipelineConfig, PipelineResult, TcpConfig, run_pipeline
from mqttsim.sim.linkspec import check_link_figure
from mqttsim.sim.presets import get_preset

from .controls import QOS_CHOICES, error_html, slider
from .figures import figure_for, new_figure, png_bytes
from .wire import TCP_IP_HEADER_BYTES

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = [
    "EARTH_RADIUS_KM",
    "GEO_RADIUS_KM",
    "LIGHT_KM_S",
    "OUTAGE_START_S",
    "geo_hop_table",
    "serialisation_table",
    "run_link",
    "latency_runs",
    "latency_summary",
    "plot_latency_cdf",
    "backoff_schedule",
    "first_retry_after",
    "outage_trace",
    "plot_outage",
    "outage_table",
    "SatLinkExplorer",
]

EARTH_RADIUS_KM = 6378.137  # equatorial (WGS 84)
GEO_RADIUS_KM = 42164.0  # geostationary orbit, from the Earth's centre
LIGHT_KM_S = 299792.458
OUTAGE_START_S = 590.0
"""Where the lessons' outages begin: 10 s before st-01's report at 600 s."""
_LINK = "vsat-1999"
_MAX_STATIONS = 22
_MAX_HOURS = 6.0


# -- delay ------------------------------------------------------------------------------------


def slant_range_km(elevation_deg: float) -> float:
    """Distance from a ground station to a geostationary satellite seen at ``elevation_deg``.

    The triangle Earth's centre - station - satellite (law of cosines):
    ``d = sqrt(r_geo² - (R cos e)²) - R sin e``.

    Raises:
        ConfigError: an elevation outside [0, 90] degrees.
    """
    if not 0.0 <= elevation_deg <= 90.0:
        raise ConfigError(f"elevation_deg must be in [0, 90], got {elevation_deg!r}")
    e = math.radians(elevation_deg)
    r = EARTH_RADIUS_KM
    return math.sqrt(GEO_RADIUS_KM**2 - (r * math.cos(e)) ** 2) - r * math.sin(e)


def geo_hop_table(elevations_deg: Sequence[float] = (90, 30, 10, 0)) -> pd.DataFrame:
    """The speed-of-light delay of one hop, station -> satellite -> hub.

    Both ends are taken to see the satellite at the same elevation. A round
    trip (a request and its answer) is two hops.

    Returns:
        One row per elevation: slant range (km), one leg (ms), one hop (ms),
        a round trip (ms).
    """
    rows = []
    for elevation in elevations_deg:
        leg_ms = slant_range_km(float(elevation)) / LIGHT_KM_S * 1000.0
        rows.append(
            {
                "elevation (deg)": elevation,
                "slant range (km)": round(slant_range_km(float(elevation))),
                "one leg (ms)": round(leg_ms, 1),
                "one hop (ms)": round(2 * leg_ms, 1),
                "round trip (ms)": round(4 * leg_ms, 1),
            }
        )
    return pd.DataFrame(rows)


# -- bandwidth --------------------------------------------------------------------------------


def _example_packets() -> list[tuple[str, int]]:
    """(what, MQTT bytes) of the packets a station sends, from the real encoder."""
    v311 = ProtocolVersion.V311
    report = Publish(topic="pipeline/st-01/pressure", payload=b"11 50400 41.83", qos=QoS(0))
    at_least_once = Publish(
        topic=report.topic, payload=report.payload, qos=QoS(1), packet_id=1, retain=True
    )
    connect = Connect(
        version=v311,
        client_id="st-01",
        clean_start=False,
        keep_alive_s=120,
        will=Will(topic="pipeline/st-01/status", payload=b"lost", qos=QoS(1), retain=True),
    )
    return [
        ("TCP acknowledgement (no MQTT)", 0),
        ("PUBLISH pressure report, QoS 0", len(encode(report, v311))),
        ("PUBLISH pressure report, QoS 1", len(encode(at_least_once, v311))),
        ("CONNECT with a will", len(encode(connect, v311))),
    ]


def serialisation_table(link: str = _LINK) -> pd.DataFrame:
    """How long packets take to leave the antenna at the link's bit rates.

    Each packet is one TCP segment: its MQTT bytes plus the
    :data:`~mqttsim.widgets.wire.TCP_IP_HEADER_BYTES` of IPv4 and TCP headers
    that the simulator's TCP sends (52 by default: 20 of IPv4, 20 of TCP and
    12 of the timestamps option, RFC 7323). Serialisation time is bits over
    bit rate; the one-way propagation delay of the preset is shown beside it
    for comparison.

    Args:
        link: a preset of ``datasets/links.json``.

    Returns:
        One row per packet: MQTT bytes, bytes on the link, uplink and
        downlink serialisation time (ms), and the one-way delay (ms).
    """
    preset = get_preset(link)
    up, down = _rate_label("up", preset.uplink_bps), _rate_label("down", preset.downlink_bps)
    rows = []
    for what, mqtt_bytes in _example_packets():
        wire = mqtt_bytes + TCP_IP_HEADER_BYTES
        rows.append(
            {
                "packet": what,
                "MQTT bytes": mqtt_bytes,
                "on the link (bytes)": wire,
                up: round(preset.serialisation_s(wire, "up") * 1000),
                down: round(preset.serialisation_s(wire, "down") * 1000),
                "one-way delay (ms)": round(preset.delay_s * 1000),
            }
        )
    return pd.DataFrame(rows).set_index("packet")


def _rate_label(direction: str, bandwidth_bps: float | None) -> str:
    if bandwidth_bps is None:
        return f"{direction}, no bandwidth limit (ms)"
    return f"{direction} at {bandwidth_bps / 1000:g} kbit/s (ms)"


# -- loss -------------------------------------------------------------------------------------


def run_link(
    *,
    loss_rate: float = 0.0,
    mean_burst_len: float = 1.0,
    delay_s: float | None = None,
    outage_s: float = 0.0,
    qos: int = 0,
    stations: int = _MAX_STATIONS,
    hours: float = 1.0,
    seed: int = 1999,
    keep_alive_s: int = 120,
) -> PipelineResult:
    """The pipeline over ``vsat-1999`` with the link changed as asked.

    No random outages: the only outage is the one asked for, ``outage_s``
    long from :data:`OUTAGE_START_S`, on every station's link at once.

    Args:
        loss_rate: long-run packet loss, each direction, in [0, 0.5].
        mean_burst_len: mean packets lost in a row, in [1, 20]; 1 is
            independent loss.
        delay_s: one-way delay, in [0, 2] s; None keeps the preset's 270 ms.
        outage_s: length of the outage, in [0, 3600] s; 0 for none.
        qos: the QoS of every message.
        stations: 1 to 22.
        hours: simulated publishing time, in (0, 6].
        seed: the seed of every random draw.
        keep_alive_s: the MQTT Keep Alive of every client, 0 to 65535; 0
            turns it off, so only TCP notices a dead link.

    Raises:
        ConfigError: a value out of its range (one line naming it).
    """
    # The link's own ranges and messages (mqttsim.sim.linkspec), narrowed to the lesson's.
    check_link_figure("loss_rate", loss_rate, hi=0.5)
    check_link_figure("mean_burst_len", mean_burst_len, hi=20.0)
    _check("outage_s", outage_s, 0.0, 3600.0)
    _check("stations", stations, 1, _MAX_STATIONS)
    _check("hours", hours, 1e-3, _MAX_HOURS)
    _check("keep_alive_s", keep_alive_s, 0, 65535)
    if delay_s is not None:
        check_link_figure("delay_s", delay_s, hi=2.0)
    config = PipelineConfig(
        stations=int(stations),
        hours=float(hours),
        qos=qos,
        link=_LINK,
        loss_rate=float(loss_rate),
        mean_burst_len=float(mean_burst_len),
        delay_s=delay_s,
        random_outages=False,
        outages=((OUTAGE_START_S, float(outage_s)),) if outage_s > 0 else (),
        seed=seed,
        keep_alive_s=int(keep_alive_s),
    )
    return run_pipeline(config)


def _check(name: str, value: object, lo: float, hi: float) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ConfigError(f"{name} must be a number in [{lo:g}, {hi:g}], got {value!r}")
    if not lo <= value <= hi:  # also refuses NaN
        raise ConfigError(f"{name} must be in [{lo:g}, {hi:g}], got {value!r}")


def _percent(rate: float) -> str:
    return f"{rate * 100:g} %"


def _case_frame(case: str, result: PipelineResult) -> pd.DataFrame:
    frame = result.messages[["station", "kind", "qos", "sent_s", "deliveries", "latency_s"]].copy()
    frame["station"] = frame["station"].astype(str)
    frame.insert(0, "case", case)
    packets = result.packets
    frame.attrs["retransmissions"] = 0 if packets is None else int(packets.retransmission.sum())
    return frame


def latency_runs(
    loss_rates: Sequence[float] = (0.0, 0.01, 0.05),
    *,
    mean_burst_len: float | Sequence[float] = 1.0,
    qos: int = 0,
    stations: int = _MAX_STATIONS,
    hours: float = 1.0,
    seed: int = 1999,
) -> pd.DataFrame:
    """Run the pipeline once per loss rate (or burst length) and keep every message.

    Args:
        loss_rates: the mean loss of each run.
        mean_burst_len: one burst length for every run, or one per run
            (then ``loss_rates`` may hold a single rate, used for all).
        qos, stations, hours, seed: as in :func:`run_link`.

    Returns:
        One row per message: case (e.g. ``"loss 1 %"``), station, kind, qos,
        sent_s, deliveries, latency_s (NaN if never delivered). The cases
        keep the order of the runs; ``frame.attrs["retransmissions"]`` maps
        each case to the TCP segments retransmitted in it.
    """
    bursts = [mean_burst_len] if isinstance(mean_burst_len, int | float) else list(mean_burst_len)
    losses = list(loss_rates)
    if len(bursts) > 1 and len(losses) == 1:
        losses *= len(bursts)
    if len(losses) > 1 and len(bursts) == 1:
        bursts *= len(losses)
    if len(bursts) != len(losses) or not losses:
        raise ConfigError("give one burst length, or one per loss rate")
    frames, resent = [], {}
    for loss, burst in zip(losses, bursts, strict=True):
        case = f"loss {_percent(loss)}"
        if len(set(bursts)) > 1:
            case += ", independent" if burst == 1 else f", bursts of {burst:g}"
        result = run_link(
            loss_rate=loss, mean_burst_len=burst, qos=qos, stations=stations, hours=hours, seed=seed
        )
        frame = _case_frame(case, result)
        resent[case] = frame.attrs["retransmissions"]
        frames.append(frame)
    out = pd.concat(frames, ignore_index=True)
    out["case"] = pd.Categorical(out["case"], categories=list(dict.fromkeys(out["case"])))
    out.attrs["retransmissions"] = resent
    return out


def latency_summary(runs: pd.DataFrame) -> pd.DataFrame:
    """Per case: messages, delivered, lost, TCP retransmissions, latency percentiles (s)."""
    resent = runs.attrs.get("retransmissions", {})
    rows = []
    for case, group in runs.groupby("case", sort=False, observed=True):
        latency = group["latency_s"].dropna().to_numpy()
        p50, p99 = np.percentile(latency, [50, 99]) if len(latency) else (np.nan, np.nan)
        rows.append(
            {
                "case": case,
                "messages": len(group),
                "delivered": int((group["deliveries"] > 0).sum()),
                "lost": int((group["deliveries"] == 0).sum()),
                "TCP resends": resent.get(case, 0),
                "median (s)": round(float(p50), 2),
                "99th pct (s)": round(float(p99), 2),
                "longest (s)": round(float(latency.max()), 1) if len(latency) else np.nan,
            }
        )
    return pd.DataFrame(rows).set_index("case")


def plot_latency_cdf(
    runs: pd.DataFrame, ax: Axes | None = None, *, title: str | None = None
) -> Figure:
    """The share of messages delivered within each latency, one curve per case.

    Two panels: every message (left), and the slowest 5 % enlarged (right),
    where loss shows. The time axis is logarithmic: most messages take under
    a second, a few take a minute, and both must show. A curve that stops
    below 100 % means messages were never delivered.

    Args:
        runs: a frame of :func:`latency_runs`.
        ax: draw only the left panel, into these axes.
        title: the figure's title.

    Returns:
        The figure (leave it as a cell's last value, or end the line with ``;``).
    """
    if ax is None:
        figure, (ax, tail) = new_figure((10, 3.8), ncols=2)
        axes = [ax, tail]
    else:
        figure, axes = ax.get_figure(root=True), [ax]  # type: ignore[assignment]
    for case, group in runs.groupby("case", sort=False, observed=True):
        latency = np.sort(group["latency_s"].dropna().to_numpy())
        share = np.arange(1, len(latency) + 1) / max(len(group), 1) * 100
        for where in axes:
            where.step(latency, share, where="post", label=str(case), linewidth=1.6, gid="cdf")
    for where, low in zip(axes, (0, 95), strict=False):
        where.set_xscale("log")
        where.set_xlabel("latency, station to SCADA host (s)")
        where.set_ylim(low, 100.3)
        where.grid(True, which="both", alpha=0.3)
    axes[0].set_ylabel("messages delivered (%)")
    axes[-1].legend(loc="lower right")
    if len(axes) > 1:
        axes[1].set_title("the slowest 5 %", fontsize=10)
        axes[0].set_title("all messages", fontsize=10)
    figure.suptitle(title if title is not None else "QoS 0 over the satellite link")
    figure.tight_layout()
    return figure


# -- retransmission timeout and outages -------------------------------------------------------


def backoff_schedule(rto_s: float = 1.0, tcp: TcpConfig | None = None) -> pd.DataFrame:
    """When TCP resends one segment that is never acknowledged, and when it gives up.

    The timeout doubles after each expiry, up to ``rto_max_s`` (RFC 6298
    §5.5). The connection ends, as :mod:`mqttsim.sim.tcp` ends it, at the
    first expiry at least ``give_up_s`` after the first resend (R2 as a
    time, RFC 1122 §4.2.3.5: 924.6 s for Linux's ``tcp_retries2`` = 15,
    the default), or, where ``give_up_s`` is None, at the expiry after
    ``max_retries`` resends (R2 as a count, RFC 9293 §3.8.3). A Linux TCP
    (the default) sends a tail-loss probe first, about 2·SRTT after the
    segment when that is sooner than the RTO, and starts the timeout from
    the probe (:func:`outage_trace` shows it): the schedule below then
    begins that much later. Its timer fires on Linux's timer wheel
    (``timer_hz``), a little after each expiry shown (up to one granule of
    the wheel: about an eighth of the wait at most).

    Args:
        rto_s: the retransmission timeout when the segment is first sent, > 0.
        tcp: the TCP settings (default :class:`TcpConfig`).

    Returns:
        One row per timer expiry: what happens, the wait before it (s), and
        the time since the segment was first sent (s).
    """
    tcp = tcp if tcp is not None else TcpConfig()
    _check("rto_s", rto_s, 1e-3, tcp.rto_max_s)
    rows: list[dict[str, object]] = []  # every row but the last is a resend
    rto, at, first_resend = float(rto_s), 0.0, 0.0
    while True:
        at += rto
        done = _gives_up(tcp, len(rows), at - first_resend)
        what = "give up: connection closed" if done else f"resend {len(rows) + 1}"
        rows.append(
            {"expiry": what, "waited (s)": round(rto, 2), "since first send (s)": round(at, 2)}
        )
        if done:
            return pd.DataFrame(rows).set_index("expiry")
        first_resend = first_resend or at
        rto = min(rto * 2, tcp.rto_max_s)


def _gives_up(tcp: TcpConfig, resends: int, since_first_resend_s: float) -> bool:
    """Whether an expiry after ``resends`` resends ends the connection (as TcpEndpoint)."""
    if tcp.give_up_s is not None:
        return resends > 0 and since_first_resend_s >= tcp.give_up_s
    return resends >= tcp.max_retries


def first_retry_after(outage_s: float, rto_s: float = 1.0, tcp: TcpConfig | None = None) -> float:
    """Seconds from the first send to the first resend after an outage that began with it.

    Returns ``inf`` when TCP gives up instead: its first expiry after the
    outage, or one before the outage ends, closes the connection.
    """
    schedule = backoff_schedule(rto_s, tcp)
    resends = schedule[schedule.index.str.startswith("resend")]["since first send (s)"]
    after = resends[resends >= outage_s]
    return float(after.iloc[0]) if len(after) else math.inf


def outage_trace(
    outage_s: float = 60.0, *, station: str = "st-01", seed: int = 1999, window_s: float = 240.0
) -> pd.DataFrame:
    """One station's packets around an outage on an otherwise loss-free link.

    Args:
        outage_s: how long the outage lasts, from :data:`OUTAGE_START_S`.
        station: the station to follow (one of the 22).
        seed: the seed of the run.
        window_s: how long after the outage begins to keep packets.

    Returns:
        One row per packet of that station, both directions, from 60 s
        before the outage: time_s, direction, bytes, outcome, retransmission,
        what it carried (TCP flags and MQTT packets). ``attrs`` holds the
        outage as ``(start_s, duration_s)`` and the station.
    """
    index = _station_index(station)
    result = run_link(outage_s=outage_s, stations=index + 1, hours=0.5, seed=seed)
    assert result.packets is not None
    p = result.packets
    start = OUTAGE_START_S
    keep = (p.node == station) & (p.time_s >= start - 60) & (p.time_s <= start + window_s)
    frame = p.loc[keep, ["time_s", "direction", "size_bytes", "outcome", "retransmission"]].copy()
    frame["carries"] = [
        m if m else f"TCP {f}"
        for m, f in zip(p.loc[keep, "mqtt"], p.loc[keep, "flags"], strict=True)
    ]
    frame = frame.rename(columns={"size_bytes": "bytes"}).reset_index(drop=True)
    frame["direction"] = frame["direction"].astype(str)
    frame["outcome"] = frame["outcome"].astype(str)
    frame["time_s"] = frame["time_s"].round(2)
    frame.attrs["outage"] = (start, float(outage_s))
    frame.attrs["station"] = station
    return frame


def _station_index(station: str) -> int:
    names = [f"st-{i:02d}" for i in range(1, _MAX_STATIONS + 1)]
    if station not in names:
        raise ConfigError(f"station must be one of st-01 ... st-22, got {station!r}")
    return names.index(station)


def plot_outage(trace: pd.DataFrame, ax: Axes | None = None) -> Figure:
    """The station's reports of :func:`outage_trace` on a time line, the outage shaded.

    Each segment carrying MQTT packets up to the hub is drawn at the height
    of its attempt: 1 for a first send, 2 for the first resend, and so on,
    so the retransmissions climb a staircase whose steps double in width.
    A segment the outage swallowed is a red cross; each resend is labelled
    with the wait before it.
    """
    figure, ax = figure_for(ax, (9, 3.6))
    start, duration = trace.attrs.get("outage", (OUTAGE_START_S, 0.0))
    ax.axvspan(start, start + duration, color="#fbe3e3", gid="outage")
    sends = trace[(trace.direction == "up") & ~trace.carries.str.startswith("TCP")]
    attempt, peak, last = 0, 1, 0.0
    for row in sends.itertuples(index=False):
        attempt = attempt + 1 if row.retransmission else 1
        peak = max(peak, attempt)
        lost = row.outcome != "delivered"
        ax.plot(
            [row.time_s],
            [attempt],
            marker="x" if lost else "o",
            markersize=9 if lost else 6,
            markeredgewidth=2,
            color="#c62828" if lost else "#1f4e9c",
            gid="lost" if lost else "delivered",
        )
        if row.retransmission:
            ax.annotate(
                f"+{row.time_s - last:.1f} s",
                (row.time_s, attempt),
                xytext=(6, 0),
                textcoords="offset points",
                va="center",
                fontsize=8,
                gid="wait",
            )
        last = row.time_s
    top = peak + 1
    ax.text(start + duration / 2, top - 0.5, "outage", ha="center", color="#c62828")
    ax.set_yticks(range(1, peak + 1))
    ax.set_ylim(0.3, top)
    ax.set_ylabel("attempt")
    ax.set_xlabel("simulated time (s)")
    station = trace.attrs.get("station", "a station")
    ax.set_title(f"Station {station}'s reports through a {duration:g} s outage")
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    return figure


def outage_table(
    durations_s: Sequence[float] = (30, 60, 120, 300, 900),
    *,
    stations: int = _MAX_STATIONS,
    seed: int = 1999,
) -> pd.DataFrame:
    """The pipeline through one outage of each length, at QoS 0 and at QoS 1.

    Every station's link goes down at :data:`OUTAGE_START_S` for one hour
    of reporting on an otherwise loss-free link. QoS 0 runs twice: with the
    scenario's 120 s keep-alive, and with keep-alive off, when only TCP's
    own give-up can end a connection.

    Returns:
        One row per outage: stations whose connection broke and QoS 0
        messages lost (keep-alive 120 s), QoS 0 messages lost without
        keep-alive, QoS 1 messages lost, and the longest QoS 1 delay (s).
    """
    rows = []
    for duration in durations_s:
        outage = float(duration)
        zero = run_link(outage_s=outage, qos=0, stations=stations, seed=seed)
        bare = run_link(outage_s=outage, qos=0, stations=stations, seed=seed, keep_alive_s=0)
        one = run_link(outage_s=outage, qos=1, stations=stations, seed=seed)
        broke = zero.events[zero.events.event == "Disconnected"]["node"].nunique()
        rows.append(
            {
                "outage (s)": duration,
                "connections broken": f"{broke} of {stations}",
                "QoS 0 lost": int((zero.messages.deliveries == 0).sum()),
                "QoS 0 lost, no keep-alive": int((bare.messages.deliveries == 0).sum()),
                "QoS 1 lost": int((one.messages.deliveries == 0).sum()),
                "QoS 1 longest delay (s)": round(float(one.messages.latency_s.max()), 1),
            }
        )
    return pd.DataFrame(rows).set_index("outage (s)")


# -- the widget -------------------------------------------------------------------------------


class SatLinkExplorer(widgets.VBox):  # type: ignore[misc,unused-ignore]
    """Set the link's loss, bursts, delay and an outage; press run; see the latencies.

    Each run simulates a few stations of the pipeline for an hour (well
    under a second) and shows the latency distribution as a PNG in an
    ``Image`` widget (see :mod:`.figures` for why) and a summary table as HTML.

    Args:
        stations: stations per run, 1 to 22.
        seed: the seed of every run.

    Attributes:
        loss, burst, delay, outage, qos: the controls (sliders are bounded).
        run_button: runs the simulation with the controls' values.
        chart: the Image widget; table: the HTML widget with the summary.
        summary: the summary last shown (a DataFrame).
        runs: the messages of the last run.
    """

    def __init__(self, *, stations: int = 6, seed: int = 1999, **kwargs: Any) -> None:
        _check("stations", stations, 1, _MAX_STATIONS)
        self.stations = int(stations)
        self.seed = seed
        self.loss = slider("loss (%)", 1.0, 0.0, 20.0, 0.5, width="34em")
        self.burst = slider("burst (packets)", 1.0, 1.0, 10.0, 0.5, width="34em")
        self.delay = slider("one-way delay (ms)", 270, 0, 1000, 10, width="34em")
        self.outage = slider("outage (s)", 0, 0, 900, 10, width="34em")
        self.qos = widgets.ToggleButtons(
            options=QOS_CHOICES, value=0, description="QoS", style={"description_width": "9em"}
        )
        self.run_button = widgets.Button(description="Run", button_style="primary", icon="play")
        self.status = widgets.HTML()
        self.chart = widgets.Image(format="png")
        self.table = widgets.HTML()
        self.summary: pd.DataFrame | None = None
        self.runs: pd.DataFrame | None = None
        controls = [self.loss, self.burst, self.delay, self.outage, self.qos]
        row = widgets.HBox([self.run_button, self.status])
        super().__init__([*controls, row, self.chart, self.table], **kwargs)
        self.run_button.on_click(self._on_click)
        self.run()

    def _on_click(self, button: Any) -> None:
        self.run()

    def run(self) -> None:
        """Simulate with the controls' values and redraw the chart and the table."""
        self.status.value = "running…"
        try:
            result = run_link(
                loss_rate=self.loss.value / 100,
                mean_burst_len=self.burst.value,
                delay_s=self.delay.value / 1000,
                outage_s=float(self.outage.value),
                qos=self.qos.value,
                stations=self.stations,
                seed=self.seed,
            )
        except ConfigError as exc:
            self.status.value = error_html(str(exc))
            return
        case = f"loss {self.loss.value:g} %, QoS {self.qos.value}"
        self.runs = _case_frame(case, result)
        self.runs.attrs["retransmissions"] = {case: self.runs.attrs["retransmissions"]}
        self.summary = latency_summary(self.runs)
        figure = plot_latency_cdf(self.runs, title=f"{self.stations} stations, one hour")
        self.chart.value = png_bytes(figure)
        self.table.value = self.summary.to_html()
        self.status.value = f"done: {len(self.runs)} messages"
