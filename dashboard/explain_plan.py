"""EXPLAIN FORMAT=JSON (MariaDB and MySQL) as a flat list of plan nodes an operator can read, with
the costly parts (full scans, filesorts, temporary tables, missing indexes) flagged and explained.

Pure functions on the JSON text: the Database page and the REST API render the same findings.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any

__all__ = ["Finding", "PlanNode", "plan_nodes", "read_plan"]


@dataclass(frozen=True)
class Finding:
    """One costly step: ``kind`` is full_scan, index_scan, missing_index, filesort or temporary."""

    kind: str
    table: str | None
    why: str


@dataclass
class PlanNode:
    """One step of the plan, in execution order; ``depth`` is its nesting under subqueries/joins."""

    depth: int
    operation: str
    table: str | None = None
    access_type: str | None = None
    possible_keys: str | None = None
    key: str | None = None
    rows: float | None = None
    filtered: float | None = None
    extra: str = ""
    findings: list[Finding] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


_FILESORT_WHY = (
    "Filesort: the rows are sorted after they are read, in memory or on disk when there are many; "
    "an index whose columns match the ORDER BY lets the server read them already in order."
)
_TEMPORARY_WHY = (
    "Temporary table: intermediate rows (GROUP BY, DISTINCT, UNION or a derived table) are stored "
    "first, on disk once they outgrow tmp_table_size; an index matching the GROUP BY can avoid it."
)


def read_plan(plan_json: str) -> dict[str, Any]:
    """``{"nodes": [...], "findings": [...]}`` for a stored plan; ``{"error": ...}`` if it is not JSON."""
    try:
        document = json.loads(plan_json)
    except (TypeError, ValueError):
        return {"nodes": [], "findings": [], "error": "the stored plan is not valid JSON"}
    nodes = plan_nodes(document)
    findings = [asdict(finding) for node in nodes for finding in node.findings]
    return {"nodes": [node.as_dict() for node in nodes], "findings": findings}


def plan_nodes(document: Any) -> list[PlanNode]:
    """Every table access and sort/temporary step of a parsed EXPLAIN FORMAT=JSON document."""
    nodes: list[PlanNode] = []
    _walk(document, 0, nodes)
    return nodes


def _walk(value: Any, depth: int, nodes: list[PlanNode]) -> None:
    if isinstance(value, list):
        for item in value:
            _walk(item, depth, nodes)
        return
    if not isinstance(value, dict):
        return
    if value.get("using_filesort") is True or "filesort" in value:
        nodes.append(PlanNode(depth, "filesort", extra=_text(value.get("sort_key")), findings=[Finding("filesort", None, _FILESORT_WHY)]))  # fmt: skip
    if value.get("using_temporary_table") is True or "temporary_table" in value:
        nodes.append(
            PlanNode(depth, "temporary table", findings=[Finding("temporary", None, _TEMPORARY_WHY)])
        )
    for key, child in value.items():
        if key == "table" and isinstance(child, dict):
            nodes.append(_table_node(child, depth))
            _walk({k: v for k, v in child.items() if isinstance(v, dict | list)}, depth + 1, nodes)
        elif key in {"query_block", "subqueries", "materialized", "query_specifications", "union_result"}:
            _walk(child, depth + 1, nodes)
        elif isinstance(child, dict | list):
            _walk(child, depth, nodes)


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, list):
        return ", ".join(str(item) for item in value)
    return str(value)


def _table_node(table: dict[str, Any], depth: int) -> PlanNode:
    name = table.get("table_name")
    access = table.get("access_type")
    rows = table.get("rows", table.get("rows_examined_per_scan"))
    possible = _text(table.get("possible_keys")) or None
    extra = [part for part in (
        f"where: {table['attached_condition']}" if table.get("attached_condition") else "",
        "using index" if table.get("using_index") else "",
        str(table["message"]) if table.get("message") else "",
    ) if part]  # fmt: skip
    node = PlanNode(
        depth,
        "table",
        table=name,
        access_type=access,
        possible_keys=possible,
        key=table.get("key"),
        rows=float(rows) if isinstance(rows, int | float) else None,
        filtered=float(table["filtered"]) if isinstance(table.get("filtered"), int | float) else None,
        extra="; ".join(extra),
    )
    shown = f"`{name}`" if name else "a table"
    count = f" (about {int(node.rows):,} rows)" if node.rows is not None else ""
    if access == "ALL":
        node.findings.append(
            Finding(
                "full_scan",
                name,
                f"Full table scan of {shown}{count}: every row is read on each execution, so the cost "
                "grows with the table; an index on the columns in WHERE or the join lets the server "
                "read only the matching rows.",
            )
        )
        if not possible:
            node.findings.append(
                Finding(
                    "missing_index",
                    name,
                    f"No usable index on {shown}: none of its indexes fits this statement's conditions "
                    "(possible_keys is empty); add one on the filtered or joined columns.",
                )
            )
    elif access == "index":
        node.findings.append(
            Finding(
                "index_scan",
                name,
                f"Full index scan of {shown}{count}: the whole index is read rather than a range of it; "
                "cheaper than a table scan, but it still grows with the table.",
            )
        )
    return node
