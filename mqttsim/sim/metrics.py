"""Event logs of a simulation run, and the DataFrames and summary made from them.

Theory of operation
-------------------
A long run produces millions of packets and hundreds of thousands of
messages, so nothing here touches pandas while the simulation runs. The
logs keep plain columns (Python lists), or packed rows in a bytearray, and
turn them into DataFrames once, at the end:

* :class:`MessageLog`: one row per application message a node published,
  filled in as it is delivered (``deliveries`` counts every delivery, so a
  QoS 1 duplicate shows as 2), and a row per delivery.
* :class:`PacketLog`: one row per packet handed to a link, from a link
  ``observer``: when, which link and direction, bytes on the wire (IP and
  TCP headers included), its fate, TCP flags, whether TCP retransmitted it,
  and the MQTT control packets that *start* in it. The last is read from the
  byte stream itself: each TCP flow is followed from its SYN, and each MQTT
  fixed header (type nibble and Remaining Length, §2.1 of both
  specifications) gives where the next packet starts. A segment that only
  carries the middle of a packet has no label. A retransmission gets the
  label of the segment it repeats.

:func:`summarize` reduces a run to one row per QoS: delivery ratio,
duplicates, latency percentiles, link bytes per delivered payload byte, cost
at the link's price, and radio-on time (the uplink transmitter's busy time:
bytes sent times 8 over the bit rate).
"""

from __future__ import annotations

import math
import struct
from array import array
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

from mqttsim.protocol.enums import PacketType

from .link import LinkRecord
from .tcp_segment import SYN, Flag, Segment

if TYPE_CHECKING:  # pragma: no cover - pandas is imported where the frames are made
    import pandas as pd  # type: ignore[import-untyped,unused-ignore]

__all__ = ["LinkTotals", "MessageLog", "PacketLog", "summarize", "MB"]

MB: Final = 1 << 20  # prices are per MB of 2**20 bytes (see datasets/README.md)
_NAN: Final = math.nan
_OUTCOMES: Final = ("delivered", "lost", "outage", "queue-full")
_OUTCOME_CODE: Final = {name: i for i, name in enumerate(_OUTCOMES)}
_TYPE_NAMES: Final = {int(t): t.name for t in PacketType}

# One PacketLog row, packed: one call per packet where ten array appends
# each parsed their argument; frame() reads the columns back with numpy.
# Rows are packed in place into a buffer that grows a block at a time.
_ROW: Final = struct.Struct("<ddHIIBBBHH")
_BLOCK: Final = bytes(_ROW.size * 8192)
_ROW_FIELDS: Final = (
    ("time_s", "<f8"),
    ("arrival_s", "<f8"),
    ("link", "<u2"),
    ("size_bytes", "<u4"),
    ("payload_bytes", "<u4"),
    ("outcome", "u1"),
    ("flags", "u1"),
    ("retransmission", "u1"),
    ("client_port", "<u2"),
    ("mqtt", "<u2"),
)


