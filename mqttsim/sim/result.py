"""What a scenario run produced, in one object: no caller reruns a world to read its state.

* ``messages``: one row per message and subscriber that should get it (a
  client whose ``subscribe`` list matches the topic) or did get it; a
  message nobody subscribed to has one row with no subscriber. Columns:
  message_id, publisher, subscriber, topic, kind, qos, sent_s,
  delivered_s (first delivery, NaN if none), deliveries (duplicates
  included), latency_s, payload_bytes.
* ``deliveries``: every delivery: message_id, subscriber, time_s, nth.
* ``connections``: one row per client: its broker and link, TCP
  connections attempted, CONNACKs, disconnections and their reasons, bytes
  and segments each way (IP and TCP headers included, retransmissions
  too), retransmitted segments each way (``retransmissions_*``, SYNs and
  FINs included) and those that carried data (``data_retransmissions_*``,
  what a capture counts). Over loopback there are no
  segments: the bytes are the MQTT stream's.
* ``links``: one row per link and direction: bytes and packets on the air,
  delivered, lost, cut by an outage, refused by a full queue, radio time
  (bytes x 8 / bit rate), and cost at the link's price if it is billed.
* ``events``: connections, disconnections and broker-side closes.
* ``brokers``: each broker's final state: retained messages, sessions,
  drop counters by reason, its other counters.
* ``packets``: one row per packet, if the run recorded them.

:meth:`ScenarioResult.summary` gives one row per QoS, as
:func:`mqttsim.sim.metrics.summarize` does for the pipeline, over the billed
links. Save with :meth:`ScenarioResult.save` (CSV, Parquet or JSON).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from os import PathLike
from typing import TYPE_CHECKING

from mqttsim.protocol.errors import ConfigError
from mqttsim.protocol.topics import parse_shared, topic_matches

from .metrics import MB, LinkTotals, summarize

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd  # type: ignore[import-untyped,unused-ignore]

    from .node import SimBroker
    from .world import World

__all__ = ["BrokerState", "ScenarioResult", "broker_state", "collect", "totals"]

_FRAMES = ("messages", "deliveries", "connections", "links", "events")


@dataclass(frozen=True, slots=True, kw_only=True)
class BrokerState:
    """A broker at the end of a run.

    Attributes:
        retained: topic, qos, payload_bytes and payload of each retained
            message, by topic.
        sessions: client_id, connected, subscriptions, inflight (our QoS
            1/2 messages awaiting acknowledgement), queued.
        dropped: reason -> messages given up on (see
            :class:`mqttsim.protocol.stats.DropReason`).
        stats: the broker's other counters, by name.
    """

    retained: pd.DataFrame
    sessions: pd.DataFrame
    dropped: dict[str, int]
    stats: dict[str, int]


@dataclass(frozen=True, slots=True, kw_only=True)
class ScenarioResult:
    """Everything a run produced (see the module docstring).

    Attributes:
        scenario: the scenario's name.
        seed, qos: the run's seed and QoS.
        totals: what the billed links carried.
        wall_s: wall-clock seconds the simulation took.
        extra: frames added by the scenario's own processes (the
            pipeline's ``commands``).
    """

    scenario: str
    seed: int
    qos: int
    messages: pd.DataFrame
    deliveries: pd.DataFrame
    connections: pd.DataFrame
    links: pd.DataFrame
    events: pd.DataFrame
    brokers: dict[str, BrokerState]
    packets: pd.DataFrame | None
    totals: LinkTotals
    wall_s: float
    extra: dict[str, pd.DataFrame] = field(default_factory=dict)

    def summary(self) -> pd.DataFrame:
        """One row per QoS over the messages that had a subscriber (see
        :func:`mqttsim.sim.metrics.summarize`); link figures are the billed links'."""
        expected = self.messages[self.messages["subscriber"].notna()]
        return summarize(expected, self.totals)

    def save(self, path: str | PathLike[str], what: str = "messages") -> None:
        """Write one frame (``messages``, ``deliveries``, ``connections``,
        ``links``, ``events``) as ``.csv`` or ``.parquet``, or the summary as
        ``.json`` (with the run's seed, QoS and totals), by the file's suffix."""
        suffix = os.path.splitext(os.fspath(path))[1].lower()
        if suffix == ".json":
            self._save_json(path)
            return
        if suffix not in (".csv", ".parquet"):
            raise ConfigError(
                f"{os.fspath(path)}: the file name must end in .csv, .parquet or .json"
            )
        if what not in _FRAMES:
            raise ConfigError(f"cannot save {what!r}; allowed: {', '.join(_FRAMES)}")
        frame = getattr(self, what)
        if suffix == ".csv":
            frame.to_csv(path, index=False, na_rep="")
        else:
            frame.to_parquet(path, index=False)

    def _save_json(self, path: str | PathLike[str]) -> None:
        rows = json.loads(self.summary().to_json(orient="records"))
        document = {
            "scenario": self.scenario,
            "seed": self.seed,
            "qos": self.qos,
            "wall_s": self.wall_s,
            "summary": rows,
            "links": json.loads(self.links.to_json(orient="records")),
            "connections": json.loads(self.connections.to_json(orient="records")),
            "brokers": {
                name: {"dropped": state.dropped, "stats": state.stats}
                for name, state in self.brokers.items()
            },
        }
        with open(path, "w", encoding="utf-8") as handle:
            json.dump(document, handle, indent=2)
            handle.write("\n")


