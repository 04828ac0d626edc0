"""mqttsim.widgets: what the lessons show, as functions and ipywidgets.

Everything a notebook needs beyond a line or two lives here, with tests, so
that lesson cells stay short:

* :func:`inspect_packet` and :class:`PacketInspector`: the bytes of a packet,
  field by field;
* :func:`record_exchange`: one publish -> broker -> subscriber exchange of the
  real protocol core, recorded packet by packet on a fake clock;
* :func:`plot_sequence` and :class:`SequenceExplorer`: the message-sequence
  chart of such an exchange;
* :class:`Timeline`: the broker core and its clients on a fake clock, for
  what takes minutes (wills, session expiry, keep-alive);
* :func:`will_delay_story` (lesson 04), :func:`offline_story` and
  :class:`QueueExplorer` (lesson 05): wills, sessions and offline queues;
* :func:`match_table`, :func:`validity_table`, :func:`topic_cost_table` and
  :class:`TopicMatcher` (lesson 06): topic names, filters and their cost;
* :func:`keepalive_story`, :func:`plot_keepalive`, :func:`detection_table`,
  :func:`ping_cost_table` and :class:`KeepAliveExplorer` (lesson 07);
* :func:`compare_qos`, :func:`plot_qos_comparison` and :class:`QosExplorer`:
  the pipeline scenario at QoS 0, 1 and 2 side by side (the trade-off explorer);
* :func:`latency_runs`, :func:`plot_latency_cdf`, :func:`plot_outage` and
  :class:`SatLinkExplorer`: the satellite link's delay, loss and outages, and
  what TCP makes of them (lesson 08);
* :func:`lesson_config`, :func:`alarm_table`, :func:`byte_budget` and the rest
  of :mod:`.pipeline_view`: the 1999 pipeline scenario read as tables, a
  latency figure and a bill (lesson 09);
* :func:`connect_bytes`, :func:`tls_flights`, :func:`tls_cost_table` and
  :func:`acl_table`: cleartext passwords, what TLS costs on a satellite link,
  and a mosquitto-format ACL on a live broker (lesson 11);
* :func:`reason_code_table`, :func:`expiry_table`,
  :func:`shared_subscription_table`, :func:`user_properties_table` and
  :func:`topic_alias_table`: MQTT 5 against 3.1.1, on the real cores and a
  fake clock (lesson 12);
* :func:`check`: the self-check of an exercise;
* :func:`lesson_broker`: the live broker of a lesson, mqttsim's own or the
  one the environment variable ``MQTTSIM_BROKER`` names.

This package imports ipywidgets, pandas and matplotlib; nothing else in
``mqttsim`` imports it.
"""

from __future__ import annotations

from .broker import LessonBroker, lesson_broker
from .exchange import TraceRow, exchange_frame, record_exchange
from .exercises import check, remaining_length_size
from .explorer import (
    QosExplorer,
    QosRuns,
    compare_qos,
    explorer_config,
    format_outages,
    outage_fate,
    parse_outages,
    plot_qos_comparison,
    qos_table,
    run_qos,
)
from .inspector import PacketInspector, inspect_packet, parse_hex, remaining_length_table
from .keepalive import (
    KeepAliveExplorer,
    detection_table,
    keepalive_story,
    ping_cost_table,
    plot_keepalive,
)
from .mqtt5 import (
    alias_saving,
    expiry_table,
    reason_code_table,
    shared_subscription_table,
    topic_alias_table,
    user_properties_table,
)
from .pipeline_view import (
    alarm_table,
    byte_budget,
    command_table,
    last_known_values,
    lesson_config,
    line_table,
    mb_per_day,
    plot_pipeline_latency,
    qos_cost_table,
    station_events,
    traffic_table,
)
from .satlink import (
    SatLinkExplorer,
    backoff_schedule,
    first_retry_after,
    geo_hop_table,
    latency_runs,
    latency_summary,
    outage_table,
    outage_trace,
    plot_latency_cdf,
    plot_outage,
    serialisation_table,
)
from .security import (
    LESSON_ACL,
    Attempt,
    acl_table,
    connect_bytes,
    hex_dump,
    lesson_acl,
    lesson_password_file,
    password_file_table,
    tls_capture,
    tls_cost_table,
    tls_flights,
)
from .sequence import SequenceExplorer, plot_sequence
from .sessions import OfflineResult, QueueExplorer, offline_story
from .timeline import Timeline, will_message
from .topics import (
    TopicMatcher,
    check_filter,
    explain_match,
    match_table,
    topic_cost_table,
    validity_table,
)
from .wills import will_delay_story, will_heard_after

__all__ = [
    "LessonBroker",
    "lesson_broker",
    "Timeline",
    "will_message",
    "will_delay_story",
    "will_heard_after",
    "OfflineResult",
    "offline_story",
    "QueueExplorer",
    "TopicMatcher",
    "check_filter",
    "explain_match",
    "match_table",
    "topic_cost_table",
    "validity_table",
    "KeepAliveExplorer",
    "detection_table",
    "keepalive_story",
    "ping_cost_table",
    "plot_keepalive",
    "TraceRow",
    "record_exchange",
    "exchange_frame",
    "plot_sequence",
    "SequenceExplorer",
    "inspect_packet",
    "parse_hex",
    "remaining_length_table",
    "PacketInspector",
    "check",
    "remaining_length_size",
    "QosExplorer",
    "QosRuns",
    "compare_qos",
    "explorer_config",
    "format_outages",
    "outage_fate",
    "parse_outages",
    "plot_qos_comparison",
    "qos_table",
    "run_qos",
    "SatLinkExplorer",
    "backoff_schedule",
    "first_retry_after",
    "geo_hop_table",
    "latency_runs",
    "latency_summary",
    "outage_table",
    "outage_trace",
    "plot_latency_cdf",
    "plot_outage",
    "serialisation_table",
    "alarm_table",
    "byte_budget",
    "command_table",
    "last_known_values",
    "lesson_config",
    "line_table",
    "mb_per_day",
    "plot_pipeline_latency",
    "qos_cost_table",
    "station_events",
    "traffic_table",
    "LESSON_ACL",
    "Attempt",
    "acl_table",
    "connect_bytes",
    "hex_dump",
    "lesson_acl",
    "lesson_password_file",
    "password_file_table",
    "tls_capture",
    "tls_cost_table",
    "tls_flights",
    "alias_saving",
    "expiry_table",
    "reason_code_table",
    "shared_subscription_table",
    "topic_alias_table",
    "user_properties_table",
]
