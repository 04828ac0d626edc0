"""Topic names, topic filters, shared subscriptions and the subscription tree (§4.7, §4.8.2)."""

from __future__ import annotations

import tracemalloc
from collections import Counter

import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from mqttsim.protocol.enums import ReasonCode
from mqttsim.protocol.errors import ProtocolError, TopicFilterInvalid, TopicNameInvalid
from mqttsim.protocol.topics import (
    SubscriptionTree,
    TreeMatch,
    is_wildcard,
    parse_shared,
    topic_matches,
    validate_topic_filter,
    validate_topic_name,
)

# --- the specification's own examples (§4.7.1.2, §4.7.1.3, §4.7.2, §4.7.3) ----------------


@pytest.mark.parametrize(
    ("topic_filter", "topic_name", "expected"),
    [
        # §4.7.1.2: "sport/tennis/player1/#" and the parent level [MQTT-4.7.1-2].
        ("sport/tennis/player1/#", "sport/tennis/player1", True),
        ("sport/tennis/player1/#", "sport/tennis/player1/ranking", True),
        ("sport/tennis/player1/#", "sport/tennis/player1/score/wimbledon", True),
        ("sport/#", "sport", True),
        ("#", "sport/tennis/player1", True),
        ("sport/tennis/#", "sport/tennis", True),
        ("sport/tennis/player1/#", "sport/tennis/player2", False),
        # §4.7.1.3: "+" matches exactly one level, which may be empty.
        ("sport/tennis/+", "sport/tennis/player1", True),
        ("sport/tennis/+", "sport/tennis/player2", True),
        ("sport/tennis/+", "sport/tennis/player1/ranking", False),
        ("sport/+", "sport", False),
        ("sport/+", "sport/", True),
        ("+/+", "/finance", True),
        ("/+", "/finance", True),
        ("+", "/finance", False),
        ("+/tennis/#", "sport/tennis/player1", True),
        ("sport/+/player1", "sport/tennis/player1", True),
        # §4.7.2: $-topics are reached only by filters that name them [MQTT-4.7.2-1].
        ("#", "$SYS/monitor/Clients", False),
        ("+/monitor/Clients", "$SYS/monitor/Clients", False),
        ("$SYS/#", "$SYS/monitor/Clients", True),
        ("$SYS/monitor/+", "$SYS/monitor/Clients", True),
        ("+/#", "$SYS", False),
        # §4.7.3: case matters, spaces are ordinary, a leading "/" makes another topic.
        ("ACCOUNTS", "Accounts", False),
        ("Accounts payable", "Accounts payable", True),
        ("finance", "/finance", False),
        ("/finance", "/finance", True),
        ("+/+", "/", True),
    ],
)
def test_spec_examples_of_topic_matching(
    topic_filter: str, topic_name: str, expected: bool
) -> None:
    assert topic_matches(topic_filter, topic_name) is expected
    tree: SubscriptionTree[str, int] = SubscriptionTree()
    tree.add(topic_filter, "c", 1)
    assert bool(tree.match(topic_name).normal) is expected


def test_leading_wildcard_does_not_match_dollar_topics() -> None:
    tree: SubscriptionTree[str, int] = SubscriptionTree()
    for topic_filter in ("#", "+/monitor/Clients", "+/#", "$share/g/#", "$share/g/+/monitor/+"):
        tree.add(topic_filter, "c", 1)
    result = tree.match("$SYS/monitor/Clients")
    assert result.normal == []
    assert result.shared == {}


def test_dollar_is_ordinary_below_the_first_level() -> None:
    assert topic_matches("a/+", "a/$SYS")
    assert topic_matches("a/#", "a/$SYS/x")
    tree: SubscriptionTree[str, int] = SubscriptionTree()
    tree.add("a/+", "c", 1)
    assert tree.match("a/$SYS").normal == [("a/+", "c", 1)]


def test_shared_filter_matches_on_its_inner_filter() -> None:
    assert topic_matches("$share/g/sport/+", "sport/tennis")
    assert not topic_matches("$share/g/sport/+", "$share/g/sport/tennis")
    assert not topic_matches("$share/g/#", "$SYS/x")


# --- validation: names --------------------------------------------------------------------

VALID_NAMES = [
    "a",
    "/",
    "//",
    "sport/tennis",
    "$SYS/broker",
    "Accounts payable",
    "é/ü",
    "a" * 65535,
]


