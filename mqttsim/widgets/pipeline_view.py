"""Lesson 09's view of the 1999 pipeline scenario: tables, a figure, and the bill.

:func:`mqttsim.sim.run_pipeline` returns its logs as DataFrames of numbers
(simulated seconds, message ids). The functions here turn them into what a
pipeline engineer reads:

* :func:`lesson_config`: the run of the lesson (22 stations, 12:30 to 15:30
  on the trace's day, so the leak at st-12 at 14:00 is in it);
* :func:`line_table`: the stations along the line;
* :func:`traffic_table`, :func:`alarm_table`, :func:`command_table`,
  :func:`station_events`: what was sent, the alarms of the leak (with their
  LOW/DROP word from the trace), the SCADA host's valve commands, and the
  stations lost and back, with clock times;
* :func:`plot_pipeline_latency`: every message's latency against the clock;
* :func:`last_known_values`: the broker's retained store at the end of the
  run, what a SCADA host starting then would be handed at once;
* :func:`byte_budget`, :func:`mb_per_day`, :func:`qos_cost_table`: where the
  bytes go (payload, MQTT, TCP/IP) and what a day costs at the link's price.

A run covers a few hours (the simulator does several thousand messages per
wall-clock second); per-day figures are the run's, scaled by
``24 / hours``. Every report is periodic, so this is fair for everything
but the alarms of the leak, which a day has only once.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd  # type: ignore[import-untyped,unused-ignore]

from mqttsim.protocol import ConfigError
from mqttsim.sim import PipelineConfig, PipelineResult, run_pipeline
from mqttsim.sim.metrics import MB
from mqttsim.sim.presets import load_pipeline
from mqttsim.sim.scenarios.pipeline_operations import station_id
from mqttsim.sim.scenarios.telemetry import DAY_S, load_plans

from .figures import figure_for

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = [
    "lesson_config",
    "line_table",
    "clock",
    "traffic_table",
    "alarm_table",
    "command_table",
    "station_events",
    "plot_pipeline_latency",
    "last_known_values",
    "byte_budget",
    "mb_per_day",
    "cost_per_day",
    "qos_cost_table",
]

_REPORT_PERIOD_S = 60  # every batch of the trace falls on a whole minute
_KIND_COLOURS = {
    "report": "0.6",
    "status": "#6a1b9a",
    "alarm": "#c62828",
    "valve": "#2e7d32",
    "command": "#1f4e9c",
}


def _parse_clock(text: str) -> float:
    """Seconds from midnight for ``"HH:MM"`` or ``"HH:MM:SS"``."""
    parts = text.split(":")
    try:
        values = [int(p) for p in parts]
    except ValueError:
        values = []
    if len(values) not in (2, 3) or not 0 <= values[0] < 24 or not 0 <= values[1] < 60:
        raise ConfigError(f"start must be a time of day as HH:MM, got {text!r}")
    if len(values) == 3 and not 0 <= values[2] < 60:
        raise ConfigError(f"start must be a time of day as HH:MM, got {text!r}")
    return float(values[0] * 3600 + values[1] * 60 + (values[2] if len(values) == 3 else 0))


def lesson_config(
    *, qos: int = 1, stations: int = 22, hours: float = 3.0, start: str = "12:30", seed: int = 1999
) -> PipelineConfig:
    """The lesson's run: the ``vsat-1999`` link with its random outages, MQTT 3.1.1.

    Args:
        qos: the QoS of every message.
        stations: how many stations (22 make the whole line).
        hours: simulated hours of reporting, at most 24.
        start: the time of day on the trace where the run starts, ``"HH:MM"``
            (in minutes: the stations report on the minute).
        seed: the seed of every random draw.

    Raises:
        ConfigError: a value out of range.
    """
    start_s = _parse_clock(start)
    if start_s % _REPORT_PERIOD_S:
        raise ConfigError(f"start must fall on a whole minute, got {start!r}")
    if not 0 < hours <= 24:
        raise ConfigError(f"hours must be in (0, 24], got {hours!r}")
    return PipelineConfig(stations=stations, hours=hours, start_s=start_s, qos=qos, seed=seed)


def line_table() -> pd.DataFrame:
    """The stations of ``datasets/pipeline.json``: name, type, km and what they measure."""
    pipeline = load_pipeline()
    rows = [
        {
            "station": st.id,
            "type": st.type.replace("_", " "),
            "km": st.km,
            "name": st.name,
            "sensors": ", ".join(s.name for s in st.sensors),
        }
        for st in pipeline.stations
    ]
    return pd.DataFrame(rows).set_index("station")


def clock(result: PipelineResult, seconds: float | pd.Series) -> str | pd.Series:
    """Simulated seconds of ``result`` as the time of day, ``"HH:MM:SS"`` (NaN stays NaN)."""
    start = result.config.start_s

    def one(value: float) -> str | float:
        if value != value:  # NaN: never happened
            return value
        total = int(start + value) % DAY_S
        return f"{total // 3600:02d}:{total // 60 % 60:02d}:{total % 60:02d}"

    if isinstance(seconds, pd.Series):
        return seconds.map(one)
    return str(one(float(seconds)))


def traffic_table(result: PipelineResult) -> pd.DataFrame:
    """Per kind of message: how many, how many delivered, median and longest latency (s)."""
    rows = []
    frames = [result.messages, result.commands.assign(kind="command")]
    for frame in frames:
        for kind, group in frame.groupby("kind", sort=False, observed=True):
            if not len(group):
                continue
            latency = group["latency_s"].dropna()
            rows.append(
                {
                    "kind": kind,
                    "messages": len(group),
                    "delivered": int((group["deliveries"] > 0).sum()),
                    "duplicates": int(np.maximum(group["deliveries"] - 1, 0).sum()),
                    "median latency (s)": round(float(latency.median()), 2),
                    "longest (s)": round(float(latency.max()), 1),
                }
            )
    order = {k: i for i, k in enumerate(_KIND_COLOURS)}
    rows.sort(key=lambda r: order.get(str(r["kind"]), len(order)))
    return pd.DataFrame(rows).set_index("kind")


def _trace_alarms(result: PipelineResult) -> dict[tuple[str, str], list[tuple[int, str, str]]]:
    """(station, sensor) -> [(trace t_s, word, value)] of every alarm in the trace, in order."""
    pipeline, plans = load_plans()
    out: dict[tuple[str, str], list[tuple[int, str, str]]] = {}
    for plan in plans:
        sensors = plan.station.sensors
        for batch in plan.batches:
            for j, word, value in batch.alarms:
                key = (plan.station.id, sensors[j].name)
                out.setdefault(key, []).append((batch.t_s, word.decode(), value.decode()))
    return out


def alarm_table(result: PipelineResult, *, station: str | None = None) -> pd.DataFrame:
    """The alarms of the run with the word the station sent (LOW, HIGH, DROP, CLEAR).

    The message log keeps no payloads, so the word and the value come from
    the trace: a station reports its readings of minute ``m`` a little after
    ``m`` (its clock offset is under a minute), so an alarm sent at ``t`` is
    the trace's alarm of its station and sensor at the whole minute before ``t``.

    Args:
        result: a run.
        station: only this station's alarms (e.g. ``"st-12"``).

    Returns:
        One row per alarm: sent (clock), station, sensor, alarm, value, at
        SCADA (clock), latency (s).
    """
    by_key = _trace_alarms(result)
    stations = result.config.stations
    if stations > len(load_plans()[1]):
        raise ConfigError("alarm_table reads the trace of the 22 stations; run at most 22")
    alarms = result.messages[result.messages["kind"] == "alarm"]
    rows = []
    start = result.config.start_s
    for row in alarms.itertuples(index=False):
        if station is not None and row.station != station:
            continue
        sensor = str(row.topic).rsplit("/", 1)[1]
        trace_t = (int(start + row.sent_s) // _REPORT_PERIOD_S * _REPORT_PERIOD_S) % DAY_S
        found = [a for a in by_key.get((str(row.station), sensor), []) if a[0] == trace_t]
        word, value = (found[0][1], found[0][2]) if found else ("?", "?")
        rows.append(
            {
                "sent": clock(result, row.sent_s),
                "station": str(row.station),
                "sensor": sensor,
                "alarm": word,
                "value": value,
                "at SCADA": clock(result, row.delivered_s),
                "latency (s)": round(float(row.latency_s), 2),
            }
        )
    return pd.DataFrame(rows)


def command_table(result: PipelineResult) -> pd.DataFrame:
    """The SCADA host's commands and the valve reports that answered them, in time order."""
    rows = []
    for row in result.commands.itertuples(index=False):
        rows.append(
            {
                "sent": clock(result, row.sent_s),
                "from": "scada-host",
                "topic": str(row.topic),
                "what": "close the valve",
                "arrived": clock(result, row.delivered_s),
                "latency (s)": round(float(row.latency_s), 2),
            }
        )
    valves = result.messages[result.messages["kind"] == "valve"]
    for row in valves.itertuples(index=False):
        rows.append(
            {
                "sent": clock(result, row.sent_s),
                "from": str(row.station),
                "topic": str(row.topic),
                "what": "valve closed (0)",
                "arrived": clock(result, row.delivered_s),
                "latency (s)": round(float(row.latency_s), 2),
            }
        )
    frame = pd.DataFrame(rows)
    return frame.sort_values(["sent", "from"], kind="stable").reset_index(drop=True)


