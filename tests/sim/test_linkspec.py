"""LinkSpec: one link vocabulary, its ranges, its loss and jitter models, the links it builds."""

from __future__ import annotations

import json
import math
import pickle
import random
from collections.abc import Callable, Generator
from pathlib import Path
from typing import Any

import pytest
import simpy

from mqttsim.protocol.errors import ConfigError
from mqttsim.sim.link import Link, LinkRecord, OutageSchedule, RandomOutages
from mqttsim.sim.linkspec import (
    JITTER_MODELS,
    LINK_FIGURES,
    LOSS_MODELS,
    LinkSpec,
    LossSpec,
    Outage,
    check_link_figure,
)
from mqttsim.sim.loss import Bernoulli, GilbertElliott, LossModel, TimedGilbertElliott
from mqttsim.sim.presets import DATASETS_DIR, LinkPreset, get_preset, load_presets, preset_table


def spec(**fields: Any) -> LinkSpec:
    """A small valid LinkSpec with some fields replaced."""
    base: dict[str, Any] = {
        "name": "test",
        "delay_s": 0.25,
        "jitter_s": 0.02,
        "uplink_bps": 9600.0,
        "downlink_bps": 64_000.0,
        "loss": LossSpec.per_packet(0.01, 2.0),
    }
    base.update(fields)
    return LinkSpec(**base)


def one_line_error(call: Callable[[], object]) -> str:
    with pytest.raises(ConfigError) as info:
        call()
    message = str(info.value)
    assert "\n" not in message
    return message


# --- figures --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "value", "allowed"),
    [
        ("delay_s", -0.1, "a finite number >= 0"),
        ("delay_s", math.inf, "a finite number >= 0"),
        ("delay_s", True, "a finite number >= 0"),
        ("delay_s", "0.1", "a finite number >= 0"),
        ("uplink_bps", 0, "a finite number > 0"),
        ("loss_rate", math.nan, "in [0, 1]"),
        ("loss_rate", 1.5, "in [0, 1]"),
        ("mean_burst_len", 0.5, "a finite number >= 1"),
        ("mean_bad_s", 0.0, "a finite number > 0"),
    ],
)
def test_a_figure_out_of_range_is_one_line_naming_it_and_its_range(
    name: str, value: object, allowed: str
) -> None:
    message = one_line_error(lambda: check_link_figure(name, value))
    assert message == f"{name} must be {allowed}, got {value!r}"


def test_figures_come_back_as_floats_and_ranges_can_be_narrowed() -> None:
    assert check_link_figure("delay_s", 1) == 1.0 and type(check_link_figure("delay_s", 1)) is float
    assert check_link_figure("loss_rate", 0.5, hi=0.5) == 0.5
    message = one_line_error(lambda: check_link_figure("loss_rate", 0.6, hi=0.5))
    assert message == "loss_rate must be in [0, 0.5], got 0.6"
    with pytest.raises(ValueError):  # narrowing may not widen: a programming error
        check_link_figure("loss_rate", 0.5, hi=2.0)


def test_every_loss_parameter_has_a_range() -> None:
    for info in LOSS_MODELS.values():
        for name in info.names:
            assert name in LINK_FIGURES, name


# --- LossSpec -------------------------------------------------------------------------------------


def test_loss_spec_validates_against_the_registry() -> None:
    message = one_line_error(lambda: LossSpec.of("carrier-pigeon"))
    for model in LOSS_MODELS:
        assert model in message
    message = one_line_error(lambda: LossSpec.of("bernoulli", rate=0.1))
    assert "'rate'" in message and "loss_rate" in message
    message = one_line_error(lambda: LossSpec.of("bernoulli"))
    assert message == "bernoulli loss needs loss_rate (in [0, 1])"
    message = one_line_error(lambda: LossSpec.of("gilbert-elliott-time", mean_good_s=10.0))
    assert "mean_bad_s" in message and "> 0" in message
    message = one_line_error(lambda: LossSpec.of("gilbert-elliott", loss_rate=0.1))
    assert "mean_burst_len" in message and "p_good_to_bad" in message
    message = one_line_error(
        lambda: LossSpec.of("gilbert-elliott-time", mean_good_s=1, mean_bad_s=-1)
    )
    assert message.startswith("mean_bad_s must be a finite number > 0")
    # The model's own cross-parameter rule, checked when the spec is made.
    message = one_line_error(
        lambda: LossSpec.of("gilbert-elliott", loss_rate=0.6, mean_burst_len=1.2)
    )
    assert message.startswith("mean_burst_len must be >= loss_rate/(1-loss_rate)")
    with pytest.raises(ConfigError, match="p_good_to_bad \\+ p_bad_to_good must be > 0"):
        LossSpec.of("gilbert-elliott", p_good_to_bad=0, p_bad_to_good=0)