def collect(world: World, wall_s: float) -> ScenarioResult:
    """Read a finished world into a :class:`ScenarioResult`."""
    import pandas as pd

    log = world.messages
    return ScenarioResult(
        scenario=world.scenario.name,
        seed=world.seed,
        qos=world.qos,
        messages=_message_pairs(world),
        deliveries=log.deliveries_frame(),
        connections=_connections(world),
        links=_links(world),
        events=pd.DataFrame(world.event_rows(), columns=["time_s", "node", "event", "detail"]),
        brokers={name: broker_state(b) for name, b in world.brokers.items()},
        packets=world.packets.frame() if world.packets is not None else None,
        totals=totals(world),
        wall_s=wall_s,
        extra={name: make() for name, make in world.frames.items()},
    )


def _message_pairs(world: World) -> pd.DataFrame:
    """One row per (message, subscriber) expected or observed."""
    import numpy as np
    import pandas as pd

    frame = world.messages.frame(node_column="publisher")
    filters = [
        (node.name, parse_shared(f)[1])
        for node in world.scenario.clients
        for f, _ in node.subscribe
    ]
    expected: dict[str, list[str]] = {}
    for topic in frame["topic"].astype(str).unique():
        expected[topic] = sorted({name for name, f in filters if topic_matches(f, topic)})
    pairs = [
        (mid, sub)
        for mid, topic in zip(frame["message_id"], frame["topic"].astype(str), strict=True)
        for sub in expected[topic]
    ]
    deliveries = world.messages.deliveries_frame()
    got = deliveries.groupby(["message_id", "subscriber"], observed=True).agg(
        delivered_s=("time_s", "min"), deliveries=("time_s", "size")
    )
    wanted = pd.DataFrame(pairs, columns=["message_id", "subscriber"])
    keys = pd.concat([wanted, got.reset_index()[["message_id", "subscriber"]]]).drop_duplicates()
    rows = keys.merge(got.reset_index(), on=["message_id", "subscriber"], how="left")
    base = frame.drop(columns=["delivered_s", "deliveries", "latency_s"])
    rows = base.merge(rows, on="message_id", how="left")
    rows["deliveries"] = rows["deliveries"].fillna(0).astype("int32")
    rows["latency_s"] = rows["delivered_s"] - rows["sent_s"]
    rows["subscriber"] = rows["subscriber"].astype("object").where(rows["subscriber"].notna(), None)
    columns = [
        "message_id",
        "publisher",
        "subscriber",
        "topic",
        "kind",
        "qos",
        "sent_s",
        "delivered_s",
        "deliveries",
        "latency_s",
        "payload_bytes",
    ]
    rows = rows.sort_values(["message_id", "subscriber"], kind="stable", na_position="first")
    rows["delivered_s"] = rows["delivered_s"].astype(np.float64)
    return rows[columns].reset_index(drop=True)


def _connections(world: World) -> pd.DataFrame:
    import pandas as pd

    from mqttsim.protocol.events import Connected, Disconnected

    by_owner: dict[str, dict[str, int]] = {}
    for path in world.paths.values():
        port = path.listener.port
        for end in path.endpoints:
            row = by_owner.setdefault(end.owner, dict.fromkeys(_COUNTS, 0))
            side = "down" if end.local_port == port else "up"  # the broker's end sends down
            row[f"bytes_{side}"] += end.bytes_sent
            row[f"segments_{side}"] += end.segments_sent
            row[f"retransmissions_{side}"] += end.retransmissions
            row[f"data_retransmissions_{side}"] += end.data_retransmissions
    for loopback in world.loopbacks:
        for k, lend in enumerate(loopback.endpoints):  # client end, then server end
            row = by_owner.setdefault(lend.owner, dict.fromkeys(_COUNTS, 0))
            row["bytes_up" if k % 2 == 0 else "bytes_down"] += lend.bytes_sent
    rows = []
    scenario = world.scenario
    for node in scenario.clients:
        client = world.clients[node.name]
        counts = by_owner.get(node.name, dict.fromkeys(_COUNTS, 0))
        reasons = [e.detail for _, e in client.log if isinstance(e, Disconnected)]
        broker_site = next(b.site for b in scenario.brokers if b.name == node.broker)
        link = (
            "loopback"
            if node.site == broker_site
            else world.link_between(node.site, broker_site).name
        )
        rows.append(
            {
                "client": node.name,
                "broker": node.broker,
                "link": link,
                "tcp_connections": client.attempts,
                "connects": sum(isinstance(e, Connected) for _, e in client.log),
                "disconnects": len(reasons),
                "disconnect_reasons": "; ".join(reasons),
                **counts,
            }
        )
    return pd.DataFrame(rows)


