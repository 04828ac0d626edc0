"""Timeline: the broker core and its clients in memory, on a fake clock."""

from __future__ import annotations

import pytest

from mqttsim.protocol import BrokerConfig, ConfigError
from mqttsim.widgets.timeline import Timeline, will_message

STATUS = "pipeline/st-07/status"


def rows(timeline: Timeline, who: str | None = None) -> list[tuple[float, str, str, str]]:
    frame = timeline.events(who)
    return list(zip(frame.time, frame.who, frame.what, frame.detail, strict=True))


def with_status_will(keep_alive_s: int = 0) -> Timeline:
    timeline = Timeline()
    timeline.connect("scada")
    timeline.subscribe("scada", "pipeline/+/status")
    will = will_message(STATUS, "offline")
    timeline.connect("st-07", will=will, keep_alive_s=keep_alive_s)
    timeline.publish("st-07", STATUS, "online", qos=1, retain=True)
    return timeline


def test_a_publish_reaches_the_subscriber_and_the_rows_say_so() -> None:
    timeline = with_status_will()
    assert rows(timeline) == [
        (0.0, "scada", "connected", "a new session"),
        (0.0, "scada", "subscribes", "pipeline/+/status (QoS 1)"),
        (0.0, "st-07", "connected", "a new session"),
        (0.0, "st-07", "publishes", "pipeline/st-07/status = 'online', QoS 1, retained"),
        (0.0, "scada", "receives", "pipeline/st-07/status = 'online', QoS 1"),
    ]


def test_the_same_script_gives_the_same_rows_and_packets() -> None:
    first, second = with_status_will(60), with_status_will(60)
    for timeline in (first, second):
        timeline.cut("st-07", at=100)
        timeline.run_until(400)
    assert first.events().equals(second.events())
    assert first.packets().equals(second.packets())


def test_a_new_subscriber_gets_the_retained_message_flagged() -> None:
    timeline = with_status_will()
    timeline.connect("late", at=5)
    timeline.subscribe("late", "pipeline/#")
    assert rows(timeline, "late")[-1] == (
        5.0,
        "late",
        "receives",
        "pipeline/st-07/status = 'online', QoS 1, retained",
    )


def test_vanishing_sends_the_will_and_disconnecting_does_not() -> None:
    vanished = with_status_will()
    vanished.vanish("st-07", at=10)
    assert rows(vanished)[-2:] == [
        (10.0, "broker", "closes, sends will", "st-07's connection: connection lost"),
        (10.0, "scada", "receives", "pipeline/st-07/status = 'offline', QoS 1"),
    ]
    left = with_status_will()
    left.disconnect("st-07", at=10)
    assert rows(left)[-1] == (10.0, "broker", "closes", "st-07's connection: client disconnected")


def test_a_cut_link_is_noticed_only_by_keep_alive() -> None:
    timeline = with_status_will(keep_alive_s=60)
    timeline.cut("st-07", at=100)
    timeline.run_until(400)
    assert rows(timeline)[5:] == [
        (100.0, "link", "dies", "st-07's link, silently"),
        (
            150.0,
            "broker",
            "closes, sends will",
            "st-07's connection: nothing received for 1.5 x keep alive (60 s)",
        ),
        (150.0, "scada", "receives", "pipeline/st-07/status = 'offline', QoS 1"),
        (180.0, "st-07", "gives up", "no PINGRESP within Keep Alive of PINGREQ"),
    ]
    packets = timeline.packets()
    pings = packets[packets.packet.isin(["PINGREQ", "PINGRESP"])]
    assert list(zip(pings.time, pings.packet, pings.lost, strict=True)) == [
        (60.0, "PINGREQ", False),
        (60.0, "PINGRESP", False),
        (120.0, "PINGREQ", True),
    ]
    assert list(pings.bytes) == [2, 2, 2]