def test_loss_specs_are_normalised_values() -> None:
    a = LossSpec.of("gilbert-elliott", p_bad_to_good=0.5, p_good_to_bad=0.1)
    b = LossSpec.of(
        "gilbert-elliott", p_good_to_bad=0.1, p_bad_to_good=0.5, loss_good=0, loss_bad=1
    )
    assert a == b and hash(a) == hash(b)
    assert a.params == (
        ("loss_bad", 1.0),
        ("loss_good", 0.0),
        ("p_bad_to_good", 0.5),
        ("p_good_to_bad", 0.1),
    )
    assert a.params_dict()["p_good_to_bad"] == 0.1
    assert pickle.loads(pickle.dumps(a)) == a
    assert LossSpec() == LossSpec.of("none") == LossSpec.per_packet(0.0, 3.0)


def test_per_packet_chooses_the_model_as_the_pipeline_always_did() -> None:
    assert LossSpec.per_packet(0.0).model == "none"
    assert LossSpec.per_packet(0.05, 1.0) == LossSpec.of("bernoulli", loss_rate=0.05)
    assert LossSpec.per_packet(0.05, 3.0) == LossSpec.of(
        "gilbert-elliott", loss_rate=0.05, mean_burst_len=3.0
    )
    assert LossSpec.per_packet(0.0).build(random.Random(1)) is None
    with pytest.raises(ConfigError, match=r"^mean_burst_len must be a finite number >= 1"):
        LossSpec.per_packet(0.05, 0.5)


def draws(model: LossModel | None, n: int = 5000) -> list[bool]:
    assert model is not None
    return [model.lost(i * 0.1) for i in range(n)]


@pytest.mark.parametrize(("rate", "burst"), [(0.05, 1.0), (0.05, 3.0), (0.3, 8.0)])
def test_per_packet_draws_bit_for_bit_what_the_pipeline_drew(rate: float, burst: float) -> None:
    built = LossSpec.per_packet(rate, burst).build(random.Random("7:st-01:loss-up"))
    rng = random.Random("7:st-01:loss-up")
    old = Bernoulli(rate, rng) if burst <= 1 else GilbertElliott.from_mean(rate, burst, rng)
    assert draws(built) == draws(old)


def test_mean_loss_rate_and_burst_figures_of_each_model() -> None:
    ge = LossSpec.per_packet(0.005, 2.0)
    assert (ge.mean_loss_rate, ge.loss_rate, ge.mean_burst_len) == (0.005, 0.005, 2.0)
    assert LossSpec.of("bernoulli", loss_rate=0.1).mean_burst_len == 1.0
    assert LossSpec().mean_loss_rate == 0.0
    chain = LossSpec.of("gilbert-elliott", p_good_to_bad=0.02, p_bad_to_good=0.3, loss_bad=0.6)
    assert chain.mean_loss_rate == pytest.approx(0.02 / 0.32 * 0.6)
    assert math.isnan(chain.mean_burst_len)
    timed = LossSpec.of("gilbert-elliott-time", mean_good_s=18.0, mean_bad_s=2.0)
    assert timed.mean_loss_rate == pytest.approx(0.1)
    assert math.isnan(timed.mean_burst_len)
    assert timed.describe() == (
        "gilbert-elliott-time (loss_bad 1, loss_good 0, mean_bad_s 2, mean_good_s 18)"
    )


# --- the time-based Gilbert-Elliott model ---------------------------------------------------------


def test_timed_model_long_run_loss_matches_its_mean() -> None:
    model = TimedGilbertElliott(20.0, 2.0, 0.01, 0.8, random.Random(5))
    assert model.mean_loss_rate == pytest.approx(20 / 22 * 0.01 + 2 / 22 * 0.8)
    outcomes = [model.lost(i * 0.5) for i in range(200_000)]  # 100,000 s
    assert sum(outcomes) / len(outcomes) == pytest.approx(model.mean_loss_rate, rel=0.1)


