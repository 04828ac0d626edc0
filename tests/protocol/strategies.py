"""Hypothesis strategies for every MQTT control packet, per protocol version.

Each strategy draws only packets that the version can carry, so that
``decode(encode(p, v), v) == p`` holds for all of them:

* MQTT 5: every property allowed in the packet (Table 2-4), within the value
  ranges the specification sets, every reason code the packet may carry,
  wills with will properties, all subscription options.
* MQTT 3.1.1: no properties, acknowledgements with Success only, CONNACK
  reason codes that have a 3.1.1 return code, SUBACK codes 0, 1, 2 and 0x80.
* MQTT 3.1: CONNECT only (``connects(V31)``); every other packet is written
  as 3.1.1, so ``packets(V31)`` draws them from the 3.1.1 strategies.

Use :func:`packets` for "any packet" and the per-class functions
(:func:`publishes`, :func:`connects`, …) to focus on one type. The value
rules are written out here independently of the codec's own tables, so the
tests do not simply agree with the code by construction.
"""

from __future__ import annotations

from typing import Any, TypeVar

from hypothesis import settings
from hypothesis import strategies as st

from mqttsim.protocol.enums import (
    CONNACK_V311_TO_REASON,
    REASON_CODES_BY_PACKET,
    PacketType,
    ProtocolVersion,
    QoS,
    ReasonCode,
    RetainHandling,
)
from mqttsim.protocol.packets import (
    Auth,
    ConnAck,
    Connect,
    Disconnect,
    Packet,
    PingReq,
    PingResp,
    PubAck,
    PubComp,
    Publish,
    PubRec,
    PubRel,
    SubAck,
    Subscribe,
    Subscription,
    UnsubAck,
    Unsubscribe,
    Will,
)
from mqttsim.protocol.properties import (
    NO_PROPERTIES,
    PROPERTY_TABLE,
    WILL,
    Properties,
    WireType,
)

__all__ = [
    "DETERMINISTIC",
    "V31",
    "V311",
    "V5",
    "mqtt_strings",
    "properties",
    "connects",
    "connacks",
    "publishes",
    "pubacks",
    "pubrecs",
    "pubrels",
    "pubcomps",
    "subscriptions",
    "subscribes",
    "subacks",
    "unsubscribes",
    "unsubacks",
    "pingreqs",
    "pingresps",
    "disconnects",
    "auths",
    "packets",
    "STRATEGIES_BY_CLASS",
]

V31 = ProtocolVersion.V31
V311 = ProtocolVersion.V311
V5 = ProtocolVersion.V5

#: Settings for tests that must run the same way every time: derandomized,
#: no example database, no deadline (CI machines vary). Use it as
#: ``@settings(DETERMINISTIC, max_examples=...)``.
DETERMINISTIC = settings(derandomize=True, database=None, deadline=None)

packet_ids = st.integers(1, 0xFFFF)


def mqtt_strings(max_size: int = 12) -> st.SearchStrategy[str]:
    """Text an MQTT UTF-8 Encoded String may hold: no surrogates, no U+0000 (§1.5.4)."""
    # codec="utf-8" leaves out the surrogates, which UTF-8 cannot encode.
    return st.text(st.characters(codec="utf-8", exclude_characters="\x00"), max_size=max_size)


# Value ranges that the specification sets on some properties (§3.1.2.11,
# §3.2.2.3, §3.3.2.3, §3.8.2.1); all others range over their wire type.
_BOOLEAN = (0, 1)
_VALUE_RANGES: dict[str, tuple[int, int]] = {
    "payload_format_indicator": _BOOLEAN,
    "request_problem_information": _BOOLEAN,
    "request_response_information": _BOOLEAN,
    "maximum_qos": _BOOLEAN,
    "retain_available": _BOOLEAN,
    "wildcard_subscription_available": _BOOLEAN,
    "subscription_identifier_available": _BOOLEAN,
    "shared_subscription_available": _BOOLEAN,
    "receive_maximum": (1, 0xFFFF),
    "maximum_packet_size": (1, 0xFFFF_FFFF),
    "topic_alias": (1, 0xFFFF),
    "subscription_identifiers": (1, 268_435_455),
}
_WIRE_RANGES = {
    WireType.BYTE: (0, 0xFF),
    WireType.TWO_BYTE_INT: (0, 0xFFFF),
    WireType.FOUR_BYTE_INT: (0, 0xFFFF_FFFF),
    WireType.VARIABLE_BYTE_INT: (0, 268_435_455),
}


def _value(name: str, wire: WireType) -> st.SearchStrategy[Any]:
    if wire is WireType.UTF8_STRING:
        return mqtt_strings()
    if wire is WireType.BINARY_DATA:
        return st.binary(max_size=12)
    if wire is WireType.UTF8_STRING_PAIR:
        return st.tuples(mqtt_strings(6), mqtt_strings(6))
    lo, hi = _VALUE_RANGES.get(name, _WIRE_RANGES[wire])
    return st.one_of(st.sampled_from(sorted({lo, hi})), st.integers(lo, hi))


