"""Topic names, topic filters and what they cost on the wire (lesson 06).

Everything here asks the protocol core: whether a string is a valid topic
name or filter is :func:`~mqttsim.protocol.topics.validate_topic_name` /
:func:`~mqttsim.protocol.topics.validate_topic_filter` (the broker's own
checks, with their messages), and whether a filter matches a name is
:func:`~mqttsim.protocol.topics.topic_matches`. This module only adds the
words: *why* a name matches or not, level by level, so a learner can follow
the rule, and :class:`TopicMatcher`, where a filter typed in is refused on
the spot with the core's one-line reason.
"""

from __future__ import annotations

import html
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any

import ipywidgets as widgets  # type: ignore[import-untyped,unused-ignore]

from mqttsim.protocol import ConfigError, ProtocolVersion, Publish, QoS, encode
from mqttsim.protocol.errors import TopicFilterInvalid, TopicNameInvalid
from mqttsim.protocol.properties import Properties
from mqttsim.protocol.topics import (
    parse_shared,
    topic_matches,
    validate_topic_filter,
    validate_topic_name,
)

from .controls import error_html, redraw_on_change
from .wire import TCP_IP_HEADER_BYTES

if TYPE_CHECKING:
    import pandas as pd  # type: ignore[import-untyped,unused-ignore]

__all__ = [
    "ALARMS_WANTED",
    "ALARM_TOPICS",
    "SAMPLE_TOPICS",
    "TCP_IP_HEADER_BYTES",
    "TOPIC_SCHEMES",
    "TopicMatcher",
    "check_filter",
    "explain_match",
    "filter_error",
    "match_table",
    "topic_cost_table",
    "validity_table",
]

SAMPLE_TOPICS = (
    "pipeline/st-07/pressure",
    "pipeline/st-07/temperature",
    "pipeline/st-07/alarm/pressure",
    "pipeline/st-12/pressure",
    "pipeline/st-07",
    "/pipeline/st-07/pressure",
    "Pipeline/st-07/pressure",
    "$SYS/broker/uptime",
)
"""Topic names a filter is tried on: the pipeline's tree and a few traps."""

ALARM_TOPICS = (
    "pipeline/st-01/alarm/pressure",
    "pipeline/st-07/alarm/temperature",
    "pipeline/st-12/alarm/suction_pressure",
    "pipeline/st-07/pressure",
    "pipeline/st-07/status",
    "pipeline/st-07/cmd/valve",
    "pipeline/alarm",
)
"""The topic names of lesson 06's exercise."""
ALARMS_WANTED = ALARM_TOPICS[:3]
"""What the exercise's filter must select among :data:`ALARM_TOPICS`: every alarm."""

TOPIC_SCHEMES: dict[str, str] = {
    "readable (the course's)": "pipeline/{station}/{sensor}",
    "long and descriptive": "acme-oil/trunk-line-1/{type}/{station}/sensors/{sensor}/value",
    "terse codes": "p/{number}/{code}",
}
"""Ways to name the pipeline's readings; ``{station}`` is e.g. ``st-07``,
``{type}`` ``block-valve``, ``{number}`` ``7``, ``{code}`` the sensor's first
letters (``p``, ``t``, ``sp``...)."""


def _level(text: str) -> str:
    return f"{text!r}" + (" (empty)" if text == "" else "")


def filter_error(topic_filter: str) -> str | None:
    """The core's one-line reason why ``topic_filter`` is not a valid filter, or None."""
    return _refusal(validate_topic_filter, topic_filter)


def _name_error(topic_name: str) -> str | None:
    return _refusal(validate_topic_name, topic_name)


def _refusal(validate: Callable[[str], object], text: str) -> str | None:
    try:
        validate(text)
    except (TopicFilterInvalid, TopicNameInvalid) as exc:
        return exc.detail
    return None


def explain_match(topic_filter: str, topic_name: str) -> str:
    """Why ``topic_filter`` matches ``topic_name`` or not, in a few words.

    Both must be valid. The verdict is always :func:`topic_matches`'s; this
    walks the same rules level by level to say which one decided.
    """
    _, inner = parse_shared(topic_filter)
    if topic_name.startswith("$") and inner[:1] in ("+", "#"):
        return "a filter that starts with a wildcard never matches a '$' topic"
    names, levels = topic_name.split("/"), inner.split("/")
    plus: list[str] = []
    for index, level in enumerate(levels):
        if level == "#":
            if index == len(names):
                return "'#' matches the level above it too"
            return f"'#' matches the rest: {'/'.join(names[index:])!r}"
        if index >= len(names):
            return f"the name has {len(names)} levels, the filter {len(levels)}"
        if level == "+":
            plus.append(names[index])
        elif level != names[index]:
            case = " (case matters)" if level.lower() == names[index].lower() else ""
            return f"level {index + 1}: {_level(names[index])} is not {_level(level)}{case}"
    if len(names) != len(levels):
        return f"the name has {len(names)} levels, the filter {len(levels)}"
    if plus:
        return "'+' took " + ", ".join(_level(p) for p in plus)
    return "the same levels"