def test_timed_model_bursts_last_mean_bad_s_seconds_whatever_the_packet_rate() -> None:
    for dt in (0.05, 0.2):
        model = TimedGilbertElliott(30.0, 3.0, 0.0, 1.0, random.Random(11))
        runs, current = [], 0
        for i in range(int(40_000 / dt)):
            if model.lost(i * dt):
                current += 1
            elif current:
                runs.append(current * dt)
                current = 0
        assert sum(runs) / len(runs) == pytest.approx(3.0, rel=0.1), dt


def test_timed_model_same_seed_same_losses_and_a_stationary_start() -> None:
    def run(seed: int) -> list[bool]:
        model = TimedGilbertElliott(5.0, 1.0, 0.1, 0.9, random.Random(seed))
        return [model.lost(t * 0.3) for t in range(5000)]

    assert run(42) == run(42)
    assert run(42) != run(43)
    starts = [
        TimedGilbertElliott(3.0, 1.0, 0, 1, random.Random(s)).in_bad_state for s in range(4000)
    ]
    assert sum(starts) / len(starts) == pytest.approx(0.25, abs=0.03)


def test_timed_model_refuses_bad_parameters() -> None:
    with pytest.raises(ConfigError, match=r"^mean_good_s must be a finite number > 0"):
        TimedGilbertElliott(0.0, 1.0, 0.0, 1.0, random.Random(0))
    with pytest.raises(ConfigError, match=r"^loss_bad must be in \[0, 1\]"):
        TimedGilbertElliott(1.0, 1.0, 0.0, 1.5, random.Random(0))


# --- jitter ---------------------------------------------------------------------------------------


def delays(count: int, every_s: float = 10.0, **link_args: Any) -> list[float]:
    """Send ``count`` packets ``every_s`` apart over a new Link; return their one-way delays."""
    env = simpy.Environment()
    records: list[LinkRecord] = []
    link = Link(env, name="up", observer=records.append, **link_args)

    def sender() -> Generator[simpy.Event, Any, None]:
        for _ in range(count):
            link.send("x", 1)
            yield env.timeout(every_s)

    env.process(sender())
    env.run()
    return [r.arrival_s - r.time_s for r in records if r.arrival_s is not None]


def test_uniform_jitter_draws_bit_for_bit_as_before() -> None:
    got = delays(500, delay_s=0.25, jitter_s=0.2, rng=random.Random(4))
    rng = random.Random(4)
    assert got == pytest.approx([0.25 + 0.2 * rng.random() for _ in range(500)], abs=1e-9)


@pytest.mark.parametrize("model", ["uniform", "exponential", "normal"])
def test_each_jitter_model_only_adds_and_has_its_mean(model: str) -> None:
    got = delays(20_000, delay_s=0.5, jitter_s=0.2, jitter_model=model, rng=random.Random(8))
    extra = [d - 0.5 for d in got]
    assert min(extra) >= -1e-9
    mean = JITTER_MODELS[model].mean_factor * 0.2
    assert sum(extra) / len(extra) == pytest.approx(mean, rel=0.05)


def test_other_jitter_models_never_reorder() -> None:
    env = simpy.Environment()
    link = Link(
        env, name="up", delay_s=0.1, jitter_s=1.0, jitter_model="exponential", rng=random.Random(2)
    )
    order: list[object] = []
    link.attach(order.append)
    for i in range(300):
        link.send(i, 10)
    env.run()
    assert order == list(range(300))


def test_an_unknown_jitter_model_is_refused_in_one_line() -> None:
    message = one_line_error(
        lambda: Link(simpy.Environment(), name="up", delay_s=0.1, jitter_model="pareto")
    )
    assert message.startswith("jitter_model must be one of uniform, exponential, normal")
    assert one_line_error(lambda: spec(jitter="pareto")).startswith("jitter must be one of")