def station_events(result: PipelineResult) -> pd.DataFrame:
    """Stations lost and back: the broker giving up, the will, the reconnect.

    Returns:
        One row per event (clock, station, what happened) for every station
        that lost its connection in the run.
    """
    events = result.events
    gone = events["event"].isin(["BrokerClosed", "Disconnected"])
    lost = set(events.loc[gone, "node"].astype(str))
    rows = []
    connects: dict[str, int] = {}
    for row in events.itertuples(index=False):
        node = str(row.node)
        if node not in lost:
            continue
        what = None
        if row.event == "BrokerClosed":
            heard = "nothing received" in str(row.detail)
            what = "broker: " + ("silent too long, " if heard else "") + "closes, sends the will"
        elif row.event == "WillReceived":
            what = "SCADA host gets the will: status = lost"
        elif row.event == "Disconnected":
            what = "station: its connection is gone"
        elif row.event == "Connected":
            connects[node] = connects.get(node, 0) + 1
            if connects[node] > 1:
                resumed = "session_present=True" in str(row.detail)
                what = "station reconnects" + (", session resumed" if resumed else "")
        if what is not None:
            rows.append({"time": clock(result, row.time_s), "station": node, "what": what})
    return pd.DataFrame(rows, columns=["time", "station", "what"])


