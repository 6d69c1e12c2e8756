"""Helpers the test modules share: the skip-or-fail rule, free ports, private servers, Redis dbs."""

from __future__ import annotations

import contextlib
import os
import re
import socket
import subprocess
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest
import redis

# Tests live at different depths (tests/unit/<package>/...): paths come from here, not from __file__.
PROJECT_ROOT = Path(__file__).resolve().parents[1]
FIXTURES = PROJECT_ROOT / "tests" / "fixtures"

REDIS_HOST, REDIS_PORT = "127.0.0.1", 6379
# Tests that need a Redis database of their own mark it with this key so runs never share one.
CLAIM_KEY = "vitals:test:claimed-by"
START_TIMEOUT_SECONDS = 5.0


def unavailable(reason: str) -> None:
    """A needed service or tool is missing: skip with the reason locally, fail under CI=true."""
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(reason, pytrace=False)
    pytest.skip(reason)


T = TypeVar("T")


def wait_until(
    condition: Callable[[], T | None],
    timeout: float,
    what: str,
    *,
    every: float = 0.25,
    detail: Callable[[], str] | None = None,
    not_yet: tuple[type[BaseException], ...] = (),
) -> T:
    """The first truthy value ``condition`` returns within ``timeout`` seconds; else the test fails
    saying ``what`` did not happen, followed by ``detail()`` (a process log, say). An exception of a
    ``not_yet`` type counts as "not yet" (a store still restarting, an element a refresh replaced)."""
    deadline = time.monotonic() + timeout
    while True:
        value: T | None = None
        with contextlib.suppress(*not_yet):
            value = condition()
        if value:
            return value
        if time.monotonic() >= deadline:
            break
        time.sleep(every)
    more = f"\n{detail()}" if detail is not None else ""
    pytest.fail(f"{what} within {timeout:.0f} s{more}")


