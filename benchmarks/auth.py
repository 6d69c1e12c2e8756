"""Login and session benchmark: what the new defences cost, beside the work each request did before.

Each figure beside a baseline timed in the same run, with the ratio:
- the failed-login limits of one refused attempt (``LoginLimits.allowed`` + ``failed``: four windows per
  username, three per address) in memory and in the local Redis (127.0.0.1:6379, db 13, emptied), vs
  the one argon2 password check that attempt costs anyway; target: well under 1x;
- the per-request session verdict (``dashboard.auth._load_user``: user row, epoch, idle and lifetime
  from the live configuration) vs the user-row lookup alone that the loader did before; target < 2x.

Run: ``python -m benchmarks.auth``.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import flask
import redis

import storage
from app import create_app
from dashboard import auth
from dashboard.limits import install_limiter
from dashboard.login_limit import LoginLimits
from storage.users import create_user, get_user_by_id, verify_password

ROUNDS = 300
REDIS_URL = "redis://127.0.0.1:6379/13"
PASSWORD = "correct-horse-battery"


def _per_call_us(work: Callable[[], object], rounds: int = ROUNDS) -> float:
    start = time.perf_counter()
    for _ in range(rounds):
        work()
    return (time.perf_counter() - start) / rounds * 1e6


def _paired_us(
    figure: Callable[[], object], baseline: Callable[[], object], rounds: int = ROUNDS
) -> tuple[float, float]:
    """Medians of five alternating runs of each, so load on the machine hits both alike."""
    pairs = [(_per_call_us(figure, rounds), _per_call_us(baseline, rounds)) for _ in range(5)]
    return statistics.median(p[0] for p in pairs), statistics.median(p[1] for p in pairs)


def _row(label: str, figure: float, baseline: float, base_label: str) -> None:
    print(
        f"{label:<44} {figure:>10.1f} µs   {base_label:<28} {baseline:>10.1f} µs   ratio {figure / baseline:.4f}"
    )


def _limits_cost(settings: storage.Settings, stored_hash: str) -> None:
    server = flask.Flask("bench")
    limits = LoginLimits.from_settings(settings)

    def hashing() -> None:
        verify_password("wrong-guess-1", stored_hash)

    for name, url in (("memory", "memory://"), ("redis", REDIS_URL)):
        install_limiter(server, settings.model_copy(update={"rate_limit_storage_url": url}))
        counter = iter(range(10**9))

        def refused(counter: Iterator[int] = counter) -> None:
            name_ = f"user{next(counter)}"  # a spray over names: the per-user windows never fill
            limits.allowed(name_, "192.0.2.1")
            limits.failed(name_, "192.0.2.1", checked=True)

        figure, baseline = _paired_us(refused, hashing, rounds=20)
        _row(f"login limits per refused attempt ({name})", figure, baseline, "argon2 check (baseline)")


def _session_cost(store: storage.Store, settings: storage.Settings) -> None:
    app = create_app(settings, store, run_scheduler=False)
    user = create_user(store.engine, "bench", PASSWORD, "viewer")
    with app.server.test_request_context("/"):
        auth._clock().start(user.session_epoch)
        verdict, lookup = _paired_us(
            lambda: auth._load_user(str(user.id)), lambda: get_user_by_id(store.engine, user.id)
        )
    _row("session verdict per request", verdict, lookup, "user lookup (before)")


def main() -> None:
    redis.Redis.from_url(REDIS_URL).flushdb()
    with tempfile.TemporaryDirectory() as tmp:
        store = storage.connect(f"sqlite:///{Path(tmp) / 'bench.db'}")
        settings = storage.load_settings(data_dir=Path(tmp), secret_key="bench-secret-key-0123456789abcdef")
        stored = create_user(store.engine, "ada", PASSWORD, "admin")
        with store.engine.connect() as conn:
            from storage.schema import users

            stored_hash = conn.execute(users.select().where(users.c.id == stored.id)).one().password_hash
        _limits_cost(settings, stored_hash)
        _session_cost(store, settings)
        store.close()
    redis.Redis.from_url(REDIS_URL).flushdb()


if __name__ == "__main__":
    main()