def test_without_keep_alive_a_cut_link_is_never_noticed() -> None:
    timeline = with_status_will(keep_alive_s=0)
    timeline.cut("st-07", at=100)
    timeline.run_until(24 * 3600)
    assert rows(timeline)[-1] == (100.0, "link", "dies", "st-07's link, silently")
    assert timeline.is_connected("st-07")  # half-open: the station still believes it


def test_reconnecting_over_a_half_open_connection_takes_the_session_over() -> None:
    timeline = with_status_will(keep_alive_s=0)
    timeline.cut("st-07", at=100)
    timeline.connect("st-07", at=200, clean_start=False)
    # The broker still held the old connection open: the new CONNECT takes the
    # session over, which closes the old one [MQTT-3.1.4-3] and sends its will.
    assert set(rows(timeline)[-3:]) == {
        (200.0, "broker", "closes, sends will", "st-07's connection: session taken over"),
        (200.0, "scada", "receives", "pipeline/st-07/status = 'offline', QoS 1"),
        (200.0, "st-07", "connected", "a new session"),
    }


def test_session_expiry_is_logged_and_what_it_held_is_counted() -> None:
    timeline = Timeline()
    timeline.connect("scada", clean_start=False, session_expiry_s=600)
    timeline.subscribe("scada", "pipeline/+/alarm")
    timeline.disconnect("scada")
    timeline.publish("st-07", "pipeline/st-07/alarm", "low", qos=1, at=60)
    timeline.run_until(900)
    assert rows(timeline)[-2:] == [
        (600.0, "broker", "ends a session", "scada's: Session Expiry Interval over"),
        (600.0, "broker", "drops", "1 message: session-expired"),
    ]
    assert timeline.sys_topics("messages/dropped") == {
        "$SYS/broker/messages/dropped": "1",
        "$SYS/broker/messages/dropped/session-expired": "1",
    }


def test_a_full_queue_drops_and_counts() -> None:
    timeline = Timeline(BrokerConfig(max_queued_messages=2, sys_interval_s=0))
    timeline.connect("scada", clean_start=False, session_expiry_s=600)
    timeline.subscribe("scada", "pipeline/+/alarm")
    timeline.disconnect("scada")
    for n in range(3):
        timeline.publish("st-07", "pipeline/st-07/alarm", str(n), qos=1, at=10 + n)
    assert rows(timeline)[-1] == (12.0, "broker", "drops", "1 message: queue-full")
    timeline.connect("scada", clean_start=False, session_expiry_s=600, at=20)
    got = [detail for _, who, what, detail in rows(timeline, "scada") if what == "receives"]
    assert got == [
        "pipeline/st-07/alarm = '0', QoS 1",
        "pipeline/st-07/alarm = '1', QoS 1",
    ]


def test_mqtt_3_1_1_keeps_a_persistent_session() -> None:
    timeline = Timeline(version=4)
    timeline.connect("scada", clean_start=False)
    timeline.subscribe("scada", "pipeline/+/alarm")
    timeline.disconnect("scada")
    timeline.publish("st-07", "pipeline/st-07/alarm", "low", qos=1, at=60)
    timeline.connect("scada", clean_start=False, at=3600)
    assert rows(timeline, "scada")[-2:] == [
        (3600.0, "scada", "connected", "the broker kept its session"),
        (3600.0, "scada", "receives", "pipeline/st-07/alarm = 'low', QoS 1"),
    ]


def test_mistakes_are_one_line_config_errors() -> None:
    timeline = with_status_will()
    timeline.run_until(50)
    with pytest.raises(ConfigError, match="cannot go back"):
        timeline.run_until(10)
    with pytest.raises(ConfigError, match="st-07 is connected"):
        timeline.connect("st-07")
    with pytest.raises(ConfigError, match="nobody is not connected"):
        timeline.subscribe("nobody", "x")
    with pytest.raises(ConfigError, match="version"):
        Timeline(version=6)
    with pytest.raises(ConfigError, match="version"):
        Timeline(version=3)