_COUNTS = (
    "bytes_up",
    "bytes_down",
    "segments_up",
    "segments_down",
    "retransmissions_up",
    "retransmissions_down",
    "data_retransmissions_up",
    "data_retransmissions_down",
)


def _links(world: World) -> pd.DataFrame:
    import pandas as pd

    rows = []
    for node in world.scenario.links:
        up, down = world.links[node.name]
        spec = node.spec
        for direction, link, bps, (src, dst) in (
            ("up", up, spec.uplink_bps, (node.a, node.b)),
            ("down", down, spec.downlink_bps, (node.b, node.a)),
        ):
            stats = link.stats
            cost = stats.bytes_sent / MB * spec.price_per_mb_usd if node.billed else 0.0
            rows.append(
                {
                    "link": node.name,
                    "direction": direction,
                    "from": src,
                    "to": dst,
                    "billed": node.billed,
                    "bytes": stats.bytes_sent,
                    "packets": stats.packets_sent,
                    "delivered": stats.delivered,
                    "lost": stats.lost,
                    "outage": stats.outage,
                    "queue_full": stats.queue_full,
                    "radio_on_s": stats.bytes_sent * 8.0 / bps if bps else 0.0,
                    "cost_usd": cost,
                }
            )
    return pd.DataFrame(rows)


def totals(world: World) -> LinkTotals:
    """What the billed links carried; costs at each link's own price."""
    total_bytes = packets = 0
    radio = cost = 0.0
    billing: float | None = None
    billed = [node for node in world.scenario.links if node.billed]
    for node in billed:
        up, down = world.links[node.name]
        spec = node.spec
        link_bytes = up.stats.bytes_sent + down.stats.bytes_sent
        link_packets = up.stats.packets_sent + down.stats.packets_sent
        total_bytes += link_bytes
        packets += link_packets
        cost += link_bytes / MB * spec.price_per_mb_usd
        if spec.price_per_message_usd is not None:
            billing = (billing or 0.0) + link_packets * spec.price_per_message_usd
        if spec.uplink_bps:
            radio += up.stats.bytes_sent * 8.0 / spec.uplink_bps
    return LinkTotals(
        bytes=total_bytes,
        packets=packets,
        radio_on_s=radio,
        node_time_s=world.scenario.duration_s * len(billed),
        price_per_mb_usd=cost / (total_bytes / MB) if total_bytes else 0.0,
        price_per_message_usd=None,
        cost_usd=cost,
        billing_usd=billing,
    )


def broker_state(sim_broker: SimBroker) -> BrokerState:
    """A broker's retained messages, sessions and counters, now."""
    import pandas as pd

    broker = sim_broker.broker
    retained = pd.DataFrame(
        [
            {
                "topic": m.publish.topic,
                "qos": int(m.publish.qos),
                "payload_bytes": len(m.publish.payload),
                "payload": m.publish.payload,
            }
            for m in broker.retained
        ],
        columns=["topic", "qos", "payload_bytes", "payload"],
    )
    sessions = pd.DataFrame(
        [
            {
                "client_id": s.client_id,
                "connected": s.client_id in broker.connections,
                "subscriptions": len(s.subscriptions),
                "inflight": len(s.outbound),
                "queued": len(s.queued),
            }
            for s in broker.sessions.values()
        ],
        columns=["client_id", "connected", "subscriptions", "inflight", "queued"],
    )
    stats = broker.stats
    counters = {
        name: int(getattr(stats, name))
        for name in (
            "connections_total",
            "clients_maximum",
            "messages_received",
            "messages_sent",
            "publish_received",
            "publish_sent",
            "bytes_received",
            "bytes_sent",
            "protocol_errors",
            "denied",
        )
    }
    return BrokerState(
        retained=retained, sessions=sessions, dropped=dict(stats.dropped), stats=counters
    )