# --- LinkSpec -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "start"),
    [
        ({"delay_s": -1.0}, "delay_s must be a finite number >= 0"),
        ({"jitter_s": math.nan}, "jitter_s must be a finite number >= 0"),
        ({"uplink_bps": 0.0}, "uplink_bps must be a finite number > 0"),
        ({"downlink_bps": "fast"}, "downlink_bps must be a finite number > 0"),
        ({"queue_limit_bytes": 0}, "queue_limit_bytes must be > 0 or None"),
        ({"queue_limit_bytes": 1.5}, "queue_limit_bytes must be > 0 or None"),
        ({"outages": ((-1.0, 5.0),)}, "outage start_s must be a finite number >= 0"),
        ({"outages": ((1.0, 0.0),)}, "outage duration_s must be a finite number > 0"),
        ({"outages": (5.0,)}, "an outage window must be a (start_s, duration_s) pair"),
        ({"price_per_mb_usd": -1}, "price_per_mb_usd must be a finite number >= 0"),
        ({"price_per_message_usd": math.inf}, "price_per_message_usd must be a finite number >= 0"),
        ({"price_year": 99}, "price_year must be a whole year in [1900, 2100] or None"),
        ({"price_year": 1999.0}, "price_year must be a whole year"),
        ({"loss": 0.1}, "loss must be a LossSpec"),
        ({"outage": (10.0, 1.0)}, "outage must be an Outage or None"),
        ({"name": ""}, "name must be a non-empty string"),
    ],
)
def test_every_field_is_validated_once_with_one_line_naming_it(
    fields: dict[str, Any], start: str
) -> None:
    assert one_line_error(lambda: spec(**fields)).startswith(start)


def test_random_outage_means_are_validated_too() -> None:
    message = one_line_error(lambda: Outage(mean_up_s=10.0, mean_down_s=0.0))
    assert message == "mean_down_s must be a finite number > 0, got 0.0"


def test_a_spec_is_a_plain_value_with_si_floats() -> None:
    a = spec(delay_s=1, outages=[(10, 5)], queue_limit_bytes=3000.0)
    assert type(a.delay_s) is float and a.outages == ((10.0, 5.0),)
    assert a.queue_limit_bytes == 3000 and type(a.queue_limit_bytes) is int
    assert pickle.loads(pickle.dumps(a)) == a
    assert hash(a) == hash(spec(delay_s=1.0, outages=((10.0, 5.0),), queue_limit_bytes=3000))
    with pytest.raises(AttributeError):
        a.delay_s = 2.0  # type: ignore[misc]
    lan = LinkSpec(name="lan", delay_s=0.0005, uplink_bps=None, downlink_bps=None)
    assert lan.loss == LossSpec() and lan.serialisation_s(1500, "down") == 0.0
    assert a.serialisation_s(120, "up") == 120 * 8 / 9600


def test_presets_are_link_specs() -> None:
    assert LinkPreset is LinkSpec
    for name, preset in load_presets().items():
        assert isinstance(preset, LinkSpec) and preset.name == name
        assert preset.loss == LossSpec.per_packet(preset.loss_rate, preset.mean_burst_len)


def test_overrides_rebuild_a_per_packet_loss_keeping_the_other_figure() -> None:
    base = get_preset("vsat-1999")  # 0.5 %, bursts of 2
    assert base.with_overrides(loss_rate=0.05).loss == LossSpec.per_packet(0.05, 2.0)
    independent = base.with_overrides(mean_burst_len=1.0)
    assert independent.loss == LossSpec.of("bernoulli", loss_rate=0.005)
    assert independent.sources["mean_burst_len"] == "[override] set to 1 by the caller"
    assert independent.sources["loss_rate"] == base.sources["loss_rate"]
    assert base.with_overrides(loss_rate=0.0).loss.model == "none"


def test_overrides_of_the_new_fields() -> None:
    base = get_preset("leo")
    timed = LossSpec.of("gilbert-elliott-time", mean_good_s=15.0, mean_bad_s=0.1)
    changed = base.with_overrides(
        loss=timed,
        jitter="exponential",
        queue_limit_bytes=64_000,
        outages=[(100.0, 10.0)],
        outage=None,
    )
    assert changed.loss == timed and changed.jitter == "exponential"
    assert changed.queue_limit_bytes == 64_000 and changed.outage is None
    assert changed.outages == ((100.0, 10.0),)
    assert "loss_rate" not in changed.sources and "outage_mean_up_s" not in changed.sources
    assert changed.sources["mean_bad_s"] == "[override] set to 0.1 by the caller"
    assert changed.sources["jitter"] == "[override] set to exponential by the caller"
    # None means "no random outages" or "unbounded"; leaving a keyword out keeps the figure.
    assert changed.with_overrides(queue_limit_bytes=None).queue_limit_bytes is None
    assert changed.with_overrides(delay_s=0.03).queue_limit_bytes == 64_000
    assert base.with_overrides(outages=()) == base  # passing the same value is no override
    message = one_line_error(lambda: changed.with_overrides(loss_rate=0.1))
    assert "gilbert-elliott-time" in message and "loss=LossSpec.of" in message
    message = one_line_error(lambda: base.with_overrides(loss=timed, loss_rate=0.1))
    assert "not both" in message


