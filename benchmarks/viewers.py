"""Many viewers: a real browser records each page's refresh callbacks, then N clients replay them.

1. A headless Chromium (selenium, as tests/browser does) logs in and opens every page of the
   navbar; for each page it times the first render (page open to every chart drawn and no callback
   pending) and records the ``POST /_dash-update-component`` bodies one refresh tick sends (a
   ``fetch`` wrapper installed through CDP ``Page.addScriptToEvaluateOnNewDocument``).
2. N logged-in clients (requests, one thread each plus up to 6 connections, as a browser has)
   replay every page's tick every 5 s for ``--duration`` seconds, at random phases, carrying each
   chart's state forward from its answers as the browser does. A tick is dropped when its
   callbacks have not all answered within its 5 s period.
3. Against the embedded app (``vitals run``: one process, SimpleCache, its own scheduler collecting)
   and ``vitals web`` (gunicorn, 3 workers, the callback cache in Redis; this process writes the
   host metrics every 5 s, standing in for the Celery workers).

Printed per configuration: callback p50/p95/max, dropped ticks, server CPU per viewer (over the
idle server measured just before), beside the 1-viewer baseline of the same mode; first render of
each page; the load average (other processes share the 2 cores).
Targets (issue #15): 20 viewers p95 <= 100 ms and no tick dropped (both modes); 50 viewers p95 <=
250 ms with ``vitals web``; first render of every page <= 1 s.

Run: ``python -m benchmarks.viewers [--duration 30] [--viewers 1,20,50] [--modes embedded,web]``.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import psutil
import requests
from selenium import webdriver
from selenium.webdriver.common.by import By

import storage
from storage.users import create_user

ROOT = Path(__file__).resolve().parents[1]
PASSWORD = "bench-password-0123"
USER = "bench"
TICK_S = 5.0
BROWSER_CONNECTIONS = 6  # Chrome's connections per host: how many callbacks of a tick run at once
USER_AGENT = "vitals-bench/1 (replaying a recorded browser)"
REDIS_URL = "redis://127.0.0.1:6379/0"
# Host metrics seeded (an hour at 5 s) so every chart has a full window from the start.
SEEDED: dict[str, list[tuple[dict[str, str], float]]] = {
    "system.cpu.percent": [({}, 30.0)],
    "system.memory.percent": [({}, 55.0)],
    "system.disk.percent": [({"mount": "/"}, 62.0)],
    "system.load": [({"period": "1m"}, 1.2), ({"period": "5m"}, 1.0), ({"period": "15m"}, 0.9)],
    "system.process.count": [({}, 240.0)],
    "system.swap.percent": [({}, 3.0)],
    "system.cpu.core.percent": [({"core": "0"}, 28.0), ({"core": "1"}, 33.0)],
    "system.net.bytes_per_second": [({"direction": "recv"}, 2e5), ({"direction": "sent"}, 1e5)],
    "system.disk.io_bytes_per_second": [({"direction": "read"}, 1e6), ({"direction": "write"}, 5e5)],
}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"load {one:.2f} / {five:.2f} / {fifteen:.2f}"


def _samples(now: pd.Timestamp, stamps: pd.DatetimeIndex) -> pd.DataFrame:
    frames = []
    for metric, series in SEEDED.items():
        for labels, base in series:
            wobble = [base * (1 + 0.1 * ((i * 7) % 11 - 5) / 5) for i in range(len(stamps))]
            frames.append(
                pd.DataFrame(
                    {"ts": stamps, "metric": metric, "value": wobble, "labels": [labels] * len(stamps)}
                )
            )
    return pd.concat(frames, ignore_index=True)


def _prepare_store(data_dir: Path) -> str:
    url = f"sqlite:///{data_dir / 'vitals.db'}"
    store = storage.connect(url)
    create_user(store.engine, USER, PASSWORD, "viewer")
    now = pd.Timestamp.now(tz="UTC").floor("5s")
    store.write(_samples(now, pd.date_range(now - pd.Timedelta("1h"), now - pd.Timedelta("5s"), freq="5s")))
    store.close()
    return url


class HostWriter(threading.Thread):
    """Writes the host metrics every 5 s, as the Celery workers would for ``vitals web``."""

    def __init__(self, url: str) -> None:
        super().__init__(daemon=True)
        self.url = url
        self.stop = threading.Event()

    def run(self) -> None:
        store = storage.connect(self.url, migrate=False)
        while not self.stop.wait(TICK_S):
            now = pd.Timestamp.now(tz="UTC").floor("s")
            store.write(_samples(now, pd.DatetimeIndex([now])))
        store.close()


# -- the server ------------------------------------------------------------------------------------


@dataclass
class Server:
    mode: str
    url: str
    process: subprocess.Popen[bytes]

    def processes(self) -> list[psutil.Process]:
        main = psutil.Process(self.process.pid)
        return [main, *main.children(recursive=True)]

    def cpu_seconds(self) -> float:
        total = 0.0
        for proc in self.processes():
            try:
                times = proc.cpu_times()
                total += times.user + times.system
            except psutil.NoSuchProcess:
                pass
        return total

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()


def start_server(mode: str, data_dir: Path, store_url: str) -> Server:
    port = _free_port()
    env = {
        **os.environ,
        "VITALS_DATA_DIR": str(data_dir),
        "VITALS_DATABASE_URL": store_url,
        "VITALS_BIND_PORT": str(port),
        "VITALS_SECRET_KEY": "bench-secret-key-0123456789abcdef",
    }
    command = [sys.executable, str(ROOT / "app.py"), "run"]
    if mode == "web":
        env["VITALS_BROKER_URL"] = REDIS_URL  # the shared callback cache of the gunicorn workers
        command = [sys.executable, str(ROOT / "app.py"), "web", "--workers", "3"]
    log = open(data_dir / f"{mode}-server.log", "wb")  # noqa: SIM115 - lives as long as the server
    process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120  # gunicorn imports the app once per worker: slow on a busy machine
    try:
        while time.monotonic() < deadline:
            try:
                if requests.get(url + "/login", timeout=10).status_code == 200:
                    return Server(mode, url, process)
            except requests.RequestException:
                pass
            if process.poll() is not None:
                break
            time.sleep(0.3)
    except BaseException:  # stopped while starting (SIGTERM, ^C): take the server down too
        process.kill()
        raise
    process.kill()
    sys.exit(f"the {mode} server did not start; see {data_dir / f'{mode}-server.log'}")


# -- recording with a real browser -----------------------------------------------------------------


@dataclass
class Page:
    path: str
    first_render_s: float
    tick_bodies: list[dict[str, Any]] = field(default_factory=list)


_SETTLED_JS = """
const loading = document.querySelector('[data-dash-is-loading="true"]');
const title = document.querySelector('h1');
const plots = [...document.querySelectorAll('.js-plotly-plot')];
const drawn = plots.filter(p => (p.data && p.data.some(t => (t.x || []).length))
                               || (p.layout && (p.layout.annotations || []).length));