def match_table(topic_filter: str, topics: Iterable[str] = SAMPLE_TOPICS) -> pd.DataFrame:
    """Which of ``topics`` the filter matches, and why (the core decides).

    Raises:
        ConfigError: the filter is not valid (the core's reason).
    """
    import pandas as pd

    error = filter_error(topic_filter)
    if error is not None:
        raise ConfigError(error)
    rows = []
    for name in topics:
        name_error = _name_error(name)
        if name_error is not None:
            rows.append((name, False, f"not a topic name: {name_error}"))
        else:
            rows.append(
                (name, topic_matches(topic_filter, name), explain_match(topic_filter, name))
            )
    return pd.DataFrame(rows, columns=["topic", "matches", "why"])


def validity_table(texts: Iterable[str]) -> pd.DataFrame:
    """For each string: is it a valid topic name, a valid topic filter? ("ok"
    or the core's reason)."""
    import pandas as pd

    rows = [(t, _name_error(t) or "ok", filter_error(t) or "ok") for t in texts]
    return pd.DataFrame(rows, columns=["text", "as a topic name", "as a topic filter"])


def check_filter(answer: object, wanted: Iterable[str], topics: Iterable[str]) -> None:
    """Print whether the filter ``answer`` selects exactly ``wanted`` among
    ``topics``: ``Correct!``, or ``Not yet: ...`` naming what is wrong."""
    topics = list(topics)
    hint = "one '+' stands for exactly one level; '#' only at the end"
    if answer is None or answer is Ellipsis:
        print(f"Not yet: set `answer` in the cell above, then run both cells. Hint: {hint}")
        return
    if not isinstance(answer, str):
        print(f"Not yet: a topic filter is a string, like 'pipeline/+/status'. Hint: {hint}")
        return
    error = filter_error(answer)
    if error is not None:
        print(f"Not yet: {error}.")
        return
    chosen = {t for t in topics if topic_matches(answer, t)}
    extra = [t for t in topics if t in chosen and t not in set(wanted)]
    missing = [t for t in topics if t in set(wanted) and t not in chosen]
    if not extra and not missing:
        print("Correct!")
        return
    parts = []
    if missing:
        parts.append("it misses " + ", ".join(missing))
    if extra:
        parts.append("it also lets through " + ", ".join(extra))
    print(f"Not yet: {'; '.join(parts)}. Hint: {hint}")


# --- what topics cost -----------------------------------------------------------------------


def _sensor_code(name: str) -> str:
    return "".join(word[0] for word in name.split("_"))


def _topic(scheme: str, station: Any, sensor: Any) -> str:
    return scheme.format(
        station=station.id,
        type=station.type.replace("_", "-"),
        number=int(station.id.split("-")[1]),
        sensor=sensor.name,
        code=_sensor_code(sensor.name),
    )


def _publish_bytes(topic: str, payload: bytes, *, alias: bool = False) -> int:
    """One QoS 0 PUBLISH in MQTT 5 as the core encodes it; with ``alias``
    the topic is sent as a Topic Alias (an empty name and 3 bytes of property)."""
    if alias:
        packet = Publish(
            topic="", payload=payload, qos=QoS(0), properties=Properties(topic_alias=1)
        )
    else:
        packet = Publish(topic=topic, payload=payload, qos=QoS(0))
    return len(encode(packet, ProtocolVersion.V5))


