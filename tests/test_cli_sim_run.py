"""``mqttsim sim run`` and ``mqttsim sim presets``: runs side by side, output files
checked before anything runs, one-line errors; and the same experiment written three
ways (Python, TOML, command line) giving the same seeded results."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd  # type: ignore[import-untyped,unused-ignore]
import pytest

from mqttsim.cli import main
from mqttsim.sim import Scenario
from mqttsim.sim.presets import DATASETS_DIR, preset_table
from mqttsim.sim.scenario_file import load_scenario

from .test_cli_sim import assert_one_line_error

SCENARIOS = DATASETS_DIR / "scenarios"
GEO = str(SCENARIOS / "geo-station.toml")
SHORT = ["--set", "scenario.duration_s=600", "--quiet"]


def _plain(frame: pd.DataFrame) -> pd.DataFrame:
    """Categoricals as strings, nullable floats as floats: frames compared by value."""
    out = frame.copy()
    for column in out.columns:
        if isinstance(out[column].dtype, pd.CategoricalDtype) or out[column].dtype == object:
            out[column] = out[column].astype(object).where(out[column].notna(), None)
            out[column] = out[column].map(lambda v: None if v is None else str(v))
        elif str(out[column].dtype) == "Float64":
            out[column] = out[column].astype("float64")
    return out.reset_index(drop=True)


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = json.loads(frame.to_json(orient="records"))
    return rows


# --- the same experiment three ways ---------------------------------------------------------------


def test_python_toml_and_cli_give_identical_seeded_results(tmp_path: Path) -> None:
    built = Scenario("geo-station", duration_s=600, drain_s=60, seed=1, qos=1)
    built.link("station", "hub", "geo-vsat", name="station-hub")
    built.broker("broker", site="hub")
    built.client("rtu", site="station")
    built.client("scada", site="hub", subscribe=[("plant/#", 2)])
    built.periodic("rtu", "plant/pressure", every_s=10, payload_bytes=24)
    built.periodic("rtu", "plant/temperature", every_s=60, offset_s=5, payload_bytes=24)
    in_python = built.run(seed=3, qos=2)

    in_toml = load_scenario(GEO, values=["scenario.duration_s=600"]).run(seed=3, qos=2)

    out, summary = tmp_path / "m.parquet", tmp_path / "runs.json"
    code = main(
        ["sim", "run", GEO, "--qos", "2", "--seeds", "3", *SHORT]
        + ["--out", str(out), "--json", str(summary)]
    )
    assert code == 0
    from_cli = pd.read_parquet(out)
    assert (from_cli["seed"] == 3).all() and (from_cli["run_qos"] == 2).all()
    from_cli = from_cli.drop(columns=["seed", "run_qos"])

    assert len(in_python.messages) > 50
    pd.testing.assert_frame_equal(in_toml.messages, in_python.messages)
    pd.testing.assert_frame_equal(_plain(from_cli), _plain(in_python.messages), check_dtype=False)
    pd.testing.assert_frame_equal(in_toml.summary(), in_python.summary())
    (run,) = json.loads(summary.read_text())["runs"]
    assert (run["seed"], run["qos"]) == (3, 2)
    assert run["summary"] == _records(in_python.summary())


def test_the_pipeline_file_equals_sim_pipeline_with_the_same_flags(tmp_path: Path) -> None:
    a_csv, a_json = tmp_path / "a.csv", tmp_path / "a.json"
    b_csv, b_json = tmp_path / "b.csv", tmp_path / "b.json"
    code = main(
        ["sim", "run", str(SCENARIOS / "pipeline.toml"), "--qos", "2", "--seeds", "7"]
        + ["--set", "scenario.duration_s=3600", "--set", "link.loss=0.02", "--quiet"]
        + ["--out", str(a_csv), "--json", str(a_json)]
    )
    assert code == 0
    code = main(
        ["sim", "pipeline", "--qos", "2", "--seed", "7", "--hours", "1", "--loss", "0.02"]
        + ["--quiet", "--out", str(b_csv), "--json", str(b_json)]
    )
    assert code == 0
    from_file, pipeline = pd.read_csv(a_csv), pd.read_csv(b_csv)
    # The pipeline's messages are the stations'; all go to the SCADA host.
    assert set(from_file["subscriber"]) == {"scada-host"}
    from_file = from_file.rename(columns={"publisher": "station"})
    shared = [c for c in pipeline.columns if c in from_file.columns]
    assert len(shared) == len(pipeline.columns) and len(pipeline) > 1000
    pd.testing.assert_frame_equal(from_file[shared], pipeline[shared])
    (run,) = json.loads(a_json.read_text())["runs"]
    (row,) = json.loads(b_json.read_text())["summary"]
    assert run["summary"] == [row]


# --- runs side by side ----------------------------------------------------------------------------


def test_three_qos_levels_and_two_seeds_print_six_runs_side_by_side(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out, summary = tmp_path / "m.csv", tmp_path / "runs.json"
    code = main(
        ["sim", "run", GEO, "--qos", "0,1,2", "--seeds", "1-2", *SHORT]
        + ["--out", str(out), "--json", str(summary)]
    )
    captured = capsys.readouterr()
    assert code == 0, captured.err
    lines = captured.out.splitlines()
    assert lines[0].startswith("geo-station: 1 link, 2 clients, 600 s, 6 runs")
    tops, bottoms = lines[1].split(), " ".join(lines[2].split())
    assert tops.count("seed") == 6 and tops.count("mean") == 3
    assert bottoms == " ".join(f"QoS {q}" for q in (0, 0, 0, 1, 1, 1, 2, 2, 2))
    delivered = next(line for line in lines if line.startswith("delivered"))
    assert len(delivered.split()) == 1 + 9  # its label, six runs and three means
    rows = pd.read_csv(out)
    assert sorted(set(zip(rows["run_qos"], rows["seed"], strict=True))) == [
        (q, s) for q in (0, 1, 2) for s in (1, 2)
    ]
    runs = json.loads(summary.read_text())["runs"]
    assert [(r["qos"], r["seed"]) for r in runs] == [(q, s) for q in (0, 1, 2) for s in (1, 2)]
    assert {"summary", "links", "connections", "broker_drops"} <= set(runs[0])
    assert captured.err == ""  # --quiet


def test_the_mean_column_is_the_mean_of_the_seeds(capsys: pytest.CaptureFixture[str]) -> None:
    path = str(SCENARIOS / "two-hop.toml")
    assert main(["sim", "run", path, "--seeds", "1,4,7", *SHORT]) == 0
    lines = capsys.readouterr().out.splitlines()
    row = next(line for line in lines if line.startswith("bytes on the link"))
    values = [float(v.replace(",", "")) for v in row.split()[4:]]
    assert len(values) == 4 and values[3] == pytest.approx(sum(values[:3]) / 3, abs=0.5)


def test_defaults_come_from_the_file_and_progress_goes_to_stderr(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["sim", "run", GEO, "--set", "scenario.duration_s=300"]) == 0
    captured = capsys.readouterr()
    assert "seed 1" in captured.out and "QoS 1" in captured.out  # the file's seed and qos
    assert "100%" in captured.err


def test_pcap_and_packets(tmp_path: Path) -> None:
    pcap, out = tmp_path / "t.pcap", tmp_path / "m.csv"
    code = main(["sim", "run", GEO, *SHORT, "--pcap", str(pcap), "--out", str(out), "--packets"])
    assert code == 0
    assert pcap.read_bytes()[:4] == bytes.fromhex("4d3cb2a1")
    packets = pd.read_csv(tmp_path / "m-packets.csv")
    assert len(packets) > 0 and {"seed", "run_qos", "time_s", "link"} <= set(packets.columns)


# --- refused before anything runs -----------------------------------------------------------------


@pytest.fixture
def no_runs(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("a run started")

    monkeypatch.setattr(Scenario, "run", refuse)


@pytest.mark.parametrize(
    ("args", "fragments"),
    [
        (["--out", "{tmp}/missing/m.csv"], ["--out", "missing", "does not exist"]),
        (["--out", "{tmp}/m.xlsx"], ["--out", "m.xlsx", ".csv or .parquet"]),
        (["--json", "{tmp}/missing/r.json"], ["--json", "does not exist"]),
        (["--json", "{tmp}/r.txt"], ["--json", ".json"]),
        (["--pcap", "{tmp}/t.pcap", "--seeds", "1-2"], ["--pcap", "one run"]),
        (["--packets"], ["--packets", "--out"]),
        (["--seeds", "3-1"], ["--seeds", "3-1"]),
        (["--seeds", "x"], ["--seeds"]),
        (["--qos", "3"], ["--qos", "0, 1 or 2"]),
        (["--qos", "0,1,5"], ["--qos"]),
        (["--set", "link.delay=3"], ['unknown key "delay"', "--set link.delay=3"]),
        (["--set", "lnk.loss=0.1"], ["--set lnk.loss=0.1", 'unknown group "lnk"']),
        (["--set", "nonsense"], ["--set", "KEY=VALUE"]),
    ],
)
def test_mistakes_are_one_line_and_nothing_runs(
    args: list[str],
    fragments: list[str],
    tmp_path: Path,
    no_runs: None,
    capsys: pytest.CaptureFixture[str],
) -> None:
    args = [a.replace("{tmp}", str(tmp_path)) for a in args]
    assert main(["sim", "run", GEO, *args]) == 2
    captured = capsys.readouterr()
    assert_one_line_error(captured.err, *fragments)
    assert captured.out == "" and "%" not in captured.err  # no table, no progress bar


def test_a_missing_scenario_file_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["sim", "run", str(tmp_path / "none.toml")]) == 2
    assert_one_line_error(capsys.readouterr().err, "scenario file not found", "none.toml")


# --- presets --------------------------------------------------------------------------------------


def test_presets_lists_every_preset_with_its_figures(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["sim", "presets"]) == 0
    out = capsys.readouterr().out
    rows = preset_table()
    for row in rows:
        line = next(line for line in out.splitlines() if line.startswith(row["name"] + " "))
        assert f"{row['delay_ms']:g}" in line and f"{row['uplink_kbps']:g}" in line
        assert row["loss_model"] in line and str(row["price_year"]) in line
    assert "[estimate]" not in out  # the sources only with --sources


def test_presets_with_sources_gives_the_source_of_every_figure(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["sim", "presets", "--sources"]) == 0
    out = capsys.readouterr().out
    for row in preset_table():
        assert f"{row['name']}: {row['description']}" in out
        for column, source in row["sources"].items():
            assert f"{column}" in out and source in out


# --- the pipeline's link flags, checked by check_link_figure --------------------------------------


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--delay-ms", "-1"], "--delay-ms must be >= 0, got -1"),
        (["--jitter-ms", "-2"], "--jitter-ms must be >= 0, got -2"),
        (["--burst", "0.5"], "--burst must be >= 1, got 0.5"),
        (["--loss", "1.5"], "--loss must be in [0, 1], got 1.5"),
        (["--bandwidth-kbps", "-3"], "--bandwidth-kbps must be > 0, got -3"),
    ],
)
def test_pipeline_link_flags_name_the_flag(
    args: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["sim", "pipeline", "--quiet", *args]) == 2
    assert_one_line_error(capsys.readouterr().err, message)


def test_a_run_with_no_subscriber_prints_no_nan(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["sim", "run", GEO, *SHORT, "--set", 'client.scada.subscribe=["other/#"]'])
    assert code == 0
    out = capsys.readouterr().out
    assert "nan" not in out.lower() and "no message had a subscriber" in out