return !loading && !!title && (plots.length === 0 || drawn.length === plots.length);
"""


def _browser() -> webdriver.Chrome:
    options = webdriver.ChromeOptions()
    for flag in (
        "--headless",
        "--no-sandbox",
        "--disable-dev-shm-usage",
        "--disable-gpu",
        "--window-size=1400,1000",
    ):
        options.add_argument(flag)
    driver = webdriver.Chrome(options=options)
    driver.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": _RECORDER_JS})
    return driver


# Installed through CDP before any page script runs: keeps a copy of every callback body the Dash
# renderer posts. (Chrome's performance log only says ``hasPostData`` for these fetches.)
_RECORDER_JS = """
window.__vitalsCallbacks = [];
const originalFetch = window.fetch;
window.fetch = function (url, options) {
  if (String(url).includes('/_dash-update-component') && options && options.body) {
    window.__vitalsCallbacks.push(options.body);
  }
  return originalFetch.apply(this, arguments);
};
"""


def _callback_posts(driver: webdriver.Chrome) -> list[dict[str, Any]]:
    """The callback bodies posted since the last call (and forget them)."""
    posted = driver.execute_script(
        "const b = window.__vitalsCallbacks || []; window.__vitalsCallbacks = []; return b;"
    )
    return [json.loads(body) for body in posted]


def _one_tick(bodies: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The callbacks of one whole refresh tick (the fullest one recorded: a tick posts each once)."""
    counts: dict[int, int] = {}
    for body in bodies:
        tick = _tick_of(body)
        if tick is not None:
            counts[tick] = counts.get(tick, 0) + 1
    if not counts:
        return []
    fullest = max(sorted(counts), key=lambda tick: counts[tick])
    return [body for body in bodies if _tick_of(body) == fullest]


