"""EXPLAIN: refuse anything that is not one read-only SELECT, then ``EXPLAIN FORMAT=JSON`` it with a
server-side timeout."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pymysql

from collectors.mysql.digests import TOKEN
from collectors.mysql.target import connect, describe_failure, error_code, fetch_all, flavour, parse_target

__all__ = ["ExplainError", "ExplainRefused", "explain", "read_only_refusal"]


class ExplainRefused(ValueError):
    """The statement is not one Vitals will EXPLAIN (not read-only, several statements, placeholders)."""


class ExplainError(RuntimeError):
    """EXPLAIN ran but failed: timeout, syntax error, missing table, unreachable server."""


_READ_ONLY_FIRST = {"select", "with"}
_WRITE_WORDS = {"insert", "update", "delete", "replace", "into", "create", "drop", "alter", "truncate",
                "grant", "revoke", "set", "call", "load", "handler", "lock", "unlock", "rename"}  # fmt: skip


_LOCKING_READ = re.compile(r"\bfor (?:update|share)\b|\block in share mode\b")


def _code_tokens(sql: str) -> Iterator[tuple[str, str]]:
    """(kind, text) of the tokens outside comments; strings and quoted identifiers come as one token."""
    for match in TOKEN.finditer(sql):
        kind = match.lastgroup or "other"
        if kind not in {"comment", "space"}:
            yield kind, match.group()


def read_only_refusal(sql: str) -> str | None:
    """None when ``sql`` is one read-only SELECT (or WITH ... SELECT) with real values; else why not."""
    tokens = list(_code_tokens(sql))
    while tokens and tokens[-1] == ("other", ";"):
        tokens.pop()
    if not tokens:
        return "refused: the statement is empty"
    if ("other", ";") in tokens:
        return "refused: only one statement can be explained, this text holds several"
    # Locking reads are harmless under EXPLAIN (nothing runs), so their UPDATE/SHARE words are allowed.
    words = _LOCKING_READ.sub(" ", " ".join(text.lower() for kind, text in tokens if kind == "word")).split()
    first = next((text.lower() for kind, text in tokens if kind == "word"), "")
    if first not in _READ_ONLY_FIRST:
        return f"refused: only read-only SELECT statements are explained, not {first.upper() or 'this'}"
    writes = sorted(_WRITE_WORDS.intersection(words))
    if writes:
        return (
            f"refused: only read-only SELECT statements are explained; this one contains {writes[0].upper()}"
        )
    if ("other", "?") in tokens:
        return "refused: the statement has ? placeholders (a normalized digest); EXPLAIN needs a sample with real values"
    return None


def explain(url: str, sql: str, timeout_s: float = 5.0, schema: str | None = None) -> str:
    """``EXPLAIN FORMAT=JSON`` of one read-only statement, killed by the server after ``timeout_s``.

    Returns the plan as JSON text. Raises ``ExplainRefused`` before connecting when the statement is
    not a single read-only SELECT, and ``ExplainError`` (with the reason) when EXPLAIN fails.
    """
    refusal = read_only_refusal(sql)
    if refusal is not None:
        raise ExplainRefused(refusal)
    if timeout_s <= 0:
        raise ValueError("timeout_s: must be greater than zero")
    target = parse_target(url)
    statement = sql.strip().rstrip(";").strip()
    try:
        conn = connect(target, read_timeout_s=timeout_s + 5)
    except Exception as exc:
        raise ExplainError(describe_failure(exc, target)[1]) from None
    try:
        if schema:
            conn.select_db(schema)
        version = fetch_all(conn, "SELECT VERSION() AS v")[0]["v"]
        rows = fetch_all(conn, _explain_statement(statement, version, timeout_s))
    except pymysql.err.MySQLError as exc:
        if error_code(exc) in {1969, 3024, 1317}:
            raise ExplainError(f"EXPLAIN took longer than {timeout_s:g} s and was stopped") from None
        raise ExplainError(f"EXPLAIN failed: {exc.args[-1]}") from None
    finally:
        conn.close()
    return str(next(iter(rows[0].values())))


def _explain_statement(statement: str, version: str, timeout_s: float) -> str:
    if flavour(version) == "MariaDB":
        return f"SET STATEMENT max_statement_time={timeout_s:g} FOR EXPLAIN FORMAT=JSON {statement}"
    hinted = re.sub(r"^(\s*(?:with\b.*?\)\s*)?select\b)", rf"\1 /*+ MAX_EXECUTION_TIME({int(timeout_s * 1000)}) */", statement, count=1, flags=re.IGNORECASE | re.DOTALL)  # fmt: skip
    return f"EXPLAIN FORMAT=JSON {hinted}"
