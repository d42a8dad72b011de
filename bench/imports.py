"""Cold start: how long `import main` takes in a fresh interpreter, against its floor.

The floor is `firebase_functions.https_fn`, which main cannot avoid (it declares the
callables with it). Each figure is the median over fresh interpreters of the CPU time the
child spends in the import alone: interpreter start-up is in neither, and unlike wall time
it is not inflated by other processes on a shared machine (on an idle one they agree).

Both sides read bytecode from one cache under bench/results/ (`PYTHONPYCACHEPREFIX`), written
by an unmeasured first run: with PYTHONDONTWRITEBYTECODE set, as on some machines, our own
modules would otherwise be compiled from source on every run while site-packages are not.
"""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from .measure import median
from .stack import ROOT

_PROBE = "import time\nt = time.process_time()\nimport {module}\nprint(time.process_time() - t)"
MAIN = "main"
FLOOR = "firebase_functions.https_fn"


@dataclass(frozen=True)
class ImportFigures:
    main_s: float
    floor_s: float

    @property
    def ratio(self) -> float:
        return self.main_s / self.floor_s


def import_seconds(module: str, pycache: Path) -> float:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONPYCACHEPREFIX"] = str(pycache)
    completed = subprocess.run(  # noqa: S603 (our own interpreter, a fixed probe)
        [sys.executable, "-c", _PROBE.format(module=module)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return float(completed.stdout.strip().splitlines()[-1])


def measure_imports(pycache: Path, runs: int = 5) -> ImportFigures:
    """Alternating runs, after one unmeasured run of each (bytecode and page cache warm)."""
    import_seconds(MAIN, pycache)
    import_seconds(FLOOR, pycache)
    mains: list[float] = []
    floors: list[float] = []
    for _ in range(runs):
        mains.append(import_seconds(MAIN, pycache))
        floors.append(import_seconds(FLOOR, pycache))
    return ImportFigures(median(mains), median(floors))
