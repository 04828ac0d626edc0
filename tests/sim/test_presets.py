"""mqttsim.sim.presets: link presets with a source for every figure, the pipeline layout."""

from __future__ import annotations

import json
import math
import pickle
import subprocess
import sys
from pathlib import Path

import pytest

from mqttsim.protocol.errors import ConfigError
from mqttsim.sim import presets
from mqttsim.sim.presets import DATASETS_DIR, LinkPreset, get_preset, load_pipeline, load_presets

ROOT = Path(__file__).resolve().parents[2]
REQUIRED = {"vsat-1999", "geo-vsat", "bgan", "iridium", "leo", "cellular-2g"}
FIGURES = (
    "delay_s",
    "jitter_s",
    "uplink_bps",
    "downlink_bps",
    "loss_rate",
    "mean_burst_len",
    "price_per_mb_usd",
    "price_year",
)
# One hop through a geostationary satellite at the sub-satellite point: 2 x 35,786 km / c.
GEO_ONE_HOP_S = 2 * 35_786 / 299_792.458


@pytest.fixture(scope="module")
def all_presets() -> dict[str, LinkPreset]:
    return load_presets()


def test_the_package_finds_the_one_copy_of_datasets_in_the_repository() -> None:
    assert DATASETS_DIR == ROOT / "datasets"
    for name in ("links.json", "pipeline.json", "telemetry.csv.gz", "README.md"):
        assert (DATASETS_DIR / name).is_file(), name


def test_the_presets_named_by_the_design_exist(all_presets: dict[str, LinkPreset]) -> None:
    assert REQUIRED <= set(all_presets)
    assert presets.preset_names() == tuple(sorted(all_presets))


def test_every_preset_has_every_field_and_a_source_for_every_figure(
    all_presets: dict[str, LinkPreset],
) -> None:
    for name, preset in all_presets.items():
        assert preset.name == name
        assert preset.description.strip()
        for attr in FIGURES:
            value = getattr(preset, attr)
            assert isinstance(value, int | float) and math.isfinite(value), (name, attr)
            assert preset.sources[attr].strip(), (name, attr)
        if preset.outage is not None:
            assert preset.outage.mean_up_s > 0 and preset.outage.mean_down_s > 0
            assert preset.sources["outage_mean_up_s"] and preset.sources["outage_mean_down_s"]
        if preset.price_per_message_usd is not None:
            assert preset.sources["price_per_message_usd"]
        for source in preset.sources.values():
            assert source.startswith(("[published] ", "[derived] ", "[estimate] "))


def test_every_figure_in_links_json_states_its_basis_and_estimates_say_so() -> None:
    document = json.loads((DATASETS_DIR / "links.json").read_text(encoding="utf-8"))
    figures = []

    def walk(node: object, where: str) -> None:
        if isinstance(node, dict):
            if "value" in node:
                figures.append((where, node))
                return
            for key, child in node.items():
                walk(child, f"{where}.{key}")

    walk(document["presets"], "presets")
    assert len(figures) >= 9 * len(REQUIRED)
    for where, figure in figures:
        assert figure["basis"] in presets.BASES, where
        assert len(figure["source"]) > 20, where
        if figure["basis"] == "estimate":
            assert figure["source"].startswith("Estimate: "), where


def test_figures_are_in_range_and_in_si_units(all_presets: dict[str, LinkPreset]) -> None:
    for name, p in all_presets.items():
        assert 0 <= p.loss_rate <= 1, name
        assert p.mean_burst_len >= 1, name
        assert p.delay_s >= 0 and p.jitter_s >= 0, name
        # Every preset states a bandwidth and a price year (a LinkSpec may leave them None).
        assert p.uplink_bps is not None and p.downlink_bps is not None, name
        assert p.uplink_bps >= 1_000 and p.downlink_bps >= 1_000, name  # bit/s, not kbit/s
        assert p.price_year is not None and 1990 <= p.price_year <= 2030, name
        assert p.price_per_mb_usd > 0, name


def test_geostationary_presets_are_no_faster_than_light(all_presets: dict[str, LinkPreset]) -> None:
    for name in ("vsat-1999", "geo-vsat", "bgan"):
        assert all_presets[name].delay_s >= GEO_ONE_HOP_S, name
    assert 0.250 <= all_presets["vsat-1999"].delay_s <= 0.280
    assert all_presets["leo"].delay_s < 0.1


def test_most_services_are_asymmetric(all_presets: dict[str, LinkPreset]) -> None:
    asymmetric = [p for p in all_presets.values() if p.uplink_bps != p.downlink_bps]
    assert len(asymmetric) > len(all_presets) / 2
    for name in ("geo-vsat", "leo", "cellular-2g"):
        up, down = all_presets[name].uplink_bps, all_presets[name].downlink_bps
        assert up is not None and down is not None and up < down, name


def test_a_per_message_price_comes_with_its_per_mb_equivalent(
    all_presets: dict[str, LinkPreset],
) -> None:
    sbd = all_presets["iridium-sbd"]
    assert sbd.price_per_message_usd is not None
    # One RockBLOCK credit covers 50 bytes.
    assert sbd.price_per_mb_usd == pytest.approx(sbd.price_per_message_usd * 2**20 / 50, rel=1e-4)


def test_rain_fade_outages_leave_a_geo_link_up_most_of_the_time(
    all_presets: dict[str, LinkPreset],
) -> None:
    for name in ("vsat-1999", "geo-vsat"):
        outage = all_presets[name].outage
        assert outage is not None
        assert 0.99 <= outage.availability < 1


