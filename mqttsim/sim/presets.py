"""Link presets, the pipeline layout and telemetry traces, read from ``datasets/``.

The data live in one place, the repository's ``datasets/`` folder, next to the
README that says where every figure comes from:

* ``links.json``: satellite and radio links (``vsat-1999``, ``geo-vsat``,
  ``bgan``, ``iridium``, ``iridium-sbd``, ``leo``, ``cellular-2g``). Each figure
  is stored with its basis (published, derived or estimate) and its source.
  A preset IS a :class:`~mqttsim.sim.linkspec.LinkSpec`, which keeps those in
  ``sources`` so a lesson can show them; :func:`preset_table` lays them out
  for ``mqttsim sim presets``.
* ``pipeline.json``: the 1999 pipeline (stations, sensors, reporting periods,
  alarm thresholds, the SCADA host and the documented leak).
* ``telemetry.csv.gz``: one day of readings made by ``datasets/make_telemetry.py``.

Units here are SI: seconds and bit/s (the JSON file uses ms and kbit/s because
that is how the sources quote them). Delays are one way; "uplink" is
station -> host and "downlink" host -> station. A preset's ``loss_rate`` and
``mean_burst_len`` become :meth:`LossSpec.per_packet
<mqttsim.sim.linkspec.LossSpec.per_packet>`; a ``loss`` object naming a model
of :data:`~mqttsim.sim.linkspec.LOSS_MODELS` may replace them.

A caller's mistake (an unknown preset, an override out of range, a damaged
file) raises :class:`~mqttsim.protocol.errors.ConfigError` with a one-line
message that names what was allowed. Every range is checked by
:class:`~mqttsim.sim.linkspec.LinkSpec`, not here.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..protocol.errors import ConfigError
from .linkspec import (
    LOSS_MODELS,
    LinkSpec,
    LossSpec,
    Outage,
    check_jitter_model,
    check_queue_limit_bytes,
)

if TYPE_CHECKING:  # pragma: no cover - pandas is imported lazily, only for load_telemetry
    import pandas as pd  # type: ignore[import-untyped,unused-ignore]

__all__ = [
    "DATASETS_DIR",
    "Leak",
    "LinkPreset",
    "LinkSpec",
    "Outage",
    "Pipeline",
    "Sensor",
    "Station",
    "get_preset",
    "load_pipeline",
    "load_presets",
    "load_telemetry",
    "preset_names",
    "preset_table",
]

#: The repository's datasets folder (one copy of the data, not shipped in the wheel).
DATASETS_DIR = Path(__file__).resolve().parents[2] / "datasets"

#: The name presets had before they became LinkSpecs; kept for existing imports.
LinkPreset = LinkSpec

BASES = ("published", "derived", "estimate")
_FIGURES = {  # JSON key -> (LinkSpec field, factor to SI)
    "delay_ms": ("delay_s", 1e-3),
    "jitter_ms": ("jitter_s", 1e-3),
    "uplink_kbps": ("uplink_bps", 1e3),
    "downlink_kbps": ("downlink_bps", 1e3),
    "loss_rate": ("loss_rate", 1.0),
    "mean_burst_len": ("mean_burst_len", 1.0),
    "price_per_mb_usd": ("price_per_mb_usd", 1.0),
    "price_year": ("price_year", 1.0),
}
_PER_PACKET = ("loss_rate", "mean_burst_len")  # unless a "loss" object names the model


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


def _loss(where: str, raw: object, sources: dict[str, str]) -> LossSpec:
    """Read a ``{"model": name, param: figure, ...}`` loss object; its sources go to ``sources``."""
    if not isinstance(raw, dict):
        raise ConfigError(f"{where}: expected an object with a model and its parameters")
    params = {}
    for key, entry in raw.items():
        if key != "model":
            params[key], sources[key] = _figure(f"{where}.{key}", entry)
    model = raw.get("model")
    if not isinstance(model, str):
        raise ConfigError(f"{where}.model: must be one of {', '.join(LOSS_MODELS)}, got {model!r}")
    return LossSpec.of(model, **params)


def _preset(name: str, raw: dict[str, Any], where: str) -> LinkSpec:
    values: dict[str, float] = {}
    sources: dict[str, str] = {}
    named_loss = raw.get("loss") is not None
    for key, (attr, factor) in _FIGURES.items():
        if named_loss and key in _PER_PACKET:
            if key in raw:
                raise ConfigError(f"{where}.{key}: give a loss object or {key}, not both")
            continue
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
        outage = (up, down)
    per_message = None
    if raw.get("price_per_message_usd") is not None:
        per_message, sources["price_per_message_usd"] = _figure(
            f"{where}.price_per_message_usd", raw["price_per_message_usd"]
        )
    queue_limit: float | None = None
    if raw.get("queue_limit_bytes") is not None:
        queue_limit, sources["queue_limit_bytes"] = _figure(
            f"{where}.queue_limit_bytes", raw["queue_limit_bytes"]
        )
    description = raw.get("description")
    if not isinstance(description, str) or not description:
        raise ConfigError(f"{where}.description: missing")
    jitter = check_jitter_model(raw.get("jitter_model", "uniform"), name=f"{where}.jitter_model")
    year = values["price_year"]
    if not year.is_integer():
        raise ConfigError(f"{where}.price_year: must be a whole year, got {year!r}")
    try:  # every range is LinkSpec's to check; the message gains the place
        if named_loss:
            loss = _loss(f"{where}.loss", raw["loss"], sources)
        else:
            loss = LossSpec.per_packet(values["loss_rate"], values["mean_burst_len"])
        return LinkSpec(
            name=name,
            description=description,
            delay_s=values["delay_s"],
            jitter_s=values["jitter_s"],
            jitter=jitter,
            uplink_bps=values["uplink_bps"],
            downlink_bps=values["downlink_bps"],
            queue_limit_bytes=check_queue_limit_bytes(queue_limit),
            loss=loss,
            outage=None if outage is None else Outage(mean_up_s=outage[0], mean_down_s=outage[1]),
            price_per_mb_usd=values["price_per_mb_usd"],
            price_per_message_usd=per_message,
            price_year=int(year),
            sources=sources,
        )
    except ConfigError as exc:
        raise ConfigError(f"{where}: {exc}") from None


def load_presets(path: str | Path | None = None) -> dict[str, LinkSpec]:
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


def get_preset(name: str, path: str | Path | None = None) -> LinkSpec:
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


_COLUMN_OF_SOURCE = {  # a LinkSpec source key -> the preset_table column it is the source of
    "delay_s": "delay_ms",
    "jitter_s": "jitter_ms",
    "uplink_bps": "uplink_kbps",
    "downlink_bps": "downlink_kbps",
    "loss_rate": "mean_loss_rate",
}


def _scaled(value: float | None, factor: float) -> float | None:
    # Twelve digits undo the conversion's rounding: 0.0034 s is 3.4 ms, not 3.4000000000000004.
    return None if value is None else float(f"{value * factor:.12g}")


def preset_table(path: str | Path | None = None) -> list[dict[str, Any]]:
    """One row per preset, in the file's order, for ``mqttsim sim presets``.

    Figures are in the units the sources quote them; None where a figure
    does not apply. Keys of a row:

    * ``name``, ``description``;
    * ``delay_ms`` (one way), ``jitter_ms``, ``jitter_model``;
    * ``uplink_kbps`` (station -> host), ``downlink_kbps`` (None: no limit),
      ``queue_limit_bytes`` (None: unbounded);
    * ``loss_model`` (a key of :data:`~mqttsim.sim.linkspec.LOSS_MODELS`),
      ``loss`` (the model and its parameters, one line), ``mean_loss_rate``,
      ``mean_burst_len`` (packets; None for a model without one);
    * ``outage_mean_up_s``, ``outage_mean_down_s``, ``availability`` (None
      without random outages);
    * ``price_per_mb_usd``, ``price_per_message_usd``, ``price_year``;
    * ``sources``: column (or loss parameter) -> ``"[basis] source"`` for
      every figure of the preset.

    Raises:
        ConfigError: as :func:`load_presets`.
    """
    rows = []
    for spec in load_presets(path).values():
        outage = spec.outage
        burst = spec.loss.mean_burst_len
        rows.append(
            {
                "name": spec.name,
                "description": spec.description,
                "delay_ms": _scaled(spec.delay_s, 1e3),
                "jitter_ms": _scaled(spec.jitter_s, 1e3),
                "jitter_model": spec.jitter,
                "uplink_kbps": _scaled(spec.uplink_bps, 1e-3),
                "downlink_kbps": _scaled(spec.downlink_bps, 1e-3),
                "queue_limit_bytes": spec.queue_limit_bytes,
                "loss_model": spec.loss.model,
                "loss": spec.loss.describe(),
                "mean_loss_rate": spec.loss.mean_loss_rate,
                "mean_burst_len": None if math.isnan(burst) else burst,
                "outage_mean_up_s": None if outage is None else outage.mean_up_s,
                "outage_mean_down_s": None if outage is None else outage.mean_down_s,
                "availability": None if outage is None else outage.availability,
                "price_per_mb_usd": spec.price_per_mb_usd,
                "price_per_message_usd": spec.price_per_message_usd,
                "price_year": spec.price_year,
                "sources": {_COLUMN_OF_SOURCE.get(k, k): v for k, v in spec.sources.items()},
            }
        )
    return rows


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