class MessageLog:
    """Application messages: who published what, when, and when it arrived.

    Message ids are 0, 1, 2, ... in publication order. Times are simulated
    seconds.
    """

    def __init__(self) -> None:
        self.node: list[str] = []
        self.topic: list[str] = []
        self.kind: list[str] = []
        self.qos: list[int] = []
        self.sent_s: list[float] = []
        self.payload_bytes: list[int] = []
        self.delivered_s: list[float] = []
        self.deliveries: list[int] = []
        self.delivery_ids = array("q")  # every delivery, in order: message id ...
        self.delivery_times = array("d")  # ... time ...
        self.delivery_subscribers: list[str] = []  # ... and who got it

    def __len__(self) -> int:
        return len(self.sent_s)

    def published(
        self, node: str, topic: str, kind: str, qos: int, sent_s: float, payload_bytes: int
    ) -> int:
        """Record a publication; return its message id."""
        self.node.append(node)
        self.topic.append(topic)
        self.kind.append(kind)
        self.qos.append(qos)
        self.sent_s.append(sent_s)
        self.payload_bytes.append(payload_bytes)
        self.delivered_s.append(_NAN)
        self.deliveries.append(0)
        return len(self.sent_s) - 1

    def delivered(self, message_id: int, now: float, subscriber: str = "") -> None:
        """Record one delivery of ``message_id`` to ``subscriber`` at ``now``
        (the first delivery sets delivered_s)."""
        if not self.deliveries[message_id]:
            self.delivered_s[message_id] = now
        self.deliveries[message_id] += 1
        self.delivery_ids.append(message_id)
        self.delivery_times.append(now)
        self.delivery_subscribers.append(subscriber)

    def deliveries_frame(self) -> pd.DataFrame:
        """Every delivery, duplicates included, in order: message_id, subscriber,
        time_s, nth (1 for the first delivery of a message to that subscriber,
        2 for its first duplicate...)."""
        import numpy as np
        import pandas as pd

        ids = np.frombuffer(self.delivery_ids, dtype=np.int64).copy()
        frame = pd.DataFrame(
            {
                "message_id": ids,
                "subscriber": pd.Categorical(self.delivery_subscribers),
                "time_s": np.frombuffer(self.delivery_times, dtype=np.float64).copy(),
            }
        )
        nth = frame.groupby(["message_id", "subscriber"], observed=True).cumcount()
        frame["nth"] = nth.astype("int32") + 1
        return frame

    def frame(self, node_column: str = "station") -> pd.DataFrame:
        """The log as a DataFrame, one row per message.

        Columns: message_id, ``node_column``, topic, kind, qos, sent_s,
        delivered_s (NaN if never delivered), deliveries, latency_s (NaN if
        never delivered), payload_bytes.
        """
        import numpy as np
        import pandas as pd

        sent = np.asarray(self.sent_s, dtype="float64")
        delivered = np.asarray(self.delivered_s, dtype="float64")
        return pd.DataFrame(
            {
                "message_id": np.arange(len(sent), dtype="int64"),
                node_column: pd.Categorical(self.node),
                "topic": pd.Categorical(self.topic),
                "kind": pd.Categorical(self.kind),
                "qos": np.asarray(self.qos, dtype="int8"),
                "sent_s": sent,
                "delivered_s": delivered,
                "deliveries": np.asarray(self.deliveries, dtype="int32"),
                "latency_s": delivered - sent,
                "payload_bytes": np.asarray(self.payload_bytes, dtype="int32"),
            }
        )


class _Flow:
    """One direction of one TCP connection, followed for MQTT packet starts."""

    __slots__ = ("next_start", "carry")

    def __init__(self, next_start: int) -> None:
        self.next_start = next_start  # sequence number where the next MQTT packet begins
        self.carry = b""  # a fixed header cut by a segment boundary, from its first byte


def _scan(flow: _Flow, seq: int, payload: bytes) -> list[int]:
    """Types of the MQTT packets starting in new data ``payload`` at ``seq``."""
    types: list[int] = []
    carry = flow.carry
    buf = carry + payload if carry else payload
    base = seq - len(carry)  # sequence number of buf[0]
    pos = flow.next_start - base
    size = len(buf)
    while pos < size:
        if pos >= len(carry):
            types.append(buf[pos] >> 4)  # a packet that starts in this segment
        # Remaining Length: up to four 7-bit groups, low first (§2.2.3 / §1.5.5).
        i, length, shift = pos + 1, 0, 0
        while i < size and shift <= 21:
            byte = buf[i]
            length |= (byte & 0x7F) << shift
            i += 1
            if byte < 0x80:
                break
            shift += 7
        else:
            if shift <= 21:  # the header continues in the next segment
                flow.carry = buf[pos:]
                flow.next_start = base + pos
                return types
            length = 0  # not MQTT after all: resynchronise on the next byte
        pos = i + length
    flow.carry = b""
    flow.next_start = base + pos
    return types