@pytest.mark.parametrize("name", VALID_NAMES, ids=lambda n: n[:20])
def test_valid_topic_names_pass(name: str) -> None:
    validate_topic_name(name)


@pytest.mark.parametrize(
    ("name", "spec_id"),
    [
        ("", "[MQTT-4.7.3-1]"),
        ("sport/+", "[MQTT-3.3.2-2]"),
        ("sport/#", "[MQTT-3.3.2-2]"),
        ("sport+", "[MQTT-3.3.2-2]"),
        ("a\x00b", "[MQTT-4.7.3-2]"),
        ("a\ud800", "[MQTT-1.5.4-1]"),
        ("a" * 65536, "[MQTT-4.7.3-3]"),
        ("é" * 32768, "[MQTT-4.7.3-3]"),  # 32768 characters, but 65536 bytes in UTF-8
    ],
    ids=[
        "empty",
        "plus",
        "hash",
        "plus-in-level",
        "null",
        "surrogate",
        "too-long",
        "too-long-utf8",
    ],
)
def test_invalid_topic_names_raise_topic_name_invalid(name: str, spec_id: str) -> None:
    with pytest.raises(TopicNameInvalid) as caught:
        validate_topic_name(name)
    assert caught.value.reason_code is ReasonCode.TOPIC_NAME_INVALID
    assert int(caught.value.reason_code) == 0x90
    assert spec_id in str(caught.value)


def test_topic_name_error_reads_as_a_sentence_with_the_culprit() -> None:
    with pytest.raises(ProtocolError) as caught:
        validate_topic_name("a/+")
    assert str(caught.value) == "topic name 'a/+' contains '+' [MQTT-3.3.2-2]"


def test_long_culprit_is_cut_short_in_the_message() -> None:
    with pytest.raises(TopicNameInvalid) as caught:
        validate_topic_name("+" + "a" * 70000)
    assert len(str(caught.value)) < 120


# --- validation: filters ------------------------------------------------------------------

VALID_FILTERS = [
    "#",
    "+",
    "/",
    "sport/tennis/#",
    "sport/+/player1",
    "+/tennis/#",
    "+/+",
    "/#",
    "$SYS/#",
    "$share",  # not "$share/": an ordinary filter
    "$sharefoo/a",
    "$share/g/#",
    "$share/g/+/x",
    "$share/g//",
    "$share/g/$share/x",
    "a" * 65535,
]


@pytest.mark.parametrize("topic_filter", VALID_FILTERS, ids=lambda f: f[:20])
def test_valid_topic_filters_pass(topic_filter: str) -> None:
    validate_topic_filter(topic_filter)


@pytest.mark.parametrize(
    ("topic_filter", "spec_id"),
    [
        ("", "[MQTT-4.7.3-1]"),
        ("sport/tennis#", "[MQTT-4.7.1-2]"),
        ("sport/tennis/#/ranking", "[MQTT-4.7.1-2]"),
        ("#/", "[MQTT-4.7.1-2]"),
        ("##", "[MQTT-4.7.1-2]"),
        ("sport+", "[MQTT-4.7.1-3]"),
        ("sport/+tennis", "[MQTT-4.7.1-3]"),
        ("+#", "[MQTT-4.7.1-2]"),
        ("a\x00", "[MQTT-4.7.3-2]"),
        ("a/\udfff", "[MQTT-1.5.4-1]"),
        ("a" * 65536, "[MQTT-4.7.3-3]"),
        ("$share/", "[MQTT-4.8.2-1]"),
        ("$share//a", "[MQTT-4.8.2-1]"),
        ("$share/g", "[MQTT-4.8.2-2]"),
        ("$share/g/", "[MQTT-4.8.2-2]"),
        ("$share/g+/a", "[MQTT-4.8.2-2]"),
        ("$share/+/a", "[MQTT-4.8.2-2]"),
        ("$share/#/a", "[MQTT-4.8.2-2]"),
        ("$share/g/a/#/b", "[MQTT-4.7.1-2]"),
        ("$share/g/a+", "[MQTT-4.7.1-3]"),
    ],
)
def test_invalid_topic_filters_raise_topic_filter_invalid(topic_filter: str, spec_id: str) -> None:
    with pytest.raises(TopicFilterInvalid) as caught:
        validate_topic_filter(topic_filter)
    assert caught.value.reason_code is ReasonCode.TOPIC_FILTER_INVALID
    assert int(caught.value.reason_code) == 0x8F
    assert spec_id in str(caught.value)