def test_an_unknown_preset_is_a_one_line_config_error_listing_the_names() -> None:
    with pytest.raises(ConfigError) as info:
        get_preset("carrier-pigeon")
    message = str(info.value)
    assert "\n" not in message
    assert "carrier-pigeon" in message
    for name in REQUIRED:
        assert name in message


def test_overrides_replace_figures_and_say_so_in_the_sources() -> None:
    base = get_preset("vsat-1999")
    changed = base.with_overrides(loss_rate=0.2, delay_s=0.5, bandwidth_bps=64_000)
    assert (changed.loss_rate, changed.delay_s) == (0.2, 0.5)
    assert changed.uplink_bps == changed.downlink_bps == 64_000
    assert changed.sources["loss_rate"].startswith("[override]")
    assert changed.sources["jitter_s"] == base.sources["jitter_s"]
    assert base.loss_rate == 0.005  # the original is untouched (frozen)
    one_way = base.with_overrides(bandwidth_bps=64_000, uplink_bps=1_200)
    assert (one_way.uplink_bps, one_way.downlink_bps) == (1_200, 64_000)
    assert base.with_overrides() == base


@pytest.mark.parametrize(
    ("kwargs", "allowed"),
    [
        ({"loss_rate": -0.01}, "[0, 1]"),
        ({"loss_rate": 1.5}, "[0, 1]"),
        ({"loss_rate": math.nan}, "[0, 1]"),
        ({"delay_s": -1.0}, ">= 0"),
        ({"delay_s": math.inf}, ">= 0"),
        ({"bandwidth_bps": 0}, "> 0"),
        ({"uplink_bps": -5}, "> 0"),
        ({"jitter_s": -0.1}, ">= 0"),
        ({"mean_burst_len": 0.5}, ">= 1"),
        ({"loss_rate": "0.1"}, "[0, 1]"),
        ({"delay_s": True}, ">= 0"),
    ],
)
def test_an_override_out_of_range_names_the_allowed_range(
    kwargs: dict[str, object], allowed: str
) -> None:
    with pytest.raises(ConfigError) as info:
        get_preset("leo").with_overrides(**kwargs)  # type: ignore[arg-type]
    assert allowed in str(info.value)
    assert next(iter(kwargs)) in str(info.value)


def test_presets_are_plain_values(all_presets: dict[str, LinkPreset]) -> None:
    leo = all_presets["leo"]
    assert pickle.loads(pickle.dumps(leo)) == leo
    assert hash(leo) == hash(get_preset("leo"))
    with pytest.raises(AttributeError):
        leo.delay_s = 1.0  # type: ignore[misc]


def test_a_damaged_links_file_is_a_config_error(tmp_path: Path) -> None:
    document = json.loads((DATASETS_DIR / "links.json").read_text(encoding="utf-8"))
    document["presets"]["leo"]["loss_rate"]["source"] = " "
    (tmp_path / "links.json").write_text(json.dumps(document), encoding="utf-8")
    with pytest.raises(ConfigError, match="leo.loss_rate: every figure needs a source"):
        load_presets(tmp_path)
    del document["presets"]["leo"]["loss_rate"]
    (tmp_path / "links.json").write_text(json.dumps(document), encoding="utf-8")
    with pytest.raises(ConfigError, match="leo.loss_rate: missing"):
        load_presets(tmp_path / "links.json")
    with pytest.raises(ConfigError, match="not found"):
        load_presets(tmp_path / "nowhere.json")


def test_importing_presets_does_not_import_pandas() -> None:
    code = (
        "import sys, mqttsim.sim; before = 'pandas' in sys.modules; "
        "import mqttsim.sim.presets; print(before or 'pandas' not in sys.modules)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT
    )
    assert result.stdout.strip() == "True"


def test_the_pipeline_has_stations_in_km_order_with_their_sensors() -> None:
    pipe = load_pipeline()
    kms = [st.km for st in pipe.stations]
    assert kms == sorted(kms) and kms[0] == 0 and kms[-1] == pipe.length_km
    ids = [st.id for st in pipe.stations]
    assert ids == [f"st-{i:02d}" for i in range(1, len(ids) + 1)]
    assert {st.type for st in pipe.stations} == {"pump_station", "block_valve", "meter"}
    for st in pipe.stations:
        assert st.sensors
        for sensor in st.sensors:
            assert sensor.period_s == (60 if sensor.kind in ("pressure", "flow") else 300)
            if sensor.alarm_low is not None and sensor.alarm_high is not None:
                assert sensor.alarm_low < sensor.nominal < sensor.alarm_high, (st.id, sensor.name)
    assert pipe.scada_host["link_preset"] in load_presets()
    assert pipe.station(pipe.leak.station).km == pipe.leak.km
    with pytest.raises(ConfigError, match="st-01"):
        pipe.station("st-99")


def test_every_preset_builds_a_simulated_link(all_presets: dict[str, LinkPreset]) -> None:
    import random

    import simpy

    from mqttsim.sim.link import Link, RandomOutages
    from mqttsim.sim.loss import GilbertElliott

    for name, p in all_presets.items():
        rng = random.Random(1999)
        outages = None
        if p.outage is not None:
            outages = RandomOutages(p.outage.mean_up_s, p.outage.mean_down_s, rng, 86_400.0)
        Link(
            simpy.Environment(),
            name=f"{name} up",
            delay_s=p.delay_s,
            jitter_s=p.jitter_s,
            bandwidth_bps=p.uplink_bps,
            loss=GilbertElliott.from_mean(p.loss_rate, p.mean_burst_len, rng),
            outages=outages,
            rng=rng,
        )
