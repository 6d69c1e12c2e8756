"""Health checks: probes of the things Vitals depends on or watches, and the rules that judge them.

A probe answers one question ("does Redis at host:port answer PING?") with an ``Outcome``: ok, warn
or fail, a message that says exactly what is wrong ("unreachable: connection refused to
127.0.0.1:3399", "access denied for user 'x'@'localhost' (using password: YES)") and how long it took.
The rules (latency thresholds, "fail only after N consecutive failures") are pure functions here;
the history they need is read from the store by ``tasks.health_jobs``, so this module never writes.

Passwords never leave this module: targets are shown through ``mask_url`` and every message is
passed through ``redact`` with the secrets of its URL.
"""

from __future__ import annotations

import base64
import errno
import http.client
import socket
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from functools import lru_cache
from typing import Any, Literal
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit, urlunsplit

import psutil

from collectors import redis_monitor
from collectors.mysql.probe import DIGEST_TABLE
from collectors.mysql.probe import Probe as MySQLProbe
from collectors.mysql.probe import probe as mysql_probe

__all__ = [
    "FAIL",
    "OK",
    "WARN",
    "CheckSpec",
    "Outcome",
    "apply_fail_after",
    "apply_latency",
    "consecutive_failures",
    "judge_disks",
    "judge_heartbeat",
    "judge_queue",
    "mask_url",
    "probe_disks",
    "probe_http",
    "probe_mysql",
    "probe_queue",
    "probe_redis",
    "redact",
    "run_check",
    "url_secrets",
]

Status = Literal["ok", "warn", "fail"]
OK: Status = "ok"
WARN: Status = "warn"
FAIL: Status = "fail"

# A failure that has not yet reached its check's "fail after N" is stored as a warning with this
# prefix; the prefix is how the streak is recognised again when counting from stored history.
_FAILING = "failing "
_MASK = "***"
_SECRET_PARAMS = {"password", "passwd", "pwd", "token", "secret", "key", "api_key", "apikey", "access_token"}


@dataclass(frozen=True, slots=True)
class Outcome:
    """What one run of a check found."""

    status: Status
    message: str
    response_ms: float | None = None


@dataclass(frozen=True)
class CheckSpec:
    """One check: what it probes, how it is judged, and whether its failure makes Vitals unhealthy."""

    name: str
    kind: str
    probe: Callable[[], Outcome]
    target: str | None = None  # shown to users: always masked
    critical: bool = False
    warn_ms: float | None = None
    fail_ms: float | None = None
    fail_after: int = 1
    secrets: tuple[str, ...] = ()


# --- secrets -----------------------------------------------------------------------------------


def url_secrets(url: str) -> tuple[str, ...]:
    """The passwords and tokens in a URL (userinfo and secret-looking query parameters)."""
    parts = urlsplit(url)
    found = [parts.password, unquote(parts.password or "")]
    found += [value for name, value in parse_qsl(parts.query) if name.lower() in _SECRET_PARAMS]
    return tuple(sorted({secret for secret in found if secret}, key=len, reverse=True))


def mask_url(url: str) -> str:
    """The URL with its password and secret query parameters replaced by ``***``."""
    parts = urlsplit(url)
    netloc = parts.netloc
    if parts.password is not None:
        userinfo, _, hostport = netloc.rpartition("@")
        user = userinfo.split(":", 1)[0]
        netloc = f"{user}:{_MASK}@{hostport}"
    query = urlencode(
        [
            (name, _MASK if name.lower() in _SECRET_PARAMS else value)
            for name, value in parse_qsl(parts.query)
        ],
        safe="*",
    )
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


