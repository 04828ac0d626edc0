"""Persistent sessions and offline queueing, told on mqttsim's broker core (lesson 05).

"The broker stores every message" is the common belief. What mqttsim's
broker (and mosquitto, by default) really keeps for an absent client is
narrower, and :func:`offline_story` shows each condition at work:

* only for a session that still exists: Clean Start=0 (3.1.1: Clean
  Session=0) and, in MQTT 5, a Session Expiry Interval that has not run out;
* only messages matching one of that session's subscriptions;
* only at QoS 1 or 2, where the QoS is the lower of the published and the
  granted one (QoS 0 for an absent client is dropped and counted as
  ``qos0-offline``; mosquitto drops it too unless ``queue_qos0_messages``);
* only up to ``BrokerConfig.max_queued_messages`` per session; the rest is
  dropped and counted as ``queue-full``, never silently;
* and when the session expires, whatever it still held is dropped and
  counted as ``session-expired`` (``session-discarded`` when the client
  comes back asking for Clean Start instead).

Every count is read from the broker's own ``$SYS/broker/messages/dropped/...``
statistics, so what the lesson shows is what an operator would see.
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import ipywidgets as widgets  # type: ignore[import-untyped,unused-ignore]

from mqttsim.protocol import BrokerConfig, ConfigError
from mqttsim.protocol.stats import DropReason

from .controls import QOS_CHOICES, redraw_on_change, slider
from .timeline import Timeline

if TYPE_CHECKING:
    import pandas as pd  # type: ignore[import-untyped,unused-ignore]

__all__ = ["OfflineResult", "offline_story", "QueueExplorer", "FATES"]

SUBSCRIBER = "scada"
STATION = "st-07"
ALARMS = "pipeline/+/alarm"
FATES = (
    "delivered",
    DropReason.QOS0_OFFLINE,
    DropReason.QUEUE_FULL,
    DropReason.SESSION_EXPIRED,
    DropReason.SESSION_DISCARDED,
    "no subscriber",
)
"""What can become of a message published while the SCADA host is away."""


@dataclass(frozen=True, slots=True)
class OfflineResult:
    """What became of the alarms published while the SCADA host was away.

    Attributes:
        published: how many alarms the station published.
        fates: how many alarms met each fate of :data:`FATES`; they add up
            to ``published``.
        session_present: the CONNACK's Session Present flag when the SCADA
            host came back.
        timeline: the whole run, for :meth:`~Timeline.events`.
    """

    published: int
    fates: dict[str, int]
    session_present: bool
    timeline: Timeline

    @property
    def delivered(self) -> int:
        return self.fates["delivered"]

    def table(self) -> pd.DataFrame:
        """One row per fate: how many alarms met it."""
        import pandas as pd

        return pd.DataFrame(
            {"alarms": [self.fates[f] for f in FATES]}, index=pd.Index(FATES, name="fate")
        )


def offline_story(
    *,
    away_s: float = 600,
    session_expiry_s: int = 3600,
    alarms: int = 3,
    max_queued: int = 1000,
    publish_qos: int = 1,
    subscribe_qos: int = 1,
    clean_start: bool = False,
) -> OfflineResult:
    """The SCADA host leaves; station st-07 raises alarms; the host comes back.

    The SCADA host connects (``clean_start``, ``session_expiry_s``),
    subscribes to ``pipeline/+/alarm`` at ``subscribe_qos`` and disconnects
    at time 0. Station st-07 publishes ``alarms`` alarms at ``publish_qos``,
    evenly spread over the ``away_s`` seconds; then the host reconnects
    with the same settings and takes what the broker kept.

    Args:
        away_s: how long the SCADA host is away, in seconds (> 0).
        session_expiry_s: MQTT 5 Session Expiry Interval of the host.
        alarms: how many alarms the station publishes meanwhile.
        max_queued: the broker's limit per session (``max_queued_messages``).
        publish_qos, subscribe_qos: 0, 1 or 2.
        clean_start: the host's Clean Start flag, both times.

    Raises:
        ConfigError: an argument out of range.
    """
    if away_s <= 0:
        raise ConfigError(f"away_s must be positive, not {away_s!r}")
    if not 0 <= alarms <= 10_000:
        raise ConfigError(f"alarms must be 0..10000, not {alarms!r}")
    for name, qos in (("publish_qos", publish_qos), ("subscribe_qos", subscribe_qos)):
        if qos not in (0, 1, 2):
            raise ConfigError(f"{name} must be 0, 1 or 2, not {qos!r}")
    if session_expiry_s < 0:
        raise ConfigError(f"session_expiry_s must be 0 or more, not {session_expiry_s!r}")
    try:
        config = BrokerConfig(max_queued_messages=max_queued, sys_interval_s=0)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    timeline = Timeline(config)
    options: dict[str, Any] = {"clean_start": clean_start, "session_expiry_s": session_expiry_s}
    timeline.connect(SUBSCRIBER, **options)
    timeline.subscribe(SUBSCRIBER, ALARMS, qos=subscribe_qos)
    timeline.disconnect(SUBSCRIBER)
    for n in range(1, alarms + 1):
        at = float(round(away_s * n / (alarms + 1)))  # whole seconds read better
        timeline.publish(STATION, f"pipeline/{STATION}/alarm", f"alarm {n}", qos=publish_qos, at=at)
    timeline.connect(SUBSCRIBER, at=away_s, **options)
    received = timeline.events(SUBSCRIBER)
    back = received[received.time >= away_s]
    present = bool(back.detail.str.contains("kept its session").any())
    delivered = int((back.what == "receives").sum())
    dropped = timeline.broker.stats.dropped
    fates = {"delivered": delivered}
    for reason in FATES[1:-1]:
        fates[reason] = int(dropped[reason])
    fates["no subscriber"] = alarms - sum(fates.values())
    return OfflineResult(alarms, fates, present, timeline)


class QueueExplorer(widgets.VBox):  # type: ignore[misc,unused-ignore]
    """Set how long the SCADA host is away and how its session is kept, and
    see what became of the alarms published meanwhile.

    Attributes:
        away_min, expiry_min, alarms, max_queued, publish_qos, subscribe_qos:
            the controls.
        result: the :class:`OfflineResult` last shown.
        summary: the HTML widget with the sentence and the table.
    """

    def __init__(self, **kwargs: Any) -> None:
        width = "12em"
        self.away_min = slider("SCADA away (min)", 10, 1, 60, label_width=width)
        self.expiry_min = slider("session expiry (min)", 60, 0, 60, label_width=width)
        self.alarms = slider("alarms meanwhile", 8, 0, 20, label_width=width)
        self.max_queued = slider("queue limit", 5, 1, 20, label_width=width)
        style = {"description_width": width}
        self.publish_qos = widgets.ToggleButtons(
            options=QOS_CHOICES, value=1, description="published at", style=style
        )
        self.subscribe_qos = widgets.ToggleButtons(
            options=QOS_CHOICES, value=1, description="subscribed at", style=style
        )
        self.summary = widgets.HTML()
        controls = [
            self.away_min,
            self.expiry_min,
            self.alarms,
            self.max_queued,
            self.publish_qos,
            self.subscribe_qos,
        ]
        super().__init__([*controls, self.summary], **kwargs)
        redraw_on_change(controls, self.show)
        self.show()

    def show(self) -> None:
        """Run the story the controls describe and show its outcome."""
        self.result = offline_story(
            away_s=60 * self.away_min.value,
            session_expiry_s=60 * self.expiry_min.value,
            alarms=self.alarms.value,
            max_queued=self.max_queued.value,
            publish_qos=self.publish_qos.value,
            subscribe_qos=self.subscribe_qos.value,
        )
        self.summary.value = _summary_html(self.result)


def _summary_html(result: OfflineResult) -> str:
    present = "still had its session" if result.session_present else "had <b>no</b> session for it"
    head = (
        f"<p>The SCADA host got <b>{result.delivered} of {result.published}</b> alarms;"
        f" on its return the broker {present}.</p>"
    )
    rows = "".join(
        f"<tr><td>{html.escape(fate)}</td><td style='text-align:right'>{count}</td></tr>"
        for fate, count in result.fates.items()
    )
    return head + f"<table><tr><th>fate</th><th>alarms</th></tr>{rows}</table>"
