"""Timeline: the broker core and its clients in memory, on a fake clock."""

from __future__ import annotations

import pytest

from mqttsim.protocol import (
    BrokerConfig,
    ConfigError,
    Connected,
    ConnectionRefused,
    Disconnected,
    Properties,
    PublishAcked,
    ReasonCode,
    Subscribed,
)
from mqttsim.widgets.security import lesson_acl, lesson_password_file, lesson_passwords
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


def test_each_command_returns_what_its_client_was_told() -> None:
    timeline = Timeline()
    (connected,) = timeline.connect("scada")
    assert isinstance(connected, Connected)
    (suback,) = timeline.subscribe("scada", "pipeline/#")
    assert isinstance(suback, Subscribed)
    (puback,) = timeline.publish("st-07", "pipeline/st-07/alarm", "low", qos=1)
    assert isinstance(puback, PublishAcked)
    assert [p.payload for p in timeline.received("scada")] == [b"low"]
    assert timeline.received("nobody") == []


def test_a_secured_broker_refuses_a_wrong_password_and_an_acl_breach() -> None:
    timeline = Timeline(authenticator=lesson_password_file(), authorizer=lesson_acl())
    refused, closed = timeline.connect("st-01", password="guess")
    assert isinstance(refused, ConnectionRefused) and isinstance(closed, Disconnected)
    assert refused.reason_code is ReasonCode.BAD_USER_NAME_OR_PASSWORD
    assert rows(timeline)[0] == (0.0, "st-01", "refused", "BAD_USER_NAME_OR_PASSWORD")
    timeline.connect("st-01", password=lesson_passwords()["st-01"])
    (puback,) = timeline.publish("st-01", "pipeline/st-02/pressure", "41.9", qos=1)
    assert isinstance(puback, PublishAcked) and puback.reason_code is ReasonCode.NOT_AUTHORIZED


def test_two_names_with_one_client_id_make_a_takeover() -> None:
    timeline = Timeline()
    timeline.connect("st-01")
    timeline.connect("spare RTU", client_id="st-01")
    (gone,) = timeline.client_events["st-01"][1:]
    assert isinstance(gone, Disconnected) and gone.reason_code is ReasonCode.SESSION_TAKEN_OVER
    assert timeline.is_connected("spare RTU") and not timeline.is_connected("st-01")


def test_clients_may_speak_another_version_than_the_timeline() -> None:
    timeline = Timeline(version=5)
    timeline.connect("old-hmi", version=4)
    timeline.subscribe("old-hmi", "pipeline/+/pressure", qos=0)
    props = Properties(user_properties=(("unit", "bar"),))
    timeline.publish("st-01", "pipeline/st-01/pressure", "41.83", properties=props)
    (got,) = timeline.received("old-hmi")
    assert got.properties.user_properties == ()  # 3.1.1 has no properties to carry them
    with pytest.raises(ConfigError, match="version"):
        timeline.connect("new", version=3)


def test_a_message_expiry_runs_down_while_the_clock_moves() -> None:
    timeline = Timeline()
    timeline.connect("st-03", clean_start=False, session_expiry_s=3600)
    timeline.subscribe("st-03", "pipeline/st-03/cmd/#")
    timeline.vanish("st-03")
    props = Properties(message_expiry_interval=10)
    timeline.publish(
        "scada-host", "pipeline/st-03/cmd/valve", "close", qos=1, properties=props, at=5
    )
    timeline.connect("st-03", clean_start=False, session_expiry_s=3600, at=8)
    (command,) = timeline.received("st-03")
    assert timeline.now == 8 and command.properties.message_expiry_interval == 7
    timeline.vanish("st-03", at=9)
    timeline.publish("scada-host", "pipeline/st-03/cmd/valve", "open", qos=1, properties=props)
    timeline.connect("st-03", clean_start=False, session_expiry_s=3600, at=30)
    assert [p.payload for p in timeline.received("st-03")] == [b"close"]  # "open" expired


def test_the_packet_rows_keep_each_packets_bytes() -> None:
    timeline = with_status_will()
    publish = next(p for p in timeline.packet_rows if p.packet == "PUBLISH")
    assert publish.data[0] >> 4 == 3 and len(publish.data) == publish.bytes
    assert "data" not in timeline.packets().columns
