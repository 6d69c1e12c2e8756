"""`make bench`: every benchmark, each in its own process so memory figures are its own."""

from __future__ import annotations

import subprocess
import sys

BENCHMARKS = (
    "benchmarks.ingest",
    "benchmarks.reads",
    "benchmarks.fleet",
    "benchmarks.logs",
    "benchmarks.logs_search",
    "benchmarks.database",
    "benchmarks.cache",
    "benchmarks.alerts",
    "benchmarks.collectors",
    "benchmarks.viewers",
    "benchmarks.auth",
)


def main() -> int:
    failed = 0
    for module in BENCHMARKS:
        print(f"\n=== {module} ===", flush=True)
        failed += subprocess.run([sys.executable, "-m", module], check=False).returncode != 0
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
