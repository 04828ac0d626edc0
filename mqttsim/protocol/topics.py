"""Topic names, topic filters and the subscription tree (MQTT 5.0 §4.7, §4.8.2).

Names and filters are split into levels by ``/``; empty levels are real levels,
so ``/finance`` has two and ``+/+`` matches it. ``$share/{ShareName}/{filter}``
is a shared subscription: each matching message goes to one member of the group,
chosen by the broker. :func:`topic_matches` is the obvious reference matcher;
:class:`SubscriptionTree` is the trie the broker routes with, tested against it.

Statement IDs follow MQTT 3.1.1 where the editions number them differently:
5.0 calls the '#' rule [MQTT-4.7.1-1] and the '+' rule [MQTT-4.7.1-2].

A broker faces untrusted clients, so every check here costs time linear in
the length of the name or filter, and so does the memory a subscription takes
in the tree. The spec's only limit is 65,535 bytes; a broker may set tighter
ones (levels, bytes), which the validators take as keyword arguments.
"""

from __future__ import annotations

import re
from collections.abc import Hashable
from typing import Generic, NamedTuple, TypeVar

from .enums import ReasonCode
from .errors import TopicFilterInvalid, TopicNameInvalid

__all__ = [
    "control_character",
    "validate_topic_name",
    "validate_topic_filter",
    "is_wildcard",
    "parse_shared",
    "topic_matches",
    "TreeMatch",
    "SubscriptionTree",
]

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")

_MAX_BYTES = 65_535
_SHARE_PREFIX = "$share/"
# The C0 and C1 control characters and DEL. MQTT 5.0 §1.5.4 says a UTF-8
# string SHOULD NOT contain them and a receiver MAY treat them as malformed;
# §5.4.9 advises checking for them. In a topic, a client identifier or a user
# name they serve no purpose and can forge lines in a log, so the broker
# refuses them in all three (U+0000 has its own rule).
_CONTROL = re.compile("[\x01-\x1f\x7f-\x9f]")


def control_character(text: str) -> str | None:
    """The first character of U+0001..U+001F or U+007F..U+009F in ``text``, if any."""
    found = _CONTROL.search(text)
    return None if found is None else found.group()


def _show(text: str) -> str:
    """Quote a culprit for an error message, cut short so a 64 KiB topic stays readable."""
    return repr(text if len(text) <= 60 else text[:57] + "...")


def _bad_filter(
    topic_filter: str, problem: str, reason_code: ReasonCode | None = None
) -> TopicFilterInvalid:
    """Build the error for a filter, naming the culprit."""
    return TopicFilterInvalid(f"topic filter {_show(topic_filter)} {problem}", reason_code)


def _check_string(
    text: str,
    what: str,
    error: type[TopicNameInvalid | TopicFilterInvalid],
    max_levels: int | None,
    max_bytes: int | None,
) -> None:
    """Apply the rules that topic names and topic filters share (§4.7.3), and
    the broker's own limits on levels and length."""
    if not text:
        raise error(f"{what} is empty [MQTT-4.7.3-1]")
    if "\x00" in text:
        raise error(f"{what} {_show(text)} contains U+0000 [MQTT-4.7.3-2]")
    control = control_character(text)
    if control is not None:
        raise error(
            f"{what} {_show(text)} contains the control character"
            f" U+{ord(control):04X} (MQTT 5.0 §1.5.4)"
        )
    try:
        size = len(text.encode("utf-8"))
    except UnicodeEncodeError:
        # A lone surrogate cannot be encoded; the codec refuses it on the wire,
        # but a caller can still hand us one from Python [MQTT-1.5.4-1].
        raise error(
            f"{what} {_show(text)} contains a surrogate code point [MQTT-1.5.4-1]"
        ) from None
    if size > _MAX_BYTES:
        raise error(f"{what} is {size} bytes in UTF-8, over the limit of 65535 [MQTT-4.7.3-3]")
    if max_bytes is not None and size > max_bytes:
        raise error(f"{what} is {size} bytes in UTF-8, over this server's limit of {max_bytes}")
    if max_levels is not None:
        levels = text.count("/") + 1
        if levels > max_levels:
            raise error(f"{what} has {levels} levels, over this server's limit of {max_levels}")