def _tick_of(body: dict[str, Any]) -> int | None:
    for item in body.get("inputs", []):
        if isinstance(item, dict) and item.get("property") == "n_intervals":
            return int(item.get("value") or 0)
    return None


def record(server: Server) -> list[Page]:
    driver = _browser()
    try:
        driver.get(server.url + "/login")
        driver.find_element(By.ID, "username").send_keys(USER)
        driver.find_element(By.ID, "password").send_keys(PASSWORD)
        driver.find_element(By.ID, "login-submit").click()
        _wait(lambda: driver.find_elements(By.ID, "user-menu"), 15)
        paths = [
            link.get_attribute("href")
            for link in driver.find_elements(By.CSS_SELECTOR, ".navbar-nav .nav-link")
        ]
        paths = [re.sub(r"^https?://[^/]+", "", href) for href in paths if href]
        paths = [path for path in paths if path.startswith("/") and "#" not in path]  # not the user menu
        pages = []
        for path in dict.fromkeys(paths):
            started = time.perf_counter()
            driver.get(server.url + path)
            _wait(lambda: driver.execute_script(_SETTLED_JS), 20)
            first_render = time.perf_counter() - started
            _callback_posts(driver)  # drop the page-open callbacks
            time.sleep(2 * TICK_S + 1.0)  # at least one whole refresh tick, and its answers
            pages.append(Page(path, first_render, _one_tick(_callback_posts(driver))))
        return pages
    finally:
        driver.quit()


def _wait(condition: Any, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if condition():
                return
        except Exception:  # the page is navigating
            pass
        time.sleep(0.05)
    raise TimeoutError(f"page did not settle within {timeout:.0f} s")


# -- replaying -----------------------------------------------------------------------------------


def _login(url: str) -> requests.Session:
    session = requests.Session()
    session.headers["User-Agent"] = USER_AGENT
    page = session.get(url + "/login").text
    token = re.search(r'name="csrf" value="([^"]+)"', page)
    response = session.post(
        url + "/login",
        data={"csrf": token.group(1) if token else "", "username": USER, "password": PASSWORD, "next": "/"},
        allow_redirects=False,
    )
    if response.status_code != 302:
        sys.exit(f"login failed: HTTP {response.status_code}")
    session.get(url + "/")  # sets the CSRF cookie Dash's renderer echoes
    session.headers["X-CSRFToken"] = session.cookies.get("_csrf_token") or ""
    session.headers["Origin"] = url
    adapter = requests.adapters.HTTPAdapter(pool_connections=1, pool_maxsize=BROWSER_CONNECTIONS)
    session.mount("http://", adapter)
    return session


def _key(component_id: Any) -> str:
    return (
        component_id
        if isinstance(component_id, str)
        else json.dumps(component_id, sort_keys=True, separators=(",", ":"))
    )


@dataclass
class Results:
    latencies_ms: list[float] = field(default_factory=list)
    by_callback: dict[str, list[float]] = field(default_factory=dict)
    ticks: int = 0
    dropped: int = 0
    errors: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)


