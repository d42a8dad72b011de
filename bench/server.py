"""7. getAvailability served as deployed: functions-framework's gunicorn, over HTTP.

The other figures drive the callables inside the benchmark's own process; this one starts
`functions-framework --target getAvailability` (gunicorn, one worker, THREADS threads: what
Cloud Run runs) in its own process group and calls it over real sockets:

- a burst of concurrent calls released together, against one warm call alone: the share of
  the ideal the Keyloop ceiling allows (KEYLOOP_MAX_CONCURRENT_CALLS calls wait on Keyloop at
  once, so the burst needs at least ceil(callers / ceiling) round trips), with
  functions-framework's default threads on our `cpu: 1` (4) and with THREADS from the
  committed .env (= concurrency), at each latency;
- CPU milliseconds per warm call in the gunicorn worker (its utime + stime from /proc,
  sequential calls with no added latency, so the figure is CPU only);
- where that CPU goes: py-spy samples of the worker, by package of the innermost frame.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from devtools.processes import ProcessGroup, free_port

from .driver import BENCH_USER
from .measure import keyloop_ceiling, waves
from .plan import Plan
from .stack import ROOT, Stack

DEFAULT_THREADS = 4  # functions-framework's default, 4 per CPU, on our cpu: 1
SERVER_START_TIMEOUT = 60.0
BURSTS = 3  # per thread count and latency; the figure is their median
SINGLES = 7  # warm calls made one at a time before the bursts; the figure is their median
CPU_BATCHES, CPU_CALLS = 5, 200
SERVER_CPU = min(os.sched_getaffinity(0))  # the server's core; the callers get the rest
_CLK_TCK = os.sysconf("SC_CLK_TCK")


def deployed_threads() -> int:
    """THREADS as the deploy carries it: the committed .env (firebase-tools reads the same)."""
    for line in (ROOT / ".env").read_text().splitlines():
        key, _, value = line.partition("=")
        if key.strip() == "THREADS":
            return int(value.strip())
    raise RuntimeError(".env sets no THREADS")


@dataclass(frozen=True)
class BurstRun:
    threads: int
    latency_ms: float
    single_ms: float  # median of warm calls made one at a time
    walls_ms: list[float]  # each burst, first release to last answer
    failures: int
    waves: int  # Keyloop round trips the ceiling allows the burst at best

    @property
    def wall_ms(self) -> float:
        return statistics.median(self.walls_ms)

    @property
    def ideal_ms(self) -> float:
        return self.waves * self.single_ms

    @property
    def share(self) -> float:
        """The ideal burst (`waves` round trips, each one call's latency) over the achieved."""
        return self.ideal_ms / self.wall_ms


@dataclass(frozen=True)
class Profile:
    samples: int
    by_package: list[tuple[str, float]]  # share of samples, innermost frame's package
    top_functions: list[tuple[str, float]]
    error: str | None = None


@dataclass
class ServerFigures:
    callers: int
    threads: int  # THREADS as deployed (.env)
    ceiling: int  # KEYLOOP_MAX_CONCURRENT_CALLS, as the served functions read it
    runs: list[BurstRun] = field(default_factory=list)
    cpu_batches_ms: list[float] = field(default_factory=list)  # CPU ms per call, per batch
    cpu_calls: int = 0  # calls per batch
    profile: Profile | None = None

    @property
    def cpu_ms_per_call(self) -> float:
        return statistics.median(self.cpu_batches_ms) if self.cpu_batches_ms else 0.0


class FunctionServer:
    """`functions-framework --target NAME` as Cloud Run starts it, on a free port."""

    def __init__(
        self,
        target: str,
        threads: int,
        log_dir: Path,
        env: dict[str, str] | None = None,
        name: str = "",
    ) -> None:
        self.port = free_port()
        env = {**os.environ, **(env or {}), "THREADS": str(threads), "PYTHONUNBUFFERED": "1"}
        self.group = ProcessGroup(
            f"functions-framework-{threads}",
            [
                *_on_server_cpu(),
                str(ROOT / "venv" / "bin" / "functions-framework"),
                f"--target={target}",
                "--source=main.py",
                "--host=127.0.0.1",
                f"--port={self.port}",
            ],
            log_path=log_dir / f"functions-framework-{name or 'threads'}-{threads}.log",
            env=env,
            cwd=ROOT,
        )

    def worker_pid(self) -> int:
        """gunicorn's one worker (the master only forks and watches it)."""
        master = self.group.process.pid
        children = Path(f"/proc/{master}/task/{master}/children").read_text().split()
        if len(children) != 1:
            raise RuntimeError(f"expected one gunicorn worker, found {children}")
        return int(children[0])

    def cpu_seconds(self) -> float:
        fields = Path(f"/proc/{self.worker_pid()}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / _CLK_TCK  # utime + stime

    def stop(self) -> None:
        self.group.stop()


class Caller:
    """One HTTP/1.1 connection, as the Firebase SDK's POST reaches the container."""

    def __init__(self, port: int, body: bytes, token: str) -> None:
        self.port = port
        self.body = body
        self.token = token
        self.headers = {"Content-Type": "application/json", "Authorization": f"Bearer {token}"}
        self.connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)

    def call(self) -> dict[str, Any]:
        try:
            self.connection.request("POST", "/", body=self.body, headers=self.headers)
            response = self.connection.getresponse()
        except (BrokenPipeError, ConnectionResetError, http.client.RemoteDisconnected):
            # gunicorn closes a connection idle past its keep-alive (2 s): open a new one.
            self.connection.close()
            self.connection.request("POST", "/", body=self.body, headers=self.headers)
            response = self.connection.getresponse()
        payload = json.loads(response.read() or b"{}")
        if "result" not in payload:
            raise RuntimeError(f"getAvailability answered {response.status}: {payload}")
        return dict(payload["result"])

    def close(self) -> None:
        self.connection.close()


@contextlib.contextmanager
def serving(
    threads: int, log_dir: Path, env: dict[str, str] | None = None, name: str = ""
) -> Iterator[FunctionServer]:
    """getAvailability served; `env` over this process's environment (`name` for its log)."""
    server = FunctionServer("getAvailability", threads, log_dir, env, name)
    try:
        server.group.wait_until(lambda: _listening(server.port), SERVER_START_TIMEOUT)
        yield server
    finally:
        server.stop()


def _on_server_cpu() -> list[str]:
    """Deployed, the function has one vCPU (`cpu: 1`) to itself: here it gets one core, and
    the callers (this process) the others, where the machine has more than one."""
    taskset = shutil.which("taskset")
    if taskset is None or len(os.sched_getaffinity(0)) < 2:
        return []
    return [taskset, "--cpu-list", str(SERVER_CPU)]


@contextlib.contextmanager
def off_server_cpu() -> Iterator[None]:
    mine = os.sched_getaffinity(0)
    others = mine - {SERVER_CPU}
    if _on_server_cpu() and others:
        os.sched_setaffinity(0, others)
    try:
        yield
    finally:
        os.sched_setaffinity(0, mine)


def measure(
    stack: Stack, plan: Plan, latencies_ms: list[float], callers: int, log_dir: Path
) -> ServerFigures:
    with off_server_cpu():
        return _measure(stack, plan, latencies_ms, callers, log_dir)


def _measure(
    stack: Stack, plan: Plan, latencies_ms: list[float], callers: int, log_dir: Path
) -> ServerFigures:
    body = json.dumps({"data": plan.availability(1)}).encode()
    token = BENCH_USER.id_token()
    figures = ServerFigures(callers, deployed_threads(), keyloop_ceiling())
    ideal = waves(callers, figures.ceiling)
    for threads in (DEFAULT_THREADS, figures.threads):
        with serving(threads, log_dir) as server:
            caller = Caller(server.port, body, token)
            for latency in latencies_ms:
                stack.post("latency", {"ms": latency})
                for _ in range(3):
                    caller.call()  # token, connections, supplier cache: a warm instance
                single, walls, failures = single_and_bursts(caller, callers)
                figures.runs.append(BurstRun(threads, latency, single, walls, failures, ideal))
            if threads == figures.threads:
                # CPU alone: no added latency, calls one after another.
                stack.post("latency", {"ms": 0})
                for _ in range(10):
                    caller.call()
                figures.cpu_calls = CPU_CALLS
                figures.cpu_batches_ms = [
                    _cpu_per_call(server, caller, CPU_CALLS) for _ in range(CPU_BATCHES)
                ]
                figures.profile = _profile(server, caller, log_dir)
            caller.close()
    return figures


def single_and_bursts(caller: Caller, callers: int) -> tuple[float, list[float], int]:
    """One warm call alone (median of SINGLES, ms), then BURSTS bursts (ms each) and their
    failures."""
    single = statistics.median(_timed(caller.call) for _ in range(SINGLES))
    walls, failures = [], 0
    for _ in range(BURSTS):
        wall, failed = _burst(caller.port, caller.body, caller.token, callers)
        walls.append(wall * 1000)
        failures += failed
    return single * 1000, walls, failures


def _burst(port: int, body: bytes, token: str, callers: int) -> tuple[float, int]:
    """`callers` calls released together, each on its own new connection."""
    started: list[float] = []
    finished: list[float] = []
    failures: list[BaseException] = []
    lock = threading.Lock()
    barrier = threading.Barrier(callers, action=lambda: started.append(time.perf_counter()))

    def one() -> None:
        caller = Caller(port, body, token)
        barrier.wait()
        try:
            caller.call()
        except Exception as exc:
            with lock:
                failures.append(exc)
        with lock:
            finished.append(time.perf_counter())
        caller.close()

    threads = [threading.Thread(target=one, name=f"server-caller-{i}") for i in range(callers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    return max(finished) - started[0], len(failures)


def _cpu_per_call(server: FunctionServer, caller: Caller, calls: int) -> float:
    before = server.cpu_seconds()
    for _ in range(calls):
        caller.call()
    return (server.cpu_seconds() - before) * 1000 / calls


def _profile(
    server: FunctionServer, caller: Caller, log_dir: Path, seconds: float = 4.0
) -> Profile:
    """py-spy samples of the worker while it serves warm calls back to back."""
    py_spy = shutil.which("py-spy", path=str(ROOT / "venv" / "bin"))
    if py_spy is None:
        return Profile(0, [], [], error="py-spy is not installed (make setup)")
    out = log_dir / "server-profile.txt"
    recorder = subprocess.Popen(  # noqa: S603 (our own fixed command)
        [
            py_spy,
            "record",
            "--pid",
            str(server.worker_pid()),
            "--rate",
            "500",
            "--duration",
            f"{seconds:g}",
            "--format",
            "raw",
            "--gil",  # only samples holding the GIL: the Python CPU, not the waits
            "--output",
            str(out),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    time.sleep(0.5)  # py-spy attaches
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and recorder.poll() is None:
        caller.call()
    try:
        _, stderr = recorder.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        recorder.kill()
        return Profile(0, [], [], error="py-spy did not finish")
    if recorder.returncode != 0 or not out.exists():
        return Profile(0, [], [], error=f"py-spy failed: {stderr.strip()[-200:]}")
    return summarise(out.read_text())


_FRAME = re.compile(r"^(?P<function>.*) \((?P<file>[^:()]*)(?::\d+)?\)$")


def summarise(raw: str, top: int = 8) -> Profile:
    """py-spy's raw (collapsed) stacks: each sample is charged to its innermost frame."""
    packages: Counter[str] = Counter()
    functions: Counter[str] = Counter()
    total = 0
    for line in raw.splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        leaf = stack.rsplit(";", 1)[-1]
        match = _FRAME.match(leaf)
        file = match["file"] if match else ""
        function = match["function"] if match else leaf
        package = _package(file)
        packages[package] += int(count)
        functions[f"{package}: {function}"] += int(count)
        total += int(count)
    if total == 0:
        return Profile(0, [], [], error="no samples")
    return Profile(
        total,
        [(name, n / total) for name, n in packages.most_common(top)],
        [(name, n / total) for name, n in functions.most_common(top)],
    )


def _package(file: str) -> str:
    """py-spy names files relative to their sys.path entry: `flask/app.py`, `threading.py`."""
    top = file.split("/", 1)[0].removesuffix(".py") if file else "?"
    if top in sys.stdlib_module_names:
        return f"stdlib {top}"
    return top


def _timed(call: Any) -> float:
    started = time.perf_counter()
    call()
    return time.perf_counter() - started


def _listening(port: int) -> bool:
    with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
        return True
    return False
