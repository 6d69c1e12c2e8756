"""Schemathesis (the real CLI) against the live API: every operation in /api/openapi.json, positive and
negative cases (``--mode all``) and every check: no 5xx, responses match their documented schema and status
codes, bad parameters are refused with 4xx, and no schema-valid request is rejected.

The app runs on a free port in this process (a real WSGI server, real SQLite store) with an admin token,
so state-changing routes get past their role check and are exercised too. Examples per operation are capped
so the run stays within the suite's time budget; the seed is fixed so a failure reproduces.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from werkzeug.serving import make_server

import storage
from app import create_app
from storage.tokens import create_token
from storage.users import create_user
from tests.support import free_port, unavailable

MAX_EXAMPLES = 5
SEED = 20261202
CONFIG = Path(__file__).with_name("schemathesis.toml")


@pytest.fixture
def live_api(tmp_path: Path) -> Iterator[tuple[str, str]]:
    settings = storage.load_settings(
        data_dir=tmp_path,
        secret_key="fuzz-secret-key-0123456789abcdef",
        api_token_rate_limit="1000000/minute",  # the fuzzer is one client sending thousands of requests
        health_rate_limit="1000000/minute",
    )
    store = storage.connect(settings.store_url)
    create_user(store.engine, "ada", "correct-horse-battery", "admin")
    token = create_token(store.engine, "fuzz", "ada", "admin")[1]
    app = create_app(settings, store, run_scheduler=False)
    server = make_server("127.0.0.1", free_port(), app.server, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}", token
    server.shutdown()
    thread.join(timeout=10)
    store.close()


def _schemathesis() -> str:
    found = shutil.which("st") or str(Path(sys.executable).with_name("st"))
    if not Path(found).exists():
        unavailable("schemathesis is not installed (pip install schemathesis)")
    return found


def test_the_api_matches_its_openapi_document(live_api: tuple[str, str], tmp_path: Path) -> None:
    url, token = live_api
    command = [
        _schemathesis(),
        "--no-color",
        "--config-file",
        str(CONFIG),
        "run",
        f"{url}/api/openapi.json",
        "--header",
        f"Authorization: Bearer {token}",
        "--mode",
        "all",
        "--checks",
        "all",
        "--phases",
        "examples,coverage,fuzzing",
        "--max-examples",
        str(MAX_EXAMPLES),
        "--seed",
        str(SEED),
        "--generation-database",
        "none",
        "--workers",
        "2",
        "--request-timeout",
        "20",
    ]
    result = subprocess.run(command, capture_output=True, text=True, timeout=240, cwd=tmp_path)
    report = result.stdout + result.stderr
    assert "Tested: " in report, report[-3000:]
    assert result.returncode == 0, report[-12000:]
