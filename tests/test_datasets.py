"""datasets/: the telemetry script is reproducible and the trace holds the documented leak."""

from __future__ import annotations

import gzip
import importlib.util
import json
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pandas as pd
import pytest

from mqttsim.sim.presets import DATASETS_DIR, Pipeline, load_pipeline, load_telemetry

SCRIPT = DATASETS_DIR / "make_telemetry.py"
TRACE = DATASETS_DIR / "telemetry.csv.gz"


@pytest.fixture(scope="module")
def pipe() -> Pipeline:
    return load_pipeline()


@pytest.fixture(scope="module")
def trace() -> pd.DataFrame:
    return load_telemetry()


def _series(trace: pd.DataFrame, station: str, sensor: str) -> pd.Series:
    rows = trace[(trace["station"] == station) & (trace["sensor"] == sensor)]
    return rows.set_index("t_s")["value"]


def _mean(series: pd.Series, start: float, stop: float) -> float:
    return float(series[(series.index >= start) & (series.index < stop)].mean())


def _load_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("make_telemetry", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_script_regenerates_the_committed_trace_byte_for_byte(tmp_path: Path) -> None:
    out = tmp_path / "telemetry.csv.gz"
    subprocess.run(
        [sys.executable, str(SCRIPT), "--out", str(out)], check=True, capture_output=True
    )
    # Compare the CSV first, so a content change and a compressor change read differently.
    assert gzip.decompress(out.read_bytes()) == gzip.decompress(TRACE.read_bytes())
    assert out.read_bytes() == TRACE.read_bytes()


def test_the_seed_decides_the_noise() -> None:
    script = _load_script()
    document = json.loads((DATASETS_DIR / "pipeline.json").read_text(encoding="utf-8"))
    assert document["telemetry"]["seed"] == 1999
    assert script.render(document, 7) != TRACE.read_bytes()


def test_the_trace_is_small_and_has_no_timestamp_in_its_gzip_header() -> None:
    data = TRACE.read_bytes()
    assert len(data) < 2_000_000
    assert data[4:8] == b"\0\0\0\0"  # gzip MTIME


def test_every_sensor_reports_at_its_period_for_a_whole_day(
    pipe: Pipeline, trace: pd.DataFrame
) -> None:
    counts = trace.groupby(["station", "sensor"], observed=True).size()
    expected = {(st.id, s.name): 86_400 // s.period_s for st in pipe.stations for s in st.sensors}
    assert dict(counts) == expected
    assert trace["t_s"].is_monotonic_increasing
    assert str(trace["time"].iloc[0]) == "1999-06-15 00:00:00+00:00"


def test_values_are_in_their_physical_ranges(trace: pd.DataFrame) -> None:
    by_unit = trace.groupby("unit", observed=True)["value"].agg(["min", "max"])
    assert by_unit.loc["bar", "min"] > 0 and by_unit.loc["bar", "max"] < 80  # below MAOP
    assert 1_700 < by_unit.loc["m3/h", "min"] and by_unit.loc["m3/h", "max"] < 2_300
    assert 5 < by_unit.loc["degC", "min"] and by_unit.loc["degC", "max"] < 35
    assert set(trace.loc[trace["unit"] == "state", "value"]) == {1.0}


def test_the_leak_drops_pressure_at_its_station_at_the_documented_time(
    pipe: Pipeline, trace: pd.DataFrame
) -> None:
    leak = pipe.leak
    assert (leak.station, leak.km, leak.start_s) == ("st-12", 400.0, 14 * 3600)
    pressure = _series(trace, leak.station, "pressure")
    nominal = next(s.nominal for s in pipe.station(leak.station).sensors if s.name == "pressure")
    before = pressure[pressure.index < leak.start_s]
    assert (before - nominal).abs().max() < 2.5  # no leak, only diurnal swing and noise
    recent = pressure[pressure.index >= leak.start_s - 3600]
    dropped = recent[recent < _mean(pressure, leak.start_s - 1800, leak.start_s) - 1.5]
    assert leak.start_s < dropped.index.min() <= leak.start_s + leak.ramp_s
    settled = leak.start_s + leak.ramp_s + 60
    drop = _mean(pressure, leak.start_s - 1800, leak.start_s) - _mean(
        pressure, settled, settled + 1800
    )
    assert 3.0 < drop < 6.0


def test_the_leak_drops_pressure_and_flow_downstream_not_upstream(
    pipe: Pipeline, trace: pd.DataFrame
) -> None:
    leak = pipe.leak
    wave = pipe.hydraulics["pressure_wave_speed_km_s"]
    late = leak.start_s + leak.ramp_s + pipe.length_km / wave + 60

    def change(station: str, sensor: str) -> float:
        series = _series(trace, station, sensor)
        return _mean(series, late, late + 1800) - _mean(series, leak.start_s - 1800, leak.start_s)

    downstream = [st for st in pipe.stations if st.km > leak.km and st.type == "block_valve"]
    assert downstream and all(change(st.id, "pressure") < -1.0 for st in downstream)
    upstream_pumps = [st for st in pipe.stations if st.type == "pump_station" and st.km < 300]
    assert all(abs(change(st.id, "discharge_pressure")) < 1.0 for st in upstream_pumps)
    origin, delivery = pipe.stations[0].id, pipe.stations[-1].id
    lost = change(origin, "flow") - change(delivery, "flow")
    assert lost == pytest.approx(leak.rate_m3h, rel=0.2)  # the mass balance shows the leak
    assert abs(change(origin, "flow")) < 0.02 * pipe.hydraulics["nominal_flow_m3h"]


def test_the_readme_documents_every_file_the_seed_and_the_leak() -> None:
    readme = (DATASETS_DIR / "README.md").read_text(encoding="utf-8")
    for needle in (
        "links.json",
        "pipeline.json",
        "telemetry.csv.gz",
        "make_telemetry.py",
        "1999",
        "st-12",
        "14:00:00",
    ):
        assert needle in readme, needle


def _source_table_rows() -> list[str]:
    """The rows of the per-preset source tables, rendered from links.json."""
    document = json.loads((DATASETS_DIR / "links.json").read_text(encoding="utf-8"))
    rows = []
    for preset in document["presets"].values():
        for key, figure in preset.items():
            if key == "description" or figure is None:
                continue
            pairs = figure.items() if key == "outage" else [(None, figure)]
            for sub, fig in pairs:
                label = f"outage.{sub}" if sub else key
                value = f"{fig['value']:g}" if isinstance(fig["value"], float) else fig["value"]
                rows.append(f"| {label} | {value} | {fig['basis']} | {fig['source']} |")
    return rows


def test_the_readme_source_tables_match_links_json() -> None:
    readme = (DATASETS_DIR / "README.md").read_text(encoding="utf-8").splitlines()
    missing = [row for row in _source_table_rows() if row not in readme]
    assert not missing, "README.md is out of date with links.json; expected rows:\n" + "\n".join(
        missing
    )
