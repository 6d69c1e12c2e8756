"""Server-side prepared statements from ``performance_schema.prepared_statements_instances``.

Why these are named but not counted as digests (measured on MariaDB 10.11.19, performance_schema
ON, tests/integration/collectors/test_mysql_prepared.py): a statement prepared and executed over the binary
protocol (COM_STMT_PREPARE / COM_STMT_EXECUTE, as sysbench, JDBC ``useServerPrepStmts`` or
mysql-connector's ``prepared=True`` do) gets

* no row in ``events_statements_summary_by_digest``, however often it runs;
* a row here with its ``SQL_TEXT`` and owner thread, but ``COUNT_EXECUTE``, ``SUM_TIMER_EXECUTE`` and
  the row counters stay 0 (only ``Com_stmt_execute`` in SHOW GLOBAL STATUS moves);
* and the row disappears when the statement is closed or its connection ends.

So this table cannot give load (counts or latency) for the top-queries table, only *which*
statements are being run unseen. Where a server does fill the counters (MySQL 8 does, but MySQL 8
also records these executions in the digest summary, so adding them would count them twice) the
figures are reported as they are, never merged into the digests.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from collectors.mysql.digests import normalize_sql, sql_digest
from collectors.mysql.target import fetch_all

__all__ = ["PreparedStatement", "prepared_statements"]

# A server with a connection pool holds thousands of instances; the page shows a handful of shapes.
_MAX_INSTANCES = 5000


@dataclass(frozen=True)
class PreparedStatement:
    """One statement shape held prepared on the server now, summed over the connections holding it."""

    digest: str  # sql_digest of the normalized text: the identity the slow-log source uses too
    digest_text: str
    instances: int  # prepared copies held right now (one per connection, usually)
    executions: int  # COUNT_EXECUTE summed: 0 on MariaDB, which does not fill it
    total_latency_ms: float

    @property
    def counted(self) -> bool:
        """Whether the server counts executions here at all (MariaDB does not)."""
        return self.executions > 0


def prepared_statements(conn: Any) -> list[PreparedStatement]:
    """The prepared statements the server holds now, grouped by normalized text, most held first.

    Raises the driver's error when the table is not readable (performance_schema off, no grant)."""
    rows = fetch_all(
        conn,
        "SELECT SQL_TEXT, COUNT_EXECUTE, SUM_TIMER_EXECUTE"
        " FROM performance_schema.prepared_statements_instances"
        f" WHERE SQL_TEXT IS NOT NULL LIMIT {_MAX_INSTANCES}",
    )
    shapes: dict[str, list[Any]] = {}
    for row in rows:
        text = normalize_sql(str(row["SQL_TEXT"]))
        entry = shapes.setdefault(text, [0, 0, 0])
        entry[0] += 1
        entry[1] += int(row["COUNT_EXECUTE"] or 0)
        entry[2] += int(row["SUM_TIMER_EXECUTE"] or 0)
    found = [
        PreparedStatement(
            digest=sql_digest(text),
            digest_text=text,
            instances=held,
            executions=executions,
            total_latency_ms=timer / 1e9,  # picoseconds, as everywhere in performance_schema
        )
        for text, (held, executions, timer) in shapes.items()
    ]
    return sorted(found, key=lambda stmt: (-stmt.instances, stmt.digest_text))