class _LinkObserver:
    """A link observer that also takes a record's fields as arguments.

    :class:`~mqttsim.sim.link.Link` calls ``observe_packet`` when its
    observer has one, and so builds no :class:`LinkRecord` per packet.
    """

    __slots__ = ("observe_packet",)

    def __init__(
        self, observe_packet: Callable[[float, int, str, float | None, object], None]
    ) -> None:
        self.observe_packet = observe_packet

    def __call__(self, record: LinkRecord) -> None:
        self.observe_packet(
            record.time_s, record.size_bytes, record.outcome, record.arrival_s, record.item
        )


class PacketLog:
    """Every packet on every observed link, in columns.

    Call :meth:`observers` once per node and pass the results to its links.

    Args:
        broker_port: the broker's port, which tells client ports apart.
        label_mqtt: follow the byte streams to name the MQTT packets (see
            the module docstring); off saves a little time.
    """

    def __init__(self, *, broker_port: int = 1883, label_mqtt: bool = True) -> None:
        self.broker_port = broker_port
        self.label_mqtt = label_mqtt
        self._rows = bytearray()  # _ROW after _ROW, one per packet, then unused bytes
        self._used = 0  # bytes of _rows holding rows
        self.links: list[tuple[str, str, str]] = []  # (link, node, direction)
        self._labels: dict[str, int] = {"": 0}
        self._codes: dict[tuple[int, ...], int] = {}
        self._flows: list[dict[int, _Flow]] = []

    def __len__(self) -> int:
        return self._used // _ROW.size

    def observers(
        self, node: str, uplink: str, downlink: str
    ) -> tuple[Callable[[LinkRecord], None], Callable[[LinkRecord], None]]:
        """Observers for a node's two links, to pass as their ``observer``.

        Args:
            node: the node whose links they are, e.g. ``"st-07"``.
            uplink: the name of its link towards the broker.
            downlink: the name of its link from the broker.

        Returns:
            ``(uplink observer, downlink observer)``.
        """
        return self._observer(uplink, node, "up"), self._observer(downlink, node, "down")

    def _observer(self, link: str, node: str, direction: str) -> Callable[[LinkRecord], None]:
        index = len(self.links)  # even for an uplink, odd for its downlink
        self.links.append((link, node, direction))
        self._flows.append({})
        broker_port = self.broker_port
        label = self._label if self.label_mqtt else None
        log = self
        rows = self._rows
        pack_into = _ROW.pack_into
        size = _ROW.size
        outcome_code = _OUTCOME_CODE

        def observe_packet(
            time_s: float, size_bytes: int, outcome: str, arrival: float | None, seg: object
        ) -> None:
            arrival_s = _NAN if arrival is None else arrival
            code = outcome_code[outcome]
            at = log._used
            if at == len(rows):
                rows.extend(_BLOCK)
            log._used = at + size
            if isinstance(seg, Segment):
                port = seg.dst_port if seg.src_port == broker_port else seg.src_port
                payload = seg.payload
                flags = seg.flags
                # Only data and SYNs matter to the labels; pure ACKs are most segments.
                mqtt = (
                    0 if label is None or not (payload or flags & SYN) else label(index, port, seg)
                )
                pack_into(
                    rows,
                    at,
                    time_s,
                    arrival_s,
                    index,
                    size_bytes,
                    len(payload),
                    code,
                    flags,
                    seg.retransmission,
                    port,
                    mqtt,
                )
            else:
                pack_into(rows, at, time_s, arrival_s, index, size_bytes, 0, code, 0, False, 0, 0)

        return _LinkObserver(observe_packet)

    def _label(self, index: int, port: int, seg: Segment) -> int:
        flags = seg.flags
        if flags & SYN:  # a new connection: its stream starts after the SYN
            self._flows[index][port] = _Flow(seg.seq + 1)
            return 0
        payload = seg.payload
        flow = self._flows[index].get(port)
        if not payload or flow is None:
            return 0
        if seg.retransmission:
            # The same bytes again: what was noted on the original, which
            # TCP hands on to its retransmissions.
            note = seg.note
            return self._code(note) if isinstance(note, tuple) else 0
        types = tuple(_scan(flow, seg.seq, payload))
        if not types:
            return 0
        seg.note = types
        return self._code(types)

    def _code(self, types: tuple[int, ...]) -> int:
        code = self._codes.get(types)
        if code is None:
            code = self._codes[types] = self._intern(types)
        return code

    def _intern(self, types: tuple[int, ...]) -> int:
        parts: list[str] = []
        i = 0
        while i < len(types):
            j = i
            while j < len(types) and types[j] == types[i]:
                j += 1
            name = _TYPE_NAMES.get(types[i], f"TYPE{types[i]}")
            parts.append(name if j - i == 1 else f"{name}x{j - i}")
            i = j
        text = "+".join(parts)
        code = self._labels.get(text)
        if code is None:
            code = self._labels[text] = len(self._labels)
        return code

    def frame(self) -> pd.DataFrame:
        """The packets as a DataFrame, one row per packet, in the order handed to links.

        Columns: time_s (transmission start), arrival_s (NaN unless
        delivered), link, node, direction (categoricals), size_bytes (on the
        wire), payload_bytes (TCP payload), outcome, retransmission, flags
        (e.g. ``"PSH|ACK"``), client_port (the client's end of the TCP
        connection), mqtt (the MQTT packets starting in the segment, e.g.
        ``"PUBLISHx3"`` or ``"PUBACK+PUBLISH"``; empty if none).
        """
        import numpy as np
        import pandas as pd

        packed = bytes(memoryview(self._rows)[: self._used])
        rows = np.frombuffer(packed, dtype=np.dtype(list(_ROW_FIELDS)))
        link_idx = rows["link"].astype("int32")
        names = [name for name, _, _ in self.links]
        nodes = [node for _, node, _ in self.links]
        directions = [d for _, _, d in self.links]
        flag_names = [_flag_text(v) for v in range(256)]
        labels = sorted(self._labels, key=self._labels.__getitem__)
        return pd.DataFrame(
            {
                "time_s": rows["time_s"].astype(np.float64),
                "arrival_s": rows["arrival_s"].astype(np.float64),
                "link": _categorical(link_idx, names),
                "node": _categorical(link_idx, nodes),
                "direction": _categorical(link_idx, directions),
                "size_bytes": rows["size_bytes"].astype("int32"),
                "payload_bytes": rows["payload_bytes"].astype("int32"),
                "outcome": _categorical(rows["outcome"].astype("int32"), _OUTCOMES),
                "retransmission": rows["retransmission"].astype(bool),
                "flags": _categorical(rows["flags"].astype("int32"), flag_names),
                "client_port": rows["client_port"].astype("int32"),
                "mqtt": _categorical(rows["mqtt"].astype("int32"), labels),
            }
        )


