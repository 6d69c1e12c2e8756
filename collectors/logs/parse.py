"""Log line parsers: JSON lines, Python ``logging``, syslog (RFC 3164/5424), nginx/Apache access logs,
MariaDB/MySQL error logs, Redis server logs, Celery worker logs, and ``key=value`` fields in plain text.

Pure functions, no I/O: ``parse_lines`` turns raw lines into ``LogRecord`` tuples ready for the store.
They are on the ingest hot path (target: >= 50,000 lines/s parsed *and* stored on SQLite), so each
line is routed by its first character to at most a few pre-compiled regexes, and timestamps that
repeat (every line of the same second) are converted once and cached.

A line no parser recognises is kept as a raw message at level ``info``: a log collector that drops
what it does not understand hides exactly the lines someone will be looking for.
"""

from __future__ import annotations

import gc
import json
import math
import re
import time
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta, timezone
from functools import lru_cache
from typing import Any, NamedTuple

from collectors.logs.mask import mask_context, mask_text

__all__ = ["LEVELS", "LogRecord", "normalize_level", "parse_line", "parse_lines", "parse_timestamp"]

LEVELS = ("debug", "info", "notice", "warning", "error", "critical", "alert", "emergency")


class LogRecord(NamedTuple):
    """One parsed log entry. A plain tuple in the store's column order, so it goes to the driver as is."""

    ts: int  # epoch milliseconds
    level: str  # one of LEVELS
    channel: str | None  # logger name, syslog app name, "access"...
    message: str
    context: dict[str, Any] | None
    request_id: str | None
    # Where the entry starts in its file (the tailer fills them in): context lines come from these.
    inode: int | None = None
    offset: int | None = None


# --- levels ------------------------------------------------------------------------------------

_LEVEL_NAMES: dict[str, str] = {name: name for name in LEVELS}
_LEVEL_NAMES.update(
    {
        "trace": "debug",
        "verbose": "debug",
        "dbg": "debug",
        "information": "info",
        "informational": "info",
        "inf": "info",
        "warn": "warning",
        "wrn": "warning",
        "err": "error",
        "eror": "error",
        "crit": "critical",
        "fatal": "critical",
        "severe": "critical",
        "emerg": "emergency",
        "panic": "emergency",
    }
)
# The spellings seen in practice, looked up before any strip()/lower() work.
_LEVEL_NAMES.update({name.upper(): level for name, level in list(_LEVEL_NAMES.items())})
_LEVEL_NAMES.update({name.capitalize(): level for name, level in list(_LEVEL_NAMES.items())})
# Syslog severities 0..7.
_SYSLOG_SEVERITY = ("emergency", "alert", "critical", "error", "warning", "notice", "info", "debug")
# Numeric levels as bunyan/pino write them (the usual producers of numeric JSON levels).
_NUMERIC_LEVELS = ((60, "critical"), (50, "error"), (40, "warning"), (30, "info"), (0, "debug"))


def normalize_level(value: object, default: str = "info") -> str:
    """A level name from any common spelling: ``WARN``, ``err``, ``FATAL``, syslog 0-7, pino 10-60."""
    if isinstance(value, str):
        found = _LEVEL_NAMES.get(value) or _LEVEL_NAMES.get(value.strip().lower())
        if found is not None:
            return found
        if value.strip().isdecimal():  # not isdigit(): "²" is a digit that int() refuses
            return normalize_level(int(value.strip()), default)
        return default
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return default
    number = int(value)
    if 0 <= number <= 7:
        return _SYSLOG_SEVERITY[number]
    return next(name for floor, name in _NUMERIC_LEVELS if number >= floor) if number > 0 else default


# --- timestamps --------------------------------------------------------------------------------

