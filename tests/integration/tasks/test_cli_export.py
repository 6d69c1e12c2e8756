"""``vitals export`` and ``vitals tokens`` as a user runs them: a real process against a seeded SQLite store."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

import storage
from storage.tokens import list_tokens, verify_token
from storage.users import create_user
from tests.support import PROJECT_ROOT

BASE = pd.Timestamp("2026-01-05T00:00:00Z")


@pytest.fixture
def seeded(tmp_path: Path) -> dict[str, str]:
    """Environment for a ``vitals`` process whose store holds 6 h of memory samples and one user."""
    url = f"sqlite:///{tmp_path / 'vitals.db'}"
    store = storage.connect(url)
    store.write(
        pd.DataFrame(
            {
                "ts": [BASE + pd.Timedelta(minutes=10 * i) for i in range(36)],
                "metric": "system.memory.percent",
                "host": "db1",
                "unit": "%",
                "value": [50.0 + i for i in range(36)],
            }
        )
    )
    create_user(store.engine, "vera", "correct-horse-battery", "viewer")
    store.close()
    env = {key: value for key, value in os.environ.items() if not key.startswith("VITALS_")}
    return {**env, "VITALS_DATABASE_URL": url, "VITALS_DATA_DIR": str(tmp_path)}


def _messages(stderr: str) -> list[str]:
    """What stderr says to the operator, without the CLI's log lines (``2026-01-05 12:00:00,123 INFO ...``)."""
    return [
        line
        for line in stderr.splitlines()
        if line.strip() and not re.match(r"20\d\d-\d\d-\d\d [\d:,]+ [A-Z]+ ", line)
    ]


def _vitals(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", "import app, sys; sys.exit(app.main(sys.argv[1:]))", *args],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_export_writes_parquet_and_its_sidecar(seeded: dict[str, str], tmp_path: Path) -> None:
    target = tmp_path / "memory.parquet"
    done = _vitals(
        seeded,
        "export",
        "--metric",
        "system.memory.percent",
        "--since",
        "2026-01-05T00:00:00Z",
        "--until",
        "2026-01-05T06:00:00Z",
        "--every",
        "1h",
        "--agg",
        "max",
        "--format",
        "parquet",
        "-o",
        str(target),
    )
    assert done.returncode == 0, done.stderr
    assert "wrote 6 rows" in done.stdout and str(target) in done.stdout
    frame = pd.read_parquet(target)
    assert frame["value"].tolist() == [55.0 + 6 * hour for hour in range(6)]
    assert str(frame["ts"].dtype) == "datetime64[ms, UTC]"
    meta = json.loads(Path(f"{target}.meta.json").read_text())
    assert (meta["rows"], meta["query"]["agg"], meta["query"]["step_ms"]) == (6, "max", 3_600_000)


def test_export_takes_the_format_from_the_file_name(seeded: dict[str, str], tmp_path: Path) -> None:
    target = tmp_path / "memory.csv"
    done = _vitals(
        seeded, "export", "--metric", "system.memory.percent", "--since", "3650d", "-o", str(target)
    )
    assert done.returncode == 0, done.stderr
    assert len(pd.read_csv(target)) == 36


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--since", "last tuesday"], "vitals: since: 'last tuesday' is neither a duration"),
        (["--since", "1h", "--until", "2h"], "must be after since"),
        (["--every", "0s"], "vitals: every: must be greater than zero"),
        (["--every", "5m", "--agg", "avg"], "vitals: agg: unsupported 'avg'"),
        (["--format", "xlsx"], "vitals: format: unsupported 'xlsx'"),
        (["--since", "999999d"], "vitals: since: '999999d' is longer than 36,500 days"),
        (["--every", "99999999999d"], "vitals: every: '99999999999d' is longer than 36,500 days"),
    ],
)
def test_bad_input_exits_non_zero_with_one_readable_line(
    seeded: dict[str, str], tmp_path: Path, args: list[str], message: str
) -> None:
    target = tmp_path / "out.parquet"
    done = _vitals(seeded, "export", "--metric", "system.memory.percent", *args, "-o", str(target))
    assert done.returncode != 0
    lines = _messages(done.stderr)
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("vitals: ") and message in lines[0]
    assert not target.exists()


def test_unknown_metric_suggests_the_right_one(seeded: dict[str, str], tmp_path: Path) -> None:
    done = _vitals(seeded, "export", "--metric", "system.memory.pct", "-o", str(tmp_path / "m.csv"))
    assert done.returncode != 0
    assert _messages(done.stderr) == [
        "vitals: unknown metric 'system.memory.pct'; did you mean 'system.memory.percent'?"
    ]


def test_tokens_create_prints_the_token_once(seeded: dict[str, str]) -> None:
    done = _vitals(seeded, "tokens", "create", "prometheus", "--user", "vera", "--role", "viewer")
    assert done.returncode == 0, done.stderr
    header, token = done.stdout.strip().splitlines()
    assert "'prometheus' for vera (viewer)" in header and "shown only once" in header
    store = storage.connect(seeded["VITALS_DATABASE_URL"])
    try:
        verified = verify_token(store.engine, token)
        assert verified is not None and verified.username == "vera"
        assert [t.name for t in list_tokens(store.engine)] == ["prometheus"]
    finally:
        store.close()

    refused = _vitals(seeded, "tokens", "create", "root", "--user", "vera", "--role", "admin")
    assert refused.returncode != 0
    assert _messages(refused.stderr) == ["vitals: role: vera is viewer, so a token cannot be admin"]
