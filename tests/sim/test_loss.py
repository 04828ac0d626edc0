"""Loss models: long-run means, burstiness, determinism and bad settings."""

from __future__ import annotations

import random

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from mqttsim.protocol.errors import ConfigError
from mqttsim.sim.loss import Bernoulli, GilbertElliott, NoLoss

N = 100_000


def losses(model: Bernoulli | GilbertElliott | NoLoss, n: int = N) -> list[bool]:
    return [model.lost(float(i)) for i in range(n)]


def mean_burst(outcomes: list[bool]) -> float:
    """Mean length of runs of consecutive losses."""
    runs, current = [], 0
    for lost in outcomes:
        if lost:
            current += 1
        elif current:
            runs.append(current)
            current = 0
    if current:
        runs.append(current)
    return sum(runs) / len(runs)


def test_no_loss_never_loses() -> None:
    model = NoLoss()
    assert not any(losses(model, 1000))
    assert model.mean_loss_rate == 0.0


@pytest.mark.parametrize("loss_rate", [0.01, 0.1, 0.3])
def test_bernoulli_long_run_mean_matches_loss_rate(loss_rate: float) -> None:
    outcomes = losses(Bernoulli(loss_rate, random.Random(7)))
    assert sum(outcomes) / N == pytest.approx(loss_rate, abs=0.005)


def test_bernoulli_accepts_a_numpy_generator() -> None:
    outcomes = losses(Bernoulli(0.2, np.random.default_rng(7)))
    assert sum(outcomes) / N == pytest.approx(0.2, abs=0.005)


def test_bernoulli_extremes() -> None:
    assert not any(losses(Bernoulli(0.0, random.Random(1)), 1000))
    assert all(losses(Bernoulli(1.0, random.Random(1)), 1000))


@pytest.mark.parametrize(("loss_rate", "burst"), [(0.01, 3.0), (0.1, 5.0), (0.2, 2.0)])
def test_gilbert_elliott_from_mean_long_run_mean_and_burst_length(
    loss_rate: float, burst: float
) -> None:
    model = GilbertElliott.from_mean(loss_rate, burst, random.Random(11))
    assert model.mean_loss_rate == pytest.approx(loss_rate)
    outcomes = losses(model, 400_000)
    assert sum(outcomes) / len(outcomes) == pytest.approx(loss_rate, rel=0.1)
    assert mean_burst(outcomes) == pytest.approx(burst, rel=0.1)


def test_gilbert_elliott_bursts_are_longer_than_bernoulli_at_the_same_mean() -> None:
    ge = losses(GilbertElliott.from_mean(0.1, 5.0, random.Random(3)))
    bern = losses(Bernoulli(0.1, random.Random(3)))
    # Bernoulli runs average 1 / (1 - p) = 1.11 packets.
    assert mean_burst(bern) == pytest.approx(1 / 0.9, rel=0.05)
    assert mean_burst(ge) > 3 * mean_burst(bern)


def test_gilbert_elliott_general_mean_loss_rate() -> None:
    model = GilbertElliott(0.02, 0.3, 0.01, 0.6, random.Random(5))
    bad = 0.02 / 0.32
    assert model.bad_fraction == pytest.approx(bad)
    assert model.mean_loss_rate == pytest.approx((1 - bad) * 0.01 + bad * 0.6)
    outcomes = losses(model, 400_000)
    assert sum(outcomes) / len(outcomes) == pytest.approx(model.mean_loss_rate, rel=0.1)


def test_same_seed_gives_the_same_losses() -> None:
    a = losses(GilbertElliott.from_mean(0.1, 4.0, random.Random(42)), 5000)
    b = losses(GilbertElliott.from_mean(0.1, 4.0, random.Random(42)), 5000)
    c = losses(GilbertElliott.from_mean(0.1, 4.0, random.Random(43)), 5000)
    assert a == b
    assert a != c


@given(
    loss_rate=st.floats(0.0, 0.9),
    burst=st.floats(1.0, 100.0),
)
def test_from_mean_keeps_the_requested_mean(loss_rate: float, burst: float) -> None:
    if burst < loss_rate / (1 - loss_rate):
        with pytest.raises(ConfigError, match="mean_burst_len must be >="):
            GilbertElliott.from_mean(loss_rate, burst, random.Random(0))
        return
    model = GilbertElliott.from_mean(loss_rate, burst, random.Random(0))
    assert model.mean_loss_rate == pytest.approx(loss_rate, abs=1e-12)


@pytest.mark.parametrize("bad", [-0.1, 1.5, float("nan")])
def test_bernoulli_refuses_a_loss_rate_outside_0_1(bad: float) -> None:
    with pytest.raises(ConfigError, match=r"^loss_rate must be in \[0, 1\], got "):
        Bernoulli(bad, random.Random(0))


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((-0.1, 0.5, 0.0, 1.0), r"^p_good_to_bad must be in \[0, 1\]"),
        ((0.1, 1.1, 0.0, 1.0), r"^p_bad_to_good must be in \[0, 1\]"),
        ((0.1, 0.5, -1.0, 1.0), r"^loss_good must be in \[0, 1\]"),
        ((0.1, 0.5, 0.0, 2.0), r"^loss_bad must be in \[0, 1\]"),
        ((0.0, 0.0, 0.0, 1.0), r"^p_good_to_bad \+ p_bad_to_good must be > 0"),
    ],
)
def test_gilbert_elliott_refuses_bad_probabilities(
    args: tuple[float, float, float, float], message: str
) -> None:
    with pytest.raises(ConfigError, match=message) as info:
        GilbertElliott(*args, rng=random.Random(0))
    assert "\n" not in str(info.value)


@pytest.mark.parametrize(
    ("loss_rate", "burst", "message"),
    [
        (1.0, 5.0, r"^loss_rate must be in \[0, 1\)"),
        (-0.1, 5.0, r"^loss_rate must be in \[0, 1\)"),
        (0.1, 0.5, r"^mean_burst_len must be a finite number >= 1,"),
        (0.6, 1.2, r"^mean_burst_len must be >= loss_rate/\(1-loss_rate\)"),
    ],
)
def test_from_mean_refuses_values_out_of_range(
    loss_rate: float, burst: float, message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        GilbertElliott.from_mean(loss_rate, burst, random.Random(0))
