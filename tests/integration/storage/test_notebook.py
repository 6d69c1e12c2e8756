"""The example notebook runs top to bottom against a seeded store, as an analyst would run it."""

from __future__ import annotations

import nbformat
import numpy as np
import pandas as pd
from nbclient import NotebookClient

import storage
from storage.engine import write_transaction
from storage.rollups import refresh_rollups
from storage.schema import log_entries
from tests.support import PROJECT_ROOT

NOTEBOOK = PROJECT_ROOT / "docs" / "examples" / "explore.ipynb"


def _seed(store: storage.Store) -> None:
    end = pd.Timestamp.now(tz="UTC").floor("5min")
    stamps = pd.date_range(end - pd.Timedelta("8D"), end, freq="5min")
    days = np.arange(len(stamps)) / 288
    rng = np.random.default_rng(3)
    frames = []
    for host in ("web1", "web2"):
        cpu = 30 + 20 * np.sin(2 * np.pi * days) + rng.normal(0, 3, len(stamps))
        cpu[-30] = 99.0  # one spike for the anomaly cell to find
        frames.append(
            pd.DataFrame({"ts": stamps, "metric": "system.cpu.percent", "host": host, "value": cpu})
        )
        frames.append(
            pd.DataFrame(
                {
                    "ts": stamps,
                    "metric": "system.disk.percent",
                    "host": host,
                    "labels": [{"mount": "/"}] * len(stamps),
                    "unit": "%",
                    "value": 60 + days,
                }
            )
        )
    store.write(pd.concat(frames, ignore_index=True))
    refresh_rollups(store.engine)
    with write_transaction(store.engine) as conn:
        conn.execute(
            log_entries.insert(),
            {
                "ts": int(end.timestamp() * 1000) - 60_000,
                "host": "web1",
                "source": "app.log",
                "level": "error",
                "channel": "app",
                "message": "upstream timeout",
                "context": None,
                "request_id": "r1",
            },
        )


def test_example_notebook_runs_top_to_bottom(tmp_path, monkeypatch):
    url = f"sqlite:///{tmp_path / 'vitals.db'}"
    store = storage.connect(url)
    _seed(store)
    store.close()
    monkeypatch.setenv("VITALS_DATABASE_URL", url)
    monkeypatch.setenv("PYTHONPATH", str(PROJECT_ROOT))
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    NotebookClient(
        notebook, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
    ).execute()

    outputs = {
        index: "".join(
            str(output.get("text", "")) + str(output.get("data", {}).get("text/plain", ""))
            for output in cell.get("outputs", [])
        )
        for index, cell in enumerate(notebook.cells)
        if cell.cell_type == "code"
    }
    text = "\n".join(outputs.values())
    assert "tiers read: ['1h', '1m', 'raw']" in text or "tiers read: ['1h'" in text
    assert "system.disk.percent{mount=/}" in text and "reaches 90" in text  # the forecast explains itself
    assert "upstream timeout" in text
    assert "ExportResult" in text and "cpu.parquet" in text
    assert not any(
        output.get("output_type") == "error" for cell in notebook.cells for output in cell.get("outputs", [])
    )
