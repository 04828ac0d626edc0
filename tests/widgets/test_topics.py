"""Topic lesson helpers (lesson 06): the core decides, these explain; TopicMatcher."""

from __future__ import annotations

import itertools

import pytest

from mqttsim.protocol import ConfigError
from mqttsim.protocol.topics import topic_matches
from mqttsim.widgets.topics import (
    ALARM_TOPICS,
    ALARMS_WANTED,
    SAMPLE_TOPICS,
    TopicMatcher,
    check_filter,
    explain_match,
    match_table,
    topic_cost_table,
    validity_table,
)

FILTERS = [
    "pipeline/st-07/pressure",
    "pipeline/+/pressure",
    "pipeline/st-07/#",
    "#",
    "+",
    "+/+/+",
    "pipeline/+/+/pressure",
    "pipeline/+",
    "pipeline/st-07/+/#",
    "/#",
    "+/#",
    "$SYS/#",
    "$SYS/+/uptime",
    "$share/scada/pipeline/+/pressure",
    "pipeline//pressure",
    "pipeline/st-07/",
]
NAMES = [
    *SAMPLE_TOPICS,
    "pipeline",
    "pipeline/",
    "pipeline//pressure",
    "pipeline/st-07/",
    "$SYS",
    "$other/thing",
    "/",
]
MATCH_WORDS = ("'+' took", "'#' matches", "the same levels")


@pytest.mark.parametrize(("topic_filter", "name"), list(itertools.product(FILTERS, NAMES)))
def test_the_explanation_agrees_with_the_core(topic_filter: str, name: str) -> None:
    why = explain_match(topic_filter, name)
    assert why.startswith(MATCH_WORDS) == topic_matches(topic_filter, name), why


def test_the_table_takes_its_verdict_from_the_core() -> None:
    table = match_table("pipeline/+/pressure")
    assert list(table.topic) == list(SAMPLE_TOPICS)
    assert list(table.topic[table.matches]) == [
        "pipeline/st-07/pressure",
        "pipeline/st-12/pressure",
    ]
    why = dict(zip(table.topic, table.why, strict=True))
    assert why["pipeline/st-07/pressure"] == "'+' took 'st-07'"
    assert why["/pipeline/st-07/pressure"] == "level 1: '' (empty) is not 'pipeline'"
    assert why["Pipeline/st-07/pressure"].endswith("(case matters)")
    assert why["pipeline/st-07/alarm/pressure"] == "level 3: 'alarm' is not 'pressure'"


def test_hash_reaches_the_parent_level_but_never_a_dollar_topic() -> None:
    table = match_table("pipeline/st-07/#").set_index("topic")
    assert table.loc["pipeline/st-07", "why"] == "'#' matches the level above it too"
    everything = match_table("#").set_index("topic")
    assert not everything.loc["$SYS/broker/uptime", "matches"]
    assert everything.matches.sum() == len(SAMPLE_TOPICS) - 1


def test_an_invalid_filter_is_refused_with_the_core_reason() -> None:
    with pytest.raises(ConfigError, match=r"'#' other than as the last level \[MQTT-4.7.1-2\]"):
        match_table("pipeline/#/pressure")


def test_an_invalid_name_is_reported_not_matched() -> None:
    table = match_table("#", ["pipeline/+/pressure"])
    assert not table.matches[0]
    assert table.why[0].startswith("not a topic name: topic name 'pipeline/+/pressure' contains")


def test_validity_table_uses_the_core_messages() -> None:
    table = validity_table(["a/b", "a/+", "a/#/b", "a/b+", ""]).set_index("text")
    assert list(table.loc["a/b"]) == ["ok", "ok"]
    assert table.loc["a/+", "as a topic filter"] == "ok"
    assert "[MQTT-3.3.2-2]" in table.loc["a/+", "as a topic name"]
    assert "[MQTT-4.7.1-2]" in table.loc["a/#/b", "as a topic filter"]
    assert "[MQTT-4.7.1-3]" in table.loc["a/b+", "as a topic filter"]
    assert list(table.loc[""]) == [
        "topic name is empty [MQTT-4.7.3-1]",
        "topic filter is empty [MQTT-4.7.3-1]",
    ]


