"""Health probes: the things Vitals depends on or watches, each asked one question.

A probe answers one question ("does Redis at host:port answer PING?") with an ``Outcome``: ok, warn
or fail, a message that says exactly what is wrong ("unreachable: connection refused to
127.0.0.1:3399", "access denied for user 'x'@'localhost' (using password: YES)") and how long it took,
or (``disk_free_percent``, ``queue_state``) the raw figures. Judging them (latency thresholds,
"fail only after N consecutive failures", disk and backlog limits) is ``tasks.health_rules``; storing
them is ``storage.health``. Messages are passed through ``storage.masking.redact`` by the caller.
"""

from __future__ import annotations

import base64
import errno
import glob
import http.client
import socket
import stat
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal
from urllib.parse import unquote, urlsplit, urlunsplit

import psutil

from collectors import redis_monitor
from collectors.mysql.probe import DIGEST_TABLE
from collectors.mysql.probe import Probe as MySQLProbe
from collectors.mysql.probe import probe as mysql_probe
from storage.masking import mask_url

__all__ = [
    "FAIL",
    "OK",
    "WARN",
    "Outcome",
    "Status",
    "disk_free_percent",
    "probe_backup",
    "probe_http",
    "probe_mysql",
    "probe_redis",
    "queue_state",
]

Status = Literal["ok", "warn", "fail"]
OK: Status = "ok"
WARN: Status = "warn"
FAIL: Status = "fail"


@dataclass(frozen=True, slots=True)
class Outcome:
    """What one run of a check found."""

    status: Status
    message: str
    response_ms: float | None = None


def _host_port(url: str, default_port: int) -> tuple[str, int]:
    parts = urlsplit(url)
    return parts.hostname or "localhost", parts.port or default_port


# --- network errors in words -------------------------------------------------------------------


def _refused_or_timeout(exc: BaseException, host: str, port: int) -> str | None:
    """The words for the usual ways a TCP connection fails, or None for anything else."""
    text = str(exc).lower()
    code = getattr(exc, "errno", None)
    if code == errno.ECONNREFUSED or "refused" in text:
        return f"unreachable: connection refused to {host}:{port}"
    if isinstance(exc, socket.timeout | TimeoutError) or "timed out" in text or "timeout" in text:
        return f"unreachable: timed out connecting to {host}:{port}"
    if (
        isinstance(exc, socket.gaierror)
        or "name or service not known" in text
        or "nodename nor servname" in text
    ):
        return f"unreachable: unknown host {host!r}"
    if code == errno.EHOSTUNREACH or "no route to host" in text:
        return f"unreachable: no route to {host}:{port}"
    return None


def _network_message(exc: BaseException, host: str, port: int) -> str:
    for candidate in (exc, exc.__cause__, exc.__context__, *getattr(exc, "args", ())):
        if isinstance(candidate, BaseException | str):
            words = _refused_or_timeout(
                candidate if isinstance(candidate, BaseException) else OSError(candidate), host, port
            )
            if words:
                return words
    return f"unreachable: {host}:{port}: {exc}"


# --- Redis -------------------------------------------------------------------------------------


def probe_redis(url: str, timeout: float = 2.0) -> Outcome:
    """PING a Redis server through the Redis collector's probe, so both describe a failure alike
    ("unreachable: ...", "authentication failed: wrong user name or password: ...")."""
    found = redis_monitor.probe(url, timeout)
    return Outcome(OK if found.ok else FAIL, found.message, found.latency_ms)


# --- MySQL / MariaDB ---------------------------------------------------------------------------


