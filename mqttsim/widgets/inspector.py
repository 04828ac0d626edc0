"""The packet inspector: bytes on the wire, field by field.

:func:`inspect_packet` checks the bytes with the real decoder
(:func:`mqttsim.protocol.decode`) and then walks them again to say which
byte ranges hold which field: the fixed header byte with its packet type and
flag bits, the Remaining Length, the variable header, the MQTT 5 properties
and the payload. :class:`PacketInspector` puts that in a widget where a
learner types hex or picks an example, and sees the table and the decoded
packet; what is not a packet is refused there, with the decoder's reason.
"""

from __future__ import annotations

import html
import string
from typing import Any

import ipywidgets as widgets  # type: ignore[import-untyped,unused-ignore]
import pandas as pd  # type: ignore[import-untyped,unused-ignore]

from mqttsim.protocol import (
    ConfigError,
    ConnAck,
    Connect,
    Disconnect,
    MalformedPacket,
    MQTTError,
    Packet,
    PacketType,
    PingReq,
    ProtocolVersion,
    PubAck,
    Publish,
    QoS,
    ReasonCode,
    Subscribe,
    Subscription,
    decode,
    encode,
)
from mqttsim.protocol.codec import encode_varint
from mqttsim.protocol.properties import PROPERTY_TABLE, WireType

from .controls import error_html, redraw_on_change

__all__ = [
    "parse_hex",
    "inspect_packet",
    "remaining_length_table",
    "example_packets",
    "PacketInspector",
]

_P = PacketType
_COLUMNS = ["bytes", "hex", "field", "value"]
_HEX_SHOWN = 12  # bytes of hex shown per row before "…"


def parse_hex(text: str) -> bytes:
    """Bytes from hex as people write it: ``"30 0d"``, ``"300D"``, ``"0x30, 0x0d"``.

    Raises:
        ConfigError: a character that is not a hex digit, or an odd number of digits.
    """
    cleaned = text.replace("0x", " ").replace("0X", " ")
    digits = "".join(c for c in cleaned if not c.isspace() and c not in ",:")
    for i, c in enumerate(digits):
        if c not in string.hexdigits:
            raise ConfigError(f"{c!r} (hex digit {i + 1}) is not a hex digit: use 0-9 and a-f")
    if len(digits) % 2:
        raise ConfigError(f"{len(digits)} hex digits: a byte takes two, so one is missing")
    if not digits:
        raise ConfigError("no bytes yet: type a packet in hex, e.g. c0 00")
    return bytes.fromhex(digits)


