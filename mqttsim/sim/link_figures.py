"""The figures of a link and their ranges, checked in one place.

A link is a handful of figures (delay, jitter, bandwidth, loss, outages,
price), each with a range: every range lives in :data:`LINK_FIGURES` and
every check goes through :func:`check_link_figure`, which
:mod:`~mqttsim.sim.link`, :mod:`~mqttsim.sim.loss`,
:mod:`~mqttsim.sim.linkspec`, :mod:`~mqttsim.sim.presets` and the widgets
call too: a figure has one range and one message wherever it is typed. A
mistake is a :class:`~mqttsim.protocol.errors.ConfigError` of one line naming
the field and what is allowed. The figures that are not plain numbers are
checked here as well: a queue limit in whole bytes
(:func:`check_queue_limit_bytes`), scheduled outage windows
(:func:`check_outage_windows`) and the jitter distribution, chosen by name
from :data:`JITTER_MODELS` (``"uniform"``, ``"exponential"``, ``"normal"``;
:func:`check_jitter_model`), which draws from a :class:`RandomSource`.

This is the bottom of the link modules: :mod:`~mqttsim.sim.link`,
:mod:`~mqttsim.sim.loss` and :mod:`~mqttsim.sim.linkspec` import it, and it
imports none of them.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from statistics import NormalDist
from typing import Final, Protocol

from mqttsim.protocol.errors import ConfigError

__all__ = [
    "JITTER_MODELS",
    "LINK_FIGURES",
    "FigureRange",
    "JitterModel",
    "RandomSource",
    "check_jitter_model",
    "check_link_figure",
    "check_outage_windows",
    "check_queue_limit_bytes",
]


# --- figures and their ranges -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FigureRange:
    """The values a link figure may take: a finite number from ``lo`` to ``hi``.

    Attributes:
        lo: the lower end.
        hi: the upper end; infinite for "no upper bound" (the value must
            still be finite).
        lo_open: True if ``lo`` itself is excluded.
        hi_open: True if ``hi`` itself is excluded.
    """

    lo: float
    hi: float = math.inf
    lo_open: bool = False
    hi_open: bool = False

    @property
    def text(self) -> str:
        """The range as a message states it: ``"in [0, 1]"``, ``"a finite number > 0"``."""
        if math.isinf(self.hi):
            return f"a finite number {'>' if self.lo_open else '>='} {self.lo:g}"
        left, right = "(" if self.lo_open else "[", ")" if self.hi_open else "]"
        return f"in {left}{self.lo:g}, {self.hi:g}{right}"

    def __contains__(self, value: float) -> bool:
        # Written so that NaN fails every comparison and is refused.
        above = value > self.lo if self.lo_open else value >= self.lo
        below = value < self.hi if self.hi_open else value <= self.hi
        return above and below and math.isfinite(value)

    def narrowed(self, lo: float | None, hi: float | None) -> FigureRange:
        """This range with closed ends moved inwards (a lesson's slider limits)."""
        narrow = FigureRange(
            self.lo if lo is None else lo,
            self.hi if hi is None else hi,
            self.lo_open and lo is None,
            self.hi_open and hi is None,
        )
        if narrow.lo < self.lo or narrow.hi > self.hi:  # a caller's mistake, not a user's
            raise ValueError(f"{narrow.text} is wider than {self.text}")
        return narrow


_PROBABILITY = FigureRange(0.0, 1.0)
_AT_LEAST_0 = FigureRange(0.0)
_ABOVE_0 = FigureRange(0.0, lo_open=True)

#: Every link figure's range, by the name a message gives it; SI units.
LINK_FIGURES: Final[dict[str, FigureRange]] = {
    "delay_s": _AT_LEAST_0,
    "jitter_s": _AT_LEAST_0,
    "bandwidth_bps": _ABOVE_0,
    "uplink_bps": _ABOVE_0,
    "downlink_bps": _ABOVE_0,
    "loss_rate": _PROBABILITY,
    "mean_burst_len": FigureRange(1.0),
    "p_good_to_bad": _PROBABILITY,
    "p_bad_to_good": _PROBABILITY,
    "loss_good": _PROBABILITY,
    "loss_bad": _PROBABILITY,
    "mean_good_s": _ABOVE_0,
    "mean_bad_s": _ABOVE_0,
    "mean_up_s": _ABOVE_0,
    "mean_down_s": _ABOVE_0,
    "outage start_s": _AT_LEAST_0,
    "outage duration_s": _ABOVE_0,
    "horizon_s": _AT_LEAST_0,
    "price_per_mb_usd": _AT_LEAST_0,
    "price_per_message_usd": _AT_LEAST_0,
}


def check_link_figure(
    name: str, value: object, *, lo: float | None = None, hi: float | None = None
) -> float:
    """Return ``value`` as a float if it lies in the range of figure ``name``.

    Args:
        name: a key of :data:`LINK_FIGURES`; the message names it.
        value: the value to check; bools, strings, NaN and infinities are refused.
        lo, hi: narrower closed ends, e.g. a lesson's slider limits; they
            must lie within the figure's own range.

    Raises:
        ConfigError: one line, ``"{name} must be {range}, got {value!r}"``.
    """
    allowed = LINK_FIGURES[name]
    if lo is not None or hi is not None:
        allowed = allowed.narrowed(lo, hi)
    # A bool is an int to Python, but True is no delay a user meant to type.
    if isinstance(value, numbers.Real) and not isinstance(value, bool):
        number = float(value)
        if number in allowed:
            return number
    raise ConfigError(f"{name} must be {allowed.text}, got {value!r}")


def check_queue_limit_bytes(value: object) -> int | None:
    """Return a queue limit as whole bytes, or None for an unbounded queue.

    Raises:
        ConfigError: one line if it is not a whole number > 0 (or None).
    """
    if value is None:
        return None
    if isinstance(value, numbers.Real) and not isinstance(value, bool):
        number = float(value)
        if 0.0 < number < math.inf and number.is_integer():
            return int(number)
    raise ConfigError(f"queue_limit_bytes must be > 0 or None, in whole bytes, got {value!r}")


def check_outage_windows(
    windows: Iterable[tuple[float, float]],
) -> tuple[tuple[float, float], ...]:
    """Return outage windows as ``(start_s, duration_s)`` float pairs, in the order given.

    Raises:
        ConfigError: a window is not a pair, starts before 0 or lasts 0 s or less.
    """
    checked = []
    for window in windows:
        try:
            start_s, duration_s = window
        except (TypeError, ValueError):
            raise ConfigError(
                f"an outage window must be a (start_s, duration_s) pair, got {window!r}"
            ) from None
        checked.append(
            (
                check_link_figure("outage start_s", start_s),
                check_link_figure("outage duration_s", duration_s),
            )
        )
    return tuple(checked)


# --- jitter -------------------------------------------------------------------------------------


class RandomSource(Protocol):
    """What the simulator needs from a random generator.

    Both :class:`random.Random` and :class:`numpy.random.Generator` fit.
    """

    def random(self) -> float:
        """Return a float uniformly distributed in [0, 1)."""
        ...


@dataclass(frozen=True, slots=True)
class JitterModel:
    """A distribution of the extra delay a packet picks up, scaled by ``jitter_s``.

    Attributes:
        description: one line, saying what ``jitter_s`` means for it.
        sampler: ``sampler(jitter_s, rng)`` returns a function that draws one
            extra delay (seconds, >= 0) per call, with one ``rng.random()``.
        mean_factor: the mean extra delay is ``mean_factor * jitter_s``.
    """

    description: str
    sampler: Callable[[float, RandomSource], Callable[[], float]]
    mean_factor: float


def _uniform_jitter(jitter_s: float, rng: RandomSource) -> Callable[[], float]:
    draw = rng.random
    return lambda: jitter_s * draw()  # the draw Link inlines: keep them the same


def _exponential_jitter(jitter_s: float, rng: RandomSource) -> Callable[[], float]:
    draw = rng.random
    # Inverse transform: 1 - u lies in (0, 1], so the log is finite.
    return lambda: -jitter_s * math.log(1.0 - draw())


def _half_normal_jitter(jitter_s: float, rng: RandomSource) -> Callable[[], float]:
    draw = rng.random
    inv_cdf = NormalDist().inv_cdf
    # |Z| by inverse transform from one uniform (RandomSource promises only
    # random()): -inv_cdf(q) for q = (1 - u) / 2 in (0, 0.5] is >= 0 and finite.
    return lambda: -jitter_s * inv_cdf(0.5 * (1.0 - draw()))


#: Jitter distributions by name; ``"uniform"`` is the default and what the
#: presets' ``jitter_ms`` figures assume.
JITTER_MODELS: Final[dict[str, JitterModel]] = {
    "uniform": JitterModel("extra delay uniform in [0, jitter_s]", _uniform_jitter, 0.5),
    "exponential": JitterModel(
        "extra delay exponential with mean jitter_s (a long tail)", _exponential_jitter, 1.0
    ),
    "normal": JitterModel(
        "extra delay |N(0, jitter_s)| (half-normal, scale jitter_s)",
        _half_normal_jitter,
        math.sqrt(2.0 / math.pi),
    ),
}


def check_jitter_model(value: object, *, name: str = "jitter") -> str:
    """Return ``value`` if it names a jitter distribution.

    Raises:
        ConfigError: one line listing the names allowed.
    """
    if isinstance(value, str) and value in JITTER_MODELS:
        return value
    raise ConfigError(f"{name} must be one of {', '.join(JITTER_MODELS)}, got {value!r}")