def validate_topic_name(
    name: str, *, max_levels: int | None = None, max_bytes: int | None = None
) -> None:
    """Check that ``name`` may be used as the topic of a PUBLISH.

    Args:
        name: the topic name.
        max_levels: if given, refuse names with more levels than this.
        max_bytes: if given, refuse names longer than this in UTF-8.

    Raises:
        TopicNameInvalid: if the name is empty, contains ``+``, ``#``, U+0000,
            a control character or a surrogate, is longer than 65535 bytes in
            UTF-8, or is over one of the limits given.
    """
    _check_string(name, "topic name", TopicNameInvalid, max_levels, max_bytes)
    for wildcard in "+#":
        if wildcard in name:
            raise TopicNameInvalid(f"topic name {_show(name)} contains {wildcard!r} [MQTT-3.3.2-2]")


def validate_topic_filter(
    topic_filter: str,
    *,
    shared_allowed: bool = True,
    wildcards_allowed: bool = True,
    max_levels: int | None = None,
    max_bytes: int | None = None,
) -> None:
    """Check that ``topic_filter`` may be used in a SUBSCRIBE or UNSUBSCRIBE.

    Args:
        topic_filter: the filter, possibly ``$share/{ShareName}/{filter}``.
        shared_allowed: if false, a shared subscription is refused, with reason
            code 0x9E (Shared Subscriptions not supported) instead of 0x8F.
        wildcards_allowed: if false, ``+`` and ``#`` are refused, with reason
            code 0xA2 (Wildcard Subscriptions not supported) instead of 0x8F.
        max_levels: if given, refuse filters with more levels than this (the
            ``$share/{ShareName}/`` prefix counts as two).
        max_bytes: if given, refuse filters longer than this in UTF-8.

    Raises:
        TopicFilterInvalid: if the filter breaks a rule of §4.7 or §4.8.2, contains
            a control character, or is over one of the limits given.
    """
    _check_string(topic_filter, "topic filter", TopicFilterInvalid, max_levels, max_bytes)
    group, inner = parse_shared(topic_filter)
    if group is not None:
        if not shared_allowed:
            raise _bad_filter(
                topic_filter,
                "is shared, and Shared Subscriptions are not available (§3.2.2.3.13)",
                ReasonCode.SHARED_SUBSCRIPTIONS_NOT_SUPPORTED,
            )
        if "+" in group or "#" in group:
            raise _bad_filter(topic_filter, "has '+' or '#' in its ShareName [MQTT-4.8.2-2]")
        if not inner:
            raise _bad_filter(topic_filter, "has no filter after its ShareName [MQTT-4.8.2-2]")
    levels = inner.split("/")
    last = len(levels) - 1
    for index, level in enumerate(levels):
        if "#" in level and (level != "#" or index != last):
            raise _bad_filter(topic_filter, "has '#' other than as the last level [MQTT-4.7.1-2]")
        if "+" in level and level != "+":
            raise _bad_filter(topic_filter, "has '+' that is not a whole level [MQTT-4.7.1-3]")
    if not wildcards_allowed and is_wildcard(inner):
        raise _bad_filter(
            topic_filter,
            "has a wildcard, and Wildcard Subscriptions are not available (§3.2.2.3.11)",
            ReasonCode.WILDCARD_SUBSCRIPTIONS_NOT_SUPPORTED,
        )


def is_wildcard(topic_filter: str) -> bool:
    """Return True if the filter contains ``+`` or ``#`` (a valid ShareName cannot)."""
    return "+" in topic_filter or "#" in topic_filter


