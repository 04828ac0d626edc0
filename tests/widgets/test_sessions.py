"""Persistent sessions and offline queueing (lesson 05), and the QueueExplorer widget."""

from __future__ import annotations

import pytest

from mqttsim.protocol import ConfigError
from mqttsim.widgets.sessions import FATES, QueueExplorer, offline_story


def fates(**options: object) -> dict[str, int]:
    result = offline_story(**options)  # type: ignore[arg-type]
    assert sum(result.fates.values()) == result.published
    assert list(result.fates) == list(FATES)
    return {k: v for k, v in result.fates.items() if v}


def test_a_persistent_session_gets_every_qos_1_alarm() -> None:
    result = offline_story(alarms=3)
    assert result.session_present
    assert fates(alarms=3) == {"delivered": 3}
    assert list(result.table().alarms) == [3, 0, 0, 0, 0, 0]


def test_qos_0_is_not_kept_for_an_absent_client() -> None:
    assert fates(alarms=3, publish_qos=0) == {"qos0-offline": 3}


def test_the_granted_qos_counts_too() -> None:
    assert fates(alarms=3, subscribe_qos=0) == {"qos0-offline": 3}
    assert fates(alarms=3, publish_qos=2, subscribe_qos=1) == {"delivered": 3}


def test_the_queue_limit_drops_the_newest_and_counts_them() -> None:
    result = offline_story(alarms=8, max_queued=5)
    assert result.fates["delivered"] == 5 and result.fates["queue-full"] == 3
    received = result.timeline.events("scada")
    received = received[received.what == "receives"]
    assert [d.split("'")[1] for d in received.detail] == [f"alarm {n}" for n in range(1, 6)]
    assert result.timeline.sys_topics("messages/dropped/queue-full") == {
        "$SYS/broker/messages/dropped/queue-full": "3"
    }


def test_an_expired_session_drops_what_it_held_and_then_nothing_is_kept() -> None:
    result = offline_story(alarms=3, away_s=900, session_expiry_s=600)
    assert not result.session_present
    assert fates(alarms=3, away_s=900, session_expiry_s=600) == {
        "session-expired": 2,
        "no subscriber": 1,
    }


def test_a_session_that_ends_with_its_connection_keeps_nothing() -> None:
    assert fates(alarms=3, session_expiry_s=0) == {"no subscriber": 3}


def test_clean_start_throws_away_what_an_expiring_session_kept() -> None:
    # MQTT 5 splits 3.1.1's Clean Session: with an expiry the session outlives
    # the connection and queues, but Clean Start=1 on the return discards it.
    result = offline_story(alarms=3, clean_start=True, session_expiry_s=3600)
    assert not result.session_present
    assert fates(alarms=3, clean_start=True) == {"session-discarded": 3}


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"away_s": 0}, "away_s"),
        ({"alarms": -1}, "alarms"),
        ({"publish_qos": 3}, "publish_qos"),
        ({"subscribe_qos": -1}, "subscribe_qos"),
        ({"session_expiry_s": -5}, "session_expiry_s"),
        ({"max_queued": 70000}, "max_queued_messages"),
    ],
)
def test_bad_settings_are_config_errors(options: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        offline_story(**options)  # type: ignore[arg-type]


def test_the_explorer_redraws_when_its_controls_move() -> None:
    explorer = QueueExplorer()
    assert "<b>5 of 8</b>" in explorer.summary.value
    assert "still had its session" in explorer.summary.value
    explorer.alarms.value = 3
    assert "<b>3 of 3</b>" in explorer.summary.value
    explorer.publish_qos.value = 0
    assert "<b>0 of 3</b>" in explorer.summary.value
    assert "<td>qos0-offline</td><td style='text-align:right'>3</td>" in explorer.summary.value
    explorer.publish_qos.value = 1
    explorer.expiry_min.value = 5  # away 10 min: the session is gone
    assert "had <b>no</b> session" in explorer.summary.value
    assert explorer.result.fates["session-expired"] >= 1
    explorer.expiry_min.value = 60
    explorer.alarms.value = 12
    explorer.max_queued.value = 4
    assert "<b>4 of 12</b>" in explorer.summary.value
    assert explorer.result.fates["queue-full"] == 8
