"""Packet loss models for simulated links.

A loss model answers one question per packet: is this one lost? The link
asks it once for every packet that actually goes on the air (packets dropped
by a full queue or an outage never reach the loss model, so a per-packet
chain advances per transmitted packet), passing the time its transmission
starts.

Randomness comes only from the ``rng`` passed in: a :class:`random.Random`
or a :class:`numpy.random.Generator` (anything with a ``random()`` method
returning a float in [0, 1): a :class:`RandomSource`, defined in
:mod:`~mqttsim.sim.link_figures` and re-exported here). The same seed gives
the same losses.

Models:

* :class:`NoLoss`: nothing is ever lost.
* :class:`Bernoulli`: every packet is lost independently with ``loss_rate``.
* :class:`GilbertElliott`: a two-state Markov chain (Gilbert 1960, Elliott
  1963), the usual model of bursty loss on radio and satellite links (rain
  fade, shadowing). The chain moves once per packet, then the packet is lost
  with the loss probability of the state it is in.
* :class:`TimedGilbertElliott`: the same two states, but Good and Bad last
  exponentially distributed times in seconds, so a burst lasts as long as a
  fade does however many packets are sent through it.

Parameter ranges are those of :data:`mqttsim.sim.link_figures.LINK_FIGURES`,
where a link's loss is chosen by name (:data:`~mqttsim.sim.linkspec.LOSS_MODELS`).
"""

from __future__ import annotations

import math
from typing import Protocol

from mqttsim.protocol.errors import ConfigError

from .link_figures import RandomSource, check_link_figure

__all__ = [
    "Bernoulli",
    "GilbertElliott",
    "LossModel",
    "NoLoss",
    "RandomSource",
    "TimedGilbertElliott",
]


class LossModel(Protocol):
    """Decides, packet by packet, whether a packet is lost."""

    def lost(self, now: float) -> bool:
        """Return True if the packet transmitted at ``now`` is lost."""
        ...


class NoLoss:
    """A perfect link: no packet is ever lost."""

    __slots__ = ()

    @property
    def mean_loss_rate(self) -> float:
        """The long-run fraction of packets lost: 0."""
        return 0.0

    def lost(self, now: float) -> bool:
        """Return False: nothing is lost."""
        return False


class Bernoulli:
    """Independent loss: each packet is lost with probability ``loss_rate``.

    Args:
        loss_rate: probability in [0, 1] that a packet is lost.
        rng: the random source (one draw per packet; none when the rate is 0).

    Raises:
        ConfigError: if ``loss_rate`` is outside [0, 1].
    """

    __slots__ = ("_loss_rate", "_random")

    def __init__(self, loss_rate: float, rng: RandomSource) -> None:
        self._loss_rate = check_link_figure("loss_rate", loss_rate)
        self._random = rng.random

    @property
    def mean_loss_rate(self) -> float:
        """The long-run fraction of packets lost: ``loss_rate``."""
        return self._loss_rate

    def lost(self, now: float) -> bool:
        """Draw whether the packet transmitted at ``now`` is lost."""
        return self._loss_rate > 0.0 and self._random() < self._loss_rate


class _TwoStates:
    """What both Gilbert–Elliott chains share: a Good and a Bad state, each with
    its loss probability, and the long-run figures that follow from the share
    of Bad (which each chain defines: per packet or per unit of time)."""

    __slots__ = ("_loss_good", "_loss_bad", "_random", "_bad")

    def __init__(self, loss_good: float, loss_bad: float, rng: RandomSource) -> None:
        self._loss_good = check_link_figure("loss_good", loss_good)
        self._loss_bad = check_link_figure("loss_bad", loss_bad)
        self._random = rng.random
        self._bad = False

    @property
    def bad_fraction(self) -> float:
        """The long-run share of Bad."""
        raise NotImplementedError

    @property
    def mean_loss_rate(self) -> float:
        """The long-run fraction of packets lost."""
        bad = self.bad_fraction
        return (1.0 - bad) * self._loss_good + bad * self._loss_bad

    @property
    def in_bad_state(self) -> bool:
        """True while the chain is in the Bad state (as of the last :meth:`lost`)."""
        return self._bad

    def _fate(self) -> bool:
        """Whether a packet sent in the current state is lost."""
        p = self._loss_bad if self._bad else self._loss_good
        # No draw when the outcome is certain (the simple Gilbert model).
        if p <= 0.0:
            return False
        return p >= 1.0 or self._random() < p