def free_port() -> int:
    """A TCP port nothing listens on (bound and released at once)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def small_disk(path: Path, size: str) -> Iterator[Path]:
    """A tmpfs of ``size`` (``64k``, ``2m``) mounted at ``path``: a real disk that fills up."""
    path.mkdir(parents=True, exist_ok=True)
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)], capture_output=True, text=True
    )
    if mounted.returncode != 0:
        unavailable(f"cannot mount a tmpfs for the disk-full case (needs root): {mounted.stderr.strip()}")
    try:
        yield path
    finally:
        subprocess.run(["umount", "--lazy", str(path)], check=False)


class PrivateRedis:
    """A throw-away redis-server on a free port, for tests that change its config; restartable."""

    def __init__(self, binary: str, *args: str) -> None:
        self.binary, self.args, self.port = binary, args, free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        command = [
            self.binary,
            "--port",
            str(self.port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
        ]
        self.process = subprocess.Popen(
            [*command, "--daemonize", "no", *self.args], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return
            except OSError:
                time.sleep(0.02)
        raise RuntimeError(f"redis-server did not start on port {self.port}")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=5)
        self.process = None

    def client(self, **kwargs: object) -> redis.Redis:
        return redis.Redis(host="127.0.0.1", port=self.port, decode_responses=True, **kwargs)  # type: ignore[arg-type]


class PrivateMariaDB:
    """A throw-away mariadbd on a free port with its own data directory, for tests that stop and start
    the store (the shared server on 3306 is left alone); no grant tables, so root needs no password."""

    def __init__(self, directory: Path) -> None:
        self.directory, self.port = directory, free_port()
        self.process: subprocess.Popen[bytes] | None = None

    def url(self, database: str = "vitals") -> str:
        return f"mysql+pymysql://root@127.0.0.1:{self.port}/{database}"

    def install(self) -> None:
        # As root (--user=root): pytest's temporary directories are private to root, so the mysql user
        # could not reach them.
        self.directory.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            ["mariadb-install-db", "--no-defaults", f"--datadir={self.directory}", "--user=root",
             "--skip-test-db", "--auth-root-authentication-method=normal"],
            check=True, capture_output=True,
        )  # fmt: skip

    def start(self, timeout: float = 30.0) -> None:
        self.process = subprocess.Popen(
            ["mariadbd", "--no-defaults", f"--datadir={self.directory}", f"--port={self.port}",
             f"--socket={self.directory / 'mysqld.sock'}", "--bind-address=127.0.0.1", "--user=root",
             "--skip-grant-tables", "--skip-log-bin", "--innodb-buffer-pool-size=128M",
             f"--log-error={self.directory / 'error.log'}"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"mariadbd exited: {(self.directory / 'error.log').read_text()[-2000:]}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError(f"mariadbd did not start on port {self.port}")

    def stop(self) -> None:
        """A clean shutdown (SIGTERM), as a restarting database server does."""
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        self.process = None


def claim_redis_db(databases: Iterable[int], needed_by: str) -> Iterator[str]:
    """Claim the first free database of ``databases`` on the local Redis; emptied before and after."""
    try:
        redis.Redis(host=REDIS_HOST, port=REDIS_PORT, socket_connect_timeout=3).ping()
    except redis.RedisError as exc:
        unavailable(f"Redis not reachable at {REDIS_HOST}:{REDIS_PORT}: {exc} ({needed_by})")
    token = uuid.uuid4().hex
    candidates = list(databases)
    for db in candidates:
        client = redis.Redis(host=REDIS_HOST, port=REDIS_PORT, db=db)
        if client.set(CLAIM_KEY, token, nx=True, ex=600):
            break
        client.close()
    else:
        pytest.fail(f"Redis databases {candidates} are all claimed by other test runs ({CLAIM_KEY})")
    for key in client.scan_iter():
        if key != CLAIM_KEY.encode():
            client.delete(key)
    yield f"redis://{REDIS_HOST}:{REDIS_PORT}/{db}"
    client.flushdb()
    client.close()


def send_csrf_token(client: Any) -> Any:
    """A logged-in Flask test client that sends the CSRF header with every request, as Dash's renderer
    does in a browser (it reads the token from the cookie the login response set)."""
    cookie = client.get_cookie("_csrf_token")
    assert cookie is not None, "the login response sets the CSRF token cookie"
    client.environ_base["HTTP_X_CSRFTOKEN"] = cookie.value
    return client


def form_token(page: str) -> str:
    """The CSRF token the login form carries in ``page``."""
    found = re.search(r'name="csrf" value="([^"]+)"', page)
    assert found is not None, "the login page carries its form token"
    return found.group(1)


def login_form(client: Any, username: str, password: str, **request: Any) -> Any:
    """Sign in through the real login form (its own CSRF token first); the answer to the POST."""
    page = client.get("/login", **request).get_data(as_text=True)
    data = {"csrf": form_token(page), "username": username, "password": password, "next": "/"}
    return client.post("/login", data=data, **request)


def web_app(store: Any, data_dir: Any, **overrides: Any) -> Any:
    """The whole web app (no collection thread) on ``store``, with settings ``overrides``."""
    import storage
    from app import create_app

    settings = storage.load_settings(
        data_dir=data_dir, secret_key="web-test-secret-key-0123456789", **overrides
    )
    return create_app(settings, store, run_scheduler=False)


def signed_in(app: Any, username: str, password: str) -> Any:
    """A Flask test client of ``app`` signed in as ``username`` through the login form, sending the
    CSRF header as the browser does."""
    client = app.server.test_client()
    response = login_form(client, username, password)
    assert response.status_code == 302, f"{username} could not sign in"
    return send_csrf_token(client)


def inserted_id(result: Any) -> int:
    """The primary key an ``INSERT`` made (SQLAlchemy types it optional: not every statement has one)."""
    key = result.inserted_primary_key
    assert key is not None, "the statement inserted a row"
    return int(key[0])