def test_shared_filter_refused_when_shared_subscriptions_are_not_allowed() -> None:
    with pytest.raises(TopicFilterInvalid) as caught:
        validate_topic_filter("$share/g/a", shared_allowed=False)
    assert caught.value.reason_code is ReasonCode.SHARED_SUBSCRIPTIONS_NOT_SUPPORTED
    assert int(caught.value.reason_code) == 0x9E
    validate_topic_filter("$share", shared_allowed=False)
    validate_topic_filter("a/b", shared_allowed=False)


@pytest.mark.parametrize("topic_filter", ["#", "a/+", "$share/g/a/#"])
def test_wildcard_refused_when_wildcards_are_not_allowed(topic_filter: str) -> None:
    with pytest.raises(TopicFilterInvalid) as caught:
        validate_topic_filter(topic_filter, wildcards_allowed=False)
    assert caught.value.reason_code is ReasonCode.WILDCARD_SUBSCRIPTIONS_NOT_SUPPORTED
    assert int(caught.value.reason_code) == 0xA2


def test_malformed_filter_reports_the_malformation_even_when_wildcards_are_not_allowed() -> None:
    with pytest.raises(TopicFilterInvalid) as caught:
        validate_topic_filter("a/b#", wildcards_allowed=False)
    assert caught.value.reason_code == ReasonCode.TOPIC_FILTER_INVALID


def test_plain_filter_passes_when_wildcards_are_not_allowed() -> None:
    validate_topic_filter("$share/g/a/b", wildcards_allowed=False)


@pytest.mark.parametrize(
    ("topic_filter", "expected"),
    [("a/b", False), ("a/+", True), ("#", True), ("$share/g/a", False), ("$share/g/+", True)],
)
def test_is_wildcard(topic_filter: str, expected: bool) -> None:
    assert is_wildcard(topic_filter) is expected


# --- shared subscription parsing ----------------------------------------------------------


@pytest.mark.parametrize(
    ("topic_filter", "expected"),
    [
        ("$share/group/a/b", ("group", "a/b")),
        ("$share/group/#", ("group", "#")),
        ("$share/g//", ("g", "/")),
        ("$share/g/$share/x", ("g", "$share/x")),
        ("a/b", (None, "a/b")),
        ("$share", (None, "$share")),
        ("$SHARE/g/a", (None, "$SHARE/g/a")),  # the prefix is case-sensitive (§4.7.3)
        ("$sharefoo/a", (None, "$sharefoo/a")),
        ("$SYS/#", (None, "$SYS/#")),
    ],
)
def test_parse_shared_splits_share_name_and_inner_filter(
    topic_filter: str, expected: tuple[str | None, str]
) -> None:
    assert parse_shared(topic_filter) == expected


def test_parse_shared_refuses_a_broken_shared_filter_rather_than_treat_it_as_plain() -> None:
    with pytest.raises(TopicFilterInvalid, match=r"\[MQTT-4\.8\.2-2\]"):
        parse_shared("$share/group")
    with pytest.raises(TopicFilterInvalid, match=r"\[MQTT-4\.8\.2-1\]"):
        parse_shared("$share/")


# --- SubscriptionTree: behaviour ----------------------------------------------------------


def test_add_reports_replacement_and_get_returns_the_latest_value() -> None:
    tree: SubscriptionTree[str, int] = SubscriptionTree()
    assert tree.add("a/+", "c1", 1) is False
    assert tree.add("a/+", "c1", 2) is True  # a repeated SUBSCRIBE replaces [MQTT-3.8.4-3]
    assert len(tree) == 1
    assert tree.get("a/+", "c1") == 2
    assert tree.get("a/+", "c2") is None
    assert tree.get("a/#", "c1") is None
    assert tree.match("a/x") == TreeMatch(normal=[("a/+", "c1", 2)], shared={})


def test_add_refuses_an_invalid_filter_and_leaves_the_tree_unchanged() -> None:
    tree: SubscriptionTree[str, int] = SubscriptionTree()
    with pytest.raises(TopicFilterInvalid):
        tree.add("a/#/b", "c", 1)
    assert len(tree) == 0
    assert tree.filters_of("c") == []


