"""Host metrics from psutil: CPU, load, memory, swap, disks, disk and network I/O rates, processes."""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass
from types import ModuleType
from typing import Any

import psutil

from collectors.base import Collection, Reading, guarded

__all__ = ["SYSTEM_METRICS", "SystemCollector"]

# The catalog of what this collector emits: name -> (unit, description).
SYSTEM_METRICS: dict[str, tuple[str, str]] = {
    "system.cpu.percent": ("%", "CPU busy, all cores"),
    "system.cpu.core.percent": ("%", "CPU busy per core {core}"),
    "system.load": ("", "Load average per {period}: 1m, 5m, 15m"),
    "system.memory.percent": ("%", "Memory in use"),
    "system.memory.used_bytes": ("B", "Memory in use"),
    "system.memory.available_bytes": ("B", "Memory available to new processes"),
    "system.swap.percent": ("%", "Swap in use"),
    "system.swap.used_bytes": ("B", "Swap in use"),
    "system.disk.percent": ("%", "Disk space used per {mount}"),
    "system.disk.free_bytes": ("B", "Disk space free per {mount}"),
    "system.disk.io_bytes_per_second": ("B/s", "Disk throughput, all disks, per {direction}: read, write"),
    "system.net.bytes_per_second": ("B/s", "Network throughput, all interfaces, per {direction}: recv, sent"),
    "system.process.count": ("", "Processes running"),
}

# Pseudo and container file systems say nothing about real disk space.
_SKIP_FSTYPES = {"squashfs", "tmpfs", "devtmpfs", "overlay", "proc", "sysfs", "nsfs", "autofs"}


# Over less CPU time than this (per core, about the wall time), the percentage is tick noise.
_MIN_CPU_SECONDS = 0.1


def _busy_and_total(times: Any) -> tuple[float, float]:
    # As psutil computes it: guest time is already counted in user time, idle includes iowait.
    total = sum(times) - getattr(times, "guest", 0.0) - getattr(times, "guest_nice", 0.0)
    return total - times.idle - getattr(times, "iowait", 0.0), total


def _busy_percent(before: Any, after: Any) -> float | None:
    """Share of CPU time spent busy between two cpu_times() readings; None if no time passed."""
    busy_before, total_before = _busy_and_total(before)
    busy_after, total_after = _busy_and_total(after)
    elapsed = total_after - total_before
    if elapsed < _MIN_CPU_SECONDS:
        return None
    return min(100.0, max(0.0, 100.0 * (busy_after - busy_before) / elapsed))


def _reading(metric: str, value: float, **labels: str) -> Reading:
    return Reading(metric, float(value), labels, SYSTEM_METRICS[metric][0])


@dataclass
class _Counters:
    at: float
    disk_read: int
    disk_write: int
    net_recv: int
    net_sent: int


class SystemCollector:
    """Reads this host. Keeps the previous I/O counters so it can report rates, not totals."""

    def __init__(self, ps: ModuleType | Any = psutil, host: str | None = None) -> None:
        # ``ps`` is psutil; tests hand in a stand-in with the same functions instead of patching it.
        self._ps = ps
        self.name = host or socket.gethostname()
        self._previous: _Counters | None = None
        # Our own CPU-time baseline: psutil.cpu_percent() keeps one per process, so any other caller
        # (another collector, a library) would reset it and make our next reading a false 0 %.
        self._cpu_times: list[Any] = self._ps.cpu_times(percpu=True)

    def collect(self) -> Collection:
        """All readings that succeed this cycle; a failing source is logged, named in ``errors`` and skipped."""
        result = Collection(self.name)
        for name, read in (
            ("cpu", self._cpu),
            ("load", self._load),
            ("memory", self._memory),
            ("disks", self._disks),
            ("io", self._io_rates),
            ("processes", self._processes),
        ):
            result.readings.extend(guarded(name, read, result.errors))
        return result

    def _cpu(self) -> Iterator[Reading]:
        now = self._ps.cpu_times(percpu=True)
        per_core = [_busy_percent(before, after) for before, after in zip(self._cpu_times, now, strict=False)]
        measured = [percent for percent in per_core if percent is not None]
        if not measured:
            return  # too little CPU time since the baseline: keep it and report next time
        self._cpu_times = now
        yield _reading("system.cpu.percent", sum(measured) / len(measured))
        for core, percent in enumerate(per_core):
            if percent is not None:
                yield _reading("system.cpu.core.percent", percent, core=str(core))

    def _load(self) -> Iterator[Reading]:
        one, five, fifteen = os.getloadavg()
        yield _reading("system.load", one, period="1m")
        yield _reading("system.load", five, period="5m")
        yield _reading("system.load", fifteen, period="15m")

    def _memory(self) -> Iterator[Reading]:
        memory = self._ps.virtual_memory()
        yield _reading("system.memory.percent", memory.percent)
        yield _reading("system.memory.used_bytes", memory.total - memory.available)
        yield _reading("system.memory.available_bytes", memory.available)
        swap = self._ps.swap_memory()
        yield _reading("system.swap.percent", swap.percent)
        yield _reading("system.swap.used_bytes", swap.used)

    def _disks(self) -> Iterator[Reading]:
        seen_devices: set[str] = set()
        for partition in self._ps.disk_partitions(all=False):
            if partition.fstype in _SKIP_FSTYPES or partition.device in seen_devices:
                continue
            seen_devices.add(partition.device)  # bind mounts of one device count once
            try:
                usage = self._ps.disk_usage(partition.mountpoint)
            except OSError:
                continue  # a mount can vanish or deny access between listing and reading
            yield _reading("system.disk.percent", usage.percent, mount=partition.mountpoint)
            yield _reading("system.disk.free_bytes", usage.free, mount=partition.mountpoint)

    def _io_rates(self) -> Iterator[Reading]:
        disk = self._ps.disk_io_counters()
        net = self._ps.net_io_counters()
        now = _Counters(
            at=time.monotonic(),
            disk_read=disk.read_bytes if disk else 0,
            disk_write=disk.write_bytes if disk else 0,
            net_recv=net.bytes_recv,
            net_sent=net.bytes_sent,
        )
        previous, self._previous = self._previous, now
        if previous is None:
            return  # a rate needs two readings
        elapsed = now.at - previous.at
        if elapsed <= 0:
            return
        for metric, direction, before, after in (
            ("system.disk.io_bytes_per_second", "read", previous.disk_read, now.disk_read),
            ("system.disk.io_bytes_per_second", "write", previous.disk_write, now.disk_write),
            ("system.net.bytes_per_second", "recv", previous.net_recv, now.net_recv),
            ("system.net.bytes_per_second", "sent", previous.net_sent, now.net_sent),
        ):
            if after >= before:  # a counter that went backwards was reset: skip one interval
                yield _reading(metric, (after - before) / elapsed, direction=direction)

    def _processes(self) -> Iterator[Reading]:
        yield _reading("system.process.count", len(self._ps.pids()))
