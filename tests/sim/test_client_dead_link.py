"""A client publishing QoS 0 over a link that dies silently (an outage: no RST, no FIN).

The simulator drives the very ClientConnection that AsyncClient drives, so these
seeded runs are the proof for both. Keep Alive K: the client pings when it has
received nothing for K, closes when the PINGRESP has not come within K of the
PINGREQ (MQTT 5 §3.1.2.10 leaves "a reasonable amount of time" to us), and
holds new messages once that PINGREQ is overdue (twice the round trip).
"""

from __future__ import annotations

import pytest

from mqttsim.protocol import Connected, Disconnected, PublishDropped, ReasonCode
from mqttsim.sim.node import SimClient

from .test_node import World, events_of

K = 20  # Keep Alive, s
OUTAGE = (100.0, 120.0)  # start, duration: both directions fall silent
LAST = 400  # the station publishes one message a second, at t = 5 .. LAST - 1
# A PINGREQ is overdue after twice the last round trip. A ping's round trip here is 1.0 s:
# 0.25 s each way, serialisation at 9600 bit/s, and the wait for the ACK of the PUBLISH
# ahead of it (Nagle); so it is overdue 2.0 s after leaving (and 2.5 s leaves room).
OVERDUE_S = 2.5


def _publish_each_second(w: World, station: SimClient) -> dict[str, tuple[float, bool]]:
    """Publish ``st-1/<k>`` at t = k; note when, and whether it was refused at once
    (the client was not connected: counted in ``dropped_qos0_while_disconnected``)."""
    published: dict[str, tuple[float, bool]] = {}
    stats = station.connection.stats

    def publish(k: int) -> None:
        before = stats.dropped_qos0_while_disconnected
        station.publish(f"st-1/{k}", b"%d" % k)
        published[f"st-1/{k}"] = (w.env.now, stats.dropped_qos0_while_disconnected > before)

    for k in range(5, LAST):
        w.at(float(k), lambda k=k: publish(k))
    return published


def test_a_qos0_publisher_notices_a_silent_dead_link_within_twice_keep_alive() -> None:
    """§3.1.2.10: it pings because it has *received* nothing for K, although it sends every
    second, and gives up K after an unanswered PINGREQ: at most 2K after the link died.
    Every message is delivered, or reported (PublishDropped, or refused while not
    connected), except those written before the decisive PINGREQ was overdue."""
    w = World()
    start, duration = OUTAGE
    station = w.remote("st-1", keep_alive_s=K, outages=[OUTAGE])
    got = w.subscriber(w.local("scada"), "st-1/#")
    published = _publish_each_second(w, station)
    w.env.run(until=LAST + 60)

    (t_lost, lost), *_ = events_of(station, Disconnected)
    assert lost.reason_code == ReasonCode.KEEP_ALIVE_TIMEOUT and "PINGRESP" in lost.detail
    assert start < t_lost <= start + 2 * K
    t_ping = t_lost - K  # the PINGREQ that found the link dead left then

    received = [m.topic for _, m in got]
    assert len(received) == len(set(received))  # QoS 0: never twice
    reported = [e.topic for _, e in events_of(station, PublishDropped)]
    refused = [topic for topic, (_, at_once) in published.items() if at_once]
    assert not set(reported) & set(received) and not set(refused) & set(received)
    # Held from the moment the PINGREQ was overdue until the link was declared dead.
    assert len(reported) >= K - OVERDUE_S - 1
    assert all(t_ping < published[topic][0] <= t_lost for topic in reported)
    silent = set(published) - set(received) - set(reported) - set(refused)
    # The only messages lost without a report were written into the dead link while it was
    # not yet in doubt: after it died, before the decisive PINGREQ was overdue.
    assert silent and all(start <= published[topic][0] < t_ping + OVERDUE_S for topic in silent)

    # Back after the outage (a new connection with Clean Start), and nothing lost since.
    (t_back, back) = events_of(station, Connected)[-1]
    assert start + duration < t_back < start + duration + 60 and not back.session_present
    after = [topic for topic, (t, _) in published.items() if t > t_back]
    assert after and set(after) <= set(received)


def test_a_qos0_publisher_on_a_healthy_link_pings_each_keep_alive_and_loses_nothing() -> None:
    """The PINGREQs a busy QoS 0 publisher now sends cost one round trip of waiting for the
    messages published meanwhile; they arrive all the same, in order, once each."""
    w = World()
    station = w.remote("st-1", keep_alive_s=K)
    got = w.subscriber(w.local("scada"), "st-1/#")
    published = _publish_each_second(w, station)
    w.env.run(until=LAST + 10)
    assert events_of(station, Disconnected) == []
    assert [m.topic for _, m in got] == list(published)
    # One PINGREQ per Keep Alive plus a round trip: about (LAST - 1) / (K + RTT) of them.
    assert station.connection.stats.pings_sent == pytest.approx(LAST / K, abs=2)
    assert station.connection.stats.publishes_dropped == 0


def test_a_qos2_publisher_with_clean_start_loses_nothing_over_a_silent_outage() -> None:
    """[MQTT-3.1.2-4]: the new connection's Clean Start ends the exchanges, not the messages:
    those unfinished go again as new ones (so a few may arrive twice, as with paho-mqtt), and
    the in-flight window stays under what an MQTT 3.1.1 broker may take (ours: 100), so the
    resending does not get the connection closed again and again."""
    w = World()
    station = w.remote("st-1", keep_alive_s=K, outages=[OUTAGE])
    got = w.subscriber(w.local("scada"), "st-1/#")
    for k in range(5, LAST):
        w.at(float(k), lambda k=k: station.publish(f"st-1/{k}", b"%d" % k, qos=2))
    w.env.run(until=LAST + 60)
    start, duration = OUTAGE
    (t_lost, lost), *again = events_of(station, Disconnected)
    assert lost.reason_code == ReasonCode.KEEP_ALIVE_TIMEOUT and t_lost <= start + 2 * K
    assert again == []  # one reconnection, kept
    (_, first), (t_back, back) = events_of(station, Connected)
    assert not back.session_present and start + duration < t_back < start + duration + 60
    topics = [m.topic for _, m in got]
    assert set(topics) == {f"st-1/{k}" for k in range(5, LAST)}
    assert len(topics) - len(set(topics)) <= 20  # at most the window, twice
    assert station.connection.stats.publishes_restarted > 0
