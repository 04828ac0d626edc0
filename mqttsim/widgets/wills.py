"""Last wills on mqttsim's broker core and a fake clock (lesson 04).

A will is published when its client's connection ends without DISCONNECT.
MQTT 5 can hold it back: the Will Delay Interval gives a station that lost
its link a chance to come back before the control room is told it is
offline, and a station that does come back in time cancels the will
[MQTT-3.1.3-9]. The will also goes when the session ends, if that is sooner.
Seconds and minutes matter here, so the story runs on a
:class:`~mqttsim.widgets.timeline.Timeline` rather than a live broker.
"""

from __future__ import annotations

from typing import Any

from mqttsim.protocol import ConfigError, Will

from .timeline import Timeline, will_message

__all__ = ["will_delay_story", "will_heard_after"]

VANISH_AT = 10.0
"""When the stations vanish, in seconds on the fake clock."""
_STATUS = "pipeline/{}/status"


def _status_will(station: str, delay_s: int) -> Will:
    return will_message(_STATUS.format(station), "offline", delay_s=delay_s)


def will_delay_story(
    *, delay_s: int = 60, back_after_s: float | None = 30, session_expiry_s: int = 3600
) -> Timeline:
    """Two stations lose their links at the same moment; one comes back.

    The SCADA host subscribes to ``pipeline/+/status``. Stations st-07 and
    st-08 connect with a will (``offline``, retained, Will Delay Interval
    ``delay_s``) and a Session Expiry Interval of ``session_expiry_s``, and
    publish ``online``. Both vanish at :data:`VANISH_AT`; st-07 reconnects
    ``back_after_s`` seconds later (``None``: never), resuming its session
    with the same will. The clock runs on until well after every deadline.

    Raises:
        ConfigError: a negative delay, expiry or return time.
    """
    if delay_s < 0 or session_expiry_s < 0 or (back_after_s is not None and back_after_s < 0):
        raise ConfigError("delay_s, back_after_s and session_expiry_s must be 0 or more")
    timeline = Timeline()
    timeline.connect("scada")
    timeline.subscribe("scada", _STATUS.format("+"))
    options: dict[str, Any] = {"session_expiry_s": session_expiry_s, "clean_start": False}
    for station in ("st-07", "st-08"):
        timeline.connect(station, will=_status_will(station, delay_s), **options)
        timeline.publish(station, _STATUS.format(station), "online", qos=1, retain=True)
    timeline.vanish("st-07", at=VANISH_AT)
    timeline.vanish("st-08", at=VANISH_AT)
    if back_after_s is not None:
        back = VANISH_AT + back_after_s
        timeline.connect("st-07", at=back, will=_status_will("st-07", delay_s), **options)
    timeline.run_until(VANISH_AT + max(delay_s, back_after_s or 0) + 30)
    return timeline


def will_heard_after(*, delay_s: int, session_expiry_s: int) -> float | None:
    """Seconds from a station vanishing (and never returning) to the SCADA
    host receiving its will; ``None`` if it never does within the run."""
    timeline = will_delay_story(
        delay_s=delay_s, back_after_s=None, session_expiry_s=session_expiry_s
    )
    rows = timeline.events("scada")
    heard = rows[rows.detail.str.startswith("pipeline/st-08/status = 'offline'")]
    return None if heard.empty else float(heard.time.iloc[0]) - VANISH_AT
