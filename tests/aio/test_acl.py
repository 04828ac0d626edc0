"""ACL files in mosquitto's acl_file format (mqttsim.aio.acl)."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest

from mqttsim.aio.acl import Access, AclFile, AclRule, filter_covers
from mqttsim.protocol.errors import ConfigError
from mqttsim.protocol.hooks import Authorizer
from mqttsim.protocol.topics import topic_matches

EXAMPLE = """\
# Anonymous clients: everything before the first 'user' line.
topic read public/#
topic write public/inbox

user alice
topic readwrite alice/#
topic deny alice/secret
topic sensors/+/temp

user bob
topic deny shared/private
topic read shared/#
topic write  bob/out

# Every client.
pattern write devices/%c/status
pattern read users/%u/#
pattern deny devices/%c/locked
"""


@pytest.fixture
def acl() -> AclFile:
    return AclFile.parse(EXAMPLE, source="example.acl")


def test_is_an_authorizer(acl: AclFile) -> None:
    hook: Authorizer = acl
    assert hook.may_publish("c", "alice", "alice/x")


def test_parses_into_blocks_with_line_numbers(acl: AclFile) -> None:
    assert acl.anonymous == (
        AclRule(topic="public/#", access=Access.READ, line=2),
        AclRule(topic="public/inbox", access=Access.WRITE, line=3),
    )
    assert list(acl.users) == ["alice", "bob"]
    assert acl.users["alice"][2] == AclRule(topic="sensors/+/temp", access=Access.READWRITE, line=8)
    assert acl.users["bob"][2] == AclRule(topic="bob/out", access=Access.WRITE, line=13)
    assert [rule.access for rule in acl.patterns] == [Access.WRITE, Access.READ, Access.DENY]


@pytest.mark.parametrize(
    ("username", "action", "topic", "allowed"),
    [
        # Anonymous block: read and write rules, nothing else.
        (None, "receive", "public/news", True),
        (None, "publish", "public/news", False),
        (None, "publish", "public/inbox", True),
        (None, "receive", "public/inbox", True),  # covered by public/# read
        (None, "publish", "alice/x", False),
        # A user's block; the anonymous block does not apply to named users.
        ("alice", "publish", "alice/diary", True),
        ("alice", "receive", "alice/diary", True),
        ("alice", "receive", "public/news", False),
        # Default access is readwrite.
        ("alice", "publish", "sensors/7/temp", True),
        ("alice", "receive", "sensors/7/temp", True),
        ("alice", "receive", "sensors/7/humidity", False),
        # Deny wins over a broader grant, wherever it stands in the block.
        ("alice", "publish", "alice/secret", False),
        ("alice", "receive", "alice/secret", False),
        ("alice", "receive", "alice/secret/deeper", True),  # deny is exact, not a subtree
        ("bob", "receive", "shared/private", False),
        ("bob", "receive", "shared/public", True),
        ("bob", "publish", "shared/public", False),  # read only
        ("bob", "publish", "bob/out", True),
        ("bob", "receive", "bob/out", False),  # write only
        # A user with no block gets only the patterns.
        ("carol", "publish", "public/inbox", False),
        ("carol", "receive", "users/carol/mail", True),
    ],
)
def test_rules_by_type(
    acl: AclFile, username: str | None, action: str, topic: str, allowed: bool
) -> None:
    check = acl.may_publish if action == "publish" else acl.may_receive
    assert check("client-1", username, topic) is allowed


def test_pattern_substitutes_client_id_and_user_name(acl: AclFile) -> None:
    assert acl.may_publish("st-07", "alice", "devices/st-07/status")
    assert not acl.may_publish("st-07", "alice", "devices/st-08/status")
    assert acl.may_receive("st-07", "bob", "users/bob/inbox")
    assert not acl.may_receive("st-07", "bob", "users/alice/inbox")


def test_pattern_with_client_id_applies_to_anonymous_clients(acl: AclFile) -> None:
    assert acl.may_publish("st-07", None, "devices/st-07/status")


def test_pattern_with_user_name_never_applies_to_anonymous_clients() -> None:
    acl = AclFile.parse("pattern read %u/#\npattern read all/%u\n")
    assert acl.may_receive("c", "u", "u/x")
    # Left unsubstituted, "%u/#" would be a literal level "%u"; it must not match at all.
    assert not acl.may_receive("c", None, "%u/x")
    assert not acl.may_receive("c", None, "all/%u")
    assert not acl.may_receive("c", None, "all/")


def test_deny_pattern_wins_over_allow_pattern(acl: AclFile) -> None:
    assert not acl.may_publish("st-07", None, "devices/st-07/locked")
    mixed = AclFile.parse("pattern write devices/%c/#\npattern deny devices/%c/locked\n")
    assert mixed.may_publish("st-07", None, "devices/st-07/status")
    assert not mixed.may_publish("st-07", None, "devices/st-07/locked")


def test_user_block_is_consulted_before_patterns_as_in_mosquitto() -> None:
    acl = AclFile.parse(
        "user alice\ntopic deny mine/%c-copy\ntopic write mine/x\npattern deny mine/x\n"
        "pattern write mine/y\n"
    )
    assert acl.may_publish("c", "alice", "mine/x")  # the user's grant decides first
    assert not acl.may_publish("c", "bob", "mine/x")  # others reach the pattern deny
    assert acl.may_publish("c", "alice", "mine/y")  # nothing in the block: patterns decide


@pytest.mark.parametrize("client_id", ["victim/cmd", "a/+", "x/../victim", "+", "#", "v/#"])
def test_client_id_with_a_slash_or_wildcard_cannot_reach_another_devices_topics(
    client_id: str,
) -> None:
    # Substituted as it is, "victim/cmd" would turn devices/%c/# into
    # devices/victim/cmd/#: a part of device "victim"'s tree.
    acl = AclFile.parse("pattern readwrite devices/%c/#\n")
    for topic in ("devices/victim/cmd/open", "devices/victim/cmd", "devices/a/b/c"):
        assert not acl.may_publish(client_id, None, topic)
        assert not acl.may_receive(client_id, None, topic)
    assert not acl.may_subscribe(client_id, None, "devices/victim/#")
    assert acl.may_publish("victim", None, "devices/victim/cmd/open")


@pytest.mark.parametrize("username", ["bob/inbox", "b+", "#"])
def test_user_name_with_a_slash_or_wildcard_gets_nothing_from_user_patterns(
    username: str,
) -> None:
    acl = AclFile.parse("pattern readwrite users/%u/#\n")
    assert not acl.may_receive("c", username, "users/bob/inbox/1")
    assert not acl.may_publish("c", username, f"users/{username}/x")
    assert acl.may_receive("c", "bob", "users/bob/inbox/1")


def test_an_unsafe_substitution_voids_only_the_rules_that_make_it() -> None:
    acl = AclFile.parse(
        "pattern read public/#\npattern readwrite devices/%c/#\npattern read users/%u/#\n"
    )
    # The rules without %c still apply to a client whose id has a '/'.
    assert acl.may_receive("site/a", "alice", "public/news")
    assert acl.may_receive("site/a", "alice", "users/alice/x")
    assert not acl.may_publish("site/a", "alice", "devices/site/a/x")
    # And %c rules still apply to a user name with a '/' (it is not substituted).
    assert acl.may_publish("dev1", "org/alice", "devices/dev1/x")
    assert not acl.may_receive("dev1", "org/alice", "users/org/alice/x")


def test_a_deny_pattern_that_cannot_be_substituted_denies_every_pattern_grant() -> None:
    # Failing closed: the deny was meant for this client's own topics, and
    # which topics those are cannot be said for an id like "a/b".
    acl = AclFile.parse("pattern read public/#\npattern deny devices/%c/locked\n")
    assert acl.may_receive("a", None, "public/x")
    assert not acl.may_receive("a/b", None, "public/x")


def test_substitution_is_a_single_pass() -> None:
    acl = AclFile.parse("pattern write out/%c\n")
    # The client id is inserted as it is; a "%u" inside it is not expanded again.
    assert acl.may_publish("%u", "alice", "out/%u")
    assert not acl.may_publish("%u", "alice", "out/alice")


def test_dollar_topics_need_a_rule_starting_with_dollar() -> None:
    acl = AclFile.parse("topic read #\ntopic read +/broker/#\ntopic read $SYS/broker/load/#\n")
    assert acl.may_receive("c", None, "a/b")
    assert not acl.may_receive("c", None, "$SYS/broker/uptime")
    assert acl.may_receive("c", None, "$SYS/broker/load/1min")
    assert not acl.may_subscribe("c", None, "$SYS/#")
    assert acl.may_subscribe("c", None, "$SYS/broker/load/+")


def test_empty_file_grants_nothing() -> None:
    acl = AclFile.parse("")
    assert not acl.may_publish("c", None, "a")
    assert not acl.may_subscribe("c", "u", "a")
    assert not acl.may_receive("c", "u", "a")


# --- SUBSCRIBE ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("rules", "topic_filter", "allowed"),
    [
        ("topic read a/#", "a/b/+", True),
        ("topic read a/#", "a/#", True),
        ("topic read a/#", "a", True),
        ("topic read a/#", "#", False),
        ("topic read a/#", "b/#", False),
        ("topic read a/+", "a/b", True),
        ("topic read a/+", "a/+", True),
        ("topic read a/+", "a/#", False),
        ("topic read a/+", "a/b/c", False),
        ("topic read a/b", "a/+", False),
        ("topic read a/+/#", "a/+", True),
        ("topic read a/+/#", "a/#", False),  # a/# also matches "a"
        ("topic write a/#", "a/b", False),  # subscribing needs read
        ("topic a/#", "a/b", True),  # readwrite
        # A deny rule refuses the filters it covers, and only those: an
        # overlapping filter is accepted and its messages are checked one by one.
        ("topic read a/#\ntopic deny a/secret", "a/secret", False),
        ("topic read a/#\ntopic deny a/+", "a/x", False),
        ("topic read a/#\ntopic deny a/secret", "a/+", True),
        ("topic read a/#\ntopic deny a/#", "a/b", False),
        # Shared subscriptions are checked on their inner filter.
        ("topic read a/#", "$share/group/a/b", True),
        ("topic read a/#", "$share/group/b", False),
    ],
)
def test_subscription_is_allowed_when_a_read_rule_covers_it(
    rules: str, topic_filter: str, allowed: bool
) -> None:
    acl = AclFile.parse(rules + "\n")
    assert acl.may_subscribe("c", None, topic_filter) is allowed


def test_subscription_through_a_pattern(acl: AclFile) -> None:
    assert acl.may_subscribe("st-07", "bob", "users/bob/+")
    assert not acl.may_subscribe("st-07", "bob", "users/+/mail")


def test_wide_subscription_accepted_then_filtered_per_message() -> None:
    acl = AclFile.parse("topic read a/#\ntopic deny a/secret\n")
    assert acl.may_subscribe("c", None, "a/+")
    assert acl.may_receive("c", None, "a/public")
    assert not acl.may_receive("c", None, "a/secret")


def test_check_subscribe_false_accepts_every_subscription_like_mosquitto_2() -> None:
    acl = AclFile.parse("topic read a/#\n", check_subscribe=False)
    assert acl.may_subscribe("c", None, "#")
    assert not acl.may_receive("c", None, "b")


# The small universe below exercises every interplay of literals, '+', '#',
# '$' names and the parent-level rule of '#'.
_FILTER_LEVELS = ["a", "b", "+", "#", "$s"]
_NAME_LEVELS = ["a", "b", "c", "$s", ""]


def _filters() -> list[str]:
    result = []
    for depth in range(1, 4):
        for levels in itertools.product(_FILTER_LEVELS, repeat=depth):
            if "#" in levels[:-1] or any(lv == "$s" for lv in levels[1:]):
                continue
            result.append("/".join(levels))
    return result


def _names() -> list[str]:
    return [
        "/".join(levels)
        for depth in range(1, 5)
        for levels in itertools.product(_NAME_LEVELS, repeat=depth)
        if "$s" not in levels[1:]
    ]


def test_filter_covers_agrees_with_topic_matching_exhaustively() -> None:
    filters, names = _filters(), _names()
    matched = {f: {n for n in names if topic_matches(f, n)} for f in filters}
    for rule, topic_filter in itertools.product(filters, filters):
        expected = matched[topic_filter] <= matched[rule]
        assert filter_covers(rule, topic_filter) is expected, (rule, topic_filter)


# --- the file format ---------------------------------------------------------------------------


def test_access_word_is_optional_so_a_lone_word_is_the_topic() -> None:
    # mosquitto's quirk: with one word after 'topic', that word is the topic.
    acl = AclFile.parse("topic read\n")
    assert acl.anonymous == (AclRule(topic="read", access=Access.READWRITE, line=1),)


def test_topic_with_spaces_needs_an_access_word() -> None:
    acl = AclFile.parse("topic read my topic/with spaces\n")
    assert acl.anonymous[0].topic == "my topic/with spaces"
    with pytest.raises(ConfigError, match="unknown access 'my'"):
        AclFile.parse("topic my topic\n")


def test_blanks_tabs_comments_and_crlf_are_tolerated() -> None:
    acl = AclFile.parse("  # indented comment\r\n\r\ntopic\tread\t a/b  \r\nuser   alice smith \n")
    assert acl.anonymous == (AclRule(topic="a/b", access=Access.READ, line=3),)
    assert list(acl.users) == ["alice smith"]


def test_repeated_user_block_adds_to_the_same_user() -> None:
    acl = AclFile.parse("user a\ntopic x\nuser b\ntopic y\nuser a\ntopic z\n")
    assert [rule.topic for rule in acl.users["a"]] == ["x", "z"]


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ("topics read a", "unknown keyword 'topics'"),
        ("Topic read a", "unknown keyword 'Topic'"),
        ("topic", "'topic' needs a topic"),
        ("pattern", "'pattern' needs a topic"),
        ("user", "'user' needs a user name"),
        ("topic readonly a/b", "unknown access 'readonly'"),
        ("topic read a/#/b", "'#' other than as the last level"),
        ("topic read a/b+", "'+' that is not a whole level"),
        ("pattern write devices/%c#", "'#' other than as the last level"),
        ("topic read $share/g/a", "Shared Subscriptions"),
    ],
)
def test_bad_line_is_a_config_error_naming_file_and_line(
    tmp_path: Path, line: str, reason: str
) -> None:
    path = tmp_path / "acl"
    path.write_text(f"topic read ok/#\n\n{line}\n")
    with pytest.raises(ConfigError) as caught:
        AclFile.load(path)
    message = str(caught.value)
    assert message.startswith(f"{path}:3: ")
    assert reason in message
    assert "\n" not in message


def test_missing_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"cannot read ACL file .*nope: No such file"):
        AclFile.load(tmp_path / "nope")


def test_non_utf8_file_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "acl"
    path.write_bytes(b"topic a\ntopic \xff\n")
    with pytest.raises(ConfigError, match=r"acl:2: not UTF-8 text"):
        AclFile.load(path)


def test_load_reads_the_example(tmp_path: Path) -> None:
    path = tmp_path / "acl"
    path.write_text(EXAMPLE)
    acl = AclFile.load(path)
    assert acl.may_publish("c", "alice", "alice/x")
    assert not acl.may_publish("c", "alice", "alice/secret")
