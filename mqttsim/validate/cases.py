"""The validation grid: one experiment, described once, for both worlds.

A :class:`Case` is what the real stack (through the link emulator) and the
simulator both run: a publisher at a remote site sending a message every
``every_s`` seconds at one QoS over a satellite link to a broker at the hub,
and a subscriber either beside the broker (``layout="beside"``) or behind a
link of its own (``layout="remote"``: every message crosses two links). The
endpoints are one stack: mqttsim's broker and client, or mosquitto 2 and
paho-mqtt 2 (their simulator profiles are :mod:`mqttsim.sim.profiles`').

:func:`grid` is the issue's grid: a clean GEO hop (280 ms one way,
1 Mbit/s), 1, 5 and 10 % loss, bursty 5 % loss, a 120 s outage, and the
same hop at 9600 and 2400 bit/s; both layouts; QoS 0, 1 and 2.
:func:`ci_subset` is the few cases a test runs on every CI run.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

from mqttsim.protocol.errors import ConfigError
from mqttsim.sim.linkspec import LinkSpec, LossSpec
from mqttsim.sim.scenario import Scenario

__all__ = [
    "FIRST_AT_S",
    "GEO",
    "LINKS",
    "PUBLISHER_START_S",
    "STACKS",
    "SUBSCRIBER_START_S",
    "Case",
    "ci_subset",
    "grid",
]

# One clock for both worlds: the simulator's time 0 is the emulator's (when its
# forwarder starts), so outages fall at the same moment, and each client starts
# connecting at the same time in both.
SUBSCRIBER_START_S = 3.0
PUBLISHER_START_S = 6.0
FIRST_AT_S = 5.0  # the publisher's first message, seconds after it starts connecting

GEO = LinkSpec(
    name="geo",
    description="a geostationary hop: 280 ms one way, 1 Mbit/s each way, no loss",
    delay_s=0.28,
    uplink_bps=1e6,
    downlink_bps=1e6,
    sources={"delay_s": "[model] ours: about 36,000 km up and down, plus the modems"},
)

#: The link variants of the grid, by name: (the link, an outage (start_s, duration_s) or None).
LINKS: dict[str, tuple[LinkSpec, tuple[float, float] | None]] = {
    "clean": (GEO, None),
    "loss 1 %": (GEO.with_overrides(loss=LossSpec.of("bernoulli", loss_rate=0.01)), None),
    "loss 5 %": (GEO.with_overrides(loss=LossSpec.of("bernoulli", loss_rate=0.05)), None),
    "loss 10 %": (GEO.with_overrides(loss=LossSpec.of("bernoulli", loss_rate=0.10)), None),
    "bursty 5 %": (GEO.with_overrides(loss=LossSpec.per_packet(0.05, 4.0)), None),
    "outage 120 s": (GEO, (60.0, 120.0)),
    "9600 bit/s": (GEO.with_overrides(bandwidth_bps=9600.0), None),
    "2400 bit/s": (GEO.with_overrides(bandwidth_bps=2400.0), None),
}

#: The endpoint stacks: name -> (client profile, broker profile).
STACKS: dict[str, tuple[str, str]] = {
    "mqttsim": ("mqttsim", "mqttsim"),
    "paho+mosquitto": ("paho-2", "mosquitto-2"),
}


@dataclass(frozen=True, slots=True, kw_only=True)
class Case:
    """One experiment of the grid.

    Attributes:
        link: a key of :data:`LINKS`.
        layout: ``"beside"`` (subscriber beside the broker) or ``"remote"``
            (subscriber behind its own link, the same as the publisher's).
        qos: the QoS of every message (the subscription is at 2).
        stack: a key of :data:`STACKS`.
        count: messages published.
        every_s: seconds between them.
        payload_bytes: each message's payload.
        keep_alive_s: both clients' Keep Alive.
        drain_s: time after the last message for the rest to arrive.
    """

    link: str
    layout: str = "beside"
    qos: int = 1
    stack: str = "mqttsim"
    count: int = 60
    every_s: float = 1.0
    payload_bytes: int = 32
    keep_alive_s: int = 60
    drain_s: float = 60.0

    def __post_init__(self) -> None:
        if self.link not in LINKS:
            raise ConfigError(f"unknown link {self.link!r}; allowed: {', '.join(LINKS)}")
        if self.layout not in ("beside", "remote"):
            raise ConfigError(f"layout must be beside or remote, got {self.layout!r}")
        if self.stack not in STACKS:
            raise ConfigError(f"unknown stack {self.stack!r}; allowed: {', '.join(STACKS)}")
        if self.qos not in (0, 1, 2):
            raise ConfigError(f"qos must be 0, 1 or 2, got {self.qos!r}")

    @property
    def name(self) -> str:
        return f"{self.link}, {self.layout}, QoS {self.qos}, {self.stack}"

    @property
    def spec(self) -> LinkSpec:
        """The link of both hops, its outage (if any) scheduled on it."""
        spec, outage = LINKS[self.link]
        return spec.with_overrides(outages=(outage,)) if outage is not None else spec

    @property
    def duration_s(self) -> float:
        """Until the publisher's last message: it starts connecting at
        :data:`PUBLISHER_START_S` and sends its first :data:`FIRST_AT_S` later,
        as the agent does."""
        return PUBLISHER_START_S + FIRST_AT_S + self.count * self.every_s

    def scenario(self) -> Scenario:
        """The case for the simulator: sites ``field``, ``hub`` and (remote
        layout) ``office``; the broker at the hub; ``rtu`` publishing from the
        field; ``scada`` subscribing to ``plant/#`` at QoS 2."""
        client, broker = STACKS[self.stack]
        # No TCP settings here: each end gets its profile's, the default linux TCP
        # with Nagle as the profile's TCP_NODELAY says, exactly what a user's
        # scenario gets, so that this validates the simulator as it is used.
        net = Scenario(self.name, duration_s=self.duration_s, drain_s=self.drain_s, qos=self.qos)
        net.link("field", "hub", self.spec, name="field")
        if self.layout == "remote":
            net.link("office", "hub", self.spec, name="office")
        net.broker("broker", site="hub", profile=broker)
        net.client(
            "rtu",
            site="field",
            profile=client,
            keep_alive_s=self.keep_alive_s,
            clean_start=False,
            start_s=PUBLISHER_START_S,
        )
        net.client(
            "scada",
            site="office" if self.layout == "remote" else "hub",
            profile=client,
            keep_alive_s=self.keep_alive_s,
            clean_start=False,
            subscribe=[("plant/#", 2)],
            start_s=SUBSCRIBER_START_S,
        )
        net.periodic(
            "rtu",
            "plant/p",
            every_s=self.every_s,
            payload_bytes=self.payload_bytes,
            start_s=PUBLISHER_START_S + FIRST_AT_S,
        )
        return net


def grid(*, count: int = 60, every_s: float = 1.0, drain_s: float = 30.0) -> list[Case]:
    """Every case of the issue's grid: links x layouts x QoS x stacks.

    A link with an outage publishes for longer: until a minute after the
    outage ends (at least ``count`` messages), so that the recovery is seen.
    """
    return [
        Case(
            link=link,
            layout=layout,
            qos=qos,
            stack=stack,
            count=_count_through_outage(link, count, every_s),
            every_s=every_s,
            drain_s=drain_s,
        )
        for link in LINKS
        for layout in ("beside", "remote")
        for qos in (0, 1, 2)
        for stack in STACKS
    ]


def _count_through_outage(link: str, count: int, every_s: float) -> int:
    outage = LINKS[link][1]
    if outage is None:
        return count
    start_s, duration_s = outage
    first_s = PUBLISHER_START_S + FIRST_AT_S
    return max(count, math.ceil((start_s + duration_s + 60.0 - first_s) / every_s))


def ci_subset() -> list[Case]:
    """A few short cases whose robust figures a CI test checks."""
    base = Case(link="clean", count=20, every_s=1.0, drain_s=20.0)
    return [
        replace(base, qos=1),
        replace(base, qos=2, stack="paho+mosquitto"),
        replace(base, link="loss 5 %", qos=1),
    ]