class _Walk:
    """A cursor over one decoded packet that writes a row per field."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0
        self.rows: list[dict[str, str]] = []

    def take(self, n: int, field: str, value: object) -> bytes:
        start, end = self.pos, self.pos + n
        if end > len(self.data):
            raise MalformedPacket(f"{field} runs past the end of the packet")
        raw = self.data[start:end]
        shown = raw[:_HEX_SHOWN].hex(" ") + (" …" if n > _HEX_SHOWN else "")
        span = str(start) if n == 1 else f"{start}–{end - 1}" if n else "–"
        self.rows.append({"bytes": span, "hex": shown, "field": field, "value": str(value)})
        self.pos = end
        return raw

    def left(self) -> int:
        return len(self.data) - self.pos

    def u8(self, field: str) -> int:
        return self.take(1, field, f"{self.data[self.pos]}")[0]

    def u16(self, field: str) -> int:
        value = int.from_bytes(self.data[self.pos : self.pos + 2], "big")
        self.take(2, field, value)
        return value

    def varint(self, field: str, what: str) -> int:
        value, size = _varint_at(self.data, self.pos)
        self.take(size, field, f"{value} {what}" + (" follows" if value == 1 else "s follow"))
        return value

    def utf8(self, field: str) -> str:
        n = self.u16(f"{field} length")
        text = self.data[self.pos : self.pos + n].decode("utf-8")
        self.take(n, field, repr(text))
        return text

    def binary(self, field: str) -> None:
        n = self.u16(f"{field} length")
        self.take(n, field, _short(self.data[self.pos : self.pos + n]))

    def reason(self, ptype: PacketType) -> None:
        code = self.data[self.pos]
        self.take(1, "reason code", f"0x{code:02X} {_reason_name(ptype, code)}")

    def properties(self) -> None:
        length = self.varint("property length", "byte")
        end = self.pos + length
        while self.pos < end:
            pid = self.data[self.pos]
            spec = PROPERTY_TABLE[pid]
            size, value = _property_value(spec.wire_type, self.data, self.pos + 1)
            label = spec.id.name.replace("_", " ").title().replace("Qos", "QoS")
            self.take(1 + size, f"property 0x{pid:02X} {label}", value)


def _varint_at(data: bytes, pos: int) -> tuple[int, int]:
    value = 0
    for k in range(4):
        byte = data[pos + k]
        value |= (byte & 0x7F) << (7 * k)
        if byte < 0x80:
            return value, k + 1
    raise MalformedPacket("a Variable Byte Integer is longer than four bytes (§1.5.5)")


def _short(raw: bytes, limit: int = 40) -> str:
    text = repr(raw)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _reason_name(ptype: PacketType, code: int) -> str:
    if ptype is _P.SUBACK and code < 3:
        return f"GRANTED_QOS_{code}"  # 0x00 is also SUCCESS: say what it means here
    try:
        return ReasonCode(code).name
    except ValueError:
        return "(not a reason code)"


def _property_value(wire: WireType, data: bytes, pos: int) -> tuple[int, str]:
    """The size and shown value of one property's value at ``pos``."""
    fixed = {WireType.BYTE: 1, WireType.TWO_BYTE_INT: 2, WireType.FOUR_BYTE_INT: 4}
    if wire in fixed:
        n = fixed[wire]
        return n, str(int.from_bytes(data[pos : pos + n], "big"))
    if wire is WireType.VARIABLE_BYTE_INT:
        value, n = _varint_at(data, pos)
        return n, str(value)
    first = int.from_bytes(data[pos : pos + 2], "big")
    raw = data[pos + 2 : pos + 2 + first]
    if wire is WireType.BINARY_DATA:
        return 2 + first, _short(raw)
    if wire is WireType.UTF8_STRING:
        return 2 + first, repr(raw.decode("utf-8"))
    second_at = pos + 2 + first
    second = int.from_bytes(data[second_at : second_at + 2], "big")
    text = data[second_at + 2 : second_at + 2 + second].decode("utf-8")
    return 4 + first + second, f"{raw.decode('utf-8')!r}: {text!r}"


def _fixed_header(w: _Walk, ptype: PacketType) -> None:
    first = w.data[0]
    flags = first & 0x0F
    w.rows.append(
        {
            "bytes": "0",
            "hex": f"{first:02x}",
            "field": "packet type (bits 7–4)",
            "value": f"{first >> 4:04b} = {first >> 4} {ptype.name}",
        }
    )
    if ptype is _P.PUBLISH:
        meaning = f"DUP={flags >> 3}, QoS={(flags >> 1) & 3}, RETAIN={flags & 1}"
    else:
        meaning = "reserved, fixed by the packet type"
    w.rows.append(
        {
            "bytes": "0",
            "hex": f"{first:02x}",
            "field": "flags (bits 3–0)",
            "value": f"{flags:04b}: {meaning}",
        }
    )
    w.pos = 1
    w.varint("Remaining Length", "byte")


def _connect(w: _Walk) -> None:
    w.utf8("protocol name")
    level = w.u8("protocol level")
    flags = w.data[w.pos]
    w.take(1, "connect flags", _connect_flags(flags))
    w.u16("keep alive (s)")
    v5 = level == 5
    if v5:
        w.properties()
    w.utf8("client identifier")
    if flags & 0x04:
        if v5:
            w.properties()
        w.utf8("will topic")
        w.binary("will payload")
    if flags & 0x80:
        w.utf8("user name")
    if flags & 0x40:
        w.binary("password")


_CONNECT_FLAGS = (
    (7, "user name"),
    (6, "password"),
    (5, "will retain"),
    (2, "will"),
    (1, "clean start"),
)


