#!/usr/bin/env python3
"""Generate datasets/telemetry.csv.gz: one day of SCADA readings for the 1999 pipeline.

Usage::

    python datasets/make_telemetry.py                  # seed 1999, writes datasets/telemetry.csv.gz
    python datasets/make_telemetry.py --seed 7 --out /tmp/t.csv.gz

The layout, reporting periods, hydraulic parameters and the leak come from
``datasets/pipeline.json``; this script adds time, noise and the leak. It uses
the standard library only and draws every random number from
``random.Random.random()``, the one method whose sequence for a given seed
Python promises to keep across versions (Gaussian noise is made from it by
Box-Muller here, not by ``random.gauss``; NumPy's generators promise less).
It rounds every value to a fixed number of decimals and writes gzip with
``mtime=0`` and no file name in the header, so the same seed gives the same
bytes.

Model (quasi-steady, deliberately simple; see datasets/README.md):

* The origin pumps hold the nominated flow, which follows the day:
  ``Q0(t) = Qn * (1 + a*sin(2*pi*(h - peak + 6)/24)) * (1 + r(t))`` with ``r`` a
  slow seeded AR(1) wobble.
* Each downstream pump station and the delivery terminal hold their arrival
  (suction) pressure; pressure rises upstream of them by ``k * Q**2`` bar per km
  (``k`` from the nominal friction gradient). Elevation is flat.
* The leak (station, km, start, ramp, rate from pipeline.json) takes ``L`` out of
  the line: flow is ``Q0`` upstream of it and ``Q0 - L`` downstream, so every
  pressure from the pump upstream of the leak to the delivery end drops (less
  friction below the next held suction pressure), while the line upstream of
  that pump is unchanged. The change reaches a station ``|km - leak km| / c``
  seconds after the leak starts (``c`` = pressure_wave_speed_km_s).
* Product temperature relaxes from the inlet temperature towards the ground
  temperature with distance, plus a small daily swing.
* Sensors add Gaussian noise: 0.1 bar, 0.25 % of flow, 0.1 degC.
"""

from __future__ import annotations

import argparse
import csv
import gzip
import hashlib
import io
import json
import math
import random
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
DEFAULT_PIPELINE = HERE / "pipeline.json"
DEFAULT_SEED = 1999

NOISE = {"pressure": 0.1, "temperature": 0.1}  # absolute; flow noise is relative
FLOW_NOISE_REL = 0.0025
DEMAND_WOBBLE = 0.003  # standard deviation of the shared AR(1) flow wobble
DEMAND_TAU_S = 600.0  # its correlation time
DAILY_TEMP_SWING_C = 0.3
DECIMALS = {"pressure": 2, "flow": 1, "temperature": 2, "valve_state": 0}


def leak_rate(t: float, leak: dict[str, Any]) -> float:
    """Leak flow in m3/h at time ``t`` (0 before the start, a linear ramp, then constant)."""
    start, ramp, rate = float(leak["start_s"]), float(leak["ramp_s"]), float(leak["rate_m3h"])
    if t < start:
        return 0.0
    if ramp <= 0 or t >= start + ramp:
        return rate
    return rate * (t - start) / ramp


class Hydraulics:
    """Pressures and flows along the line for a given origin flow and leak."""

    def __init__(self, pipe: dict[str, Any]) -> None:
        h = pipe["hydraulics"]
        self.qn = float(h["nominal_flow_m3h"])
        self.p_arrival = float(h["pump_suction_bar"])
        self.p_origin = float(h["origin_suction_bar"])
        self.k = float(h["friction_gradient_bar_per_km"]) / self.qn**2
        self.wave_km_s = float(h["pressure_wave_speed_km_s"])
        self.pumps = sorted(float(s["km"]) for s in pipe["stations"] if s["type"] == "pump_station")
        self.end_km = float(pipe["length_km"])
        self.leak = pipe["telemetry"]["leak"]
        self.leak_km = float(self.leak["km"])

    def leak_seen(self, km: float, t: float) -> float:
        """The leak flow as seen at ``km`` at time ``t`` (after the pressure wave arrives)."""
        return leak_rate(t - abs(km - self.leak_km) / self.wave_km_s, self.leak)

    def flow(self, km: float, q0: float, leak: float) -> float:
        """Line flow at ``km``: the origin flow upstream of the leak, less the leak below it."""
        return q0 if km < self.leak_km else q0 - leak

    def pressure(self, km: float, q0: float, leak: float) -> float:
        """Line pressure at ``km``, on the discharge side of a pump standing there."""
        nxt = min([p for p in self.pumps if p > km] + [self.end_km])
        q2 = q0 - leak
        if km < self.leak_km <= nxt:
            return self.p_arrival + self.k * (
                q2**2 * (nxt - self.leak_km) + q0**2 * (self.leak_km - km)
            )
        q = q0 if km < self.leak_km else q2
        return self.p_arrival + self.k * q**2 * (nxt - km)

    def arrival(self, km: float) -> float:
        """Suction pressure of a pump (or the delivery terminal) at ``km``: held by control."""
        return self.p_origin if km <= self.pumps[0] else self.p_arrival