def test_remove_reports_whether_something_was_removed() -> None:
    tree: SubscriptionTree[str, int] = SubscriptionTree()
    tree.add("a/b", "c1", 1)
    tree.add("a/b", "c2", 2)
    assert tree.remove("a/b", "c3") is False
    assert tree.remove("a/+", "c1") is False
    assert tree.remove("a/b", "c1") is True
    assert tree.remove("a/b", "c1") is False
    assert tree.match("a/b").normal == [("a/b", "c2", 2)]
    assert len(tree) == 1


def test_remove_prunes_empty_nodes() -> None:
    tree: SubscriptionTree[str, int] = SubscriptionTree()
    tree.add("a/b/c/d", "c1", 1)
    tree.add("a/b", "c1", 1)
    tree.add("$share/g/a/b/c/d", "c2", 1)
    tree.remove("a/b/c/d", "c1")
    tree.remove("$share/g/a/b/c/d", "c2")
    # The trie is private; looking in is the only way to see that churn cannot grow it.
    assert list(tree._root.children["a"].children["b"].children) == []
    tree.remove("a/b", "c1")
    assert tree._root.children == {}


def test_plain_and_shared_subscriptions_to_one_filter_are_distinct_entries() -> None:
    tree: SubscriptionTree[str, str] = SubscriptionTree()
    tree.add("a/+", "c1", "plain")
    tree.add("$share/g/a/+", "c1", "shared")
    assert len(tree) == 2
    assert tree.get("a/+", "c1") == "plain"
    assert tree.get("$share/g/a/+", "c1") == "shared"
    assert tree.filters_of("c1") == ["a/+", "$share/g/a/+"]
    result = tree.match("a/x")
    assert result.normal == [("a/+", "c1", "plain")]
    assert result.shared == {("g", "a/+"): [("c1", "shared")]}


def test_overlapping_filters_of_one_key_each_appear_in_the_match() -> None:
    tree: SubscriptionTree[str, int] = SubscriptionTree()
    for qos, topic_filter in enumerate(["a/b", "a/+", "a/#", "#", "+/b"]):
        tree.add(topic_filter, "c1", qos)
    result = tree.match("a/b")
    assert sorted(result.normal) == [
        ("#", "c1", 3),
        ("+/b", "c1", 4),
        ("a/#", "c1", 2),
        ("a/+", "c1", 1),
        ("a/b", "c1", 0),
    ]


def test_shared_groups_are_keyed_by_share_name_and_inner_filter_in_subscription_order() -> None:
    tree: SubscriptionTree[str, int] = SubscriptionTree()
    tree.add("$share/g/a/+", "c2", 1)
    tree.add("$share/g/a/+", "c1", 2)
    tree.add("$share/h/a/+", "c3", 3)
    tree.add("$share/g/a/#", "c4", 4)
    tree.add("$share/g/a/+", "c2", 5)  # replacing a value keeps the member's place
    result = tree.match("a/x")
    assert result.normal == []
    assert result.shared == {
        ("g", "a/+"): [("c2", 5), ("c1", 2)],
        ("h", "a/+"): [("c3", 3)],
        ("g", "a/#"): [("c4", 4)],
    }


def test_multi_level_wildcard_matches_the_parent_level_in_the_tree() -> None:
    tree: SubscriptionTree[str, int] = SubscriptionTree()
    tree.add("sport/#", "c1", 1)
    tree.add("$share/g/sport/#", "c2", 2)
    result = tree.match("sport")
    assert result.normal == [("sport/#", "c1", 1)]
    assert result.shared == {("g", "sport/#"): [("c2", 2)]}


def test_filters_of_lists_a_keys_filters_in_subscription_order() -> None:
    tree: SubscriptionTree[str, int] = SubscriptionTree()
    tree.add("b", "c1", 0)
    tree.add("a", "c1", 0)
    tree.add("z", "c2", 0)
    tree.add("b", "c1", 1)
    assert tree.filters_of("c1") == ["b", "a"]
    tree.remove("b", "c1")
    tree.remove("a", "c1")
    assert tree.filters_of("c1") == []
    assert tree.filters_of("nobody") == []


def test_empty_tree_matches_nothing() -> None:
    tree: SubscriptionTree[str, int] = SubscriptionTree()
    assert tree.match("a") == TreeMatch(normal=[], shared={})
    assert len(tree) == 0


# --- what an untrusted client can make the broker spend -------------------------------------