def topic_cost_table(
    schemes: Mapping[str, str] = TOPIC_SCHEMES,
    *,
    price_per_mb_usd: float | None = None,
    topic_alias: bool = True,
) -> pd.DataFrame:
    """What naming the pipeline's readings costs per day on the satellite link.

    Every sensor of every station in ``datasets/pipeline.json`` publishes
    its reading (the nominal value as text) at QoS 0 every ``period_s``
    seconds, each PUBLISH in a TCP segment of its own (TCP/IP headers:
    :data:`TCP_IP_HEADER_BYTES`); the broker's acknowledging TCP segments are
    left out, being the same whatever the topic.

    Args:
        schemes: name -> topic pattern (see :data:`TOPIC_SCHEMES`).
        price_per_mb_usd: the price of a MB (2**20 bytes); by default the
            ``vsat-1999`` link preset's (an estimate, see datasets/README.md).
        topic_alias: add a row for the first scheme with MQTT 5 Topic Aliases
            (the full name once per connection, then a 2-byte alias).

    Returns:
        One row per scheme: an example topic (st-07's pressure), its length,
        the PUBLISH on the wire for it, the pipeline's bytes per day and
        US dollars per day.
    """
    import pandas as pd

    from mqttsim.sim.metrics import MB
    from mqttsim.sim.presets import get_preset, load_pipeline

    price = (
        get_preset("vsat-1999").price_per_mb_usd if price_per_mb_usd is None else price_per_mb_usd
    )
    pipeline = load_pipeline()
    example_station = pipeline.station("st-07")
    rows = []
    variants = [(name, scheme, False) for name, scheme in schemes.items()]
    if topic_alias and schemes:
        first_name, first = next(iter(schemes.items()))
        variants.append((f"{first_name} + MQTT 5 Topic Alias", first, True))
    for name, scheme, alias in variants:
        per_day = 0
        for station in pipeline.stations:
            for sensor in station.sensors:
                payload = f"{sensor.nominal:g}".encode()
                size = _publish_bytes(_topic(scheme, station, sensor), payload, alias=alias)
                per_day += (86400 // sensor.period_s) * (size + TCP_IP_HEADER_BYTES)
        pressure = example_station.sensors[0]
        example = _topic(scheme, example_station, pressure)
        wire = _publish_bytes(example, f"{pressure.nominal:g}".encode(), alias=alias)
        rows.append(
            {
                "naming": name,
                "example (st-07 pressure)": "(alias 1)" if alias else example,
                "topic bytes": 0 if alias else len(example.encode()),
                "bytes on the wire": wire + TCP_IP_HEADER_BYTES,
                "pipeline bytes/day": per_day,
                "US$/day": round(per_day / MB * price, 2),
            }
        )
    return pd.DataFrame(rows)


# --- the widget -----------------------------------------------------------------------------


class TopicMatcher(widgets.VBox):  # type: ignore[misc,unused-ignore]
    """Type a topic filter and some topic names; see which match, and why.

    A filter the core refuses is refused where it is typed: the message line
    under it gives the core's one-line reason, and the table keeps the last
    valid filter's answer, greyed out.

    Attributes:
        topic_filter: the Text widget for the filter.
        topics: the Textarea with the topic names, one per line.
        message: the HTML line under the filter (empty when it is valid).
        table: the HTML table of the topic names.
        result: the last valid answer, as :func:`match_table` gives it.
    """

    def __init__(
        self,
        topic_filter: str = "pipeline/+/pressure",
        topics: Iterable[str] = SAMPLE_TOPICS,
        **kwargs: Any,
    ) -> None:
        self.topic_filter = widgets.Text(
            value=topic_filter, description="filter", continuous_update=True
        )
        self.topics = widgets.Textarea(
            value="\n".join(topics),
            description="topic names",
            layout=widgets.Layout(width="32em", height="11em"),
        )
        self.message = widgets.HTML()
        self.table = widgets.HTML()
        self.result: pd.DataFrame | None = None
        self._drawn = ""
        super().__init__([self.topic_filter, self.message, self.topics, self.table], **kwargs)
        redraw_on_change([self.topic_filter, self.topics], self.show)
        self.show()

    def show(self) -> None:
        """Match the typed filter against the typed names and redraw."""
        names = [line.strip() for line in self.topics.value.splitlines() if line.strip()]
        error = filter_error(self.topic_filter.value)
        if error is not None:
            self.message.value = error_html(f"⚠ {error}")
            self.table.value = f"<div style='opacity:0.4'>{self._drawn}</div>"
            return
        self.message.value = ""
        self.result = match_table(self.topic_filter.value, names)
        self._drawn = _table_html(self.result)
        self.table.value = self._drawn


def _table_html(frame: pd.DataFrame) -> str:
    rows = "".join(
        "<tr>"
        f"<td style='color:{'#2e7d32' if row.matches else '#888'}'>"
        f"{'✓' if row.matches else '✗'}</td>"
        f"<td><code>{html.escape(row.topic)}</code></td>"
        f"<td>{html.escape(row.why)}</td>"
        "</tr>"
        for row in frame.itertuples(index=False)
    )
    return f"<table><tr><th></th><th>topic name</th><th>why</th></tr>{rows}</table>"