@st.composite
def properties(draw: st.DrawFn, context: PacketType | str) -> Properties:
    """Any set of properties allowed in ``context`` (a PacketType or ``WILL``)."""
    found: dict[str, Any] = {}
    for spec in PROPERTY_TABLE.values():
        if context not in spec.contexts or not draw(st.booleans()):
            continue
        value = _value(spec.name, spec.wire_type)
        if spec.name == "user_properties":
            found[spec.name] = tuple(draw(st.lists(value, min_size=1, max_size=3)))
        elif spec.name == "subscription_identifiers":
            # Several in a PUBLISH (§3.3.4), one in a SUBSCRIBE (§3.8.2.1.2).
            most = 3 if context is PacketType.PUBLISH else 1
            found[spec.name] = tuple(draw(st.lists(value, min_size=1, max_size=most)))
        else:
            found[spec.name] = draw(value)
    return Properties(**found) if found else NO_PROPERTIES


def _props(version: ProtocolVersion, context: PacketType | str) -> st.SearchStrategy[Properties]:
    return properties(context) if version is V5 else st.just(NO_PROPERTIES)


def _reasons(ptype: PacketType) -> st.SearchStrategy[ReasonCode]:
    return st.sampled_from(sorted(REASON_CODES_BY_PACKET[ptype]))


@st.composite
def wills(draw: st.DrawFn, version: ProtocolVersion) -> Will:
    """A Will Message; will properties only in MQTT 5 (§3.1.3.2)."""
    return Will(
        topic=draw(mqtt_strings()),
        payload=draw(st.binary(max_size=20)),
        qos=draw(st.sampled_from(QoS)),
        retain=draw(st.booleans()),
        properties=draw(_props(version, WILL)),
    )


@st.composite
def connects(draw: st.DrawFn, version: ProtocolVersion) -> Connect:
    """CONNECT in ``version`` (3.1 included)."""
    username = draw(st.none() | mqtt_strings())
    password = draw(st.none() | st.binary(max_size=12))
    if version is not V5 and username is None:
        password = None  # 3.1.1 forbids a password alone [MQTT-3.1.2-22]
    return Connect(
        version=version,
        client_id=draw(mqtt_strings(23)),
        clean_start=draw(st.booleans()),
        keep_alive_s=draw(st.integers(0, 0xFFFF)),
        username=username,
        password=password,
        will=draw(st.none() | wills(version)),
        properties=draw(_props(version, PacketType.CONNECT)),
    )


@st.composite
def connacks(draw: st.DrawFn, version: ProtocolVersion) -> ConnAck:
    """CONNACK; in 3.1.1 only reasons that have a return code (§3.2.2.3)."""
    if version is V5:
        reason = draw(_reasons(PacketType.CONNACK))
    else:
        reason = draw(st.sampled_from(sorted(CONNACK_V311_TO_REASON.values())))
    return ConnAck(
        # Session Present only with success [MQTT-3.2.2-6].
        session_present=draw(st.booleans()) if not reason.is_error else False,
        reason_code=reason,
        properties=draw(_props(version, PacketType.CONNACK)),
    )


@st.composite
def publishes(draw: st.DrawFn, version: ProtocolVersion, max_payload: int = 300) -> Publish:
    """PUBLISH with any QoS, flags and (MQTT 5) properties; payloads long enough
    to need a two-byte Remaining Length now and then."""
    qos = draw(st.sampled_from(QoS))
    return Publish(
        topic=draw(mqtt_strings(20)),
        payload=draw(st.binary(max_size=max_payload)),
        qos=qos,
        retain=draw(st.booleans()),
        dup=draw(st.booleans()) if qos else False,
        packet_id=draw(packet_ids) if qos else None,
        properties=draw(_props(version, PacketType.PUBLISH)),
    )


_Ack = TypeVar("_Ack", PubAck, PubRec, PubRel, PubComp)


def _pub_acks(cls: type[_Ack], version: ProtocolVersion) -> st.SearchStrategy[_Ack]:
    ptype = cls.packet_type
    reason = _reasons(ptype) if version is V5 else st.just(ReasonCode.SUCCESS)
    return st.builds(
        cls, packet_id=packet_ids, reason_code=reason, properties=_props(version, ptype)
    )


def pubacks(version: ProtocolVersion) -> st.SearchStrategy[PubAck]:
    """PUBACK (§3.4)."""
    return _pub_acks(PubAck, version)


def pubrecs(version: ProtocolVersion) -> st.SearchStrategy[PubRec]:
    """PUBREC (§3.5)."""
    return _pub_acks(PubRec, version)


def pubrels(version: ProtocolVersion) -> st.SearchStrategy[PubRel]:
    """PUBREL (§3.6)."""
    return _pub_acks(PubRel, version)