@pytest.mark.parametrize("char", ["\x01", "\n", "\x1b", "\x1f", "\x7f", "\x85", "\x9f"])
def test_control_characters_are_refused_in_names_and_filters(char: str) -> None:
    # MQTT 5.0 §1.5.4: SHOULD NOT appear, MAY be treated as malformed; in a log
    # line a newline or an escape sequence forges entries (§5.4.9).
    with pytest.raises(TopicNameInvalid, match=f"U\\+{ord(char):04X}"):
        validate_topic_name(f"plant/{char}/pressure")
    with pytest.raises(TopicFilterInvalid, match=f"U\\+{ord(char):04X}"):
        validate_topic_filter(f"plant/{char}/#")


@pytest.mark.parametrize(
    "text", ["caf\u00e9/temp", "nbsp\u00a0/x", "\u2028 line/sep", "emoji/\U0001f6e2"]
)
def test_printable_non_ascii_characters_are_still_accepted(text: str) -> None:
    validate_topic_name(text)
    validate_topic_filter(text)


def test_level_limit_refuses_one_level_too_many_with_its_reason_code() -> None:
    validate_topic_name("/".join(["a"] * 200), max_levels=200)
    validate_topic_filter("/".join(["a"] * 199) + "/#", max_levels=200)
    with pytest.raises(TopicNameInvalid, match="201 levels") as name_error:
        validate_topic_name("/".join(["a"] * 201), max_levels=200)
    assert name_error.value.reason_code is ReasonCode.TOPIC_NAME_INVALID
    with pytest.raises(TopicFilterInvalid, match="201 levels") as filter_error:
        validate_topic_filter("/".join(["+"] * 201), max_levels=200)
    assert filter_error.value.reason_code is ReasonCode.TOPIC_FILTER_INVALID


def test_byte_limit_counts_utf8_bytes_not_characters() -> None:
    validate_topic_name("\u00e9" * 50, max_bytes=100)  # 50 characters, 100 bytes
    with pytest.raises(TopicNameInvalid, match="102 bytes"):
        validate_topic_name("\u00e9" * 51, max_bytes=100)
    with pytest.raises(TopicFilterInvalid, match="over this server's limit of 10"):
        validate_topic_filter("sensors/#/x"[:4] + "/long/#", max_bytes=10)


def test_a_deep_filter_is_refused_by_the_level_limit_before_any_other_work() -> None:
    deep = "/".join(["a"] * 32_768)[:65_535]  # the longest filter the spec allows
    with pytest.raises(TopicFilterInvalid, match="levels"):
        validate_topic_filter(deep, max_levels=200)


def _bytes_to_add(levels: int) -> int:
    tree: SubscriptionTree[str, int] = SubscriptionTree()
    deep = "/".join(["a"] * levels)
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        tree.add(deep, "c1", 1)
        return tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()


def test_a_subscriptions_memory_grows_linearly_with_its_depth() -> None:
    # Each node once held its whole path: n levels cost about n*n/2 bytes of
    # strings (1.0-1.3 GiB for one 64 KB filter). Linear means doubling the
    # depth about doubles the cost; quadratic would quadruple it.
    small, large = _bytes_to_add(2_000), _bytes_to_add(4_000)
    assert large < 2.5 * small, (small, large)
    assert large < 2_000 * 4_000, "more than about 2 KB per level"


def test_a_deep_subscription_still_matches_and_is_removed_completely() -> None:
    tree: SubscriptionTree[str, int] = SubscriptionTree()
    deep = "/".join(["a"] * 500)
    tree.add(deep + "/#", "c1", 1)
    tree.add("$share/g/" + deep, "c2", 2)
    found = tree.match(deep)
    assert found.normal == [(deep + "/#", "c1", 1)]
    assert found.shared == {("g", deep): [("c2", 2)]}
    assert tree.remove(deep + "/#", "c1") and tree.remove("$share/g/" + deep, "c2")
    assert tree.match(deep) == TreeMatch(normal=[], shared={})


# --- SubscriptionTree agrees with the reference matcher -----------------------------------

FILTER_LEVELS = st.sampled_from(["a", "b", "", "$SYS", "+"])
NAME_LEVELS = st.sampled_from(["a", "b", "", "$SYS"])
KEYS = st.sampled_from(["c1", "c2", "c3"])