class Viewer(threading.Thread):
    """One viewer with every recorded page open: every page's tick, every 5 s."""

    def __init__(self, url: str, pages: list[Page], results: Results) -> None:
        super().__init__(daemon=True)
        self.url, self.results = url, results
        self.until = 0.0  # set when every viewer has logged in
        self.bodies = [json.loads(json.dumps(body)) for page in pages for body in page.tick_bodies]
        self.session = _login(url)
        self.pool = ThreadPoolExecutor(BROWSER_CONNECTIONS)

    def run(self) -> None:
        next_tick = time.monotonic() + random.uniform(0, TICK_S)  # viewers opened at different moments
        while next_tick + TICK_S <= self.until:
            time.sleep(max(0.0, next_tick - time.monotonic()))
            futures = [self.pool.submit(self._post, body) for body in self.bodies]
            done, _ = wait(futures, timeout=max(0.0, next_tick + TICK_S - time.monotonic()))
            with self.results.lock:
                self.results.ticks += 1
                self.results.dropped += len(done) < len(futures)
            wait(futures)  # a late tick still finishes before the next starts, as in a browser
            next_tick += TICK_S
            while next_tick < time.monotonic():  # the browser skips the ticks it was too busy for
                next_tick += TICK_S
        self.pool.shutdown()

    def _post(self, body: dict[str, Any]) -> None:
        for item in body.get("inputs", []):
            if isinstance(item, dict) and item.get("property") == "n_intervals":
                item["value"] = (item.get("value") or 0) + 1
        started = time.perf_counter()
        try:
            response = self.session.post(self.url + "/_dash-update-component", json=body, timeout=30)
            ok = response.status_code in (200, 204)
        except requests.RequestException:
            ok, response = False, None
        elapsed = (time.perf_counter() - started) * 1000
        name = body.get("output", "?")[:60]
        with self.results.lock:
            self.results.latencies_ms.append(elapsed)
            self.results.by_callback.setdefault(name, []).append(elapsed)
            self.results.errors += not ok
        if ok and response is not None and response.status_code == 200:
            _carry_state(body, response.json().get("response", {}))


def _carry_state(body: dict[str, Any], answer: dict[str, Any]) -> None:
    """Feed the answer's outputs into the states the next tick sends (a chart's stored state)."""
    for item in body.get("state", []):
        if not isinstance(item, dict):
            continue
        value = answer.get(_key(item["id"]), {}).get(item["property"])
        if value is not None:
            item["value"] = value


def _own_cpu_seconds() -> float:
    times = psutil.Process().cpu_times()
    return float(times.user + times.system)


def replay(server: Server, pages: list[Page], viewers: int, duration_s: float) -> dict[str, Any]:
    time.sleep(2)
    idle_before = server.cpu_seconds()
    time.sleep(5)
    idle_cpu = (server.cpu_seconds() - idle_before) / 5
    results = Results()
    clients = [Viewer(server.url, pages, results) for _ in range(viewers)]  # logins are not timed
    cpu_before, wall_before = server.cpu_seconds(), time.monotonic()
    own_before = _own_cpu_seconds()
    for client in clients:
        client.until = wall_before + duration_s
        client.start()
    for client in clients:
        client.join()
    wall = time.monotonic() - wall_before
    busy_cpu = (server.cpu_seconds() - cpu_before) / wall
    client_cpu = (_own_cpu_seconds() - own_before) / wall
    latencies = sorted(results.latencies_ms)
    slowest = sorted(((statistics.median(v), k) for k, v in results.by_callback.items()), reverse=True)[:3]
    return {
        "viewers": viewers,
        "requests": len(latencies),
        "p50": statistics.median(latencies) if latencies else float("nan"),
        "p95": latencies[int(0.95 * (len(latencies) - 1))] if latencies else float("nan"),
        "max": latencies[-1] if latencies else float("nan"),
        "ticks": results.ticks,
        "dropped": results.dropped,
        "errors": results.errors,
        "cpu_per_viewer": max(0.0, busy_cpu - idle_cpu) / viewers * 100,
        "cpu_total": busy_cpu * 100,
        "cpu_clients": client_cpu * 100,
        "slowest": slowest,
        "load": _load(),
    }