def test_preset_table_gives_the_cli_every_figure_with_its_source() -> None:
    rows = {row["name"]: row for row in preset_table()}
    assert list(rows) == list(load_presets())
    vsat = rows["vsat-1999"]
    assert (vsat["delay_ms"], vsat["jitter_ms"], vsat["uplink_kbps"]) == (270.0, 20.0, 2.4)
    assert rows["leo"]["jitter_ms"] == 3.4  # units undone without rounding noise
    assert (vsat["loss_model"], vsat["mean_loss_rate"], vsat["mean_burst_len"]) == (
        "gilbert-elliott",
        0.005,
        2.0,
    )
    assert vsat["availability"] == pytest.approx(0.997)
    assert rows["bgan"]["outage_mean_up_s"] is None
    assert vsat["price_year"] == 1999
    for column in ("delay_ms", "uplink_kbps", "mean_loss_rate", "mean_burst_len", "price_year"):
        assert vsat["sources"][column].startswith("[estimate] Estimate:"), column


def test_links_json_may_name_a_loss_model_a_jitter_model_and_a_queue(tmp_path: Path) -> None:
    document = json.loads((DATASETS_DIR / "links.json").read_text(encoding="utf-8"))
    leo = document["presets"]["leo"]
    figure = {"basis": "estimate", "source": "Estimate: for the test."}
    del leo["loss_rate"], leo["mean_burst_len"]
    leo["loss"] = {
        "model": "gilbert-elliott-time",
        "mean_good_s": {"value": 15, **figure},
        "mean_bad_s": {"value": 0.1, **figure},
    }
    leo["jitter_model"] = "normal"
    leo["queue_limit_bytes"] = {"value": 100_000, **figure}
    (tmp_path / "links.json").write_text(json.dumps(document), encoding="utf-8")
    loaded = get_preset("leo", tmp_path)
    assert loaded.loss == LossSpec.of("gilbert-elliott-time", mean_good_s=15, mean_bad_s=0.1)
    assert loaded.jitter == "normal" and loaded.queue_limit_bytes == 100_000
    assert loaded.sources["mean_bad_s"] == "[estimate] Estimate: for the test."
    row = next(r for r in preset_table(tmp_path) if r["name"] == "leo")
    assert row["mean_burst_len"] is None and row["loss_model"] == "gilbert-elliott-time"

    leo["loss_rate"] = {"value": 0.01, **figure}
    (tmp_path / "links.json").write_text(json.dumps(document), encoding="utf-8")
    with pytest.raises(ConfigError, match=r"leo\.loss_rate: give a loss object or loss_rate"):
        load_presets(tmp_path)
    del leo["loss_rate"]
    leo["loss"]["model"] = "bernoulli"
    (tmp_path / "links.json").write_text(json.dumps(document), encoding="utf-8")
    with pytest.raises(ConfigError, match=r"^links\.json:leo: bernoulli loss has no parameter"):
        load_presets(tmp_path)
    leo["loss"] = {"model": "none"}
    leo["jitter_model"] = "gaussian"
    (tmp_path / "links.json").write_text(json.dumps(document), encoding="utf-8")
    with pytest.raises(ConfigError, match=r"leo\.jitter_model must be one of uniform"):
        load_presets(tmp_path)


# --- the links a spec builds ----------------------------------------------------------------------