class GilbertElliott(_TwoStates):
    """Bursty loss: a two-state (Good/Bad) Markov chain, one step per packet.

    In the Good state packets are lost with ``loss_good``, in the Bad state
    with ``loss_bad``. The chain starts in a state drawn from its stationary
    distribution, so short runs are not biased towards Good. The mean time
    spent in Bad is ``1 / p_bad_to_good`` packets.

    Args:
        p_good_to_bad: probability of moving Good -> Bad before a packet.
        p_bad_to_good: probability of moving Bad -> Good before a packet.
        loss_good: loss probability in the Good state (often 0).
        loss_bad: loss probability in the Bad state (often 1).
        rng: the random source.

    Raises:
        ConfigError: if a probability is outside [0, 1], or both transition
            probabilities are 0 (the chain would have no long-run mean).
    """

    __slots__ = ("_p_gb", "_p_bg")

    def __init__(
        self,
        p_good_to_bad: float,
        p_bad_to_good: float,
        loss_good: float,
        loss_bad: float,
        rng: RandomSource,
    ) -> None:
        self._p_gb = check_link_figure("p_good_to_bad", p_good_to_bad)
        self._p_bg = check_link_figure("p_bad_to_good", p_bad_to_good)
        super().__init__(loss_good, loss_bad, rng)
        if self._p_gb + self._p_bg == 0.0:
            raise ConfigError("p_good_to_bad + p_bad_to_good must be > 0, got 0")
        self._bad = self._random() < self.bad_fraction

    @classmethod
    def from_mean(
        cls, loss_rate: float, mean_burst_len: float, rng: RandomSource
    ) -> GilbertElliott:
        """Build the simple Gilbert model with a given mean loss and burst length.

        Good loses nothing and Bad loses everything, so a loss burst is a stay
        in Bad: ``p_bad_to_good = 1 / mean_burst_len`` and ``p_good_to_bad``
        is chosen so that the stationary share of Bad equals ``loss_rate``.

        Args:
            loss_rate: long-run fraction of packets lost, in [0, 1).
            mean_burst_len: mean number of consecutive losses, >= 1 and
                >= loss_rate / (1 - loss_rate) (else Good could not last).
            rng: the random source.

        Returns:
            A GilbertElliott whose ``mean_loss_rate`` equals ``loss_rate``.

        Raises:
            ConfigError: if a value is outside its range.
        """
        if not 0.0 <= loss_rate < 1.0:
            raise ConfigError(f"loss_rate must be in [0, 1), got {loss_rate!r}")
        check_link_figure("mean_burst_len", mean_burst_len)
        floor = loss_rate / (1.0 - loss_rate)
        if mean_burst_len < floor:
            raise ConfigError(
                f"mean_burst_len must be >= loss_rate/(1-loss_rate) = {floor:.6g}, "
                f"got {mean_burst_len!r}"
            )
        p_bg = 1.0 / mean_burst_len
        # Stationary P(Bad) = p_gb / (p_gb + p_bg) = loss_rate.
        p_gb = min(1.0, loss_rate * p_bg / (1.0 - loss_rate))
        return cls(p_gb, p_bg, 0.0, 1.0, rng)

    @property
    def bad_fraction(self) -> float:
        """The long-run share of packets sent in the Bad state."""
        return self._p_gb / (self._p_gb + self._p_bg)

    def lost(self, now: float) -> bool:
        """Step the chain once, then draw the packet's fate in the new state."""
        rand = self._random
        if self._bad:
            if self._p_bg > 0.0 and rand() < self._p_bg:
                self._bad = False
        elif self._p_gb > 0.0 and rand() < self._p_gb:
            self._bad = True
        return self._fate()


class TimedGilbertElliott(_TwoStates):
    """Bursty loss in time: Good and Bad periods of exponentially distributed length.

    The two states of :class:`GilbertElliott` (Gilbert 1960, Elliott 1963),
    but the chain runs in continuous time instead of stepping once per
    packet: the link stays Good for a time of mean ``mean_good_s`` seconds,
    then Bad for one of mean ``mean_bad_s``, and so on, whether packets are
    sent or not. A packet is lost with the loss probability of the state at
    the start of its transmission. A burst therefore lasts seconds, as a
    rain fade or a shadowing does: a fast sender loses many packets to one
    fade, a slow one few or none.

    Gilbert and Elliott defined the chain per transmitted symbol; running it
    in time with exponential periods is this model's own choice (memoryless
    and simple), not a measured fact about any link.

    The chain starts in a state drawn from its stationary distribution (Bad
    with probability ``mean_bad_s / (mean_good_s + mean_bad_s)``). Exponential
    periods are memoryless, so the first one is drawn like any other and the
    process is stationary from time 0. Periods are drawn lazily, as
    :meth:`lost` passes their ends; its ``now`` must never decrease.

    Args:
        mean_good_s: mean length of a Good period, seconds, > 0.
        mean_bad_s: mean length of a Bad period, seconds, > 0.
        loss_good: loss probability in the Good state (often 0).
        loss_bad: loss probability in the Bad state (often 1).
        rng: the random source.

    Raises:
        ConfigError: a mean is not a finite number > 0, or a probability is
            outside [0, 1].
    """

    __slots__ = ("_mean_good_s", "_mean_bad_s", "_end_s")

    def __init__(
        self,
        mean_good_s: float,
        mean_bad_s: float,
        loss_good: float,
        loss_bad: float,
        rng: RandomSource,
    ) -> None:
        self._mean_good_s = check_link_figure("mean_good_s", mean_good_s)
        self._mean_bad_s = check_link_figure("mean_bad_s", mean_bad_s)
        super().__init__(loss_good, loss_bad, rng)
        self._bad = self._random() < self.bad_fraction
        self._end_s = self._period_s()  # when the current state ends

    def _period_s(self) -> float:
        mean = self._mean_bad_s if self._bad else self._mean_good_s
        # Inverse transform: 1 - u lies in (0, 1], so the log is finite.
        return -mean * math.log(1.0 - self._random())

    @property
    def bad_fraction(self) -> float:
        """The long-run share of time spent in the Bad state."""
        return self._mean_bad_s / (self._mean_good_s + self._mean_bad_s)

    def lost(self, now: float) -> bool:
        """Advance the chain to ``now``, then draw the packet's fate in that state."""
        while now >= self._end_s:  # periods are half open: [start, end)
            self._bad = not self._bad
            self._end_s += self._period_s()
        return self._fate()
