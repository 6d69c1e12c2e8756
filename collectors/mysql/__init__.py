"""MySQL/MariaDB: status metrics, table sizes, statement digests, deadlocks, replication, probes, EXPLAIN.

One module per part, each I/O with the monitored server only (the store is never written here):

* ``target``: target URLs, UTC-session connections, failures in words.
* ``probe``: ``probe(url) -> Probe`` (can we connect and run a query? ``reason`` is ok, unreachable,
  access_denied, unknown_database or error; optionally, can we read digests?); the health check uses
  this same probe.
* ``status``: ``SHOW GLOBAL STATUS`` into gauges and rates; table sizes.
* ``digests``: ``digest_source(url) -> DigestSource`` (``"performance_schema"`` or ``"slow_log"``, or,
  with ``source=None``, a message saying exactly why there is none), normalized text and identity;
  ``slow_log``: the incremental slow-log reader.
* ``deadlocks``, ``replication``: InnoDB's latest deadlock and the replica state as records.
* ``prepared``: ``prepared_statements(conn)``, the server-side prepared statements held now (named,
  not counted: MariaDB fills no counters there; see the module).
* ``explain``: ``explain(url, sql, timeout_s)``, ``EXPLAIN FORMAT=JSON`` of a read-only statement.
* ``collector``: ``MySQLCollector`` keeps state between cycles; ``collect()`` never raises.

``from collectors.mysql import ...`` keeps working for every name below.
"""

from __future__ import annotations

from collectors.mysql.collector import MySQLCollection, MySQLCollector
from collectors.mysql.deadlocks import Deadlock, parse_deadlock
from collectors.mysql.digests import DigestSource, DigestStat, digest_source, normalize_sql, sql_digest
from collectors.mysql.explain import ExplainError, ExplainRefused, explain, read_only_refusal
from collectors.mysql.prepared import PreparedStatement, prepared_statements
from collectors.mysql.probe import Probe, probe
from collectors.mysql.replication import ReplicationState, replication_state
from collectors.mysql.status import MYSQL_METRICS, StatusSample, status_readings
from collectors.mysql.target import Target, parse_target

__all__ = [
    "MYSQL_METRICS",
    "Deadlock",
    "DigestSource",
    "DigestStat",
    "ExplainError",
    "ExplainRefused",
    "MySQLCollection",
    "MySQLCollector",
    "PreparedStatement",
    "Probe",
    "ReplicationState",
    "StatusSample",
    "Target",
    "digest_source",
    "explain",
    "normalize_sql",
    "parse_deadlock",
    "parse_target",
    "prepared_statements",
    "probe",
    "read_only_refusal",
    "replication_state",
    "sql_digest",
    "status_readings",
]
