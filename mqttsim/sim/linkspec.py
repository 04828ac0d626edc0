"""One link vocabulary: :class:`LinkSpec`, a link described as one value and validated once.

Theory of operation
-------------------
A link used to be five loose figures (delay, jitter, bandwidth, loss rate,
burst length), range-checked again wherever they arrived. Here a link is
one frozen value, a :class:`LinkSpec`:

* **Delay and jitter.** ``delay_s`` is the one-way propagation and access
  delay, a floor (the speed of light does not get faster). ``jitter_s``
  scales a jitter distribution chosen by name from :data:`JITTER_MODELS`
  (``"uniform"``, ``"exponential"``, ``"normal"``). Jitter only ever adds
  delay, and the link never reorders (see :mod:`mqttsim.sim.link`).
* **Bandwidth** per direction: ``uplink_bps`` from the first end to the
  second (station -> host), ``downlink_bps`` back; None means no
  serialisation, an infinitely fast link (a LAN beside the broker).
  ``queue_limit_bytes`` bounds the transmitter's queue (None: unbounded).
* **Loss**: a :class:`LossSpec`, a model chosen by name from
  :data:`LOSS_MODELS` with its parameters. Per packet: ``"none"``,
  ``"bernoulli"``, ``"gilbert-elliott"``; in time:
  ``"gilbert-elliott-time"``, whose bursts last seconds, not packets.
* **Outages**: scheduled ``(start_s, duration_s)`` windows and random ones
  (:class:`Outage`: exponential up and down times), merged into one
  schedule that both directions share: one antenna, a fade cuts both ways.
* **Price** per MB and per message in US dollars of ``price_year``, and
  ``sources``: where every figure comes from (``datasets/links.json``).

Every figure's range and check lives in :mod:`~mqttsim.sim.link_figures`,
beneath this module, :mod:`~mqttsim.sim.link` and :mod:`~mqttsim.sim.loss`
(its :data:`LINK_FIGURES`, :func:`check_link_figure` and jitter models are
re-exported here). A value is checked once, when it is made
(``__post_init__``); a mistake is a
:class:`~mqttsim.protocol.errors.ConfigError` of one line naming the field
and what is allowed. :func:`overridden` is :meth:`LinkSpec.with_overrides`
for settings given by name (a scenario's, a sweep's), an unknown one refused
in one line.

:meth:`LinkSpec.links` turns a spec into the two
:class:`~mqttsim.sim.link.Link` objects of a path. Randomness comes from
``rng(purpose)``, one seeded stream per purpose (``"loss-up"``,
``"loss-down"``, ``"jitter-up"``, ``"jitter-down"``, ``"outages"``), so
changing one figure leaves the other streams' draws where they were.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from enum import Enum
from typing import TYPE_CHECKING, Any, Final, Literal, Protocol, cast

from mqttsim.protocol.errors import ConfigError

from .link import Link, LinkRecord, OutageSchedule, RandomOutages
from .link_figures import (
    JITTER_MODELS,
    LINK_FIGURES,
    FigureRange,
    JitterModel,
    RandomSource,
    check_jitter_model,
    check_link_figure,
    check_outage_windows,
    check_queue_limit_bytes,
)
from .loss import Bernoulli, GilbertElliott, LossModel, TimedGilbertElliott

if TYPE_CHECKING:  # pragma: no cover
    import simpy

__all__ = [
    "JITTER_MODELS",
    "KEEP",
    "LINK_FIGURES",
    "LOSS_MODELS",
    "FigureRange",
    "JitterModel",
    "LinkSpec",
    "LossModelInfo",
    "LossSpec",
    "Outage",
    "check_jitter_model",
    "check_link_figure",
    "check_outage_windows",
    "check_queue_limit_bytes",
    "overridden",
]

_YEARS = (1900, 2100)  # price_year: wide enough for any tariff, narrow enough to catch a typo


# --- loss ---------------------------------------------------------------------------------------

Params = Mapping[str, float]


@dataclass(frozen=True, slots=True)
class LossModelInfo:
    """One entry of :data:`LOSS_MODELS`.

    Attributes:
        description: one line.
        forms: the parameter sets the model accepts (one or more), each a
            tuple of ``(name, default)``; a default of None marks a required
            parameter. Ranges are those of :data:`LINK_FIGURES`.
        factory: ``factory(params, rng)`` builds the model from a complete
            set of parameters; None for a model that never loses.
    """

    description: str
    forms: tuple[tuple[tuple[str, float | None], ...], ...]
    factory: Callable[[Params, RandomSource], LossModel | None]

    @property
    def names(self) -> tuple[str, ...]:
        """Every parameter of every form, in order of first mention."""
        return tuple(dict.fromkeys(name for form in self.forms for name, _ in form))


def _no_loss(params: Params, rng: RandomSource) -> LossModel | None:
    return None  # no model: a link without loss draws nothing


def _bernoulli(params: Params, rng: RandomSource) -> LossModel | None:
    return Bernoulli(params["loss_rate"], rng)


def _gilbert_elliott(params: Params, rng: RandomSource) -> LossModel | None:
    if "loss_rate" in params:
        return GilbertElliott.from_mean(params["loss_rate"], params["mean_burst_len"], rng)
    return GilbertElliott(
        params["p_good_to_bad"],
        params["p_bad_to_good"],
        params["loss_good"],
        params["loss_bad"],
        rng,
    )


def _timed_gilbert_elliott(params: Params, rng: RandomSource) -> LossModel | None:
    return TimedGilbertElliott(
        params["mean_good_s"], params["mean_bad_s"], params["loss_good"], params["loss_bad"], rng
    )


#: Loss models by name (see :mod:`mqttsim.sim.loss` for each).
LOSS_MODELS: Final[dict[str, LossModelInfo]] = {
    "none": LossModelInfo("no packet is ever lost", ((),), _no_loss),
    "bernoulli": LossModelInfo(
        "each packet is lost independently with loss_rate", ((("loss_rate", None),),), _bernoulli
    ),
    "gilbert-elliott": LossModelInfo(
        "bursty loss per packet: a Good/Bad Markov chain stepped once per packet"
        " (Gilbert 1960, Elliott 1963), by mean loss and burst length or by its"
        " transition probabilities",
        (
            (("loss_rate", None), ("mean_burst_len", None)),
            (
                ("p_good_to_bad", None),
                ("p_bad_to_good", None),
                ("loss_good", 0.0),
                ("loss_bad", 1.0),
            ),
        ),
        _gilbert_elliott,
    ),
    "gilbert-elliott-time": LossModelInfo(
        "bursty loss in time: Good and Bad periods of exponential length in seconds,"
        " as a rain fade or a shadowing lasts",
        ((("mean_good_s", None), ("mean_bad_s", None), ("loss_good", 0.0), ("loss_bad", 1.0)),),
        _timed_gilbert_elliott,
    ),
}


class _MeanLoss(Protocol):
    """What every model of :mod:`mqttsim.sim.loss` has besides ``lost``."""

    @property
    def mean_loss_rate(self) -> float: ...


class _StandIn:
    """A random source that only lets a model be built, to check its parameters."""

    __slots__ = ()

    def random(self) -> float:
        return 0.5


def _param_text(name: str, default: float | None) -> str:
    optional = "" if default is None else f", default {default:g}"
    return f"{name} ({LINK_FIGURES[name].text}{optional})"


def _form_text(form: tuple[tuple[str, float | None], ...]) -> str:
    return ", ".join(_param_text(name, default) for name, default in form) or "no parameters"


@dataclass(frozen=True, slots=True, kw_only=True)
class LossSpec:
    """A loss model by name and its parameters: a plain, hashable value.

    Make one with :meth:`of` or :meth:`per_packet`; building it directly
    validates it the same way. ``params`` is normalised to every parameter of
    the form used, defaults filled in, as ``(name, value)`` pairs sorted by
    name, so equal models compare and hash equal.

    Attributes:
        model: a key of :data:`LOSS_MODELS`.
        params: the model's parameters (see :meth:`params_dict`).
    """

    model: str = "none"
    params: tuple[tuple[str, float], ...] = ()

    def __post_init__(self) -> None:
        info = LOSS_MODELS.get(self.model) if isinstance(self.model, str) else None
        if info is None:
            raise ConfigError(
                f"loss model must be one of {', '.join(LOSS_MODELS)}, got {self.model!r}"
            )
        try:
            given = dict(self.params)
        except (TypeError, ValueError):
            raise ConfigError(
                f"loss params must be (name, value) pairs, got {self.params!r}"
            ) from None
        for name in given:
            if name not in info.names:
                allowed = ", ".join(info.names) or "none"
                raise ConfigError(
                    f"{self.model} loss has no parameter {name!r}; allowed: {allowed}"
                )
        fits = [
            form
            for form in info.forms
            if {n for n, d in form if d is None} <= given.keys() <= {n for n, _ in form}
        ]
        if not fits:
            if len(info.forms) == 1:
                name, default = next(
                    (n, d) for n, d in info.forms[0] if d is None and n not in given
                )
                raise ConfigError(f"{self.model} loss needs {_param_text(name, default)}")
            forms = " or ".join(_form_text(form) for form in info.forms)
            got = ", ".join(sorted(given)) or "nothing"
            raise ConfigError(f"{self.model} loss takes {forms}; got {got}")
        full = {
            name: check_link_figure(name, given[name] if name in given else default)
            for name, default in fits[0]
        }
        object.__setattr__(self, "params", tuple(sorted(full.items())))
        # The model's constructor is the one place its cross-parameter rules
        # live (a burst too short for the loss rate, a chain that never moves).
        info.factory(full, _StandIn())

    @classmethod
    def of(cls, model: str, /, **params: float) -> LossSpec:
        """``LossSpec.of("gilbert-elliott-time", mean_good_s=600, mean_bad_s=20)``.

        Raises:
            ConfigError: an unknown model (the message lists them), or a
                parameter unknown, missing or out of range (it names it).
        """
        return cls(model=model, params=tuple(params.items()))

    @classmethod
    def per_packet(cls, loss_rate: float, mean_burst_len: float = 1.0) -> LossSpec:
        """The per-packet loss of a mean loss rate and a mean burst length in packets.

        ``"none"`` when ``loss_rate <= 0``, ``"bernoulli"`` when
        ``mean_burst_len <= 1`` (independent loss), else ``"gilbert-elliott"``
        built with :meth:`~mqttsim.sim.loss.GilbertElliott.from_mean`: the
        choice the pipeline has always made, so the same rng draws the same losses.

        Raises:
            ConfigError: ``loss_rate`` outside [0, 1], ``mean_burst_len`` below
                1, or a burst too short for the rate.
        """
        rate = check_link_figure("loss_rate", loss_rate)
        burst = check_link_figure("mean_burst_len", mean_burst_len)
        if rate <= 0.0:
            return cls(model="none")
        if burst <= 1.0:
            return cls(model="bernoulli", params=(("loss_rate", rate),))
        return cls(model="gilbert-elliott", params=(("loss_rate", rate), ("mean_burst_len", burst)))

    def params_dict(self) -> dict[str, float]:
        """The parameters as a new dict, e.g. ``{"loss_rate": 0.005, "mean_burst_len": 2.0}``."""
        return dict(self.params)

    def build(self, rng: RandomSource) -> LossModel | None:
        """The loss model, drawing from ``rng``; None for ``"none"`` (which draws nothing)."""
        return LOSS_MODELS[self.model].factory(dict(self.params), rng)

    @property
    def per_packet_figures(self) -> tuple[float, float] | None:
        """``(loss_rate, mean_burst_len)`` if the model is given by those figures, else None.

        True of ``"none"`` (0, 1), ``"bernoulli"`` (rate, 1) and a
        ``"gilbert-elliott"`` given by ``loss_rate`` and ``mean_burst_len``.
        """
        params = dict(self.params)
        if self.model == "gilbert-elliott" and "loss_rate" in params:
            return params["loss_rate"], params["mean_burst_len"]
        if self.model in ("none", "bernoulli"):
            return params.get("loss_rate", 0.0), 1.0
        return None

    @property
    def mean_loss_rate(self) -> float:
        """The long-run fraction of packets lost (sent at times independent of a chain's state)."""
        figures = self.per_packet_figures
        if figures is not None:
            return figures[0]  # exactly the figure given, not a value recomputed from it
        model = self.build(_StandIn())
        return 0.0 if model is None else cast(_MeanLoss, model).mean_loss_rate

    @property
    def loss_rate(self) -> float:
        """The preset's ``loss_rate`` figure: :attr:`mean_loss_rate`."""
        return self.mean_loss_rate

    @property
    def mean_burst_len(self) -> float:
        """Mean packets lost in a row, for a model given by it; NaN for the others.

        1 for ``"none"`` and ``"bernoulli"``. NaN for ``"gilbert-elliott-time"``,
        whose bursts last seconds (``mean_bad_s``), not a number of packets,
        and for a chain given by its transition probabilities.
        """
        figures = self.per_packet_figures
        return math.nan if figures is None else figures[1]

    def describe(self) -> str:
        """One line, e.g. ``"gilbert-elliott (loss_rate 0.005, mean_burst_len 2)"``."""
        if not self.params:
            return self.model
        return f"{self.model} ({', '.join(f'{k} {v:g}' for k, v in self.params)})"


# --- outages ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class Outage:
    """Random outages: exponentially distributed up and down times.

    Attributes:
        mean_up_s: mean time between the end of one outage and the next, seconds.
        mean_down_s: mean length of an outage (rain fade, handover gap), seconds.

    Raises:
        ConfigError: a mean is not a finite number > 0.
    """

    mean_up_s: float
    mean_down_s: float

    def __post_init__(self) -> None:
        object.__setattr__(self, "mean_up_s", check_link_figure("mean_up_s", self.mean_up_s))
        object.__setattr__(self, "mean_down_s", check_link_figure("mean_down_s", self.mean_down_s))

    @property
    def availability(self) -> float:
        """Long-run fraction of time the link is up."""
        return self.mean_up_s / (self.mean_up_s + self.mean_down_s)


class _Keep(Enum):
    """The type of :data:`KEEP`."""

    KEEP = "keep"


#: "Leave this as it is", for :meth:`LinkSpec.with_overrides` keywords where None has a meaning.
KEEP: Final = _Keep.KEEP

Observer = Callable[[LinkRecord], None]


# --- the link -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class LinkSpec:
    """One link type, both directions, with the source of every figure.

    Attributes:
        name: a label, e.g. the preset's key ``"vsat-1999"``.
        description: one or two sentences on the service.
        delay_s: one-way propagation and access delay, seconds, >= 0.
        jitter_s: scale of the jitter distribution, seconds, >= 0.
        jitter: the jitter distribution, a key of :data:`JITTER_MODELS`.
        uplink_bps: first end -> second end (station -> host), bit/s, > 0;
            None for no serialisation.
        downlink_bps: second end -> first end, bit/s, > 0; None likewise.
        queue_limit_bytes: bound on bytes queued at each transmitter, > 0;
            None for unbounded.
        loss: the loss model of each direction (each draws its own losses).
        outages: scheduled ``(start_s, duration_s)`` windows when the link
            is down both ways.
        outage: random outages, or None when the service has none modelled.
        price_per_mb_usd: price of one MB (2**20 bytes), US dollars of ``price_year``.
        price_per_message_usd: price per message where the service bills so, else None.
        price_year: the year of the prices, or None.
        sources: field name -> ``"[basis] citation"`` for every figure stated.

    Raises:
        ConfigError: a value out of its range (one line naming the field).
    """

    name: str
    description: str = ""
    delay_s: float
    jitter_s: float = 0.0
    jitter: str = "uniform"
    uplink_bps: float | None
    downlink_bps: float | None
    queue_limit_bytes: int | None = None
    loss: LossSpec = field(default_factory=LossSpec)
    outages: tuple[tuple[float, float], ...] = ()
    outage: Outage | None = None
    price_per_mb_usd: float = 0.0
    price_per_message_usd: float | None = None
    price_year: int | None = None
    sources: dict[str, str] = field(default_factory=dict, hash=False)

    def __post_init__(self) -> None:
        def put(attr: str, value: object) -> None:
            object.__setattr__(self, attr, value)  # normalising: ints become floats

        if not isinstance(self.name, str) or not self.name:
            raise ConfigError(f"name must be a non-empty string, got {self.name!r}")
        if not isinstance(self.description, str):
            raise ConfigError(f"description must be a string, got {self.description!r}")
        put("delay_s", check_link_figure("delay_s", self.delay_s))
        put("jitter_s", check_link_figure("jitter_s", self.jitter_s))
        check_jitter_model(self.jitter)
        for attr in ("uplink_bps", "downlink_bps"):
            if getattr(self, attr) is not None:
                put(attr, check_link_figure(attr, getattr(self, attr)))
        put("queue_limit_bytes", check_queue_limit_bytes(self.queue_limit_bytes))
        if not isinstance(self.loss, LossSpec):
            raise ConfigError(f"loss must be a LossSpec, got {self.loss!r}")
        put("outages", check_outage_windows(self.outages))
        if self.outage is not None and not isinstance(self.outage, Outage):
            raise ConfigError(f"outage must be an Outage or None, got {self.outage!r}")
        put("price_per_mb_usd", check_link_figure("price_per_mb_usd", self.price_per_mb_usd))
        if self.price_per_message_usd is not None:
            price = check_link_figure("price_per_message_usd", self.price_per_message_usd)
            put("price_per_message_usd", price)
        year = self.price_year
        if year is not None and (
            isinstance(year, bool)
            or not isinstance(year, int)
            or not _YEARS[0] <= year <= _YEARS[1]
        ):
            first, last = _YEARS
            raise ConfigError(
                f"price_year must be a whole year in [{first}, {last}] or None, got {year!r}"
            )
        if not isinstance(self.sources, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in self.sources.items()
        ):
            raise ConfigError("sources must map field names to strings")

    # -- what today's presets call their figures --

    @property
    def loss_rate(self) -> float:
        """The long-run loss of each direction (see :attr:`LossSpec.mean_loss_rate`)."""
        return self.loss.loss_rate

    @property
    def mean_burst_len(self) -> float:
        """Mean packets lost in a row; NaN for a model without one (see :class:`LossSpec`)."""
        return self.loss.mean_burst_len

    def serialisation_s(self, size_bytes: float, direction: Literal["up", "down"] = "up") -> float:
        """Seconds ``size_bytes`` take to leave the transmitter; 0 without a bandwidth limit."""
        bandwidth_bps = self.uplink_bps if direction == "up" else self.downlink_bps
        return 0.0 if bandwidth_bps is None else size_bytes * 8 / bandwidth_bps

    # -- variants --

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
        jitter: str | None = None,
        queue_limit_bytes: int | None | _Keep = KEEP,
        loss: LossSpec | None = None,
        outages: Iterable[tuple[float, float]] | None = None,
        outage: Outage | None | _Keep = KEEP,
    ) -> LinkSpec:
        """Return a copy with some figures replaced, e.g. for a "what if" slider.

        None (or :data:`KEEP`, where None has a meaning) keeps a figure.
        ``bandwidth_bps`` sets both directions; ``uplink_bps``/``downlink_bps``
        then override one of them. ``loss_rate`` and ``mean_burst_len``
        rebuild the loss as :meth:`LossSpec.per_packet`, keeping the other
        figure of the current loss, which must be per packet (give ``loss``
        otherwise). ``queue_limit_bytes=None`` unbounds the queue,
        ``outage=None`` removes random outages, ``outages=()`` scheduled ones.
        The source of an overridden figure says so.

        Raises:
            ConfigError: a value out of range (one line naming it), or
                ``loss_rate``/``mean_burst_len`` on a loss not given by them.
        """
        changes: dict[str, Any] = {}
        shown: dict[str, str] = {}  # source key -> the value as the source states it
        if bandwidth_bps is not None:
            both = check_link_figure("bandwidth_bps", bandwidth_bps)
            changes["uplink_bps"] = changes["downlink_bps"] = both
        for key, value in (
            ("delay_s", delay_s),
            ("uplink_bps", uplink_bps),
            ("downlink_bps", downlink_bps),
            ("jitter_s", jitter_s),
        ):
            if value is not None:
                changes[key] = check_link_figure(key, value)
        shown.update({key: f"{value:g}" for key, value in changes.items()})
        if jitter is not None:
            changes["jitter"] = shown["jitter"] = check_jitter_model(jitter)
        if not isinstance(queue_limit_bytes, _Keep):
            changes["queue_limit_bytes"] = limit = check_queue_limit_bytes(queue_limit_bytes)
            shown["queue_limit_bytes"] = "none (unbounded)" if limit is None else f"{limit}"
        sources = dict(self.sources)
        if loss_rate is not None or mean_burst_len is not None:
            if loss is not None:
                raise ConfigError("give loss, or loss_rate and mean_burst_len, not both")
            rate = None if loss_rate is None else check_link_figure("loss_rate", loss_rate)
            burst = (
                None
                if mean_burst_len is None
                else check_link_figure("mean_burst_len", mean_burst_len)
            )
            current = self.loss.per_packet_figures
            if current is None:
                raise ConfigError(
                    f"loss_rate and mean_burst_len replace a per-packet loss given by them,"
                    f" not {self.loss.model}; give loss=LossSpec.of(...) instead"
                )
            changes["loss"] = LossSpec.per_packet(
                current[0] if rate is None else rate, current[1] if burst is None else burst
            )
            for key, figure in (("loss_rate", rate), ("mean_burst_len", burst)):
                if figure is not None:
                    shown[key] = f"{figure:g}"
        elif loss is not None:
            if not isinstance(loss, LossSpec):
                raise ConfigError(f"loss must be a LossSpec, got {loss!r}")
            changes["loss"] = loss
            for info in LOSS_MODELS.values():  # the figures of the model replaced
                for key in info.names:
                    sources.pop(key, None)
            shown.update({key: f"{value:g}" for key, value in loss.params})
        # Outages are often passed through as they are (a scenario's hub
        # outages, none): only a change counts as an override.
        windows = None if outages is None else check_outage_windows(outages)
        if windows is not None and windows != self.outages:
            changes["outages"] = windows
            shown["outages"] = f"{len(windows)} window(s)"
        if not isinstance(outage, _Keep) and outage != self.outage:
            changes["outage"] = outage
            sources.pop("outage_mean_up_s", None)
            sources.pop("outage_mean_down_s", None)
            if isinstance(outage, Outage):
                shown["outage_mean_up_s"] = f"{outage.mean_up_s:g}"
                shown["outage_mean_down_s"] = f"{outage.mean_down_s:g}"
        for key, text in shown.items():
            sources[key] = f"[override] set to {text} by the caller"
        if not changes:
            return self
        return replace(self, sources=sources, **changes)

    # -- the simulated links --

    def outage_schedule(
        self, rng: Callable[[str], RandomSource], horizon_s: float
    ) -> OutageSchedule | None:
        """The link's outages: the scheduled windows and, with ``outage``, the
        random ones drawn from ``rng("outages")`` up to ``horizon_s``; one
        schedule for both directions (one antenna: a fade cuts both ways), or
        None when the link never goes down."""
        check_link_figure("horizon_s", horizon_s)
        windows = list(self.outages)
        if self.outage is not None:
            drawn = RandomOutages(
                self.outage.mean_up_s, self.outage.mean_down_s, rng("outages"), horizon_s
            )
            windows += drawn.windows
        return OutageSchedule(windows) if windows else None

    def links(
        self,
        env: simpy.Environment,
        *,
        name: str,
        rng: Callable[[str], RandomSource],
        horizon_s: float,
        observers: tuple[Observer | None, Observer | None] = (None, None),
    ) -> tuple[Link, Link]:
        """The uplink (first end -> second) and the downlink, ready to carry packets.

        The links are named ``f"{name} up"`` and ``f"{name} down"``. Random
        outages are drawn up to ``horizon_s`` and merged with the scheduled
        windows into one schedule that both links share (one antenna: a
        fade cuts both ways); no schedule at all when there are no windows.
        Each direction has its own loss model and jitter stream.

        Args:
            env: the SimPy environment.
            name: the path's name, e.g. a station's id.
            rng: ``rng(purpose)`` returns the seeded stream for ``purpose``:
                ``"outages"`` (only with random outages), ``"loss-up"`` and
                ``"loss-down"`` (only with a loss model), ``"jitter-up"``
                and ``"jitter-down"``, asked for in that order.
            horizon_s: time up to which random outages are drawn, >= 0.
            observers: the uplink's and the downlink's observer (see
                :class:`~mqttsim.sim.link.Link`).
        """
        schedule = self.outage_schedule(rng, horizon_s)
        loss = self.loss
        made = [
            Link(
                env,
                name=f"{name} {direction}",
                delay_s=self.delay_s,
                jitter_s=self.jitter_s,
                jitter_model=self.jitter,
                bandwidth_bps=bandwidth_bps,
                # No stream at all for a link that never loses, as before LinkSpec.
                loss=None if loss.model == "none" else loss.build(rng(f"loss-{direction}")),
                outages=schedule,
                rng=rng(f"jitter-{direction}"),
                queue_limit_bytes=self.queue_limit_bytes,
                observer=observer,
            )
            for direction, bandwidth_bps, observer in (
                ("up", self.uplink_bps, observers[0]),
                ("down", self.downlink_bps, observers[1]),
            )
        ]
        return made[0], made[1]


def overridden(spec: LinkSpec, settings: Mapping[str, Any]) -> LinkSpec:
    """``spec.with_overrides(**settings)``, a keyword it does not take refused in one line.

    Raises:
        ConfigError: ``unknown link setting 'NAME'; allowed: ...`` (the
            keywords, sorted), or what :meth:`LinkSpec.with_overrides` raises.
    """
    if not settings:
        return spec
    allowed = sorted(inspect.signature(LinkSpec.with_overrides).parameters.keys() - {"self"})
    for key in settings:
        if key not in allowed:
            raise ConfigError(f"unknown link setting {key!r}; allowed: {', '.join(allowed)}")
    return spec.with_overrides(**settings)