_MONTHS = {
    name: index
    for index, name in enumerate(
        ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"), start=1
    )
}


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def _epoch_number_ms(value: float) -> int:
    """Epoch seconds, milliseconds, microseconds or nanoseconds, told apart by magnitude."""
    magnitude = abs(value)
    if magnitude < 1e11:
        return round(value * 1000)
    if magnitude < 1e14:
        return round(value)
    if magnitude < 1e17:
        return int(value // 1000)
    return int(value // 1_000_000)


@lru_cache(maxsize=8192)
def _iso_ms(text: str) -> int | None:
    """ISO 8601 (also with a space, a comma before the fraction, or ``Z``) -> epoch ms; naive = UTC."""
    try:
        moment = datetime.fromisoformat(text.replace(",", ".", 1))
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp() * 1000 + 0.5) if moment.microsecond else int(moment.timestamp()) * 1000


def parse_timestamp(value: object) -> int | None:
    """Epoch ms from an ISO 8601 string or an epoch number; None when it is neither."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        # JSON allows NaN and Infinity (Python's json reads them): not a time, not a crash.
        return _epoch_number_ms(value) if math.isfinite(value) else None
    if isinstance(value, str) and value:
        if value[0].isdigit() and len(value) >= 10 and value[4] == "-":
            return _iso_ms(value)
        try:
            number = float(value)
        except ValueError:
            return None
        return _epoch_number_ms(number) if math.isfinite(number) else None
    return None


@lru_cache(maxsize=4096)
def _clf_ms(text: str) -> int | None:
    """``10/Oct/2000:13:55:36 -0700`` (access logs) -> epoch ms."""
    try:
        day, month, year = int(text[0:2]), _MONTHS[text[3:6]], int(text[7:11])
        hour, minute, second = int(text[12:14]), int(text[15:17]), int(text[18:20])
        offset = _utc_offset(text[21:26]) if len(text) >= 26 else UTC
        moment = datetime(year, month, day, hour, minute, second, tzinfo=offset)
    except (KeyError, ValueError):
        return None
    return int(moment.timestamp()) * 1000


def _utc_offset(text: str) -> timezone:
    sign = -1 if text[0] == "-" else 1
    return timezone(sign * timedelta(hours=int(text[1:3]), minutes=int(text[3:5])))


@lru_cache(maxsize=4096)
def _bsd_ms(text: str, year: int) -> int | None:
    """``Jan  2 15:04:05`` (RFC 3164, no year, local time of the sender; read as UTC) -> epoch ms."""
    try:
        month, day = _MONTHS[text[0:3]], int(text[4:6])
        hour, minute, second = int(text[7:9]), int(text[10:12]), int(text[13:15])
        return int(datetime(year, month, day, hour, minute, second, tzinfo=UTC).timestamp()) * 1000
    except (KeyError, ValueError):
        return None


def _bsd_with_year(text: str, now: int) -> int | None:
    # No year in RFC 3164: this year, unless that is in the future (a December line read in January).
    year = datetime.fromtimestamp(now / 1000, UTC).year
    found = _bsd_ms(text, year)
    if found is not None and found > now + 86_400_000:
        found = _bsd_ms(text, year - 1)
    return found


# --- JSON lines --------------------------------------------------------------------------------

_JSON_LEVEL_KEYS = ("level", "levelname", "severity", "lvl", "log.level")
_JSON_MESSAGE_KEYS = ("message", "msg", "@message")
_JSON_CHANNEL_KEYS = ("logger", "channel", "name", "logger_name", "log.logger")
_JSON_TIME_KEYS = ("timestamp", "time", "@timestamp", "ts", "asctime")
_JSON_REQUEST_KEYS = ("request_id", "requestId", "trace_id", "traceId", "req_id")
_JSON_TRACEBACK_KEYS = ("exc_info", "exception", "stack_trace", "stack")


# Every known key -> the field it fills, and its rank in that field's list (the first present wins).
_JSON_FIELD: dict[str, str] = {}
_JSON_RANK: dict[str, int] = {}
for _name, _keys in (
    ("level", _JSON_LEVEL_KEYS),
    ("message", _JSON_MESSAGE_KEYS),
    ("channel", _JSON_CHANNEL_KEYS),
    ("ts", _JSON_TIME_KEYS),
    ("request_id", _JSON_REQUEST_KEYS),
):
    for _rank, _key in enumerate(_keys):
        _JSON_FIELD[_key], _JSON_RANK[_key] = _name, _rank
_JSON_KNOWN = frozenset(_JSON_FIELD)


def _known_fields(data: dict[str, Any]) -> dict[str, Any]:
    """Pop the known keys out of ``data``: field name -> value (a C-level set intersection finds them)."""
    fields: dict[str, Any] = {}
    for key in sorted(_JSON_KNOWN.intersection(data), key=_JSON_RANK.__getitem__):
        fields.setdefault(_JSON_FIELD[key], data.pop(key))
    return fields


def _parse_json(line: str, now: int) -> LogRecord | None:
    try:
        data = json.loads(line)
    except ValueError:
        return None
    if not isinstance(data, dict):
        return None
    fields = _known_fields(data)
    message = fields.get("message")
    channel = fields.get("channel")
    request_id = fields.get("request_id")
    text = line if message is None else message if isinstance(message, str) else json.dumps(message)
    for key in _JSON_TRACEBACK_KEYS:  # tracebacks belong to the searchable message
        if key in data and isinstance(data[key], str) and data[key]:
            text = f"{text}\n{data.pop(key)}"
    return LogRecord(
        parse_timestamp(fields.get("ts")) or now,
        normalize_level(fields.get("level")),
        None if channel is None else str(channel),
        text,
        data or None,
        None if request_id is None else str(request_id),
    )


# --- Python logging ----------------------------------------------------------------------------

_PY_LEVEL = r"DEBUG|INFO|NOTICE|WARNING|WARN|ERROR|CRITICAL|FATAL|TRACE"
_ISO_TIME = r"\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}:\d{2}(?:[.,]\d+)?(?:Z|[+-]\d{2}:?\d{2})?"
# %(levelname)s:%(name)s:%(message)s  (logging.basicConfig's default)
_PY_BASIC = re.compile(rf"({_PY_LEVEL}):([^:\s]*):(.*)", re.DOTALL)
_ISO_PREFIX = re.compile(rf"({_ISO_TIME})\s+(.*)", re.DOTALL)
# %(asctime)s - %(name)s - %(levelname)s - %(message)s
_PY_DASHED = re.compile(rf"-\s+(\S+)\s+-\s+({_PY_LEVEL})\s+-\s?(.*)", re.DOTALL)
# %(asctime)s %(levelname)s %(name)s: %(message)s, also [LEVEL], also without the name
_PY_LEVEL_FIRST = re.compile(rf"\[?({_PY_LEVEL})\]?:?\s+(?:([\w.\-<>]+):\s)?(.*)", re.DOTALL)
# Celery: [2024-01-02 03:04:05,123: INFO/MainProcess] message
_CELERY = re.compile(rf"\[({_ISO_TIME}):\s*({_PY_LEVEL})/([^\]]*)\]\s?(.*)", re.DOTALL)


def _parse_python_basic(line: str, now: int) -> LogRecord | None:
    found = _PY_BASIC.match(line)
    if found is None:
        return None
    level, channel, message = found.groups()
    return LogRecord(now, normalize_level(level), channel or None, message, None, None)


def _parse_iso_prefixed(line: str, now: int) -> LogRecord | None:
    """Lines that start with an ISO time: Python's asctime formats, else RFC 3339 syslog files."""
    found = _ISO_PREFIX.match(line)
    if found is None:
        return None
    stamp, rest = found.groups()
    ts = _iso_ms(stamp) or now
    dashed = _PY_DASHED.match(rest)
    if dashed is not None:
        channel, level, message = dashed.groups()
        return LogRecord(ts, normalize_level(level), channel, message, None, None)
    level_first = _PY_LEVEL_FIRST.match(rest)
    if level_first is not None:
        level, channel, message = level_first.groups()
        return LogRecord(ts, normalize_level(level), channel, message, None, None)
    return _syslog_body(rest, ts, "info", None)


# Celery task lines: "Task tasks.add[<uuid>] succeeded in 0.01s: 3", and the default
# worker_task_log_format "tasks.add[<uuid>]: message".
_CELERY_TASK = re.compile(r"(?:Task )?([\w.:-]+)\[([0-9a-fA-F-]{36})\]:?\s?")
_CELERY_OUTCOME = re.compile(r"(received|succeeded|retry|raised unexpected|failed|revoked|rejected)\b")
_CELERY_RUNTIME = re.compile(r"succeeded in ([\d.]+)s")


def _parse_celery(line: str, now: int) -> LogRecord | None:
    """Celery worker logs; a task's id becomes the request id, so one filter finds all its lines."""
    found = _CELERY.match(line)
    if found is None:
        return None
    stamp, level, process, message = found.groups()
    context: dict[str, Any] = {"process": process}
    request_id = None
    task = _CELERY_TASK.search(message, 0, 200)
    if task is not None:
        context["task"], request_id = task.group(1), task.group(2)
        outcome = _CELERY_OUTCOME.match(message, task.end())
        if outcome is not None:
            context["outcome"] = outcome.group(1)
        runtime = _CELERY_RUNTIME.search(message, task.end())
        if runtime is not None:
            context["runtime_ms"] = round(float(runtime.group(1)) * 1000, 3)
    return LogRecord(_iso_ms(stamp) or now, normalize_level(level), "celery", message, context, request_id)


# --- MariaDB / MySQL error log -----------------------------------------------------------------

# MariaDB: "2024-01-15  9:03:01 12 [Warning] Aborted connection ..." (the hour is space-padded),
# MySQL 8: "2024-01-15T10:23:45.123456Z 0 [Warning] [MY-010068] [Server] message",
# old servers: "240115  9:03:01 [ERROR] mysqld: ...".
_MYSQL = re.compile(
    r"(\d{4}-\d{2}-\d{2}[ T] ?\d{1,2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:\d{2})?|\d{6} +\d{1,2}:\d{2}:\d{2})"
    r" +(?:(\d+) +)?\[(Note|Warning|ERROR|Error|System|Info|Debug|Critical)\] +"
    r"(?:\[(MY-\d+)\] +)?(?:\[(\w+)\] +)?(.*)",
    re.DOTALL,
)
_MYSQL_LEVELS = {"Note": "info", "System": "info", "Info": "info", "Warning": "warning", "ERROR": "error",
                 "Error": "error", "Debug": "debug", "Critical": "critical"}  # fmt: skip
# "InnoDB: Buffer pool ..." -> the subsystem is the channel.
_MYSQL_SUBSYSTEM = re.compile(r"([A-Za-z][\w-]{1,20}): ")


@lru_cache(maxsize=4096)
def _mysql_ms(stamp: str) -> int | None:
    text = stamp.replace("T", " ")
    if text[4] != "-":  # YYMMDD
        text = f"20{text[0:2]}-{text[2:4]}-{text[4:6]} {text[6:].strip()}"
    day, _, clock = text.partition(" ")
    clock = clock.strip()
    if len(clock) > 1 and clock[1] == ":":
        clock = "0" + clock
    return _iso_ms(f"{day} {clock}")


def _parse_mysql(line: str, now: int) -> LogRecord | None:
    found = _MYSQL.match(line)
    if found is None:
        return None
    stamp, thread, level, code, subsystem, message = found.groups()
    context: dict[str, Any] = {}
    if thread is not None:
        context["thread"] = int(thread)
    if code is not None:
        context["code"] = code
    channel = subsystem
    if channel is None:
        prefix = _MYSQL_SUBSYSTEM.match(message)
        channel = prefix.group(1) if prefix is not None else "mysqld"
    return LogRecord(_mysql_ms(stamp) or now, _MYSQL_LEVELS[level], channel, message, context or None, None)


# --- Redis server log --------------------------------------------------------------------------

# "12345:M 02 Jan 2024 03:04:05.123 * Ready to accept connections tcp"
_REDIS = re.compile(
    r"(\d+):([XCSM]) (\d{2} [A-Z][a-z]{2} \d{4} \d{2}:\d{2}:\d{2}(?:\.\d{1,6})?) ([.\-*#]) (.*)", re.DOTALL
)
# Redis' own markers: . debug, - verbose, * notice, # warning.
_REDIS_LEVELS = {".": "debug", "-": "debug", "*": "notice", "#": "warning"}
_REDIS_ROLES = {"X": "sentinel", "C": "child", "S": "replica", "M": "master"}


@lru_cache(maxsize=4096)
def _redis_ms(stamp: str) -> int | None:
    try:
        day, month, year = int(stamp[0:2]), _MONTHS[stamp[3:6]], int(stamp[7:11])
        hour, minute, second = int(stamp[12:14]), int(stamp[15:17]), int(stamp[18:20])
        fraction = stamp[21:]
        micro = int((fraction + "000000")[:6]) if fraction else 0
        moment = datetime(year, month, day, hour, minute, second, micro, tzinfo=UTC)
    except (KeyError, ValueError):
        return None
    return int(moment.timestamp() * 1000 + 0.5)


def _parse_redis(line: str, now: int) -> LogRecord | None:
    """Redis' own time (not the ingestion time) and its level marker."""
    found = _REDIS.match(line)
    if found is None:
        return None
    pid, role, stamp, marker, message = found.groups()
    context = {"pid": int(pid), "role": _REDIS_ROLES[role]}
    return LogRecord(_redis_ms(stamp) or now, _REDIS_LEVELS[marker], "redis", message, context, None)


# --- key=value fields --------------------------------------------------------------------------

_KV_PAIR = re.compile(r'(?<![\w.-])([A-Za-z_][\w.-]{0,63})=("(?:[^"\\]|\\.)*"|[^\s,;]+)')
_KV_REQUEST_KEYS = frozenset(
    ("request_id", "requestid", "rid", "req_id", "trace_id", "traceid", "x_request_id")
)
_KV_MAX_FIELDS = 32


def _with_key_values(record: LogRecord) -> LogRecord:
    """``key=value`` pairs of a plain-text message as context fields (the request id as its column)."""
    pairs = _KV_PAIR.findall(record.message, 0, 4096)
    if not pairs:
        return record
    context = dict(record.context) if record.context else {}
    request_id = record.request_id
    for key, value in pairs[:_KV_MAX_FIELDS]:
        if value[:1] == '"':
            value = value[1:-1]
        if request_id is None and key.lower() in _KV_REQUEST_KEYS:
            request_id = value
        else:
            context.setdefault(key, value)
    return record._replace(context=context or None, request_id=request_id)


# --- syslog ------------------------------------------------------------------------------------

# HOSTNAME TAG[PID]: MSG   (the part after the timestamp; TAG and PID are optional in practice)
_SYSLOG_BODY = re.compile(r"(\S+)\s+([^\s:\[]+)(?:\[([^\]]*)\])?:\s?(.*)", re.DOTALL)
_RFC3164 = re.compile(r"<(\d{1,3})>([A-Z][a-z]{2} [ \d]\d \d{2}:\d{2}:\d{2})\s+(.*)", re.DOTALL)
_BSD_PREFIX = re.compile(r"([A-Z][a-z]{2} [ \d]\d \d{2}:\d{2}:\d{2})\s+(.*)", re.DOTALL)
# <PRI>VERSION TIMESTAMP HOSTNAME APP-NAME PROCID MSGID STRUCTURED-DATA [MSG]
_RFC5424 = re.compile(
    r"<(\d{1,3})>(\d{1,2}) (\S+) (\S+) (\S+) (\S+) (\S+) (-|\[.*?(?<!\\)\](?=\s|$))(?: (.*))?", re.DOTALL
)
_SD_ELEMENT = re.compile(r'\[([^\s\]]+)((?:\s+[^=\s\]]+="(?:[^"\\]|\\.)*")*)\s*\]')
_SD_PARAM = re.compile(r'([^=\s\]]+)="((?:[^"\\]|\\.)*)"')
_SD_UNESCAPE = re.compile(r'\\([\\"\]])')
_FACILITIES = (
    "kern", "user", "mail", "daemon", "auth", "syslog", "lpr", "news", "uucp", "cron", "authpriv", "ftp",
    "ntp", "security", "console", "solaris-cron",
    "local0", "local1", "local2", "local3", "local4", "local5", "local6", "local7",
)  # fmt: skip


def _priority(text: str) -> tuple[str, str]:
    """(level, facility) from a syslog PRI value."""
    value = int(text)
    facility = value >> 3
    return _SYSLOG_SEVERITY[value & 7], _FACILITIES[facility] if facility < len(_FACILITIES) else str(
        facility
    )


def _syslog_body(rest: str, ts: int, level: str, facility: str | None) -> LogRecord:
    body = _SYSLOG_BODY.match(rest)
    context: dict[str, Any] = {} if facility is None else {"facility": facility}
    if body is None:
        return LogRecord(ts, level, None, rest, context or None, None)
    host, tag, pid, message = body.groups()
    context["host"] = host
    if pid:
        context["pid"] = pid
    return LogRecord(ts, level, tag, message, context, None)


def _parse_rfc3164(line: str, now: int) -> LogRecord | None:
    found = _RFC3164.match(line)
    if found is None:
        return None
    pri, stamp, rest = found.groups()
    level, facility = _priority(pri)
    return _syslog_body(rest, _bsd_with_year(stamp, now) or now, level, facility)


def _parse_bsd_without_priority(line: str, now: int) -> LogRecord | None:
    """``/var/log/syslog`` as rsyslog writes it: RFC 3164 minus the priority."""
    found = _BSD_PREFIX.match(line)
    if found is None:
        return None
    stamp, rest = found.groups()
    return _syslog_body(rest, _bsd_with_year(stamp, now) or now, "info", None)


def _structured_data(text: str) -> dict[str, dict[str, str]]:
    return {
        sd_id: {
            key: _SD_UNESCAPE.sub(r"\1", value) if "\\" in value else value
            for key, value in _SD_PARAM.findall(params)
        }
        for sd_id, params in _SD_ELEMENT.findall(text)
    }


def _parse_rfc5424(line: str, now: int) -> LogRecord | None:
    found = _RFC5424.match(line)
    if found is None:
        return None
    pri, _version, stamp, host, app, procid, msgid, sd, message = found.groups()
    level, facility = _priority(pri)
    context: dict[str, Any] = {"facility": facility}
    for key, value in (("host", host), ("pid", procid), ("msgid", msgid)):
        if value != "-":
            context[key] = value
    data = _structured_data(sd) if sd != "-" else {}
    if data:
        context["sd"] = data
    request_id = next(
        (v for params in data.values() for k, v in params.items() if k in _JSON_REQUEST_KEYS), None
    )
    message = (message or "").removeprefix("\ufeff")
    ts = (_iso_ms(stamp) if stamp != "-" else None) or now
    return LogRecord(ts, level, None if app == "-" else app, message, context, request_id)


def _parse_syslog(line: str, now: int) -> LogRecord | None:
    return _parse_rfc5424(line, now) or _parse_rfc3164(line, now)


# --- access logs -------------------------------------------------------------------------------

# A quoted field with backslash escapes, as an "unrolled loop" (no alternation per character: ~2x faster).
_QUOTED = r'"([^"\\]*(?:\\.[^"\\]*)*)"'
_ACCESS = re.compile(
    rf"(\S+) (\S+) (\S+) \[([^\]]+)\] {_QUOTED} (\d{{3}}) (\d+|-)(?: {_QUOTED} {_QUOTED})?(.*)", re.DOTALL
)
_KEY_VALUE = re.compile(r'(\w+)=("[^"]*"|\S+)')
_FLOAT = re.compile(r"\s*(\d+\.\d+)(?:\s|$)")
_ACCESS_REQUEST_KEYS = ("request_id", "rid", "req_id", "requestid", "trace_id")


def _access_extras(rest: str, context: dict[str, Any]) -> str | None:
    """Fields after the combined format: nginx ``$request_time`` and ``key=value`` pairs."""
    request_id = None
    seconds = _FLOAT.match(rest)
    for key, value in _KEY_VALUE.findall(rest):
        value = value.strip('"')
        if key.lower() in _ACCESS_REQUEST_KEYS:
            request_id = value
        elif key in ("rt", "request_time"):
            seconds = _FLOAT.match(value)
        else:
            context[key] = value
    if seconds is not None:
        context["request_time_ms"] = round(float(seconds.group(1)) * 1000, 3)
    return request_id


def _parse_access(line: str, now: int) -> LogRecord | None:
    found = _ACCESS.match(line)
    if found is None:
        return None
    addr, _ident, user, stamp, request, status_text, size, referrer, agent, rest = found.groups()
    status = int(status_text)
    method, _, target = request.partition(" ")
    path, _, protocol = target.rpartition(" ") if " " in target else (target, "", "")
    context: dict[str, Any] = {"remote_addr": addr, "method": method, "path": path, "status": status}
    if protocol:
        context["protocol"] = protocol
    if user != "-":
        context["user"] = user
    context["bytes"] = int(size) if size != "-" else 0
    if referrer is not None and referrer != "-":
        context["referrer"] = referrer
    if agent is not None and agent != "-":
        context["agent"] = agent
    request_id = _access_extras(rest, context) if rest.strip() else None
    level = "error" if status >= 500 else "warning" if status >= 400 else "info"
    return LogRecord(_clf_ms(stamp) or now, level, "access", f"{request} {status}", context, request_id)


# --- dispatch ----------------------------------------------------------------------------------

_Parser = Any  # Callable[[str, int], LogRecord | None]; Any keeps the hot tuple lookups cheap to type


def _route(first: str) -> tuple[_Parser, ...]:
    """The parsers worth trying for a line starting with ``first``, most likely first."""
    if first == "{":
        return (_parse_json,)
    if first == "<":
        return (_parse_syslog,)
    if first == "[":
        return (_parse_celery,)
    if first.isdigit():
        return (_parse_mysql, _parse_iso_prefixed, _parse_redis, _parse_access)
    if first.isupper():
        return (_parse_python_basic, _parse_bsd_without_priority, _parse_access)
    return (_parse_access,)


_ROUTES: dict[str, tuple[_Parser, ...]] = {chr(code): _route(chr(code)) for code in range(32, 127)}
_ACCESS_ONLY: tuple[_Parser, ...] = (_parse_access,)


def parse_line(line: str, now: int | None = None) -> LogRecord:
    """One line as a record (secrets masked); an unrecognised line becomes a raw ``info`` message."""
    return _masked(_parse_stripped(line.rstrip("\r\n"), now_ms() if now is None else now))


def _masked(record: LogRecord) -> LogRecord:
    """Secrets masked at ingestion (``collectors.logs.mask``), before anything reaches the store."""
    message = mask_text(record.message)
    context = mask_context(record.context) if record.context else record.context
    if message is record.message and context == record.context:
        return record
    return record._replace(message=message, context=context)


# Parsers whose records already hold every field of the line (no key=value pass after them).
_STRUCTURED = frozenset((_parse_json, _parse_access, _parse_syslog))


def _parse_stripped(line: str, now: int) -> LogRecord:
    for parser in _ROUTES.get(line[:1], _ACCESS_ONLY):
        record = parser(line, now)
        if record is not None:
            if parser not in _STRUCTURED and "=" in record.message:
                return _with_key_values(record)
            return record
    if "=" in line:
        return _logfmt(_with_key_values(LogRecord(now, "info", None, line, None, None)))
    return LogRecord(now, "info", None, line, None, None)


def _logfmt(record: LogRecord) -> LogRecord:
    """A line made only of ``key=value`` pairs (logfmt): its level, time and logger fields are used."""
    context = record.context
    if not context:
        return record
    fields = _known_fields(context)
    if not fields:
        return record
    channel = fields.get("channel")
    return record._replace(
        ts=parse_timestamp(fields.get("ts")) or record.ts,
        level=normalize_level(fields.get("level"), record.level),
        channel=None if channel is None else str(channel),
        context=context or None,
    )


# Continuation lines of a multi-line record (a Python traceback and its chained exceptions).
_CONTINUATION_STARTS = (
    "Traceback (most recent call last)",
    "During handling of the above exception",
    "The above exception was the direct cause",
)
# First characters that may start a continuation (checked before the slower startswith).
_CONTINUATION_FIRST = frozenset(" \tTD")
# The last line of a traceback: "ValueError: bad value", "pkg.module.CustomError".
_EXCEPTION_LINE = re.compile(r"[A-Za-z_][\w.]*(?:Error|Exception|Exit|Interrupt|Warning|Fault)(?::\s|$)")


def parse_lines(
    lines: Iterable[str],
    now: int | None = None,
    offsets: Sequence[int] | None = None,
    inode: int | None = None,
) -> list[LogRecord]:
    """Parse a batch of lines; continuation lines are appended to the record before them.

    A continuation is a line starting with whitespace or ``Traceback``, plus the exception line
    that ends a traceback. Only records of the same batch are joined. Blank lines carry nothing and
    are skipped. ``offsets`` (the byte offset of each line in its file, with the file's ``inode``)
    is stored on each record as where its first line starts. Secrets are masked on every record.
    """
    now = now_ms() if now is None else now
    records: list[LogRecord] = []
    index = -1
    in_traceback = False
    # The loop allocates many small objects and no reference cycles: pausing the cyclic garbage
    # collector, whose passes over the growing batch cost up to a third of the time, is safe.
    collecting = gc.isenabled()
    gc.disable()
    try:
        for raw in lines:
            index += 1
            line = raw.rstrip("\r\n")
            if (
                not line
                or (line[0] in _CONTINUATION_FIRST and _continues(line))
                or (in_traceback and _EXCEPTION_LINE.match(line))
            ):
                if records and line.strip():
                    previous = records[-1]
                    records[-1] = previous._replace(message=f"{previous.message}\n{line}")
                    in_traceback = in_traceback or line.startswith("Traceback")
                    continue
                if not line.strip():
                    continue
            in_traceback = line.startswith("Traceback")
            record = _parse_stripped(line, now)
            if offsets is not None:
                record = record._replace(inode=inode, offset=offsets[index])
            records.append(record)
        records = [_masked(record) for record in records]
    finally:
        if collecting:
            gc.enable()
    return records


def _continues(line: str) -> bool:
    if line[0] in " \t":
        return True
    return line.startswith(_CONTINUATION_STARTS)
