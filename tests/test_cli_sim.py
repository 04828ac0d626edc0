"""``mqttsim sim pipeline``: options, output files, progress, and one-line errors."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from mqttsim.cli import main

SMALL = ["sim", "pipeline", "--stations", "2", "--hours", "0.2", "--seed", "7"]


def assert_one_line_error(stderr: str, *fragments: str) -> None:
    assert "Traceback" not in stderr
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    assert lines[0].startswith("mqttsim") and ": error: " in lines[0], stderr
    for fragment in fragments:
        assert fragment in lines[0], stderr


def test_writes_messages_summary_and_pcap(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out, summary, pcap = tmp_path / "m.csv", tmp_path / "s.json", tmp_path / "t.pcap"
    code = main(
        [
            *SMALL,
            "--qos",
            "2",
            "--loss",
            "0.02",
            "--outage",
            "300:60",
            "--outage",
            "600:30",
            "--out",
            str(out),
            "--json",
            str(summary),
            "--pcap",
            str(pcap),
        ]
    )
    captured = capsys.readouterr()
    assert code == 0, captured.err
    messages = pd.read_csv(out)
    assert list(messages.columns)[:7] == [
        "message_id",
        "station",
        "topic",
        "kind",
        "qos",
        "sent_s",
        "delivered_s",
    ]
    assert "deliveries" in messages.columns
    assert (messages["qos"] == 2).all()
    assert set(messages["station"]) == {"st-01", "st-02"}
    document = json.loads(summary.read_text())
    assert document["config"]["qos"] == 2 and document["config"]["loss_rate"] == 0.02
    assert document["config"]["outages"] == [[300.0, 60.0], [600.0, 30.0]]
    (row,) = document["summary"]
    assert row["messages"] == len(messages)
    assert pcap.read_bytes()[:4] == bytes.fromhex("4d3cb2a1")  # pcap, nanosecond timestamps
    # The summary table on stdout, the progress bar on stderr.
    assert "delivery ratio" in captured.out and "QoS 2" in captured.out
    assert "100%" in captured.err


def test_parquet_output_has_nulls_for_messages_never_delivered(tmp_path: Path) -> None:
    out = tmp_path / "m.parquet"
    code = main(
        [
            *SMALL,
            "--qos",
            "0",
            "--outage",
            "200:500",
            "--no-random-outages",
            "--quiet",
            "--out",
            str(out),
        ]
    )
    assert code == 0
    messages = pd.read_parquet(out)
    lost = messages[messages["deliveries"] == 0]
    assert len(lost) > 0 and lost["delivered_s"].isna().all()


def test_csv_leaves_delivered_empty_when_never_delivered(tmp_path: Path) -> None:
    out = tmp_path / "m.csv"
    assert main([*SMALL, "--qos", "0", "--outage", "200:500", "--quiet", "--out", str(out)]) == 0
    lines = out.read_text().splitlines()
    never = [line for line in lines[1:] if line.split(",")[7] == "0"]
    assert never and all(line.split(",")[6] == "" for line in never)


def test_overrides_reach_the_config(tmp_path: Path) -> None:
    summary = tmp_path / "s.json"
    code = main(
        [
            *SMALL,
            "--quiet",
            "--delay-ms",
            "10",
            "--bandwidth-kbps",
            "64",
            "--burst",
            "1",
            "--link",
            "bgan",
            "--json",
            str(summary),
        ]
    )
    assert code == 0
    config = json.loads(summary.read_text())["config"]
    assert config["link"] == "bgan"
    assert math.isclose(config["delay_s"], 0.01) and config["bandwidth_bps"] == 64000.0
    assert config["mean_burst_len"] == 1.0


@pytest.mark.parametrize(
    ("args", "fragments"),
    [
        (["--outage", "10"], ["--outage", "START_S:DURATION_S"]),
        (["--outage", "10:-5"], ["--outage", "DURATION_S > 0"]),
        (["--link", "carrier-pigeon"], ["unknown link preset 'carrier-pigeon'", "vsat-1999"]),
        (["--loss", "-0.1"], ["--loss must be in [0, 1]"]),
        (["--loss", "abc"], ["--loss", "not a number"]),
        (["--qos", "3"], ["--qos"]),
        (["--stations", "0"], ["--stations"]),
        (["--bandwidth-kbps", "0"], ["--bandwidth-kbps must be > 0"]),
        (["--out", "messages.xlsx"], ["messages.xlsx", ".csv or .parquet"]),
        (["--json", "summary.txt"], ["summary.txt", ".json"]),
        (["--hours", "-1"], ["hours must be > 0"]),
        (["--stations", "300", "--pcap", "x.pcap"], ["--pcap", "254"]),
    ],
)
def test_mistakes_are_one_line_and_status_2(
    args: list[str], fragments: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main([*SMALL, "--quiet", *args]) == 2
    assert_one_line_error(capsys.readouterr().err, *fragments)


def test_as_a_separate_process(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "mqttsim", *SMALL, "--hours", "0.05", "--out", "m.csv"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "m.csv").is_file()
    assert "[" in result.stderr and "100%" in result.stderr  # the progress bar
    assert "latency p50 (s)" in result.stdout
