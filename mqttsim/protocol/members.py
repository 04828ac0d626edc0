"""Enum members that every message reads, as ``Final`` names for compiled code.

The enums stay Python classes (:mod:`mqttsim.native` says why). Compiled
code that reads ``QoS.AT_LEAST_ONCE`` off one calls ``EnumType.__getattr__``
through the interpreter, about a microsecond each time; a ``Final`` of a
compiled module is a C static, read in a few instructions. So the per-message
path names these (and calls :func:`is_error`, not the property), and
everything else spells the member out.
"""

from __future__ import annotations

from typing import Final

from .enums import ProtocolVersion, QoS, ReasonCode

__all__ = [
    "AT_LEAST_ONCE",
    "AT_MOST_ONCE",
    "EXACTLY_ONCE",
    "SUCCESS",
    "V5",
    "is_error",
]

AT_MOST_ONCE: Final = QoS.AT_MOST_ONCE
AT_LEAST_ONCE: Final = QoS.AT_LEAST_ONCE
EXACTLY_ONCE: Final = QoS.EXACTLY_ONCE
SUCCESS: Final = ReasonCode.SUCCESS
V5: Final = ProtocolVersion.V5


def is_error(code: ReasonCode) -> bool:
    """``code.is_error``, compiled: the property is a call into the interpreter."""
    return code >= 0x80