def redact(text: str, secrets: Iterable[str]) -> str:
    """``text`` with every secret replaced by ``***`` (a driver may echo what it was given)."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, _MASK)
    return text


def _host_port(url: str, default_port: int) -> tuple[str, int]:
    parts = urlsplit(url)
    return parts.hostname or "localhost", parts.port or default_port


# --- rules -------------------------------------------------------------------------------------


def apply_latency(outcome: Outcome, warn_ms: float | None, fail_ms: float | None) -> Outcome:
    """Turn a slow answer into warn or fail. A probe that already failed keeps its own message."""
    if outcome.status == FAIL or outcome.response_ms is None:
        return outcome
    took = outcome.response_ms
    if fail_ms is not None and took >= fail_ms:
        return replace(
            outcome, status=FAIL, message=f"slow: answered in {took:.0f} ms (fail at {fail_ms:.0f} ms)"
        )
    if warn_ms is not None and took >= warn_ms and outcome.status == OK:
        return replace(
            outcome, status=WARN, message=f"slow: answered in {took:.0f} ms (warn at {warn_ms:.0f} ms)"
        )
    return outcome


def is_failure(status: str, message: str) -> bool:
    """Whether a stored result was a failure: a real fail, or one still counting up to its fail_after."""
    return status == FAIL or (status == WARN and message.startswith(_FAILING))


def consecutive_failures(newest_first: Sequence[tuple[str, str]]) -> int:
    """How many of the most recent stored (status, message) results in a row were failures."""
    count = 0
    for status, message in newest_first:
        if not is_failure(status, message):
            break
        count += 1
    return count


def apply_fail_after(outcome: Outcome, previous_failures: int, fail_after: int) -> Outcome:
    """A failure becomes "fail" only on the ``fail_after``-th in a row; before that it is a warning.

    ``previous_failures`` is the streak just before this run, counted from stored history.
    """
    if outcome.status != FAIL:
        return outcome
    streak = previous_failures + 1
    if streak >= fail_after:
        return outcome
    return replace(outcome, status=WARN, message=f"{_FAILING}{streak}/{fail_after}: {outcome.message}")


def run_check(spec: CheckSpec) -> Outcome:
    """Run one probe, timed, isolated and judged by its latency thresholds, with secrets removed.

    Any exception becomes this check's fail result, so one broken check never hides the others.
    """
    started = time.perf_counter()
    try:
        outcome = spec.probe()
    except Exception as exc:  # a check must report, never raise
        outcome = Outcome(FAIL, f"error: {type(exc).__name__}: {exc}")
    took = (time.perf_counter() - started) * 1000
    if outcome.response_ms is None:
        outcome = replace(outcome, response_ms=round(took, 1))
    outcome = apply_latency(outcome, spec.warn_ms, spec.fail_ms)
    return replace(outcome, message=redact(outcome.message, spec.secrets))


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


# --- disks -------------------------------------------------------------------------------------

# Pseudo and container file systems say nothing about real disk space (as in collectors.system).
_SKIP_FSTYPES = frozenset({"squashfs", "tmpfs", "devtmpfs", "overlay", "proc", "sysfs", "nsfs", "autofs"})


def judge_disks(free_percent: Mapping[str, float], warn_percent: float, fail_percent: float) -> Outcome:
    """Fail when any mount has less than ``fail_percent`` free, warn below ``warn_percent``."""
    if not free_percent:
        return Outcome(WARN, "no disks found to check")
    failing = {mount: free for mount, free in free_percent.items() if free < fail_percent}
    warning = {mount: free for mount, free in free_percent.items() if fail_percent <= free < warn_percent}

    def listed(mounts: Mapping[str, float]) -> str:
        return ", ".join(
            f"{free:.1f}% free on {mount}" for mount, free in sorted(mounts.items(), key=lambda i: i[1])
        )

    if failing:
        return Outcome(FAIL, f"{listed(failing)} (fail below {fail_percent:g}%)")
    if warning:
        return Outcome(WARN, f"{listed(warning)} (warn below {warn_percent:g}%)")
    mount, free = min(free_percent.items(), key=lambda item: item[1])
    return Outcome(OK, f"lowest: {free:.1f}% free on {mount}")


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


def probe_disks(warn_percent: float, fail_percent: float) -> Outcome:
    """Free space on every real mount of this host against the thresholds."""
    return judge_disks(disk_free_percent(), warn_percent, fail_percent)


# --- scheduler heartbeat -----------------------------------------------------------------------


def judge_heartbeat(ages: Mapping[str, float | None], limits: Mapping[str, float]) -> Outcome:
    """Fresh when any heartbeat metric was sampled within its limit; otherwise "no data for N s".

    ``ages`` maps a metric to seconds since its newest sample (None: never sampled). A stale
    collector must read as "no data", never as healthy.
    """
    fresh = [metric for metric, age in ages.items() if age is not None and age <= limits.get(metric, 0)]
    if fresh:
        metric = min(fresh, key=lambda name: ages[name] or 0.0)
        return Outcome(OK, f"last sample {ages[metric]:.0f} s ago ({metric})")
    known = {metric: age for metric, age in ages.items() if age is not None}
    if not known:
        return Outcome(FAIL, "no data: nothing collected yet (" + ", ".join(sorted(ages)) + ")")
    metric = min(known, key=lambda name: known[name])
    return Outcome(
        FAIL,
        f"no data for {known[metric]:.0f} s (newest sample: {metric}; stale after {limits.get(metric, 0):.0f} s)",
    )


# --- Celery queue ------------------------------------------------------------------------------


def judge_queue(
    workers: int, backlogs: Mapping[str, int | None], backlog_warn: int, ping_timeout: float
) -> Outcome:
    """No worker answering fails; more than ``backlog_warn`` tasks waiting in all queues warns."""
    waiting = _waiting(backlogs)
    if workers == 0:
        return Outcome(FAIL, f"no workers answered ping within {ping_timeout:g} s; {waiting}")
    total = sum(count for count in backlogs.values() if count is not None)
    if total > backlog_warn:
        return Outcome(WARN, f"backlog: {waiting} (warn above {backlog_warn}); {_workers(workers)} online")
    return Outcome(OK, f"{_workers(workers)} online; {waiting}")


def _waiting(backlogs: Mapping[str, int | None]) -> str:
    def count(value: int | None) -> str:
        return "unknown" if value is None else str(value)

    if len(backlogs) == 1:
        queue, value = next(iter(backlogs.items()))
        return f"{count(value)} tasks waiting in {queue!r}"
    total = sum(value for value in backlogs.values() if value is not None)
    return (
        f"{total} tasks waiting ("
        + ", ".join(f"{queue}: {count(value)}" for queue, value in backlogs.items())
        + ")"
    )


def _workers(count: int) -> str:
    return f"{count} worker" if count == 1 else f"{count} workers"


def probe_queue(
    broker_url: str, backlog_warn: int, timeout: float = 1.0, queues: Sequence[str] = ("celery",)
) -> Outcome:
    """Workers online (Celery control ping) and the backlog of ``queues`` on the broker."""
    if broker_url.startswith(("redis://", "rediss://", "unix://")):
        broker = probe_redis(broker_url, timeout=max(timeout, 1.0))
        if broker.status == FAIL:
            return Outcome(FAIL, f"broker {broker.message}")
    started = time.perf_counter()
    backlogs = {queue: _queue_length(broker_url, queue) for queue in queues}
    workers = len(_celery_app(broker_url).control.ping(timeout=timeout))
    outcome = judge_queue(workers, backlogs, backlog_warn, timeout)
    return replace(outcome, response_ms=round((time.perf_counter() - started) * 1000, 1))


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