# MQTT 3.1.1 CONNACK return codes (§3.2.2.3, Table 3.1).
_CONNACK_V311 = {
    0: "Connection Accepted",
    1: "unacceptable protocol version",
    2: "identifier rejected",
    3: "server unavailable",
    4: "bad user name or password",
    5: "not authorized",
}


def _connect_flags(flags: int) -> str:
    names = [name for bit, name in _CONNECT_FLAGS if flags >> bit & 1]
    if flags & 0x04:
        names.append(f"will QoS {(flags >> 3) & 3}")
    return f"{flags:08b}: " + (", ".join(names) or "none set")


def _body(w: _Walk, ptype: PacketType, v5: bool) -> None:
    """Walk the variable header and payload of every packet type but CONNECT."""
    if ptype is _P.CONNACK:
        w.take(1, "acknowledge flags", f"session present={w.data[w.pos] & 1}")
        if v5:
            w.reason(ptype)
        else:
            code = w.data[w.pos]
            w.take(1, "return code", f"{code} {_CONNACK_V311.get(code, '(reserved)')}")
    elif ptype is _P.PUBLISH:
        w.utf8("topic name")
        if w.data[0] & 0x06:
            w.u16("packet identifier")
        if v5:
            w.properties()
        w.take(w.left(), "payload", _short(w.data[w.pos :]))
        return
    elif ptype in (_P.PUBACK, _P.PUBREC, _P.PUBREL, _P.PUBCOMP):
        w.u16("packet identifier")
        if v5 and w.left():
            w.reason(ptype)
    elif ptype in (_P.SUBSCRIBE, _P.SUBACK, _P.UNSUBSCRIBE, _P.UNSUBACK):
        w.u16("packet identifier")
        if v5:
            w.properties()
        while w.left():
            if ptype in (_P.SUBSCRIBE, _P.UNSUBSCRIBE):
                w.utf8("topic filter")
            if ptype is _P.SUBSCRIBE:
                w.take(1, "subscription options", f"QoS {w.data[w.pos] & 3}")
            elif ptype is _P.SUBACK or (ptype is _P.UNSUBACK and v5):
                w.reason(ptype)
        return
    elif ptype in (_P.DISCONNECT, _P.AUTH) and v5 and w.left():
        w.reason(ptype)
    if w.left():
        w.properties()


def inspect_packet(
    data: bytes | str, version: ProtocolVersion | int = ProtocolVersion.V5
) -> pd.DataFrame:
    """Break one packet into its fields.

    Args:
        data: the whole packet, fixed header included; bytes, or hex text.
        version: the protocol version in force (4 or 5); a CONNECT names its own.

    Returns:
        One row per field, in wire order: ``bytes`` (the offsets it spans),
        ``hex``, ``field`` and ``value``. The first byte appears twice: once
        for the packet type (bits 7-4) and once for the flags (bits 3-0).

    Raises:
        ConfigError: ``data`` is text that is not hex.
        MQTTError: the bytes are not one well-formed packet; the message
            says why, as the decoder reports it to a peer.
    """
    raw = parse_hex(data) if isinstance(data, str) else bytes(data)
    wire = ProtocolVersion(version)
    packet = decode(raw, wire)
    w = _Walk(raw)
    _fixed_header(w, packet.packet_type)
    if packet.packet_type is _P.CONNECT:
        _connect(w)
    else:
        _body(w, packet.packet_type, wire is ProtocolVersion.V5)
    return pd.DataFrame(w.rows, columns=_COLUMNS)


def remaining_length_table(values: list[int]) -> pd.DataFrame:
    """How each Remaining Length is written: its bytes and how many (§1.5.5).

    Each byte carries seven bits of the number; the eighth says "another byte
    follows". A value that four bytes cannot hold is shown as refused.
    """
    rows = []
    for value in values:
        try:
            raw = encode_varint(value)
            rows.append({"value": value, "encoded (hex)": raw.hex(" "), "bytes": len(raw)})
        except MQTTError:
            rows.append({"value": value, "encoded (hex)": "refused: over 4 bytes", "bytes": None})
    return pd.DataFrame(rows).astype({"bytes": "Int64"})


