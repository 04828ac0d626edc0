"""Will delay on the broker core (lesson 04)."""

from __future__ import annotations

import pytest

from mqttsim.protocol import ConfigError
from mqttsim.widgets.wills import VANISH_AT, will_delay_story, will_heard_after


def heard(
    delay_s: int, back_after_s: float | None, expiry_s: int = 3600
) -> list[tuple[float, str]]:
    frame = will_delay_story(delay_s=delay_s, back_after_s=back_after_s, session_expiry_s=expiry_s)
    offline = frame.events("scada")
    offline = offline[offline.detail.str.contains("'offline'")]
    return [(t, d.split("/")[1]) for t, d in zip(offline.time, offline.detail, strict=True)]


def test_a_station_back_within_the_delay_cancels_its_will() -> None:
    assert heard(60, 30) == [(VANISH_AT + 60, "st-08")]


def test_a_station_back_too_late_had_its_will_sent() -> None:
    assert heard(60, 90) == [(VANISH_AT + 60, "st-07"), (VANISH_AT + 60, "st-08")]


def test_without_a_delay_the_will_goes_at_once() -> None:
    assert heard(0, 30) == [(VANISH_AT, "st-07"), (VANISH_AT, "st-08")]


def test_the_lesson_exercise_answer_is_what_the_core_does() -> None:
    # Lesson 04's exercise: delay 120 s, session expiry 30 s -> heard after 30 s [MQTT-3.1.3-9].
    assert will_heard_after(delay_s=120, session_expiry_s=30) == 30
    assert will_heard_after(delay_s=60, session_expiry_s=3600) == 60


def test_negative_times_are_refused() -> None:
    with pytest.raises(ConfigError, match="0 or more"):
        will_delay_story(delay_s=-1)