def old_station_links(
    env: simpy.Environment,
    p: LinkSpec,
    node: str,
    seed: int,
    horizon_s: float,
    scheduled: tuple[tuple[float, float], ...],
    random_outages: bool,
    observers: tuple[Any, Any],
) -> list[Link]:
    """What scenarios/pipeline_world.py's _station_path and _loss built before LinkSpec."""

    def rng(purpose: str) -> random.Random:
        return random.Random(f"{seed}:{node}:{purpose}")

    def loss(direction: str) -> LossModel | None:
        if p.loss_rate <= 0.0:
            return None
        r = rng(f"loss-{direction}")
        if p.mean_burst_len <= 1.0:
            return Bernoulli(p.loss_rate, r)
        return GilbertElliott.from_mean(p.loss_rate, p.mean_burst_len, r)

    windows = list(scheduled)
    if random_outages and p.outage is not None:
        drawn = RandomOutages(p.outage.mean_up_s, p.outage.mean_down_s, rng("outages"), horizon_s)
        windows += drawn.windows
    outages = OutageSchedule(windows) if windows else None
    return [
        Link(
            env,
            name=f"{node} {direction}",
            delay_s=p.delay_s,
            jitter_s=p.jitter_s,
            bandwidth_bps=bandwidth,
            loss=loss(direction),
            outages=outages,
            rng=rng(f"jitter-{direction}"),
            observer=obs,
        )
        for direction, bandwidth, obs in (
            ("up", p.uplink_bps, observers[0]),
            ("down", p.downlink_bps, observers[1]),
        )
    ]


def traffic(links: list[Link] | tuple[Link, Link], seed: int, horizon_s: float) -> None:
    """Send the same seeded packets both ways and run to the horizon."""
    env = links[0].env
    plan = random.Random(seed)

    def sender(link: Link) -> Generator[simpy.Event, Any, None]:
        while env.now < horizon_s:
            yield env.timeout(plan.expovariate(1.0))
            link.send(None, plan.randint(40, 1500))

    for link in links:
        env.process(sender(link))
    env.run(until=horizon_s + 60.0)


@pytest.mark.parametrize(
    ("preset", "overrides", "scheduled", "random_outages"),
    [
        ("vsat-1999", {}, (), True),
        ("iridium", {}, ((100.0, 50.0), (900.0, 30.0)), True),
        ("leo", {"loss_rate": 0.0}, (), True),
        ("cellular-2g", {"mean_burst_len": 1.0, "loss_rate": 0.05}, ((0.0, 20.0),), False),
        ("iridium-sbd", {"jitter_s": 0.0}, (), False),
    ],
)
def test_links_build_exactly_what_the_pipeline_built(
    preset: str,
    overrides: dict[str, float],
    scheduled: tuple[tuple[float, float], ...],
    random_outages: bool,
) -> None:
    p = get_preset(preset).with_overrides(**overrides)  # type: ignore[arg-type]
    horizon_s, seed, node = 1800.0, 1999, "st-07"
    old: tuple[list[LinkRecord], list[LinkRecord]] = ([], [])
    old_links = old_station_links(
        simpy.Environment(),
        p,
        node,
        seed,
        horizon_s,
        scheduled,
        random_outages,
        (old[0].append, old[1].append),
    )
    traffic(old_links, 5, horizon_s)

    asked: list[str] = []

    def rng(purpose: str) -> random.Random:
        asked.append(purpose)
        return random.Random(f"{seed}:{node}:{purpose}")

    new: tuple[list[LinkRecord], list[LinkRecord]] = ([], [])
    outage = p.outage if random_outages else None
    s = p.with_overrides(outages=scheduled, outage=outage)
    new_links = s.links(
        simpy.Environment(),
        name=node,
        rng=rng,
        horizon_s=horizon_s,
        observers=(new[0].append, new[1].append),
    )
    traffic(new_links, 5, horizon_s)

    assert [link.name for link in new_links] == [f"{node} up", f"{node} down"]
    assert new_links[0].outages is new_links[1].outages  # one antenna
    for before, after in zip(old, new, strict=True):
        assert len(before) > 1000
        assert [(r.time_s, r.outcome, r.arrival_s) for r in after] == [
            (r.time_s, r.outcome, r.arrival_s) for r in before
        ]
    expected = ["outages"] if outage is not None else []
    for direction in ("up", "down"):
        expected += [f"loss-{direction}"] if p.loss.model != "none" else []
        expected += [f"jitter-{direction}"]
    assert asked == expected


def test_links_without_any_outage_share_no_schedule() -> None:
    up, down = spec().links(
        simpy.Environment(), name="x", rng=lambda _: random.Random(0), horizon_s=10.0
    )
    assert up.outages is None and down.outages is None
    assert (up.bandwidth_bps, down.bandwidth_bps) == (9600.0, 64_000.0)
    with pytest.raises(ConfigError, match=r"^horizon_s must be a finite number >= 0"):
        spec().links(simpy.Environment(), name="x", rng=lambda _: random.Random(0), horizon_s=-1)