# -- report ----------------------------------------------------------------------------------------


def _print_run(
    mode: str, run: dict[str, Any], baseline: dict[str, Any] | None, target_ms: float | None
) -> None:
    ratio = (
        f"  ({run['p95'] / baseline['p95']:.1f}x the 1-viewer p95)"
        if baseline and baseline is not run
        else ""
    )
    verdict = ""
    if target_ms is not None:
        met = run["p95"] <= target_ms and run["dropped"] == 0 and run["errors"] == 0
        verdict = f"  target p95 <= {target_ms:.0f} ms, no tick dropped: {'met' if met else 'MISSED'}"
    print(
        f"{mode:8} {run['viewers']:3d} viewers: callback p50 {run['p50']:6.1f} ms  p95 {run['p95']:6.1f} ms  "
        f"max {run['max']:7.1f} ms  ({run['requests']} callbacks, {run['errors']} errors){ratio}\n"
        f"{'':8} ticks {run['ticks']}, dropped {run['dropped']}; server CPU {run['cpu_total']:.0f} % of a core, "
        f"{run['cpu_per_viewer']:.2f} % per viewer over idle (the replaying clients: {run['cpu_clients']:.0f} %); "
        f"{run['load']}{verdict}",
        flush=True,
    )
    for median, name in run["slowest"]:
        print(f"{'':8}   slowest: {name}  median {median:.1f} ms", flush=True)


_TARGETS = {("embedded", 20): 100.0, ("web", 20): 100.0, ("web", 50): 250.0}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=30.0, help="seconds of replay per configuration")
    parser.add_argument("--viewers", default="1,20,50", help="viewer counts; 1 is the baseline (always run)")
    parser.add_argument("--modes", default="embedded,web", help="embedded, web or both")
    args = parser.parse_args()
    # A stopped run still stops its server and browser (the ``finally`` blocks run).
    signal.signal(signal.SIGTERM, lambda *_: sys.exit("stopped"))
    counts = sorted({1, *(int(n) for n in args.viewers.split(","))})
    if not shutil.which("chromedriver"):
        sys.exit("chromedriver is needed to record the callbacks (apt-get install chromium chromium-driver)")
    print(
        f"viewers benchmark: {args.duration:.0f} s per run, ticks every {TICK_S:.0f} s; {_load()}", flush=True
    )
    for mode in args.modes.split(","):
        with tempfile.TemporaryDirectory(prefix=f"vitals-bench-{mode}-") as tmp:
            data_dir = Path(tmp)
            store_url = _prepare_store(data_dir)
            writer = HostWriter(store_url) if mode == "web" else None
            if writer:
                writer.start()
            server = start_server(mode, data_dir, store_url)
            try:
                pages = record(server)
                print(f"\n[{mode}] first render after login (page open to every chart drawn); {_load()}")
                for page in pages:
                    flag = "" if page.first_render_s <= 1.0 else "  > 1 s target"
                    print(
                        f"  {page.path:12} {page.first_render_s * 1000:6.0f} ms  ({len(page.tick_bodies)} callbacks per tick){flag}"
                    )
                baseline = None
                for count in counts:
                    if mode == "embedded" and count > 20:
                        continue  # the 50-viewer target is the web tier's
                    run = replay(server, pages, count, args.duration)
                    baseline = baseline or run
                    target = _TARGETS.get((mode, count))
                    _print_run(mode, run, baseline, target)
            finally:
                server.stop()
                if writer:
                    writer.stop.set()
    return 0  # figures are measured and printed, never asserted


if __name__ == "__main__":
    sys.exit(main())
