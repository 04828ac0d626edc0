"""Link presets, the pipeline layout and telemetry traces, read from ``datasets/``.

The data live in one place, the repository's ``datasets/`` folder, next to the
README that says where every figure comes from:

* ``links.json``: satellite and radio links (``vsat-1999``, ``geo-vsat``,
  ``bgan``, ``iridium``, ``iridium-sbd``, ``leo``, ``cellular-2g``). Each figure
  is stored with its basis (published, derived or estimate) and its source;
  :class:`LinkPreset` keeps those in ``sources`` so a lesson can show them.
* ``pipeline.json``: the 1999 pipeline (stations, sensors, reporting periods,
  alarm thresholds, the SCADA host and the documented leak).
* ``telemetry.csv.gz``: one day of readings made by ``datasets/make_telemetry.py``.

Units here are SI: seconds and bit/s (the JSON file uses ms and kbit/s because
that is how the sources quote them). Delays are one way; "uplink" is
station -> host and "downlink" host -> station.

A caller's mistake (an unknown preset, an override out of range, a damaged
file) raises :class:`~mqttsim.protocol.errors.ConfigError` with a one-line
message that names what was allowed.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..protocol.errors import ConfigError

if TYPE_CHECKING:  # pragma: no cover - pandas is imported lazily, only for load_telemetry
    import pandas as pd  # type: ignore[import-untyped,unused-ignore]

__all__ = [
    "DATASETS_DIR",
    "Leak",
    "LinkPreset",
    "Outage",
    "Pipeline",
    "Sensor",
    "Station",
    "get_preset",
    "load_pipeline",
    "load_presets",
    "load_telemetry",
    "preset_names",
]

#: The repository's datasets folder (one copy of the data, not shipped in the wheel).
DATASETS_DIR = Path(__file__).resolve().parents[2] / "datasets"

BASES = ("published", "derived", "estimate")
_FIGURES = {  # JSON key -> (LinkPreset field, factor to SI)
    "delay_ms": ("delay_s", 1e-3),
    "jitter_ms": ("jitter_s", 1e-3),
    "uplink_kbps": ("uplink_bps", 1e3),
    "downlink_kbps": ("downlink_bps", 1e3),
    "loss_rate": ("loss_rate", 1.0),
    "mean_burst_len": ("mean_burst_len", 1.0),
    "price_per_mb_usd": ("price_per_mb_usd", 1.0),
    "price_year": ("price_year", 1.0),
}


@dataclass(frozen=True, slots=True, kw_only=True)
class Outage:
    """Random outages: exponentially distributed up and down times.

    Attributes:
        mean_up_s: mean time between the end of one outage and the next, seconds.
        mean_down_s: mean length of an outage (rain fade, handover gap), seconds.
    """

    mean_up_s: float
    mean_down_s: float

    @property
    def availability(self) -> float:
        """Long-run fraction of time the link is up."""
        return self.mean_up_s / (self.mean_up_s + self.mean_down_s)


@dataclass(frozen=True, slots=True, kw_only=True)
class LinkPreset:
    """One link type with the source of every figure.

    Attributes:
        name: the preset's key, e.g. ``"vsat-1999"``.
        description: one or two sentences on the service.
        delay_s: one-way propagation and access delay, seconds.
        jitter_s: typical variation of the one-way delay, seconds.
        uplink_bps: station -> host bandwidth, bit/s.
        downlink_bps: host -> station bandwidth, bit/s.
        loss_rate: long-run packet loss of the Gilbert-Elliott model, in [0, 1].
        mean_burst_len: mean number of packets lost in a row (1 = independent loss).
        outage: random outages, or None when the service has no modelled outages.
        price_per_mb_usd: price of one MB (2**20 bytes), US dollars of ``price_year``.
        price_per_message_usd: price per message where the service bills so, else None.
        price_year: the year of the prices.
        sources: field name -> ``"[basis] citation"`` for every figure above.
    """

    name: str
    description: str
    delay_s: float
    jitter_s: float
    uplink_bps: float
    downlink_bps: float
    loss_rate: float
    mean_burst_len: float
    outage: Outage | None
    price_per_mb_usd: float
    price_per_message_usd: float | None
    price_year: int
    sources: dict[str, str] = field(hash=False)

    def with_overrides(
        self,
        *,
        loss_rate: float | None = None,
        delay_s: float | None = None,
        bandwidth_bps: float | None = None,
        uplink_bps: float | None = None,
        downlink_bps: float | None = None,
        jitter_s: float | None = None,
        mean_burst_len: float | None = None,
    ) -> LinkPreset:
        """Return a copy with some figures replaced, e.g. for a "what if" slider.

        ``bandwidth_bps`` sets both directions; ``uplink_bps``/``downlink_bps``
        then override one of them. The source of an overridden figure says so.

        Raises:
            ConfigError: a value is out of range (loss in [0, 1], delay and
                jitter >= 0, bandwidth > 0, mean burst length >= 1).
        """
        changes: dict[str, float] = {}
        if bandwidth_bps is not None:
            both = _check_range("bandwidth_bps", bandwidth_bps)
            changes["uplink_bps"] = changes["downlink_bps"] = both
        wanted = {
            "loss_rate": loss_rate,
            "delay_s": delay_s,
            "uplink_bps": uplink_bps,
            "downlink_bps": downlink_bps,
            "jitter_s": jitter_s,
            "mean_burst_len": mean_burst_len,
        }
        changes.update({k: v for k, v in wanted.items() if v is not None})
        for key, value in changes.items():
            changes[key] = _check_range(key, value)
        sources = dict(self.sources)
        for key, value in changes.items():
            sources[key] = f"[override] set to {value:g} by the caller"
        return replace(self, sources=sources, **changes)  # type: ignore[arg-type]


_RANGES: dict[str, tuple[float, float, bool, str]] = {  # lo, hi, lo excluded, text
    "loss_rate": (0.0, 1.0, False, "[0, 1]"),
    "delay_s": (0.0, math.inf, False, ">= 0"),
    "jitter_s": (0.0, math.inf, False, ">= 0"),
    "bandwidth_bps": (0.0, math.inf, True, "> 0"),
    "uplink_bps": (0.0, math.inf, True, "> 0"),
    "downlink_bps": (0.0, math.inf, True, "> 0"),
    "mean_burst_len": (1.0, math.inf, False, ">= 1"),
}


def _check_range(key: str, value: object) -> float:
    lo, hi, lo_open, text = _RANGES[key]
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ConfigError(f"{key} must be a number {text}, got {value!r}")
    number = float(value)
    in_range = (number > lo if lo_open else number >= lo) and number <= hi
    if not (math.isfinite(number) and in_range):
        raise ConfigError(f"{key} must be {text}, got {value!r}")
    return number


def _resolve(path: str | Path | None, filename: str) -> Path:
    target = DATASETS_DIR if path is None else Path(path)
    return target / filename if target.is_dir() else target


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"dataset file not found: {path}") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ConfigError(f"cannot read {path}: {exc}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a JSON object at the top level")
    return data


def _figure(where: str, entry: object) -> tuple[float, str]:
    """Validate one ``{"value", "basis", "source"}`` entry; return (value, "[basis] source")."""
    if not isinstance(entry, dict):
        raise ConfigError(f"{where}: expected an object with value, basis and source")
    value, basis, source = entry.get("value"), entry.get("basis"), entry.get("source")
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ConfigError(f"{where}: value must be a number, got {value!r}")
    if basis not in BASES:
        raise ConfigError(f"{where}: basis must be one of {', '.join(BASES)}, got {basis!r}")
    if not isinstance(source, str) or not source.strip():
        raise ConfigError(f"{where}: every figure needs a source")
    return float(value), f"[{basis}] {source.strip()}"


def _preset(name: str, raw: dict[str, Any], where: str) -> LinkPreset:
    values: dict[str, Any] = {}
    sources: dict[str, str] = {}
    for key, (attr, factor) in _FIGURES.items():
        if key not in raw:
            raise ConfigError(f"{where}.{key}: missing")
        value, sources[attr] = _figure(f"{where}.{key}", raw[key])
        values[attr] = value * factor
    outage = None
    if raw.get("outage") is not None:
        if not isinstance(raw["outage"], dict):
            raise ConfigError(f"{where}.outage: expected null or an object")
        up, sources["outage_mean_up_s"] = _figure(
            f"{where}.outage.mean_up_s", raw["outage"].get("mean_up_s")
        )
        down, sources["outage_mean_down_s"] = _figure(
            f"{where}.outage.mean_down_s", raw["outage"].get("mean_down_s")
        )
        outage = Outage(mean_up_s=up, mean_down_s=down)
    per_message = None
    if raw.get("price_per_message_usd") is not None:
        per_message, sources["price_per_message_usd"] = _figure(
            f"{where}.price_per_message_usd", raw["price_per_message_usd"]
        )
    description = raw.get("description")
    if not isinstance(description, str) or not description:
        raise ConfigError(f"{where}.description: missing")
    for attr in (
        "loss_rate",
        "delay_s",
        "jitter_s",
        "uplink_bps",
        "downlink_bps",
        "mean_burst_len",
    ):
        try:
            _check_range(attr, values[attr])
        except ConfigError as exc:
            raise ConfigError(f"{where}: {exc}") from None
    values["price_year"] = int(values["price_year"])
    return LinkPreset(
        name=name,
        description=description,
        outage=outage,
        price_per_message_usd=per_message,
        sources=sources,
        **values,
    )


def load_presets(path: str | Path | None = None) -> dict[str, LinkPreset]:
    """Read every link preset, in the file's order.

    Args:
        path: ``links.json`` or a folder holding it; default ``datasets/``.

    Raises:
        ConfigError: the file is missing or a preset lacks a figure or a source.
    """
    file = _resolve(path, "links.json")
    presets = _read_json(file).get("presets")
    if not isinstance(presets, dict) or not presets:
        raise ConfigError(f"{file}: expected a non-empty 'presets' object")
    result = {}
    for name, raw in presets.items():
        if not isinstance(raw, dict):
            raise ConfigError(f"{file.name}:{name}: expected an object")
        result[name] = _preset(name, raw, f"{file.name}:{name}")
    return result


def preset_names(path: str | Path | None = None) -> tuple[str, ...]:
    """The names of the presets, sorted."""
    return tuple(sorted(load_presets(path)))


def get_preset(name: str, path: str | Path | None = None) -> LinkPreset:
    """Return one preset by name.

    Raises:
        ConfigError: no preset has that name; the message lists the names allowed.
    """
    presets = load_presets(path)
    try:
        return presets[name]
    except KeyError:
        raise ConfigError(
            f"unknown link preset {name!r}; allowed: {', '.join(sorted(presets))}"
        ) from None


# --- the pipeline -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class Sensor:
    """One measured value of a station and how it is reported.

    Attributes:
        name: e.g. ``"discharge_pressure"``; unique within its station.
        kind: ``"pressure"``, ``"flow"``, ``"temperature"`` or ``"valve_state"``.
        unit: ``"bar"``, ``"m3/h"``, ``"degC"`` or ``"state"`` (1 open, 0 closed).
        period_s: reporting period, seconds.
        nominal: the value in normal operation at nominal flow.
        alarm_low: alarm when the value falls below this, or None.
        alarm_high: alarm when the value rises above this, or None.
        alarm_drop_bar_per_min: alarm when pressure falls faster than this, or None.
    """

    name: str
    kind: str
    unit: str
    period_s: int
    nominal: float
    alarm_low: float | None = None
    alarm_high: float | None = None
    alarm_drop_bar_per_min: float | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Station:
    """A remote station along the pipeline (``type``: pump_station, block_valve or meter)."""

    id: str
    name: str
    type: str
    km: float
    sensors: tuple[Sensor, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class Leak:
    """The leak in the telemetry: where, when (s from the start), how fast it grows, how big."""

    station: str
    km: float
    start_s: int
    ramp_s: int
    rate_m3h: float


@dataclass(frozen=True, slots=True, kw_only=True)
class Pipeline:
    """The 1999 pipeline: stations in km order, the SCADA host, the telemetry's seed and leak.

    ``hydraulics`` and ``scada_host`` are the JSON objects as read (see datasets/README.md).
    """

    name: str
    length_km: float
    stations: tuple[Station, ...]
    scada_host: dict[str, Any] = field(hash=False)
    hydraulics: dict[str, Any] = field(hash=False)
    telemetry_seed: int
    start_utc: str
    leak: Leak

    def station(self, station_id: str) -> Station:
        """Return a station by id, e.g. ``"st-07"``; ConfigError lists the ids if unknown."""
        for st in self.stations:
            if st.id == station_id:
                return st
        ids = ", ".join(st.id for st in self.stations)
        raise ConfigError(f"unknown station {station_id!r}; allowed: {ids}")


def load_pipeline(path: str | Path | None = None) -> Pipeline:
    """Read ``pipeline.json`` (or the file/folder given).

    Raises:
        ConfigError: the file is missing or malformed.
    """
    file = _resolve(path, "pipeline.json")
    raw = _read_json(file)
    try:
        stations = tuple(
            Station(
                id=s["id"],
                name=s["name"],
                type=s["type"],
                km=float(s["km"]),
                sensors=tuple(Sensor(**sensor) for sensor in s["sensors"]),
            )
            for s in raw["stations"]
        )
        tel = raw["telemetry"]
        return Pipeline(
            name=raw["name"],
            length_km=float(raw["length_km"]),
            stations=stations,
            scada_host=dict(raw["scada_host"]),
            hydraulics=dict(raw["hydraulics"]),
            telemetry_seed=int(tel["seed"]),
            start_utc=str(tel["start_utc"]),
            leak=Leak(**tel["leak"]),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise ConfigError(f"{file}: malformed pipeline description ({exc!r})") from None


def load_telemetry(path: str | Path | None = None) -> pd.DataFrame:
    """Read the telemetry trace as a DataFrame, one row per reading, in time order.

    Columns: ``t_s`` (seconds from the start), ``time`` (UTC timestamp), ``station``,
    ``sensor``, ``unit`` (categoricals) and ``value`` (float). The start time comes
    from the ``pipeline.json`` beside the file (default: ``datasets/``).

    Raises:
        ConfigError: the file is missing; run ``datasets/make_telemetry.py``.
    """
    import pandas as pd  # lazy: keeps ``import mqttsim.sim.presets`` light

    file = _resolve(path, "telemetry.csv.gz")
    if not file.is_file():
        raise ConfigError(f"telemetry file not found: {file}; run datasets/make_telemetry.py")
    beside = file.parent / "pipeline.json"
    start = load_pipeline(beside if beside.is_file() else None).start_utc
    frame = pd.read_csv(
        file,
        dtype={
            "t_s": "int64",
            "station": "category",
            "sensor": "category",
            "value": "float64",
            "unit": "category",
        },
    )
    frame.insert(1, "time", pd.Timestamp(start) + pd.to_timedelta(frame["t_s"], unit="s"))
    return frame
