"""mosquitto's ``acl_file`` format, read into an ``Authorizer`` for the broker.

The format (mosquitto.conf(5), ``acl_file``; mosquitto's ``security_default.c``)::

    # a comment
    topic read public/#              # before any 'user' line: anonymous clients
    user alice                       # the rules below are alice's
    topic readwrite alice/#
    topic deny alice/secret
    topic sensors/+/temp             # no access type: readwrite
    pattern write devices/%c/status  # every client; %c = client id, %u = user name

How a decision is made, as mosquitto 2.x makes it:

1. The client's own rules: the anonymous block if it gave no user name, else
   the block of its user name (none if the name has no block). A matching
   ``deny`` rule refuses at once; otherwise a matching rule that grants the
   access allows. Deny rules are tried first wherever they stand in the file.
2. Then the ``pattern`` rules, after substituting ``%c`` and ``%u``, with the
   same deny-first order. A pattern containing ``%u`` never applies to a
   client without a user name. A name is only substituted if it is one
   topic level and no wildcard (see :func:`is_substitutable`); a pattern that
   would substitute any other name grants nothing to that client, and if it
   is a ``deny`` pattern, that client gets nothing from patterns at all.
3. Nothing matched: refused. A file grants only what it lists.

Why stricter than mosquitto. mosquitto 2.x refuses only ``+`` and ``#`` in
the names it substitutes, but a client picks its own id: with ``pattern
readwrite devices/%c/#``, the id ``victim/cmd`` becomes ``devices/victim/cmd/#``,
a part of device ``victim``'s tree. A ``/`` moves the name across levels, so
it is refused like a wildcard. A ``deny`` pattern we cannot substitute fails
closed: it meant "not this client's own topics", and which topics those are
cannot be said for such a name.

So a user's own ``topic`` allow wins over a ``pattern`` deny: the user block is
consulted first. ``$`` topics only match rules that start with ``$`` (the
usual [MQTT-4.7.2-1] rule of topic matching).

Publishing needs ``write`` on the topic name; each delivered message needs
``read`` on its topic name, checked per message so that a wildcard subscription
cannot read more than the client may. For SUBSCRIBE we go further than
mosquitto 2.x, which accepts every subscription and relies on the per-message
check alone: a filter is accepted when some ``read`` rule *covers* it (every
topic the filter can match, the rule matches too, see :func:`filter_covers`)
and no ``deny`` rule covers it. ``check_subscribe=False`` restores mosquitto's
behaviour. Shared subscriptions are checked on their inner filter.

Parsing follows mosquitto, quirks included: the access word may be left out
(``topic a/b``), so a topic with a space needs one (``topic read a b``). Where
mosquitto logs and carries on, or stops with a message that names no line, we
raise :class:`ConfigError` naming ``file:line``.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from enum import Enum
from pathlib import Path

from ..protocol.errors import ConfigError, TopicFilterInvalid
from ..protocol.topics import parse_shared, topic_matches, validate_topic_filter

__all__ = ["Access", "AclRule", "AclFile", "filter_covers", "is_substitutable"]


class Access(Enum):
    """The access word of a ``topic`` or ``pattern`` line."""

    READ = "read"
    WRITE = "write"
    READWRITE = "readwrite"
    DENY = "deny"

    def grants(self, wanted: Access) -> bool:
        """Return True if this access allows ``wanted`` (READ or WRITE)."""
        return self is Access.READWRITE or self is wanted


@dataclass(frozen=True, slots=True, kw_only=True)
class AclRule:
    """One ``topic`` or ``pattern`` line.

    Attributes:
        topic: the topic filter; for a pattern it may hold ``%c`` and ``%u``.
        access: what the rule grants, or DENY.
        line: the line number in the file it came from (0 if built in code).
    """

    topic: str
    access: Access
    line: int = 0


def filter_covers(rule: str, topic_filter: str) -> bool:
    """Return True if every topic name ``topic_filter`` matches, ``rule`` matches too.

    Both are valid filters without ``$share/``. Level by level: ``#`` in the
    rule covers whatever remains (including the parent level: ``a/#`` covers
    ``a``); ``+`` in the rule covers any one level, ``+`` included, but not
    ``#``; a literal level covers only itself. So ``a/#`` covers ``a/b/+`` and
    ``a/+/#`` covers ``a/+`` but not ``a/#`` (which also matches ``a``); ``+/#``
    covers ``#``, as both match every name that does not start with ``$``.
    Names starting with ``$`` are not matched by a leading wildcard
    [MQTT-4.7.2-1], so ``#`` does not cover ``$SYS/#``.
    """
    rule_levels = rule.split("/")
    filter_levels = topic_filter.split("/")
    if topic_filter.startswith("$") and rule_levels[0] in ("+", "#"):
        return False
    for index, level in enumerate(filter_levels):
        if index >= len(rule_levels):
            return False
        mine = rule_levels[index]
        if mine == "#":
            return True
        if level == "#":
            # The filter's '#' stands for all the remaining levels: none or more, or
            # one or more at the first level, since every name has one. Only '#'
            # covers that, and '+/#' in the second case ('+/#' and '#' are equal).
            return index == 0 and rule_levels == ["+", "#"]
        if mine != "+" and mine != level:
            return False
    extra = rule_levels[len(filter_levels) :]
    return not extra or extra == ["#"]


_SUBSTITUTION = re.compile("%([cu])")
_ACCESS_WORDS = {access.value: access for access in Access}
_Test = Callable[[str, str], bool]  # (rule filter, what the client asked for) -> applies?


def _verdict(
    rules: Iterable[tuple[str, Access]], text: str, wanted: Access, test: _Test
) -> bool | None:
    """Deny-first decision over ``(filter, access)`` pairs; None if no rule decided."""
    pairs = list(rules)
    if any(access is Access.DENY and test(topic, text) for topic, access in pairs):
        return False
    if any(access.grants(wanted) and test(topic, text) for topic, access in pairs):
        return True
    return None


class AclFile:
    """An access control list in mosquitto's format; an ``Authorizer``.

    Args:
        anonymous: the rules for clients without a user name.
        users: user name -> that user's rules.
        patterns: rules for every client, with ``%c`` / ``%u`` still in them.
        check_subscribe: if False, every SUBSCRIBE is accepted, as in mosquitto
            2.x; deliveries are still checked per message.
    """

    def __init__(
        self,
        *,
        anonymous: Iterable[AclRule] = (),
        users: Mapping[str, Iterable[AclRule]] | None = None,
        patterns: Iterable[AclRule] = (),
        check_subscribe: bool = True,
    ) -> None:
        self.anonymous: tuple[AclRule, ...] = tuple(anonymous)
        self.users: dict[str, tuple[AclRule, ...]] = {
            name: tuple(rules) for name, rules in (users or {}).items()
        }
        self.patterns: tuple[AclRule, ...] = tuple(patterns)
        self.check_subscribe = check_subscribe

    @classmethod
    def parse(cls, text: str, *, source: str = "<string>", check_subscribe: bool = True) -> AclFile:
        """Read an ACL file's text; ``source`` names it in error messages.

        Raises:
            ConfigError: ``"<source>:<line>: ..."`` for the first bad line.
        """
        anonymous: list[AclRule] = []
        users: dict[str, list[AclRule]] = {}
        patterns: list[AclRule] = []
        current = anonymous
        for number, raw in enumerate(text.split("\n"), start=1):
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            keyword, _, rest = _split_first(line)
            where = f"{source}:{number}"
            if keyword == "user":
                if not rest:
                    raise ConfigError(f"{where}: 'user' needs a user name")
                current = users.setdefault(rest, [])
            elif keyword in ("topic", "pattern"):
                rule = _parse_rule(keyword, rest, number, where)
                (patterns if keyword == "pattern" else current).append(rule)
            else:
                raise ConfigError(
                    f"{where}: unknown keyword {keyword!r}; expected 'topic', 'pattern' or 'user'"
                )
        return cls(
            anonymous=anonymous, users=users, patterns=patterns, check_subscribe=check_subscribe
        )

    @classmethod
    def load(cls, path: str | os.PathLike[str], *, check_subscribe: bool = True) -> AclFile:
        """Read an ACL file.

        Raises:
            ConfigError: if the file cannot be read, or naming its first bad line.
        """
        path = Path(path)
        try:
            data = path.read_bytes()
        except OSError as exc:
            reason = exc.strerror or exc.__class__.__name__
            raise ConfigError(f"cannot read ACL file {path}: {reason}") from None
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            line = data.count(b"\n", 0, exc.start) + 1
            raise ConfigError(f"{path}:{line}: not UTF-8 text") from None
        return cls.parse(text, source=str(path), check_subscribe=check_subscribe)

    def may_publish(self, client_id: str, username: str | None, topic: str) -> bool:
        """Return True if the client may publish to the topic name (``write``)."""
        return self._decide(client_id, username, topic, Access.WRITE, topic_matches)

    def may_subscribe(self, client_id: str, username: str | None, topic_filter: str) -> bool:
        """Return True if a ``read`` rule covers the filter and no ``deny`` rule does."""
        if not self.check_subscribe:
            return True
        _, inner = parse_shared(topic_filter)
        return self._decide(client_id, username, inner, Access.READ, filter_covers)

    def may_receive(self, client_id: str, username: str | None, topic: str) -> bool:
        """Return True if a message on the topic name may be delivered (``read``)."""
        return self._decide(client_id, username, topic, Access.READ, topic_matches)

    def _decide(
        self, client_id: str, username: str | None, text: str, wanted: Access, test: _Test
    ) -> bool:
        """Apply the client's own rules, then the patterns; refuse if nothing decided."""
        own = self.anonymous if username is None else self.users.get(username, ())
        verdict = _verdict(((rule.topic, rule.access) for rule in own), text, wanted, test)
        if verdict is not None:
            return verdict
        if not self.patterns:
            return False
        client_ok = is_substitutable(client_id)
        user_ok = username is not None and is_substitutable(username)

        def substitute(match: re.Match[str]) -> str:
            # One left-to-right pass, so a client id containing "%u" stays literal.
            return client_id if match.group(1) == "c" else (username or "")

        expanded: list[tuple[str, Access]] = []
        for rule in self.patterns:
            topic = rule.topic
            uses_c, uses_u = "%c" in topic, "%u" in topic
            if uses_u and username is None:
                continue  # about a user, and there is none
            if (uses_c and not client_ok) or (uses_u and not user_ok):
                if rule.access is Access.DENY:
                    return False  # fail closed (see the module's docstring)
                continue
            if uses_c or uses_u:
                topic = _SUBSTITUTION.sub(substitute, topic)
            expanded.append((topic, rule.access))
        return _verdict(expanded, text, wanted, test) is True