def _flag_text(value: int) -> str:
    return "|".join(
        f.name or "" for f in (Flag.SYN, Flag.FIN, Flag.RST, Flag.PSH, Flag.ACK) if value & f
    )


def _categorical(codes: object, categories: Sequence[str]) -> pd.Categorical:
    """A categorical from integer codes into possibly repeated category names."""
    import numpy as np
    import pandas as pd

    unique = list(dict.fromkeys(categories))
    remap = np.asarray([unique.index(c) for c in categories], dtype="int32")
    mapped = remap[np.asarray(codes)] if len(remap) else np.asarray(codes, dtype="int32")
    return pd.Categorical.from_codes(mapped, categories=unique)


@dataclass(frozen=True, slots=True, kw_only=True)
class LinkTotals:
    """What the billed links carried in a run (every station link, both ways).

    Attributes:
        bytes: bytes put on the air, IP and TCP headers included (lost and
            outage-cut packets too: the transmitter sent them).
        packets: packets put on the air.
        radio_on_s: total uplink transmit time: each station's uplink bytes
            times 8 over its bit rate, summed over stations.
        node_time_s: stations times the simulated duration, the time the
            radios could have been on.
        price_per_mb_usd: the link's price per MB (2**20 bytes).
        price_per_message_usd: the price per message where the service bills
            so (each packet on the air counts as one message), else None.
        cost_usd, billing_usd: the cost by volume and by message, when the
            links have different prices (each link's bytes at its own price);
            None: bytes times ``price_per_mb_usd``, packets times
            ``price_per_message_usd``.
    """

    bytes: int
    packets: int
    radio_on_s: float
    node_time_s: float
    price_per_mb_usd: float
    price_per_message_usd: float | None
    cost_usd: float | None = None
    billing_usd: float | None = None