def true_value(
    station: dict[str, Any],
    sensor: dict[str, Any],
    hyd: Hydraulics,
    pipe: dict[str, Any],
    t: float,
    q0: float,
) -> float:
    """The noiseless value of one sensor at time ``t``."""
    kind, km = sensor["kind"], float(station["km"])
    leak = hyd.leak_seen(km, t)
    if kind == "flow":
        return hyd.flow(km, q0, leak)
    if kind == "valve_state":
        return 1.0
    if kind == "temperature":
        h = pipe["hydraulics"]
        tg, tin = float(h["ground_temperature_c"]), float(h["inlet_temperature_c"])
        lam = float(h["thermal_decay_km"])
        hour = t / 3600.0
        return (
            tg
            + (tin - tg) * math.exp(-km / lam)
            + DAILY_TEMP_SWING_C * math.sin(2 * math.pi * (hour - 9.0) / 24.0)
        )
    if sensor["name"] == "suction_pressure" or station["type"] == "meter":
        return hyd.arrival(km)
    return hyd.pressure(km, q0, leak)


def normal(rng: random.Random, sigma: float) -> float:
    """A Gaussian draw with mean 0 built from two ``rng.random()`` calls (Box-Muller)."""
    u1, u2 = rng.random(), rng.random()
    return sigma * math.sqrt(-2.0 * math.log(1.0 - u1)) * math.cos(2.0 * math.pi * u2)


def line_flow(pipe: dict[str, Any], rng: random.Random) -> list[float]:
    """Nominal line flow for every minute of the day (diurnal curve times a shared wobble)."""
    h, tel = pipe["hydraulics"], pipe["telemetry"]
    qn, amp = float(h["nominal_flow_m3h"]), float(h["diurnal_flow_amplitude"])
    peak = float(h["diurnal_flow_peak_hour_utc"])
    rho = math.exp(-60.0 / DEMAND_TAU_S)
    r, out = 0.0, []
    for minute in range(int(tel["duration_s"]) // 60 + 1):
        hour = minute / 60.0
        out.append(qn * (1 + amp * math.sin(2 * math.pi * (hour - peak + 6.0) / 24.0)) * (1 + r))
        r = rho * r + math.sqrt(1 - rho**2) * normal(rng, DEMAND_WOBBLE)
    return out


def generate(pipe: dict[str, Any], seed: int) -> list[tuple[int, int, int, str]]:
    """All readings as sortable tuples ``(t_s, station_index, sensor_index, csv_line)``."""
    rng = random.Random(seed)
    flows = line_flow(pipe, rng)
    hyd = Hydraulics(pipe)
    duration = int(pipe["telemetry"]["duration_s"])
    rows: list[tuple[int, int, int, str]] = []
    for si, station in enumerate(pipe["stations"]):
        for ki, sensor in enumerate(station["sensors"]):
            kind, period = sensor["kind"], int(sensor["period_s"])
            for t in range(0, duration, period):
                value = true_value(station, sensor, hyd, pipe, t, flows[t // 60])
                if kind == "flow":
                    value += normal(rng, FLOW_NOISE_REL * value)
                elif kind in NOISE:
                    value += normal(rng, NOISE[kind])
                text = f"{value:.{DECIMALS[kind]}f}"
                line = f"{t},{station['id']},{sensor['name']},{text},{sensor['unit']}"
                rows.append((t, si, ki, line))
    rows.sort(key=lambda r: r[:3])
    return rows


def render(pipe: dict[str, Any], seed: int) -> bytes:
    """The gzip-compressed CSV file, byte for byte."""
    text = io.StringIO(newline="")
    csv.writer(text, lineterminator="\n").writerow(pipe["telemetry"]["columns"])
    for row in generate(pipe, seed):
        text.write(row[3] + "\n")
    buf = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=buf, compresslevel=9, mtime=0) as gz:
        gz.write(text.getvalue().encode("ascii"))
    return buf.getvalue()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=None, help="default: pipeline.json (1999)")
    parser.add_argument("--pipeline", type=Path, default=DEFAULT_PIPELINE)
    parser.add_argument("--out", type=Path, default=None, help="default: beside pipeline.json")
    args = parser.parse_args(argv)
    pipe = json.loads(args.pipeline.read_text(encoding="utf-8"))
    seed = int(pipe["telemetry"]["seed"]) if args.seed is None else args.seed
    out = args.out or args.pipeline.resolve().parent / pipe["telemetry"]["file"]
    data = render(pipe, seed)
    out.write_bytes(data)
    digest = hashlib.sha256(data).hexdigest()
    print(f"wrote {out} ({len(data):,} bytes, seed {seed}, sha256 {digest})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
