"""Retained messages, looked up by topic filter without scanning them all.

The broker keeps the last retained message of each topic (§3.3.1.3). A new
subscription needs every retained message its filter matches, so messages
sit in a trie over topic levels and a filter walks only the branches it
can match: ``+`` visits one level's children, ``#`` the subtree below it.
"""

from __future__ import annotations

from collections.abc import Iterator

from .session import QueuedMessage

__all__ = ["RetainedStore"]


class _Node:
    __slots__ = ("children", "message")

    def __init__(self) -> None:
        self.children: dict[str, _Node] = {}
        self.message: QueuedMessage | None = None


class RetainedStore:
    """Topic name -> retained message, with :meth:`match` by filter."""

    def __init__(self) -> None:
        self._root = _Node()
        self._by_topic: dict[str, QueuedMessage] = {}
        # The trie node of each retained topic: a topic republished (a
        # station's every reading) then needs no walk down the trie.
        self._nodes: dict[str, _Node] = {}

    def __len__(self) -> int:
        return len(self._by_topic)

    def __iter__(self) -> Iterator[QueuedMessage]:
        return iter(list(self._by_topic.values()))

    def get(self, topic: str) -> QueuedMessage | None:
        return self._by_topic.get(topic)

    def set(self, message: QueuedMessage) -> None:
        """Store or replace the retained message of its topic [MQTT-3.3.1-5]."""
        topic = message.publish.topic
        node = self._nodes.get(topic)
        if node is None:
            node = self._root
            for level in topic.split("/"):
                child = node.children.get(level)
                if child is None:
                    child = node.children[level] = _Node()
                node = child
            self._nodes[topic] = node
        node.message = message
        self._by_topic[topic] = message

    def clear(self, topic: str) -> bool:
        """Remove the retained message of ``topic`` [MQTT-3.3.1-6]; prune the trie."""
        if self._by_topic.pop(topic, None) is None:
            return False
        del self._nodes[topic]
        path = [self._root]
        for level in topic.split("/"):
            path.append(path[-1].children[level])
        path[-1].message = None
        levels = topic.split("/")
        for depth in range(len(levels), 0, -1):
            node = path[depth]
            if node.message is not None or node.children:
                break
            del path[depth - 1].children[levels[depth - 1]]
        return True

    def match(self, topic_filter: str) -> list[QueuedMessage]:
        """Every retained message whose topic ``topic_filter`` matches.

        As in subscription matching, a leading ``+`` or ``#`` does not match
        topics beginning with ``$`` [MQTT-4.7.2-1].
        """
        found: list[QueuedMessage] = []
        levels = topic_filter.split("/")
        stack: list[tuple[_Node, int]] = [(self._root, 0)]
        while stack:
            node, depth = stack.pop()
            if depth == len(levels):
                if node.message is not None:
                    found.append(node.message)
                continue
            level = levels[depth]
            if level == "#":
                # "sport/#" also matches "sport" itself (§4.7.1.2).
                if node.message is not None and depth > 0:
                    found.append(node.message)
                self._collect(node, found, skip_dollar=depth == 0)
            elif level == "+":
                for name, child in node.children.items():
                    if depth == 0 and name.startswith("$"):
                        continue
                    stack.append((child, depth + 1))
            else:
                exact = node.children.get(level)
                if exact is not None:
                    stack.append((exact, depth + 1))
        return found

    @staticmethod
    def _collect(node: _Node, found: list[QueuedMessage], *, skip_dollar: bool) -> None:
        stack = [
            child
            for name, child in node.children.items()
            if not (skip_dollar and name.startswith("$"))
        ]
        while stack:
            current = stack.pop()
            if current.message is not None:
                found.append(current.message)
            stack.extend(current.children.values())