def summarize(messages: pd.DataFrame, totals: LinkTotals) -> pd.DataFrame:
    """One row per QoS: delivery, duplicates, latency, bytes, cost, radio time.

    The link figures (bytes, cost, radio time) belong to the whole run, so
    with several QoS levels in ``messages`` they are shared out in proportion
    to the messages of each level; a run of one QoS (the usual case) gets
    them whole.

    Args:
        messages: a frame as made by :meth:`MessageLog.frame`.
        totals: the run's link figures.

    Returns:
        Columns: qos, messages, delivered, delivery_ratio, lost, duplicates
        (deliveries beyond the first), latency_p50_s, latency_p95_s,
        latency_p99_s, latency_max_s, payload_bytes_delivered, link_bytes,
        link_bytes_per_payload_byte, link_bytes_per_message, cost_usd,
        cost_per_message_usd, cost_per_message_billing_usd (NaN unless the
        link bills per message), radio_on_s, radio_on_fraction.
    """
    import numpy as np
    import pandas as pd

    rows = []
    total = max(len(messages), 1)
    for qos, group in messages.groupby("qos", sort=True, observed=True):
        count = len(group)
        share = count / total
        deliveries = group["deliveries"].to_numpy()
        got = deliveries > 0
        delivered = int(got.sum())
        latency = group["latency_s"].to_numpy()[got]
        payload = int(group["payload_bytes"].to_numpy()[got].sum())
        link_bytes = totals.bytes * share
        if totals.cost_usd is None:
            cost = link_bytes / MB * totals.price_per_mb_usd
        else:
            cost = totals.cost_usd * share
        per_message = totals.price_per_message_usd
        if totals.billing_usd is not None:
            billing = totals.billing_usd * share
        else:
            billing = np.nan if per_message is None else totals.packets * share * per_message
        pct = np.percentile(latency, [50, 95, 99]) if delivered else [np.nan] * 3
        rows.append(
            {
                "qos": int(qos),
                "messages": count,
                "delivered": delivered,
                "delivery_ratio": delivered / count if count else np.nan,
                "lost": count - delivered,
                "duplicates": int(np.maximum(deliveries - 1, 0).sum()),
                "latency_p50_s": float(pct[0]),
                "latency_p95_s": float(pct[1]),
                "latency_p99_s": float(pct[2]),
                "latency_max_s": float(latency.max()) if delivered else np.nan,
                "payload_bytes_delivered": payload,
                "link_bytes": link_bytes,
                "link_bytes_per_payload_byte": link_bytes / payload if payload else np.nan,
                "link_bytes_per_message": link_bytes / delivered if delivered else np.nan,
                "cost_usd": cost,
                "cost_per_message_usd": cost / delivered if delivered else np.nan,
                "cost_per_message_billing_usd": billing,
                "radio_on_s": totals.radio_on_s * share,
                "radio_on_fraction": (
                    totals.radio_on_s / totals.node_time_s if totals.node_time_s else np.nan
                ),
            }
        )
    return pd.DataFrame(rows)