def probe_mysql(url: str, timeout: float = 2.0) -> Outcome:
    """Connect and query through the MySQL collector's own probe, then check that the digest table of
    performance_schema is readable.

    The last step is what the query-digest collector needs; without the privilege the server is up
    but Vitals sees no slow queries, so it is a warning that says which grant is missing.
    """
    found = mysql_probe(url, timeout, check_digests=True)
    host, port = _host_port(url, 3306)
    if not found.ok:
        return Outcome(FAIL, _mysql_failure(found, host, port))
    user = unquote(urlsplit(url).username or "root")
    if found.digests == "off":
        message = "connected, SELECT 1 answered; performance_schema is OFF (digests need the slow log)"
        return Outcome(OK, message, found.latency_ms)
    if found.digests == "denied":
        return Outcome(
            WARN,
            f"missing privilege: user '{user}' may not read performance_schema "
            f"(SELECT on {DIGEST_TABLE} denied), so query digests cannot be collected; "
            f"GRANT SELECT ON performance_schema.* TO '{user}'",
            found.latency_ms,
        )
    return Outcome(OK, "connected, SELECT 1 answered, performance_schema readable", found.latency_ms)


def _mysql_failure(found: MySQLProbe, host: str, port: int) -> str:
    """The server's own words where they name the user and host, network failures in the shared words."""
    if found.reason == "access_denied" and "Access denied for " in found.detail:
        # "Access denied for user 'x'@'h' (using password: YES)"
        return "access denied for " + found.detail.split("Access denied for ", 1)[-1]
    if found.reason == "unreachable":
        return _network_message(OSError(found.detail), host, port)
    if found.code:
        return f"error {found.code} from mysql {host}:{port}: {found.detail}"
    return f"error from mysql {host}:{port}: {found.detail or found.message}"


# --- HTTP --------------------------------------------------------------------------------------


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    # A redirect is itself a healthy answer (2xx/3xx = ok); following it would check another URL.
    def redirect_request(self, *_args: Any, **_kwargs: Any) -> None:
        return None


@lru_cache(maxsize=1)
def _opener() -> urllib.request.OpenerDirector:
    return urllib.request.build_opener(_NoRedirect())


def _http_request(url: str) -> urllib.request.Request:
    """A GET for ``url``; credentials in the URL become a Basic header (urllib cannot read userinfo)."""
    parts = urlsplit(url)
    headers = {"User-Agent": "vitals-health/1"}
    if parts.username is not None:
        credentials = f"{unquote(parts.username)}:{unquote(parts.password or '')}"
        headers["Authorization"] = "Basic " + base64.b64encode(credentials.encode()).decode("ascii")
        url = urlunsplit(parts._replace(netloc=parts.netloc.rpartition("@")[2]))
    return urllib.request.Request(url, method="GET", headers=headers)


def probe_http(url: str, timeout: float = 5.0) -> Outcome:
    """GET ``url``: 2xx and 3xx are ok, anything else (or no answer within ``timeout``) fails."""
    host, port = _host_port(url, 443 if url.lower().startswith("https") else 80)
    shown = mask_url(url)
    request = _http_request(url)
    started = time.perf_counter()
    try:
        with _opener().open(request, timeout=timeout) as response:
            status, reason = response.status, response.reason
    except urllib.error.HTTPError as exc:
        status, reason = exc.code, exc.reason
    except TimeoutError:
        return Outcome(FAIL, f"timeout: no answer from {shown} within {timeout:g} s")
    except urllib.error.URLError as exc:
        if isinstance(exc.reason, TimeoutError | socket.timeout):
            return Outcome(FAIL, f"timeout: no answer from {shown} within {timeout:g} s")
        reason_exc = exc.reason if isinstance(exc.reason, BaseException) else OSError(str(exc.reason))
        return Outcome(FAIL, _network_message(reason_exc, host, port))
    except (http.client.HTTPException, OSError) as exc:
        return Outcome(FAIL, _network_message(exc, host, port))
    took = round((time.perf_counter() - started) * 1000, 1)
    if 200 <= status < 400:
        return Outcome(OK, f"HTTP {status} {reason}", took)
    return Outcome(FAIL, f"HTTP {status} {reason} from {shown}", took)


# --- backups -----------------------------------------------------------------------------------


