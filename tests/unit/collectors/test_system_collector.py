"""The host collector against the real psutil of this machine: names, units, ranges, first-call rules.

Where a test needs psutil to answer something else (CPU clocks), it hands the collector a stand-in
(``PsutilWith``) rather than patching the module.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator

import psutil
import pytest

from collectors.base import Collection, Reading
from collectors.catalog import METRIC_CATALOG
from collectors.system import SYSTEM_METRICS, SystemCollector

# Long enough for every core to accumulate many clock ticks of CPU time between two readings.
CPU_WARM_UP_SECONDS = 0.6

CPU_METRICS = {"system.cpu.percent", "system.cpu.core.percent"}
RATE_METRICS = {"system.disk.io_bytes_per_second", "system.net.bytes_per_second"}
PERCENT_METRICS = {
    "system.cpu.percent",
    "system.cpu.core.percent",
    "system.memory.percent",
    "system.swap.percent",
    "system.disk.percent",
}
BYTE_METRICS = {
    "system.memory.used_bytes",
    "system.memory.available_bytes",
    "system.swap.used_bytes",
    "system.disk.free_bytes",
    *RATE_METRICS,
}
# Present on every Linux host on every call, whatever the mounts and the timing.
ALWAYS_PRESENT = {
    "system.load",
    "system.memory.percent",
    "system.memory.used_bytes",
    "system.memory.available_bytes",
    "system.swap.percent",
    "system.swap.used_bytes",
    "system.process.count",
}


def by_metric(readings: Collection | list[Reading]) -> dict[str, list[Reading]]:
    grouped: dict[str, list[Reading]] = {}
    for reading in readings.readings if isinstance(readings, Collection) else readings:
        grouped.setdefault(reading.metric, []).append(reading)
    return grouped


@pytest.fixture(scope="module")
def warm_readings() -> tuple[list[Reading], list[Reading]]:
    """Two collections from one collector: right after construction, and after the CPU warm-up."""
    collector = SystemCollector()
    first = collector.collect()
    time.sleep(CPU_WARM_UP_SECONDS)
    second = collector.collect()
    assert first.target == second.target == collector.name and second.errors == []
    return first.readings, second.readings


def test_every_metric_is_catalogued_with_its_unit(warm_readings: tuple[list[Reading], list[Reading]]) -> None:
    for reading in [*warm_readings[0], *warm_readings[1]]:
        assert reading.metric in SYSTEM_METRICS, reading
        assert reading.unit == SYSTEM_METRICS[reading.metric][0], reading
        assert reading.metric in METRIC_CATALOG, f"{reading.metric} missing from METRIC_CATALOG"
        assert METRIC_CATALOG[reading.metric][0] == reading.unit
        assert isinstance(reading.value, float)
        assert all(isinstance(k, str) and isinstance(v, str) for k, v in reading.labels.items())


def test_catalog_lists_every_system_metric_with_unit_and_description() -> None:
    assert set(SYSTEM_METRICS) <= set(METRIC_CATALOG)
    for name, (unit, description) in METRIC_CATALOG.items():
        assert name == name.lower() and name.count(".") >= 1, name
        assert isinstance(unit, str)
        assert description.strip(), f"{name} has no description"


def test_second_collection_has_every_catalogued_metric_except_disk_space(
    warm_readings: tuple[list[Reading], list[Reading]],
) -> None:
    emitted = set(by_metric(warm_readings[1]))
    # Disk space depends on the mounts (a container may only have overlay/tmpfs, which are skipped).
    expected = set(SYSTEM_METRICS) - {"system.disk.percent", "system.disk.free_bytes"}
    assert expected <= emitted, f"missing: {sorted(expected - emitted)}"


def test_values_are_in_sane_ranges(warm_readings: tuple[list[Reading], list[Reading]]) -> None:
    total_memory = psutil.virtual_memory().total
    for reading in [*warm_readings[0], *warm_readings[1]]:
        if reading.metric in PERCENT_METRICS:
            assert 0.0 <= reading.value <= 100.0, reading
        if reading.metric in BYTE_METRICS:
            assert reading.value >= 0.0, reading
        if reading.metric == "system.load":
            assert reading.value >= 0.0, reading
        if reading.metric in {"system.memory.used_bytes", "system.memory.available_bytes"}:
            assert reading.value <= total_memory, reading
    processes = by_metric(warm_readings[1])["system.process.count"]
    assert len(processes) == 1
    assert processes[0].value >= 1
    assert processes[0].value == pytest.approx(len(psutil.pids()), rel=0.5)


def test_memory_used_plus_available_is_total(warm_readings: tuple[list[Reading], list[Reading]]) -> None:
    grouped = by_metric(warm_readings[1])
    used = grouped["system.memory.used_bytes"][0].value
    available = grouped["system.memory.available_bytes"][0].value
    # Read within one call, so they describe the same moment.
    assert used + available == psutil.virtual_memory().total
    assert used > 0 and available > 0


def test_load_has_one_reading_per_period(warm_readings: tuple[list[Reading], list[Reading]]) -> None:
    load = by_metric(warm_readings[1])["system.load"]
    assert sorted(r.labels["period"] for r in load) == ["15m", "1m", "5m"]


def test_cpu_is_present_after_the_warm_up(warm_readings: tuple[list[Reading], list[Reading]]) -> None:
    second = by_metric(warm_readings[1])
    assert len(second["system.cpu.percent"]) == 1
    assert second["system.cpu.percent"][0].labels == {}
    cores = second["system.cpu.core.percent"]
    assert sorted(int(r.labels["core"]) for r in cores) == list(range(psutil.cpu_count() or 0))
    overall = second["system.cpu.percent"][0].value
    assert overall == pytest.approx(sum(r.value for r in cores) / len(cores), abs=0.01)


CpuTimes = type(psutil.cpu_times())  # psutil's per-platform named tuple


def cpu_times(user: float, idle: float, iowait: float = 0.0, guest: float = 0.0) -> object:
    fields = dict.fromkeys(CpuTimes._fields, 0.0)
    fields.update(user=user, idle=idle)
    if "iowait" in fields:
        fields["iowait"] = iowait
    if "guest" in fields:
        fields["guest"] = guest
    return CpuTimes(**fields)


class FakeCpuClock:
    """Stands in for psutil.cpu_times(percpu=True): returns the snapshots it is given, in turn."""

    def __init__(self, *snapshots: list[object]) -> None:
        self.snapshots = list(snapshots)

    def __call__(self, percpu: bool = False) -> list[object]:
        assert percpu, "the collector measures per core"
        return self.snapshots.pop(0) if len(self.snapshots) > 1 else self.snapshots[0]


class PsutilWith:
    """psutil with some of its functions replaced: handed to the collector instead of patching psutil."""

    def __init__(self, **replaced: object) -> None:
        self._replaced = replaced

    def __getattr__(self, name: str) -> object:
        return self._replaced[name] if name in self._replaced else getattr(psutil, name)


def cpu_readings(collection: Collection) -> dict[str, float]:
    return {
        reading.labels.get("core", "all"): reading.value
        for reading in collection.readings
        if reading.metric in CPU_METRICS
    }


def test_cpu_is_absent_when_no_cpu_time_passed_since_construction() -> None:
    same = [cpu_times(10, 90), cpu_times(20, 80)]
    readings = SystemCollector(PsutilWith(cpu_times=FakeCpuClock(same))).collect()
    assert cpu_readings(readings) == {}  # a reading over no time would be a made-up 0 %
    assert "system.memory.percent" in by_metric(readings)


def test_cpu_percent_is_busy_time_over_elapsed_time_per_core() -> None:
    if "iowait" not in CpuTimes._fields or "guest" not in CpuTimes._fields:
        pytest.skip("the iowait/guest fields are Linux-only")
    clock = FakeCpuClock(
        [cpu_times(10, 90), cpu_times(20, 80, iowait=5), cpu_times(30, 70, guest=1)],
        # core 0: 5 busy of 10 -> 50 %; core 1: iowait is idle, 3 busy of 10 -> 30 %;
        # core 2: guest time is inside user time already, so not counted twice: 6 busy of 10 -> 60 %
        [cpu_times(15, 95), cpu_times(23, 85, iowait=7), cpu_times(36, 74, guest=3)],
    )
    collector = SystemCollector(PsutilWith(cpu_times=clock))
    assert cpu_readings(collector.collect()) == pytest.approx(
        {"0": 50.0, "1": 30.0, "2": 60.0, "all": 140 / 3}
    )
    # Nothing moved since: no CPU readings rather than a repeat or a 0 %.
    assert cpu_readings(collector.collect()) == {}


def test_a_core_with_no_elapsed_time_is_left_out() -> None:
    clock = FakeCpuClock([cpu_times(10, 90), cpu_times(20, 80)], [cpu_times(10, 90), cpu_times(30, 90)])
    assert cpu_readings(SystemCollector(PsutilWith(cpu_times=clock)).collect()) == {"1": 50.0, "all": 50.0}


def test_io_rates_are_absent_on_first_collect_and_present_on_second(
    warm_readings: tuple[list[Reading], list[Reading]],
) -> None:
    first, second = (by_metric(r) for r in warm_readings)
    assert not RATE_METRICS & set(first), "a rate needs two readings"
    disk = second["system.disk.io_bytes_per_second"]
    net = second["system.net.bytes_per_second"]
    assert sorted(r.labels["direction"] for r in disk) == ["read", "write"]
    assert sorted(r.labels["direction"] for r in net) == ["recv", "sent"]
    assert all(r.unit == "B/s" and r.value >= 0 for r in [*disk, *net])


def test_labels_identify_each_series_uniquely(warm_readings: tuple[list[Reading], list[Reading]]) -> None:
    keys = [(r.metric, tuple(sorted(r.labels.items()))) for r in warm_readings[1]]
    assert len(keys) == len(set(keys))


def test_disk_readings_come_in_pairs_per_real_mount(
    warm_readings: tuple[list[Reading], list[Reading]],
) -> None:
    grouped = by_metric(warm_readings[1])
    percent_mounts = {r.labels["mount"] for r in grouped.get("system.disk.percent", [])}
    free_mounts = {r.labels["mount"] for r in grouped.get("system.disk.free_bytes", [])}
    assert percent_mounts == free_mounts
    for mount in percent_mounts:
        assert mount.startswith("/")
        assert psutil.disk_usage(mount).total > 0


class BrokenMemoryCollector(SystemCollector):
    def _memory(self) -> Iterator[Reading]:
        raise OSError("cannot read /proc/meminfo")


def test_a_failing_source_is_logged_and_the_others_still_report(caplog: pytest.LogCaptureFixture) -> None:
    collector = BrokenMemoryCollector()
    collector.collect()  # primes the I/O counters (and logs the failure once)
    time.sleep(CPU_WARM_UP_SECONDS)
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="vitals.collectors"):
        emitted = set(by_metric(collector.collect()))
    assert not {"system.memory.percent", "system.swap.percent"} & emitted
    expected = (ALWAYS_PRESENT | CPU_METRICS | RATE_METRICS) - {
        m for m in SYSTEM_METRICS if "memory" in m or "swap" in m
    }
    assert expected <= emitted, f"missing: {sorted(expected - emitted)}"
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING and r.name == "vitals.collectors"]
    assert len(warnings) == 1
    assert "memory" in warnings[0].getMessage()
    assert "cannot read /proc/meminfo" in warnings[0].getMessage()


class FailingMidwayCollector(SystemCollector):
    """Yields one reading and then fails: a half-read source must not leak partial readings."""

    def _load(self) -> Iterator[Reading]:
        yield Reading("system.load", 1.0, {"period": "1m"})
        raise RuntimeError("getloadavg broke")


def test_a_source_failing_midway_contributes_nothing(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="vitals.collectors"):
        emitted = by_metric(FailingMidwayCollector().collect())
    assert "system.load" not in emitted
    assert "system.memory.percent" in emitted
    assert "getloadavg broke" in caplog.text
    assert FailingMidwayCollector().collect().errors == ["load: getloadavg broke"]


def test_every_source_failing_gives_no_readings_and_an_error_each(caplog: pytest.LogCaptureFixture) -> None:
    class AllBroken(SystemCollector):
        def _fail(self) -> Iterator[Reading]:
            raise RuntimeError("down")

        _cpu = _load = _memory = _disks = _io_rates = _processes = _fail

    with caplog.at_level(logging.WARNING, logger="vitals.collectors"):
        collection = AllBroken().collect()
    assert collection.readings == [] and not collection.ok
    assert collection.errors == [
        f"{part}: down" for part in ("cpu", "load", "memory", "disks", "io", "processes")
    ]
    assert len([r for r in caplog.records if r.name == "vitals.collectors"]) == 6


def test_cpu_of_one_collector_is_not_disturbed_by_another() -> None:
    busy_until = time.monotonic() + CPU_WARM_UP_SECONDS
    first = SystemCollector()
    while time.monotonic() < busy_until:  # keep one core busy so the true figure is well above 0 %
        pass
    SystemCollector()  # e.g. a second JobContext in the same process
    psutil.cpu_percent(percpu=True)  # or a library using psutil's process-wide CPU baseline
    cpu = by_metric(first.collect())["system.cpu.percent"]
    assert cpu[0].value > 5.0, "the first collector reported CPU measured over the last few microseconds"
