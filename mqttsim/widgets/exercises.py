"""Self-checks for the exercises in the lessons.

An exercise cell sets ``answer = None``; the next cell calls :func:`check`,
which prints a hint until the answer is right. The stored output of a lesson
is the "Not yet" message, so nbval checks that the hint still reads the same.
"""

from __future__ import annotations

from mqttsim.protocol import ConfigError
from mqttsim.protocol.codec import MAX_REMAINING_LENGTH, encode_varint

__all__ = ["check", "remaining_length_size"]


def check(answer: object, expected: object, hint: str) -> None:
    """Print ``Correct!`` or ``Not yet: ... Hint: <hint>``.

    Args:
        answer: what the learner wrote (``None`` or ``...`` while unanswered).
        expected: the right answer; compared with ``==``.
        hint: one sentence that points the way without giving the answer.

    Nothing is returned, so the message is the cell's only output.
    """
    if answer is None or answer is Ellipsis:
        print(f"Not yet: set `answer` in the cell above, then run both cells. Hint: {hint}")
    elif answer == expected:
        print("Correct!")
    else:
        print(f"Not yet: {answer!r} is not it. Hint: {hint}")


def remaining_length_size(packet_size: int) -> int:
    """How many bytes the Remaining Length takes in a packet of ``packet_size`` bytes in all.

    The packet is one byte of type and flags, then ``n`` bytes of Remaining
    Length, then the ``packet_size - 1 - n`` bytes that it counts (§2.1).

    Raises:
        ConfigError: no packet has exactly that size (there is none of 130
            bytes: 128 bytes after the header need a 2-byte Remaining Length,
            and then the packet is 131 bytes long).
    """
    for n in range(1, 5):
        counted = packet_size - 1 - n
        if 0 <= counted <= MAX_REMAINING_LENGTH and len(encode_varint(counted)) == n:
            return n
    raise ConfigError(f"no MQTT packet is exactly {packet_size} bytes long")
