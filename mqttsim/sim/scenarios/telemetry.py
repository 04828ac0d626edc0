"""What each pipeline station reports, and when: the telemetry turned into batches.

The trace in ``datasets/telemetry.csv.gz`` holds one day of readings for the
22 stations of ``datasets/pipeline.json``. A station reports its readings in
one batch per instant (a 60 s report carries pressure and flow; every fifth
also temperature and valve state) and, by exception, an alarm when a
reading crosses a threshold of ``pipeline.json``:

* ``LOW``/``HIGH``: the value falls below ``alarm_low`` or rises above
  ``alarm_high``; ``CLEAR`` when it is back inside by a deadband of
  :data:`DEADBAND` of the nominal value (so noise on the threshold does not
  make the alarm chatter);
* ``DROP``: pressure fell faster than ``alarm_drop_bar_per_min`` since the
  previous reading (raised again only after a reading without the drop).

Alarms are worked out here, from the trace, so they are the same for every
run; the leak of the trace (st-12, from 14:00, ``t_s`` 50400) shows as a
``DROP`` at st-12 on the first reading after it and ``LOW`` alarms at and
downstream of st-12 in the minutes after.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Final

from ..presets import Pipeline, Station, load_pipeline, load_telemetry

__all__ = ["DAY_S", "DEADBAND", "Batch", "StationPlan", "load_plans"]

DAY_S: Final = 86400  # the trace covers one day; longer runs replay it
DEADBAND = 0.015  # alarm deadband, a fraction of the sensor's nominal value
_DECIMALS = {"pressure": 2, "flow": 1, "temperature": 2, "valve_state": 0}


@dataclass(frozen=True, slots=True)
class Batch:
    """What a station publishes at one instant of the trace.

    Attributes:
        t_s: the readings' time, seconds from the start of the trace.
        readings: ``(sensor index, value)`` pairs, the value as ASCII text.
        alarms: ``(sensor index, b"LOW"|b"HIGH"|b"CLEAR"|b"DROP", value)``.
    """

    t_s: int
    readings: tuple[tuple[int, bytes], ...]
    alarms: tuple[tuple[int, bytes, bytes], ...]


@dataclass(frozen=True, slots=True)
class StationPlan:
    """One station of the trace: its description and its batches in time order."""

    station: Station
    batches: tuple[Batch, ...]


@functools.cache
def load_plans() -> tuple[Pipeline, tuple[StationPlan, ...]]:
    """The pipeline and one plan per station, in the order of ``pipeline.json``.

    Read once per process (the sweep's workers each read it once).
    """
    pipeline = load_pipeline()
    frame = load_telemetry()
    index = {st.id: i for i, st in enumerate(pipeline.stations)}
    sensor_index = [{s.name: j for j, s in enumerate(st.sensors)} for st in pipeline.stations]
    rows: list[dict[int, list[tuple[int, bytes]]]] = [{} for _ in pipeline.stations]
    for t, station, sensor, value in zip(
        frame["t_s"].tolist(),
        frame["station"].astype(str).tolist(),
        frame["sensor"].astype(str).tolist(),
        frame["value"].tolist(),
        strict=True,
    ):
        i = index[station]
        j = sensor_index[i][sensor]
        decimals = _DECIMALS[pipeline.stations[i].sensors[j].kind]
        rows[i].setdefault(t, []).append((j, b"%.*f" % (decimals, value)))
    plans = tuple(
        StationPlan(station=st, batches=_batches(st, rows[i]))
        for i, st in enumerate(pipeline.stations)
    )
    return pipeline, plans


def _batches(station: Station, rows: dict[int, list[tuple[int, bytes]]]) -> tuple[Batch, ...]:
    sensors = station.sensors
    low = [False] * len(sensors)
    high = [False] * len(sensors)
    dropping = [False] * len(sensors)
    last: list[tuple[int, float] | None] = [None] * len(sensors)
    batches = []
    for t in sorted(rows):
        alarms: list[tuple[int, bytes, bytes]] = []
        for j, text in rows[t]:
            sensor = sensors[j]
            value = float(text)
            band = DEADBAND * abs(sensor.nominal)
            if sensor.alarm_low is not None:
                if not low[j] and value < sensor.alarm_low:
                    low[j] = True
                    alarms.append((j, b"LOW", text))
                elif low[j] and value >= sensor.alarm_low + band:
                    low[j] = False
                    alarms.append((j, b"CLEAR", text))
            if sensor.alarm_high is not None:
                if not high[j] and value > sensor.alarm_high:
                    high[j] = True
                    alarms.append((j, b"HIGH", text))
                elif high[j] and value <= sensor.alarm_high - band:
                    high[j] = False
                    alarms.append((j, b"CLEAR", text))
            rate = sensor.alarm_drop_bar_per_min
            previous = last[j]
            if rate is not None and previous is not None:
                fall = (previous[1] - value) * 60.0 / (t - previous[0])
                if fall > rate and not dropping[j]:
                    alarms.append((j, b"DROP", text))
                dropping[j] = fall > rate
            last[j] = (t, value)
        batches.append(Batch(t_s=t, readings=tuple(rows[t]), alarms=tuple(alarms)))
    return tuple(batches)