def parse_shared(topic_filter: str) -> tuple[str | None, str]:
    """Split ``"$share/group/a/b"`` into ``("group", "a/b")``; other filters give ``(None, f)``.

    Raises:
        TopicFilterInvalid: if the filter starts with ``$share/`` but the
            ShareName is empty or no ``/`` follows it: a broken shared
            subscription, not a plain one [MQTT-4.8.2-1] [MQTT-4.8.2-2].
    """
    if not topic_filter.startswith(_SHARE_PREFIX):
        return None, topic_filter
    group, slash, inner = topic_filter[len(_SHARE_PREFIX) :].partition("/")
    if not group:
        raise _bad_filter(topic_filter, "has an empty ShareName [MQTT-4.8.2-1]")
    if not slash:
        raise _bad_filter(topic_filter, "has no '/' after its ShareName [MQTT-4.8.2-2]")
    return group, inner


def topic_matches(topic_filter: str, topic_name: str) -> bool:
    """Return True if ``topic_name`` matches ``topic_filter``; both are assumed valid.

    A shared filter is matched on its inner filter.
    """
    _, inner = parse_shared(topic_filter)
    # [MQTT-4.7.2-1]: '#' and '+' at the start never reach '$SYS/...' and kin.
    if topic_name.startswith("$") and inner[:1] in ("+", "#"):
        return False
    names = topic_name.split("/")
    levels = inner.split("/")
    for index, level in enumerate(levels):
        if level == "#":
            # '#' also matches the parent level: "sport/#" matches "sport" (§4.7.1.2).
            return True
        if index >= len(names) or (level != "+" and level != names[index]):
            return False
    return len(levels) == len(names)


class TreeMatch(NamedTuple, Generic[K, V]):
    """What :meth:`SubscriptionTree.match` found for one topic name.

    Attributes:
        normal: ``(topic_filter, key, value)`` for each plain subscription that
            matches; a key with several matching filters appears once per
            filter, and merging them [MQTT-3.3.4-2] is left to the broker.
        shared: ``(ShareName, inner_filter) -> [(key, value), ...]`` for each
            shared subscription group that matches, members in the order they
            first subscribed; the broker picks one member per group.
    """

    normal: list[tuple[str, K, V]]
    shared: dict[tuple[str, str], list[tuple[K, V]]]


class _Node(Generic[K, V]):
    """One topic level of the trie.

    ``path`` is the inner filter that ends here, kept only on nodes that hold
    subscriptions: a node per level holding its whole path would make one
    filter of n levels cost memory and time quadratic in n, which a client can
    exploit with a single deep filter.
    """

    __slots__ = ("path", "children", "entries", "shared")

    def __init__(self) -> None:
        self.path = ""
        self.children: dict[str, _Node[K, V]] = {}
        self.entries: dict[K, V] = {}
        self.shared: dict[str, dict[K, V]] = {}

    def is_empty(self) -> bool:
        return not (self.children or self.entries or self.shared)


def _collect(
    node: _Node[K, V],
    normal: list[tuple[str, K, V]],
    shared: dict[tuple[str, str], list[tuple[K, V]]],
) -> None:
    """Append every subscription that ends at ``node`` to the results."""
    path = node.path
    for key, value in node.entries.items():
        normal.append((path, key, value))
    for group, members in node.shared.items():
        shared[(group, path)] = list(members.items())


