"""A warning that repeats every collection interval is logged when it first appears (or changes) and
then at most once per ``every`` seconds, saying how often it was held back meanwhile.

A target that stays down would otherwise write the same line every 10 s for as long as it is down,
drowning the one line that says when it changed (and Vitals re-ingests its own log)."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

__all__ = ["RepeatLimiter", "install_repeat_limiter", "limit_celery_handlers"]

DEFAULT_EVERY_SECONDS = 600.0
_MAX_KEYS = 5_000  # distinct messages remembered; the oldest are forgotten first


class RepeatLimiter(logging.Filter):
    """Passes a WARNING-or-worse record unless the same logger logged the same message less than
    ``every`` seconds ago; lower levels always pass."""

    def __init__(
        self, every: float = DEFAULT_EVERY_SECONDS, clock: Callable[[], float] = time.monotonic
    ) -> None:
        super().__init__()
        self.every = every
        self._clock = clock
        self._lock = threading.Lock()
        self._seen: dict[tuple[str, int, str], tuple[float, int]] = {}  # key -> (last emitted, held back)

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno < logging.WARNING:
            return True
        key = (record.name, record.levelno, record.getMessage())
        now = self._clock()
        with self._lock:
            last, held = self._seen.get(key, (None, 0))
            if last is not None and now - last < self.every:
                self._seen[key] = (last, held + 1)
                return False
            self._seen.pop(key, None)  # re-inserted last: the dict stays in emission order
            self._seen[key] = (now, 0)
            while len(self._seen) > _MAX_KEYS:
                self._seen.pop(next(iter(self._seen)))
        if held:
            minutes = self.every / 60
            record.msg = f"{record.getMessage()} (repeated {held} more times in the last {minutes:g} min)"
            record.args = None
        return True


def install_repeat_limiter(handler: logging.Handler, every: float = DEFAULT_EVERY_SECONDS) -> None:
    """Give ``handler`` a limiter of its own (once): what one destination has seen is its own."""
    if not any(isinstance(existing, RepeatLimiter) for existing in handler.filters):
        handler.addFilter(RepeatLimiter(every))


def limit_celery_handlers() -> None:
    """Limit the handlers a Celery worker or beat installs when it sets up logging: they replace the
    ones the command made, so without this a worker's console repeats a down store every tick.

    For ``vitals worker`` and ``vitals beat`` processes only: an in-process test worker would
    otherwise put a limiter on the test runner's own handlers.
    """
    from celery.signals import after_setup_logger

    after_setup_logger.connect(_limit_handlers, weak=False, dispatch_uid="vitals.repeat_limiter")


def _limit_handlers(logger: logging.Logger | None = None, **_kwargs: object) -> None:
    for handler in (logger or logging.getLogger()).handlers:
        install_repeat_limiter(handler)
