"""Statistics, Firestore operation counts and memory figures for the benchmark."""

from __future__ import annotations

import functools
import math
import resource
import statistics
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")


def median(values: Sequence[float]) -> float:
    return float(statistics.median(values))


def p95(values: Sequence[float]) -> float:
    """The nearest-rank 95th percentile: a value that was really observed."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(0.95 * len(ordered)) - 1)]


def keyloop_ceiling() -> int:
    """KEYLOOP_MAX_CONCURRENT_CALLS as the functions read it (this environment, else the
    param's default): Keyloop requests one instance has in flight at once."""
    from visn.infra import settings

    return int(settings.KEYLOOP_MAX_CONCURRENT_CALLS.value)


def waves(callers: int, ceiling: int) -> int:
    """Keyloop round trips `callers` concurrent uncached calls need at best: the ceiling lets
    `ceiling` of them wait on Keyloop at once, the rest queue behind them."""
    return math.ceil(callers / ceiling)


def timed(function: Callable[[], T]) -> tuple[float, T]:
    """Seconds `function` took, and what it returned."""
    started = time.perf_counter()
    value = function()
    return time.perf_counter() - started, value


@dataclass
class FirestoreOps:
    """Document reads and writes, and the RPCs that carried them."""

    reads: int = 0
    writes: int = 0
    rpcs: int = 0

    def __sub__(self, other: FirestoreOps) -> FirestoreOps:
        return FirestoreOps(
            self.reads - other.reads, self.writes - other.writes, self.rpcs - other.rpcs
        )


class FirestoreCounter:
    """Counts what the Firestore client sends, by wrapping its generated API client.

    Every `DocumentReference.get/create/set/update`, `WriteBatch.commit` and query of the
    google-cloud-firestore library ends in one of the wrapped methods, so each document is
    counted once whichever high-level call sent it: a commit counts its writes, a batch get
    its documents, a query the documents it streams back.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._totals = FirestoreOps()
        self._originals: dict[str, Any] = {}

    def install(self) -> None:
        from google.cloud.firestore_v1.services.firestore.client import FirestoreClient

        if self._originals:
            return
        for name in ("commit", "batch_get_documents", "run_query"):
            self._originals[name] = getattr(FirestoreClient, name)
        counter = self

        @functools.wraps(self._originals["commit"])
        def commit(api: Any, *args: Any, **kwargs: Any) -> Any:
            counter._add(writes=len(_field(_request(args, kwargs), "writes")))
            return counter._originals["commit"](api, *args, **kwargs)

        @functools.wraps(self._originals["batch_get_documents"])
        def batch_get_documents(api: Any, *args: Any, **kwargs: Any) -> Any:
            counter._add(reads=len(_field(_request(args, kwargs), "documents")))
            return counter._originals["batch_get_documents"](api, *args, **kwargs)

        @functools.wraps(self._originals["run_query"])
        def run_query(api: Any, *args: Any, **kwargs: Any) -> Any:
            counter._add()
            for response in counter._originals["run_query"](api, *args, **kwargs):
                if getattr(response, "document", None):
                    counter._add(reads=1, rpcs=0)
                yield response

        for name, wrapper in (
            ("commit", commit),
            ("batch_get_documents", batch_get_documents),
            ("run_query", run_query),
        ):
            setattr(FirestoreClient, name, wrapper)

    def uninstall(self) -> None:
        from google.cloud.firestore_v1.services.firestore.client import FirestoreClient

        for name, original in self._originals.items():
            setattr(FirestoreClient, name, original)
        self._originals.clear()

    def totals(self) -> FirestoreOps:
        with self._lock:
            return FirestoreOps(self._totals.reads, self._totals.writes, self._totals.rpcs)

    @contextmanager
    def counting(self) -> Iterator[FirestoreOps]:
        """The operations sent inside the block (filled in when it ends)."""
        before = self.totals()
        ops = FirestoreOps()
        try:
            yield ops
        finally:
            delta = self.totals() - before
            ops.reads, ops.writes, ops.rpcs = delta.reads, delta.writes, delta.rpcs

    def _add(self, *, reads: int = 0, writes: int = 0, rpcs: int = 1) -> None:
        with self._lock:
            self._totals.reads += reads
            self._totals.writes += writes
            self._totals.rpcs += rpcs


def _request(args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    return kwargs["request"] if "request" in kwargs else (args[0] if args else None)


def _field(request: Any, name: str) -> Sequence[Any]:
    if request is None:
        return ()
    if isinstance(request, dict):
        return list(request.get(name) or ())
    return list(getattr(request, name, ()) or ())


def peak_rss_mib() -> float:
    """The process's peak resident set (VmHWM), in MiB."""
    status = Path("/proc/self/status")
    if status.exists():
        for line in status.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