class SubscriptionTree(Generic[K, V]):
    """A trie over topic levels: lookup cost depends on the topic's depth and the
    number of matches, never on the total number of subscriptions.

    An entry is identified by its full filter (``$share/`` prefix included) and
    a key such as a client identifier, so a plain and a shared subscription to
    one inner filter are two entries. Shared entries hang off the node of their
    inner filter, under their ShareName.
    """

    def __init__(self) -> None:
        self._root: _Node[K, V] = _Node()
        self._by_key: dict[K, dict[str, None]] = {}  # key -> its filters, an ordered set
        self._count = 0

    def __len__(self) -> int:
        """Return the number of (filter, key) entries."""
        return self._count

    def _find(self, inner: str) -> list[_Node[K, V]] | None:
        """Return the nodes from the root to ``inner``'s node, or None if it is absent."""
        path = [self._root]
        for level in inner.split("/"):
            child = path[-1].children.get(level)
            if child is None:
                return None
            path.append(child)
        return path

    def add(self, topic_filter: str, key: K, value: V) -> bool:
        """Store ``value`` (e.g. subscription options) for ``(topic_filter, key)``.

        Returns:
            True if the entry existed and its value was replaced, as a repeated
            SUBSCRIBE replaces a subscription [MQTT-3.8.4-3].

        Raises:
            TopicFilterInvalid: if the filter is not valid.
        """
        validate_topic_filter(topic_filter)
        group, inner = parse_shared(topic_filter)
        node = self._root
        for level in inner.split("/"):
            child = node.children.get(level)
            if child is None:
                child = node.children[level] = _Node()
            node = child
        node.path = inner
        entries = node.entries if group is None else node.shared.setdefault(group, {})
        existed = key in entries
        entries[key] = value
        if not existed:
            self._by_key.setdefault(key, {})[topic_filter] = None
            self._count += 1
        return existed

    def remove(self, topic_filter: str, key: K) -> bool:
        """Forget ``(topic_filter, key)`` and prune the nodes left empty.

        Returns:
            True if the entry existed.
        """
        filters = self._by_key.get(key)
        if filters is None or topic_filter not in filters:
            return False
        group, inner = parse_shared(topic_filter)
        path = self._find(inner)
        assert path is not None, "the key index and the trie disagree"
        node = path[-1]
        if group is None:
            del node.entries[key]
        else:
            members = node.shared[group]
            del members[key]
            if not members:
                del node.shared[group]
        del filters[topic_filter]
        if not filters:
            del self._by_key[key]
        self._count -= 1
        # Prune bottom-up so a churn of one-off subscriptions cannot grow the trie.
        levels = inner.split("/")
        for depth in range(len(levels), 0, -1):
            if not path[depth].is_empty():
                break
            del path[depth - 1].children[levels[depth - 1]]
        return True

    def get(self, topic_filter: str, key: K) -> V | None:
        """Return the value stored for ``(topic_filter, key)``, or None."""
        if topic_filter not in self._by_key.get(key, ()):
            return None
        group, inner = parse_shared(topic_filter)
        path = self._find(inner)
        if path is None:
            return None
        node = path[-1]
        entries = node.entries if group is None else node.shared.get(group, {})
        return entries.get(key)

    def filters_of(self, key: K) -> list[str]:
        """Return every filter ``key`` holds, in the order it first subscribed."""
        return list(self._by_key.get(key, ()))

    def match(self, topic_name: str) -> TreeMatch[K, V]:
        """Find every subscription whose filter matches ``topic_name`` (assumed valid).

        The broker's hot path: an iterative walk with a small stack and direct
        look-ups of the exact level, ``+`` and ``#``; little is allocated beyond the results.
        """
        normal: list[tuple[str, K, V]] = []
        shared: dict[tuple[str, str], list[tuple[K, V]]] = {}
        levels = topic_name.split("/")
        depth_end = len(levels)
        # [MQTT-4.7.2-1]: at the first level of a '$' topic, skip '+' and '#'.
        dollar = topic_name.startswith("$")
        stack: list[tuple[_Node[K, V], int]] = [(self._root, 0)]
        while stack:
            node, depth = stack.pop()
            children = node.children
            wild = not (dollar and depth == 0)
            if wild:
                # '#' here matches the rest, and also this level itself:
                # "sport/#" matches "sport" (§4.7.1.2).
                hash_node = children.get("#")
                if hash_node is not None:
                    _collect(hash_node, normal, shared)
            if depth == depth_end:
                _collect(node, normal, shared)
                continue
            if wild:
                plus = children.get("+")
                if plus is not None:
                    stack.append((plus, depth + 1))
            exact = children.get(levels[depth])
            if exact is not None:
                stack.append((exact, depth + 1))
        return TreeMatch(normal, shared)
