"""mqtt5: lesson 12's tables come from the real cores, in MQTT 5 and 3.1.1, on a fake clock."""

from __future__ import annotations

import pytest

from mqttsim.protocol import ConfigError, ProtocolVersion, decode
from mqttsim.widgets.mqtt5 import (
    alias_saving,
    expiry_table,
    reason_code_table,
    shared_subscription_table,
    topic_alias_table,
    user_properties_table,
)


def test_mqtt5_says_why_where_311_cannot() -> None:
    table = reason_code_table()
    v5, v311 = table["MQTT 5"], table["MQTT 3.1.1"]
    assert v5.iloc[0] == "CONNACK 0x86 Bad user name or password"
    assert v311.iloc[0] == "CONNACK return code 4"
    assert v5.iloc[1] == "SUBACK 0x87 Not authorized" and v311.iloc[1] == "SUBACK 0x80"
    assert v5.iloc[2] == "PUBACK 0x87 Not authorized"
    assert v5.iloc[3] == "PUBACK 0x10 No matching subscribers"
    assert set(v311.iloc[2:4]) == {"PUBACK (no reason code)"}
    assert v5.iloc[4] == "DISCONNECT 0x8E Session taken over"
    assert v311.iloc[4] == "the connection just closes"


def test_an_expired_command_is_never_delivered_and_the_rest_is_counted_down() -> None:
    table = expiry_table([(300, 600, 5), (7200, 600, 5), (7200, None, 5), (7200, None, 4)])
    assert list(table["command delivered"]) == [
        "yes: the valve closes",
        "no: it expired",
        "yes: the valve closes",
        "yes: the valve closes",
    ]
    assert table["expiry left on arrival"].iloc[0] == "6 min"  # 600 s less the 240 s it waited
    assert table["age on arrival"].iloc[0] == "4 min"
    assert table["age on arrival"].iloc[3] == "119 min"
    with pytest.raises(ConfigError, match="away"):
        expiry_table([(30, 600, 5)])
    with pytest.raises(ConfigError, match="version"):
        expiry_table([(300, 600, 3)])


def test_each_shared_alarm_goes_to_one_worker_and_the_survivor_takes_over() -> None:
    table = shared_subscription_table(8, worker_stops_after=5)
    one, two = table["scada-1"] == "✓", table["scada-2"] == "✓"
    assert (one ^ two).all()  # exactly one worker per alarm
    assert two.iloc[:5].sum() == 2 and not two.iloc[5:].any()
    assert (table["historian"] == "✓").all()
    assert len(shared_subscription_table(3, worker_stops_after=None)) == 3
    with pytest.raises(ConfigError, match="alarms"):
        shared_subscription_table(0)


def test_user_properties_reach_a_v5_subscriber_and_are_stripped_for_311() -> None:
    table = user_properties_table([("unit", "bar")])
    assert table.loc["scada-host", "user properties"] == {"unit": "bar"}
    assert table.loc["old-hmi", "user properties"] == {}
    assert table.loc["scada-host", "PUBLISH bytes"] > table.loc["old-hmi", "PUBLISH bytes"]


def test_a_topic_alias_replaces_the_topic_after_the_first_publish() -> None:
    table = topic_alias_table("pipeline/st-02/discharge_pressure", ("1", "2", "3"))
    aliased = table.loc["MQTT 5 + alias"]
    assert list(aliased["topic on the wire"]) == [
        "pipeline/st-02/discharge_pressure",
        "(empty)",
        "(empty)",
    ]
    assert list(aliased["topic alias"]) == [1, 1, 1]
    plain = table.loc["MQTT 5"]["bytes"]
    assert aliased["bytes"].iloc[0] == plain.iloc[0] + 3  # the Topic Alias property
    assert (
        plain.iloc[1] - aliased["bytes"].iloc[1]
        == alias_saving("pipeline/st-02/discharge_pressure")["bytes saved per PUBLISH"]
    )
    last = decode(table.attrs["packets"][-1], ProtocolVersion.V5)
    assert last.topic == "" and last.properties.topic_alias == 1  # type: ignore[attr-defined]


def test_alias_saving_is_the_topic_length_less_the_property() -> None:
    saving = alias_saving("pipeline/st-11/temperature", messages_per_day=1_048_576)
    assert saving["bytes saved per PUBLISH"] == len("pipeline/st-11/temperature") - 3
    assert saving["MB saved per day"] == 23
    assert saving["US$ saved per day"] == 23 * 50
