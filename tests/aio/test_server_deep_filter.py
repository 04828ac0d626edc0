"""A topic filter as deep as a packet allows costs the broker next to nothing.

Client A subscribes with a 65,535-byte filter of one-character levels
(``a/a/a/...``: 32,768 levels, the longest UTF-8 string MQTT can carry,
§1.5.3). The broker refuses filters deeper than its limit
(``BrokerConfig.max_topic_levels``, 200 by default) in the SUBACK, and
meanwhile answers client B's PINGREQ at once. The broker runs as a process
of its own, so that its resident memory can be read from ``/proc``.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest

from .conftest import BrokerProcess
from .raw import PINGREQ, PINGRESP, connected_raw, read_packet, subscribe_packet

DEEP_FILTER = "a/" * 32_767 + "a"
# Refusing the filter is linear in its 64 KiB (a count of its separators, a
# scan of its characters): well under a millisecond. B's PINGREQ waits at
# most for that, so 100 ms leaves two orders of magnitude for a loaded
# machine. The memory it may cost is the packet, once, and its decoding: far
# below 1 MiB; the defect held a tree node per level, 1 GiB.
PINGRESP_WITHIN_S = 0.100
MEMORY_BOUND_KIB = 1024


@pytest.mark.parametrize(("version", "refused"), [(5, 0x8F), (4, 0x80)], ids=["v5", "v311"])
def test_a_65535_byte_filter_is_refused_cheaply_while_another_client_is_answered(
    broker_process: Callable[..., BrokerProcess], version: int, refused: int
) -> None:
    assert len(DEEP_FILTER.encode()) == 65_535
    broker = broker_process()
    with (
        connected_raw(broker.port, "deep", version=version) as deep,
        connected_raw(broker.port, "bystander") as bystander,
    ):
        bystander.sendall(PINGREQ)  # a first round trip, so that nothing is cold
        assert read_packet(bystander) == PINGRESP
        broker.reset_peak()
        baseline = broker.memory_kib("VmRSS")

        sent = time.monotonic()
        deep.sendall(subscribe_packet(DEEP_FILTER, version=version))
        bystander.sendall(PINGREQ)
        assert read_packet(bystander) == PINGRESP
        pingresp_s = time.monotonic() - sent
        suback = read_packet(deep)
        suback_s = time.monotonic() - sent
        growth = broker.memory_kib("VmHWM") - baseline
    # SUBACK: type 9, packet id 1, then (MQTT 5) no properties, and one code:
    # 0x8F Topic Filter invalid (MQTT 5 §3.9.3) or 0x80 Failure (3.1.1 §3.9.3).
    assert suback[0] == 0x90 and suback[-1] == refused, suback.hex()
    # Whichever the broker handled first, neither waited long for the other:
    # the SUBACK bounds the time the filter took.
    assert pingresp_s < PINGRESP_WITHIN_S, f"PINGRESP took {pingresp_s * 1000:.0f} ms"
    assert suback_s < PINGRESP_WITHIN_S, f"SUBACK took {suback_s * 1000:.0f} ms"
    assert growth <= MEMORY_BOUND_KIB, f"the broker grew by {growth} KiB"