@pytest.mark.parametrize("answer", ["pipeline/+/alarm/+", "pipeline/+/alarm/#"])
def test_the_exercise_accepts_right_answers(
    answer: str, capsys: pytest.CaptureFixture[str]
) -> None:
    check_filter(answer, ALARMS_WANTED, ALARM_TOPICS)
    assert capsys.readouterr().out == "Correct!\n"


@pytest.mark.parametrize(
    ("answer", "says"),
    [
        (None, "Not yet: set `answer`"),
        (42, "a topic filter is a string"),
        ("pipeline/#/alarm", "Not yet: topic filter 'pipeline/#/alarm' has '#'"),
        ("pipeline/#", "it also lets through pipeline/st-07/pressure, pipeline/st-07/status"),
        ("pipeline/+/alarm", "it misses pipeline/st-01/alarm/pressure"),
        ("+/+/alarm/pressure", "it misses pipeline/st-07/alarm/temperature"),
    ],
)
def test_the_exercise_says_what_is_wrong(
    answer: object, says: str, capsys: pytest.CaptureFixture[str]
) -> None:
    check_filter(answer, ALARMS_WANTED, ALARM_TOPICS)
    out = capsys.readouterr().out
    assert out.startswith("Not yet") and says in out and out.count("\n") == 1


def test_topic_costs_are_the_core_encoded_sizes() -> None:
    table = topic_cost_table().set_index("naming")
    readable = table.loc["readable (the course's)"]
    # 2 fixed header + 2 + 23 topic + 1 properties length + 2 payload ("55") + 52 TCP/IP
    # (20 IPv4 + 20 TCP + 12 timestamps option, RFC 7323) = 82
    assert readable["example (st-07 pressure)"] == "pipeline/st-07/pressure"
    assert (readable["topic bytes"], readable["bytes on the wire"]) == (23, 82)
    costs = table["pipeline bytes/day"]
    alias = costs["readable (the course's) + MQTT 5 Topic Alias"]
    assert costs["long and descriptive"] > costs["readable (the course's)"]
    assert costs["readable (the course's)"] > costs["terse codes"] > alias
    # 61,056 readings a day; with an alias each carries 0 topic bytes and
    # 3 bytes of Topic Alias property instead.
    readings = 61_056
    assert costs["readable (the course's)"] - alias > readings * (len("pipeline/st-0x/flow") - 3)
    assert table.loc["terse codes", "US$/day"] == round(costs["terse codes"] / 2**20 * 50, 2)
    free = topic_cost_table(price_per_mb_usd=0.0)
    assert set(free["US$/day"]) == {0.0}


def test_the_matcher_redraws_as_the_learner_types() -> None:
    matcher = TopicMatcher()
    assert matcher.result is not None
    first = matcher.table.value
    assert "✓</td><td><code>pipeline/st-07/pressure" in first
    assert "✗</td><td><code>pipeline/st-07/temperature" in first
    matcher.topic_filter.value = "pipeline/st-07/#"
    assert "✓</td><td><code>pipeline/st-07/temperature" in matcher.table.value
    assert matcher.message.value == ""
    matched = list(matcher.result.topic[matcher.result.matches])
    assert "pipeline/st-07/alarm/pressure" in matched


def test_the_matcher_refuses_a_bad_filter_where_it_is_typed() -> None:
    matcher = TopicMatcher()
    before = matcher.result
    matcher.topic_filter.value = "pipeline/st-+"
    assert "has &#x27;+&#x27; that is not a whole level [MQTT-4.7.1-3]" in matcher.message.value
    assert matcher.table.value.startswith("<div style='opacity:0.4'>")
    assert matcher.result is before  # the last good answer stays
    matcher.topic_filter.value = "pipeline/+"
    assert matcher.message.value == "" and "opacity" not in matcher.table.value


def test_the_matcher_follows_the_typed_names() -> None:
    matcher = TopicMatcher(topic_filter="#")
    matcher.topics.value = "a/b\n\n$SYS/x\nbad/+/name\n"
    assert matcher.result is not None
    assert list(matcher.result.topic) == ["a/b", "$SYS/x", "bad/+/name"]
    assert list(matcher.result.matches) == [True, False, False]
    assert "not a topic name" in matcher.table.value