@st.composite
def topic_filters(draw: st.DrawFn) -> str:
    """Valid filters over a small alphabet, so that filters and names collide often."""
    levels = draw(st.lists(FILTER_LEVELS, min_size=0, max_size=4))
    if levels in ([], [""]) or draw(st.booleans()):
        levels.append("#")  # a filter is never empty [MQTT-4.7.3-1]
    inner = "/".join(levels)
    group = draw(st.sampled_from([None, None, "g", "h"]))
    return inner if group is None else f"$share/{group}/{inner}"


topic_names = st.lists(NAME_LEVELS, min_size=1, max_size=5).map("/".join).filter(bool)


def expected_match(
    entries: dict[tuple[str, str], int], topic_name: str
) -> tuple[Counter[tuple[str, str, int]], dict[tuple[str, str], list[tuple[str, int]]]]:
    """Scan every entry with topic_matches: the slow, obvious answer."""
    normal: Counter[tuple[str, str, int]] = Counter()
    shared: dict[tuple[str, str], list[tuple[str, int]]] = {}
    for (topic_filter, key), value in entries.items():
        group, inner = parse_shared(topic_filter)
        if not topic_matches(topic_filter, topic_name):
            continue
        if group is None:
            normal[(topic_filter, key, value)] += 1
        else:
            shared.setdefault((group, inner), []).append((key, value))
    return normal, shared


def assert_tree_agrees(
    tree: SubscriptionTree[str, int], entries: dict[tuple[str, str], int], topic_name: str
) -> None:
    result = tree.match(topic_name)
    normal, shared = expected_match(entries, topic_name)
    assert Counter(result.normal) == normal
    assert result.shared == shared


@given(
    subscriptions=st.lists(st.tuples(topic_filters(), KEYS, st.integers(0, 2)), max_size=25),
    names=st.lists(topic_names, min_size=1, max_size=5),
)
def test_tree_match_agrees_with_topic_matches_on_every_filter(
    subscriptions: list[tuple[str, str, int]], names: list[str]
) -> None:
    tree: SubscriptionTree[str, int] = SubscriptionTree()
    entries: dict[tuple[str, str], int] = {}
    for topic_filter, key, value in subscriptions:
        assert tree.add(topic_filter, key, value) is ((topic_filter, key) in entries)
        entries[(topic_filter, key)] = value
    for name in names:
        assert_tree_agrees(tree, entries, name)


@given(topic_filters())
def test_generated_filters_are_valid(topic_filter: str) -> None:
    validate_topic_filter(topic_filter)


class TreeAgainstModel(RuleBasedStateMachine):
    """Random adds and removes; the tree must agree with a plain dict at every step."""

    def __init__(self) -> None:
        super().__init__()
        self.tree: SubscriptionTree[str, int] = SubscriptionTree()
        self.entries: dict[tuple[str, str], int] = {}

    @rule(topic_filter=topic_filters(), key=KEYS, value=st.integers(0, 2))
    def add(self, topic_filter: str, key: str, value: int) -> None:
        existed = (topic_filter, key) in self.entries
        assert self.tree.add(topic_filter, key, value) is existed
        self.entries[(topic_filter, key)] = value

    @rule(topic_filter=topic_filters(), key=KEYS)
    def remove_any(self, topic_filter: str, key: str) -> None:
        existed = self.entries.pop((topic_filter, key), None) is not None
        assert self.tree.remove(topic_filter, key) is existed

    @precondition(lambda self: bool(self.entries))
    @rule(data=st.data())
    def remove_existing(self, data: st.DataObject) -> None:
        topic_filter, key = data.draw(st.sampled_from(sorted(self.entries)))
        del self.entries[(topic_filter, key)]
        assert self.tree.remove(topic_filter, key) is True

    @rule(topic_name=topic_names)
    def match(self, topic_name: str) -> None:
        assert_tree_agrees(self.tree, self.entries, topic_name)

    @invariant()
    def size_get_and_filters_of_agree(self) -> None:
        assert len(self.tree) == len(self.entries)
        for (topic_filter, key), value in self.entries.items():
            assert self.tree.get(topic_filter, key) == value
        for key in ("c1", "c2", "c3"):
            assert self.tree.filters_of(key) == [f for (f, k) in self.entries if k == key]

    @invariant()
    def empty_tree_has_no_nodes(self) -> None:
        if not self.entries:
            assert self.tree._root.children == {}


TestTreeAgainstModel = TreeAgainstModel.TestCase