def plot_pipeline_latency(result: PipelineResult, ax: Axes | None = None) -> Figure:
    """Every message's latency against the clock, by kind; the leak and lost stations marked.

    The latency axis is logarithmic: reports take about a second, a message
    held through an outage takes many minutes.
    """
    figure, ax = figure_for(ax, (10, 4.2))
    start = result.config.start_s
    frames = [result.messages, result.commands.assign(kind="command")]
    for kind, colour in _KIND_COLOURS.items():
        for frame in frames:
            part = frame[(frame["kind"] == kind) & frame["latency_s"].notna()]
            if len(part):
                hours = (start + part["sent_s"]) / 3600
                big = kind != "report"
                ax.scatter(
                    hours,
                    part["latency_s"],
                    s=22 if big else 4,
                    color=colour,
                    label=kind,
                    zorder=3 if big else 2,
                    gid=kind,
                )
    leak = load_pipeline().leak
    ax.axvline(leak.start_s / 3600, color="#c62828", linestyle="--", linewidth=1, gid="leak")
    ax.text(
        leak.start_s / 3600,
        0.98,
        f" leak at {leak.station}",
        color="#c62828",
        transform=ax.get_xaxis_transform(),
        va="top",
        fontsize=9,
    )
    wills = result.events[result.events["event"] == "WillReceived"]
    for row in wills.itertuples(index=False):
        x = (start + row.time_s) / 3600
        ax.axvline(x, color="#6a1b9a", linestyle=":", linewidth=1, gid="will")
        ax.text(
            x,
            0.02,
            f" {row.node} lost",
            color="#6a1b9a",
            rotation=90,
            transform=ax.get_xaxis_transform(),
            va="bottom",
            fontsize=8,
        )
    ax.set_yscale("log")
    ax.set_ylabel("latency (s, log scale)")
    ax.set_xlabel("time of day (sent)")
    ax.xaxis.set_major_formatter(lambda h, _: f"{int(h) % 24:02d}:{round(h % 1 * 60) % 60:02d}")
    ax.grid(True, which="major", alpha=0.3)
    ax.legend(loc="upper right", fontsize=8, markerscale=1.5)
    ax.set_title(
        f"{result.config.stations} stations, QoS {result.config.qos}, {result.preset.name}"
    )
    return figure