def pubcomps(version: ProtocolVersion) -> st.SearchStrategy[PubComp]:
    """PUBCOMP (§3.7)."""
    return _pub_acks(PubComp, version)


def subscriptions(version: ProtocolVersion) -> st.SearchStrategy[Subscription]:
    """One topic filter with options; the MQTT 5 options only in MQTT 5."""
    if version is not V5:
        return st.builds(Subscription, topic_filter=mqtt_strings(), qos=st.sampled_from(QoS))
    return st.builds(
        Subscription,
        topic_filter=mqtt_strings(),
        qos=st.sampled_from(QoS),
        no_local=st.booleans(),
        retain_as_published=st.booleans(),
        retain_handling=st.sampled_from(RetainHandling),
    )


def subscribes(version: ProtocolVersion) -> st.SearchStrategy[Subscribe]:
    """SUBSCRIBE with one to four filters (§3.8)."""
    return st.builds(
        Subscribe,
        packet_id=packet_ids,
        subscriptions=st.lists(subscriptions(version), min_size=1, max_size=4).map(tuple),
        properties=_props(version, PacketType.SUBSCRIBE),
    )


_SUBACK_V311 = [
    ReasonCode.GRANTED_QOS_0,
    ReasonCode.GRANTED_QOS_1,
    ReasonCode.GRANTED_QOS_2,
    ReasonCode.UNSPECIFIED_ERROR,  # 3.1.1's 0x80 Failure
]


def subacks(version: ProtocolVersion) -> st.SearchStrategy[SubAck]:
    """SUBACK (§3.9)."""
    codes = _reasons(PacketType.SUBACK) if version is V5 else st.sampled_from(_SUBACK_V311)
    return st.builds(
        SubAck,
        packet_id=packet_ids,
        reason_codes=st.lists(codes, min_size=1, max_size=4).map(tuple),
        properties=_props(version, PacketType.SUBACK),
    )


def unsubscribes(version: ProtocolVersion) -> st.SearchStrategy[Unsubscribe]:
    """UNSUBSCRIBE with one to four filters (§3.10)."""
    return st.builds(
        Unsubscribe,
        packet_id=packet_ids,
        topic_filters=st.lists(mqtt_strings(), min_size=1, max_size=4).map(tuple),
        properties=_props(version, PacketType.UNSUBSCRIBE),
    )


def unsubacks(version: ProtocolVersion) -> st.SearchStrategy[UnsubAck]:
    """UNSUBACK (§3.11); no reason codes in 3.1.1."""
    if version is not V5:
        return st.builds(UnsubAck, packet_id=packet_ids)
    return st.builds(
        UnsubAck,
        packet_id=packet_ids,
        reason_codes=st.lists(_reasons(PacketType.UNSUBACK), min_size=1, max_size=4).map(tuple),
        properties=properties(PacketType.UNSUBACK),
    )


def pingreqs(version: ProtocolVersion) -> st.SearchStrategy[PingReq]:
    """PINGREQ (§3.12)."""
    return st.just(PingReq())


def pingresps(version: ProtocolVersion) -> st.SearchStrategy[PingResp]:
    """PINGRESP (§3.13)."""
    return st.just(PingResp())


def disconnects(version: ProtocolVersion) -> st.SearchStrategy[Disconnect]:
    """DISCONNECT (§3.14); 3.1.1 has only the fixed header."""
    if version is not V5:
        return st.just(Disconnect())
    return st.builds(
        Disconnect,
        reason_code=_reasons(PacketType.DISCONNECT),
        properties=properties(PacketType.DISCONNECT),
    )


def auths(version: ProtocolVersion) -> st.SearchStrategy[Auth]:
    """AUTH (§3.15); MQTT 5 only, so nothing at all for 3.1.1."""
    if version is not V5:
        return st.nothing()
    return st.builds(
        Auth, reason_code=_reasons(PacketType.AUTH), properties=properties(PacketType.AUTH)
    )


#: The strategy function for each packet class.
STRATEGIES_BY_CLASS: dict[type[Packet], Any] = {
    Connect: connects,
    ConnAck: connacks,
    Publish: publishes,
    PubAck: pubacks,
    PubRec: pubrecs,
    PubRel: pubrels,
    PubComp: pubcomps,
    Subscribe: subscribes,
    SubAck: subacks,
    Unsubscribe: unsubscribes,
    UnsubAck: unsubacks,
    PingReq: pingreqs,
    PingResp: pingresps,
    Disconnect: disconnects,
    Auth: auths,
}


def packets(version: ProtocolVersion) -> st.SearchStrategy[Packet]:
    """Any packet that ``version`` can carry (3.1: a 3.1 CONNECT, the rest as 3.1.1)."""
    if version is V31:
        others = [make(V311) for cls, make in STRATEGIES_BY_CLASS.items() if cls is not Connect]
        return st.one_of(connects(V31), *others)
    return st.one_of(*(make(version) for make in STRATEGIES_BY_CLASS.values()))