_NOT_IN_A_NAME = frozenset("/+#")


def is_substitutable(name: str) -> bool:
    """Return True if ``name`` may replace ``%c`` or ``%u`` in a pattern.

    It must be exactly one topic level without wildcards: not empty, and
    without ``/``, ``+`` or ``#``. Otherwise the expanded filter could reach
    beyond this client's own topics: ``+`` or ``#`` would widen it, and ``/``
    would move the name across levels into another device's tree.
    """
    return bool(name) and _NOT_IN_A_NAME.isdisjoint(name)


def _split_first(text: str) -> tuple[str, str, str]:
    """Split off the first word at any run of blanks: ``(word, separator, rest)``."""
    parts = text.split(None, 1)
    if not parts:
        return "", "", ""
    if len(parts) == 1:
        return parts[0], "", ""
    return parts[0], " ", parts[1].strip()


def _parse_rule(keyword: str, rest: str, number: int, where: str) -> AclRule:
    """Read the part of a ``topic`` / ``pattern`` line after the keyword."""
    if not rest:
        raise ConfigError(f"{where}: '{keyword}' needs a topic")
    first, _, topic = _split_first(rest)
    if topic:
        access = _ACCESS_WORDS.get(first)
        if access is None:
            raise ConfigError(
                f"{where}: unknown access {first!r}; expected read, write, readwrite or deny"
                " (a topic containing a space needs one)"
            )
    else:
        topic, access = first, Access.READWRITE
    try:
        validate_topic_filter(topic, shared_allowed=False)
    except TopicFilterInvalid as exc:
        raise ConfigError(f"{where}: {exc}") from None
    return AclRule(topic=topic, access=access, line=number)