def example_packets() -> dict[str, tuple[bytes, ProtocolVersion]]:
    """A few packets of a pipeline station, encoded by the real encoder."""
    v311, v5 = ProtocolVersion.V311, ProtocolVersion.V5
    pressure = Publish(topic="st-01/p", payload=b"72.4 bar", qos=QoS.AT_LEAST_ONCE, packet_id=1)
    examples: list[tuple[str, Packet, ProtocolVersion]] = [
        ("PUBLISH QoS 1 (MQTT 3.1.1)", pressure, v311),
        ("PUBLISH QoS 1 (MQTT 5.0)", pressure, v5),
        ("PUBLISH QoS 0 (MQTT 3.1.1)", Publish(topic="st-01/p", payload=b"72.4 bar"), v311),
        ("PUBACK (MQTT 3.1.1)", PubAck(packet_id=1), v311),
        ("CONNECT (MQTT 3.1.1)", Connect(version=v311, client_id="st-01", keep_alive_s=60), v311),
        ("CONNACK (MQTT 3.1.1)", ConnAck(), v311),
        ("SUBSCRIBE (MQTT 5.0)", _subscribe(), v5),
        ("PINGREQ", PingReq(), v5),
        ("DISCONNECT (MQTT 3.1.1)", Disconnect(), v311),
    ]
    return {name: (encode(packet, version), version) for name, packet, version in examples}


def _subscribe() -> Subscribe:
    sub = Subscription(topic_filter="pipeline/+/pressure", qos=QoS.AT_LEAST_ONCE)
    return Subscribe(packet_id=2, subscriptions=(sub,))


_VERSIONS = [("MQTT 5.0", ProtocolVersion.V5), ("MQTT 3.1.1", ProtocolVersion.V311)]


class PacketInspector(widgets.VBox):  # type: ignore[misc,unused-ignore]
    """Type a packet in hex, or pick an example, and see its fields.

    Args:
        hex_text: the packet to show first; the first example if ``None``.
        version: how to read ``hex_text`` (4 or 5); an example sets its own.

    Attributes:
        examples: the Dropdown of example packets.
        version: the protocol version the bytes are read in.
        text: the Textarea the hex is typed into.
        message: empty, or why the text is not a packet.
        table: the field table (HTML), kept from the last good packet.
        decoded: the decoded packet's repr (HTML).
        frame: the last good field table as a DataFrame (``None`` before one).
    """

    def __init__(
        self,
        hex_text: str | None = None,
        *,
        version: ProtocolVersion | int = ProtocolVersion.V5,
        **kwargs: Any,
    ) -> None:
        self._examples = example_packets()
        names = list(self._examples)
        self.examples = widgets.Dropdown(options=names, value=names[0], description="Example")
        self.version = widgets.ToggleButtons(
            options=_VERSIONS, value=ProtocolVersion(version), description="Read as"
        )
        self.text = widgets.Textarea(
            description="Hex", layout=widgets.Layout(width="100%", height="4em")
        )
        self.message = widgets.HTML()
        self.table = widgets.HTML()
        self.decoded = widgets.HTML()
        self.frame: pd.DataFrame | None = None
        super().__init__(
            [self.examples, self.version, self.text, self.message, self.table, self.decoded],
            **kwargs,
        )
        self.examples.observe(self._on_example, names="value")
        redraw_on_change([self.text, self.version], self.show)
        if hex_text is None:
            self._on_example({"new": names[0]})
        else:
            self.text.value = hex_text

    def _on_example(self, change: dict[str, Any]) -> None:
        raw, version = self._examples[change["new"]]
        with self.hold_trait_notifications():
            self.version.value = version
        self.text.value = raw.hex(" ")
        self.show()

    def show(self) -> None:
        """Read the text again and redraw (the observers call this)."""
        try:
            raw = parse_hex(self.text.value)
            version = self.version.value
            packet = decode(raw, version)
            frame = inspect_packet(raw, version)
        except MQTTError as exc:
            self.message.value = error_html(f"Not a packet: {exc}")
            return
        self.frame = frame
        self.message.value = ""
        self.table.value = frame.to_html(index=False)
        self.decoded.value = f"<pre>{html.escape(repr(packet))}</pre>"