def probe_backup(pattern: str, max_age_seconds: float) -> Outcome:
    """The newest file of a backup location (a directory, a file or a glob) against its max age: none,
    empty or too old fails; less than half the size of the one before warns."""
    limit = max_age_seconds
    candidates = (
        [Path(pattern)] if not any(ch in pattern for ch in "*?[") else [Path(p) for p in glob.glob(pattern)]
    )
    files: list[tuple[float, int, Path]] = []
    for candidate in candidates:
        for path in candidate.iterdir() if candidate.is_dir() else [candidate]:
            try:
                found = path.stat()
            except OSError:
                continue
            if stat.S_ISREG(found.st_mode):
                files.append((found.st_mtime, found.st_size, path))
    if not files:
        return Outcome(FAIL, f"no backup file at {pattern}")
    files.sort(reverse=True)
    mtime, size, newest = files[0]
    age = max(0.0, time.time() - mtime)
    described = f"newest {newest.name}: {_size(size)}, {_age(age)} old"
    if size == 0:
        return Outcome(FAIL, f"{described}: the file is empty")
    if age > limit:
        return Outcome(FAIL, f"{described}, older than the {_age(limit)} allowed")
    if len(files) > 1 and size < files[1][1] / 2:
        return Outcome(WARN, f"{described}: less than half the size of the one before ({_size(files[1][1])})")
    return Outcome(OK, described)


def _size(size: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} TB"


def _age(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    if seconds < 172_800:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86_400:.1f} d"


# --- disks -------------------------------------------------------------------------------------

# Pseudo and container file systems say nothing about real disk space (as in collectors.system).
_SKIP_FSTYPES = frozenset({"squashfs", "tmpfs", "devtmpfs", "overlay", "proc", "sysfs", "nsfs", "autofs"})


def disk_free_percent() -> dict[str, float]:
    """Free space per real mount of this host, in percent."""
    found: dict[str, float] = {}
    seen: set[str] = set()
    for partition in psutil.disk_partitions(all=False):
        if partition.fstype in _SKIP_FSTYPES or partition.device in seen:
            continue
        seen.add(partition.device)
        try:
            usage = psutil.disk_usage(partition.mountpoint)
        except OSError:
            continue  # a mount can vanish or deny access between listing and reading
        if usage.total:
            found[partition.mountpoint] = 100.0 * usage.free / usage.total
    return found


# --- Celery queue ------------------------------------------------------------------------------


def queue_state(
    broker_url: str, timeout: float = 1.0, queues: Sequence[str] = ("celery",)
) -> tuple[int, dict[str, int | None]]:
    """Workers answering a Celery control ping, and the messages waiting in each of ``queues``
    (None where the broker does not know the queue). Raises when the broker cannot be reached."""
    backlogs = {queue: _queue_length(broker_url, queue) for queue in queues}
    workers = len(_celery_app(broker_url).control.ping(timeout=timeout))
    return workers, backlogs


@lru_cache(maxsize=8)
def _celery_app(broker_url: str) -> Any:
    """A bare Celery app for control commands; cached because building one per check is wasteful."""
    from celery import Celery

    app = Celery("vitals-health", broker=broker_url, set_as_current=False)
    app.conf.update(
        broker_connection_retry=False, broker_connection_max_retries=1, broker_connection_timeout=2
    )
    return app


def _queue_length(broker_url: str, queue: str) -> int | None:
    """Messages waiting in ``queue``: LLEN on Redis, a passive declare on other brokers."""
    if broker_url.startswith(("redis://", "rediss://", "unix://")):
        import redis

        client = redis.Redis.from_url(broker_url, socket_connect_timeout=2, socket_timeout=2)
        try:
            return int(client.llen(queue))
        finally:
            client.close()
    try:
        with _celery_app(broker_url).connection_for_read() as connection:
            declared = connection.default_channel.queue_declare(queue=queue, passive=True)
            return int(declared.message_count)
    except Exception:  # a queue nobody declared yet has no backlog to report
        return None