def last_known_values(
    result: PipelineResult, sensors: Sequence[str] = ("pressure", "valve_state")
) -> pd.DataFrame:
    """What the broker retains at the end of a run: one row per station.

    Read from the broker's final state, which the result carries
    (:attr:`PipelineResult.broker`). A SCADA host that subscribes at that
    moment is handed these at once ([MQTT-3.3.1-6] in 3.1.1).

    Args:
        result: the run.
        sensors: the sensors to show beside the station's status; a
            station without one shows "".

    Returns:
        One row per station: ``status`` (``online`` or, from its will,
        ``lost``), ``since`` (the clock time of that status, "" for a will),
        and a column per sensor with its last value.
    """
    retained = dict(
        zip(result.broker.retained["topic"], result.broker.retained["payload"], strict=True)
    )
    rows = []
    for node in _stations(result):
        row = {"station": node}
        for name in ("status", *sensors):
            payload = retained.get(f"pipeline/{node}/{name}")
            fields = [] if payload is None else payload.decode().split(" ")
            # "{seq} {t_s} {value}" from a station; the will is just "lost".
            row[name] = fields[-1] if fields else ""
            if name == "status":
                row["since"] = _trace_clock(int(fields[1])) if len(fields) == 3 else ""
        rows.append(row)
    return pd.DataFrame(rows).set_index("station")


def _stations(result: PipelineResult) -> list[str]:
    """The run's stations, in order."""
    _, plans = load_plans()
    return [station_id(i, plans) for i in range(result.config.stations)]


def _trace_clock(t_s: int) -> str:
    t = t_s % DAY_S
    return f"{t // 3600:02d}:{t // 60 % 60:02d}:{t % 60:02d}"


def byte_budget(result: PipelineResult) -> pd.DataFrame:
    """Where the bytes on the station links went, in the run and per day.

    Rows: the application's payloads (readings, alarms, commands), MQTT's
    own bytes (fixed headers, topics, packet ids, acknowledgements,
    CONNECT and pings), the IP and TCP headers (acknowledgements without
    data included), and the total, which :attr:`PipelineResult.totals` bills.
    Resent segments count, as every byte on the air does.

    Returns:
        Columns: bytes in the run, share (%), MB per day, US$ per day at the
        link's price (``price_per_mb_usd``, MB = 2**20 bytes).
    """
    packets = result.packets
    if packets is None:
        raise ConfigError("byte_budget needs a run with record_packets=True")
    station_links = packets[packets["node"] != "scada-host"]
    total = int(station_links["size_bytes"].sum())
    tcp_payload = int(station_links["payload_bytes"].sum())
    app = int(result.messages["payload_bytes"].sum() + result.commands["payload_bytes"].sum())
    # Payloads resent by TCP are on the air twice: count them with MQTT and TCP's share.
    parts = {
        "payloads (readings, alarms, commands)": app,
        "MQTT headers, topics, acks, pings": tcp_payload - app,
        "TCP/IP headers": total - tcp_payload,
        "total on the link": total,
    }
    scale = 24.0 / result.config.hours
    price = result.totals.price_per_mb_usd
    rows = [
        {
            "what": what,
            "bytes in the run": size,
            "share (%)": round(100.0 * size / total, 1) if total else np.nan,
            "MB per day": round(size * scale / MB, 2),
            "US$ per day": round(size * scale / MB * price, 2),
        }
        for what, size in parts.items()
    ]
    return pd.DataFrame(rows).set_index("what")


def mb_per_day(result: PipelineResult) -> float:
    """MB (2**20 bytes) the station links carry per day, scaled from the run, to 0.1 MB."""
    return round(result.totals.bytes * 24.0 / result.config.hours / MB, 1)


def cost_per_day(result: PipelineResult) -> float:
    """US$ per day for the station links at the preset's price, scaled from the run."""
    return round(
        result.totals.bytes * 24.0 / result.config.hours / MB * result.totals.price_per_mb_usd, 2
    )


def qos_cost_table(
    config: PipelineConfig,
    qos_levels: Sequence[int] = (0, 1, 2),
    *,
    done: PipelineResult | None = None,
) -> pd.DataFrame:
    """The same run at each QoS: delivery, duplicates, latency, MB and US$ per day.

    Args:
        config: the run; only its QoS changes.
        qos_levels: the levels to compare.
        done: a finished run of ``config`` to reuse for its own QoS level.

    Returns:
        One row per QoS level.
    """
    rows = []
    for qos in qos_levels:
        if done is not None and done.config == replace(config, qos=qos):
            result = done
        else:
            result = run_pipeline(replace(config, qos=qos))
        m = result.messages
        got = m["deliveries"] > 0
        rows.append(
            {
                "QoS": qos,
                "messages": len(m),
                "lost": int((~got).sum()),
                "duplicates": int(np.maximum(m["deliveries"] - 1, 0).sum()),
                "99th pct latency (s)": round(float(np.percentile(m.loc[got, "latency_s"], 99)), 2),
                "MB per day": mb_per_day(result),
                "US$ per day": cost_per_day(result),
            }
        )
    return pd.DataFrame(rows).set_index("QoS")
