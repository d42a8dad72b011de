"""Every step a flow takes, recorded, and one fault injected at one step.

Firestore steps are seen at the client's RPC layer (`FirestoreClient.commit`,
`batch_get_documents`, `run_query`, `begin_transaction`): every commit, batch, transaction and
read of our code, whatever helper it goes through, is one step, labelled from the request
itself. Keyloop steps are the client's `create_appointment` and `cancel_appointment`; their
faults are played by the sandbox (armed just before the call), so the client's own retry and
error mapping run for real. A step added to the saga later is recorded, and so explored,
without anyone editing the explorer.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import requests
from google.api_core import exceptions as gexc
from google.cloud.firestore_v1.services.firestore.client import FirestoreClient

from keyloop import KeyloopClient, KeyloopUnavailableError
from tests.saga.gates import Gate

# The recording and index of the step this thread is at (set by the recorder, read by the
# gate just before and just after the step).
_this_thread = threading.local()


def _here() -> tuple[Session | None, int | None]:
    at: tuple[Session | None, int | None] = getattr(_this_thread, "at", (None, None))
    return at


class ProcessDied(BaseException):
    """The instance dies right after a step: nothing in our code catches it."""


# Fault kinds per kind of step. Each is one run of the flow with that fault at that step.
READ_FAULTS = ("refused", "died")
WRITE_FAULTS = ("refused", "applied-then-deadline", "applied-then-retried", "died")
CREATE_FAULTS = (
    "refused-before-sending",
    "booked-then-502",
    "booked-then-504",
    "booked-then-timeout",
    "booked-then-unparseable",
    "not-booked-500",
    "not-booked-503",
    "not-booked-409",
    "not-booked-400",
    "died",
)
CANCEL_FAULTS = (
    "not-applied-503",
    "not-applied-timeout",
    "applied-then-503",
    "applied-then-timeout",
    "gateway-404",
    "own-404",
    "died",
)
FAULTS = {
    "read": READ_FAULTS,
    "write": WRITE_FAULTS,
    "create": CREATE_FAULTS,
    "cancel": CANCEL_FAULTS,
    # The DMS sync's read-back of a repair order: a step the interleaving explorer pauses at;
    # its faults are tested in tests/functions (the single-step flows never read one).
    "lookup": (),
}

# The explorer's Keyloop read timeout is short (KEYLOOP_READ_TIMEOUT_MS); a stall outlasts it.
STALL_SECONDS = 0.45
_GATEWAY_404 = {
    "fault": {
        "faultstring": "Application not found",
        "detail": {"errorcode": "messaging.adaptors.http.flow.ApplicationNotFound"},
    }
}
# How the sandbox plays each Keyloop fault (keyloop_sandbox/faults.py). Cancels are retried by
# the client (3 tries), so a fault meant to last covers all three.
_SANDBOX_FAULTS: dict[str, dict[str, Any]] = {
    "booked-then-502": {"status": 502, "process": True},
    "booked-then-504": {"status": 504, "process": True},
    "booked-then-timeout": {"stallSeconds": STALL_SECONDS, "stallAfterProcessing": True},
    "booked-then-unparseable": {"status": 201, "rawBody": "<html>OK</html>", "process": True},
    "not-booked-500": {"status": 500},
    "not-booked-503": {"status": 503},
    "not-booked-409": {"status": 409, "body": {"code": "SLOT_UNAVAILABLE"}},
    "not-booked-400": {"status": 400, "body": {"code": "VALIDATION"}},
    "not-applied-503": {"status": 503, "count": 3},
    "not-applied-timeout": {"stallSeconds": STALL_SECONDS, "status": 504, "count": 3},
    "applied-then-503": {"status": 503, "process": True, "count": 3},
    "applied-then-timeout": {
        "stallSeconds": STALL_SECONDS,
        "stallAfterProcessing": True,
        "count": 3,
    },
    "gateway-404": {"status": 404, "body": _GATEWAY_404},
    "own-404": {"status": 404, "body": {"code": "APPOINTMENT_NOT_FOUND"}, "process": True},
}


@dataclass(frozen=True)
class Step:
    kind: str  # read, write, create, cancel
    label: str


@dataclass(frozen=True)
class Injection:
    """`fault` at step `index`, or at the first step labelled `label` (set-up of a state)."""

    index: int
    fault: str
    label: str | None = None
    kind: str | None = None  # or at the `nth` step of this kind
    nth: int = 0


@dataclass
class Session:
    """One recording: its steps, the fault it injects (if any), the gate it pauses at."""

    steps: list[Step] = field(default_factory=list)
    injection: Injection | None = None
    injected: bool = False
    gate: Gate | None = None


@dataclass
class StepRecorder:
    """Records steps while a recording is open; injects its `injection` (if any) at its step.
    A recording for one `thread` sees only that thread's steps (another actor's are not), and
    its `gate` (if any) pauses that thread just before or just after one of them
    (tests/saga/gates.py); a recording without a thread sees every other thread's steps.
    Recordings of different threads may be open at once (two actors in flight)."""

    sandbox_url: str
    _sessions: dict[int | None, Session] = field(default_factory=dict)
    _last: Session = field(default_factory=Session)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def steps(self) -> list[Step]:
        """The steps of the recording opened last."""
        return self._last.steps

    @property
    def injected(self) -> bool:
        """Whether the recording opened last injected its fault."""
        return self._last.injected

    @contextmanager
    def recording(
        self,
        injection: Injection | None = None,
        *,
        thread: int | None = None,
        gate: Gate | None = None,
    ) -> Iterator[list[Step]]:
        session = Session(injection=injection, gate=gate)
        with self._lock:
            self._sessions[thread] = session
            self._last = session
        try:
            yield session.steps
        finally:
            with self._lock:
                if self._sessions.get(thread) is session:
                    del self._sessions[thread]

    def _next(self, kind: str, label: str) -> str | None:
        """Record the step; the fault to inject at it, if this is the one. Pauses here when
        the gate is set before this step."""
        fault = self._record(kind, label)
        self._pause(after=False)
        return fault

    def _pause(self, *, after: bool) -> None:
        session, index = _here()
        if session is not None and session.gate is not None and index is not None:
            session.gate.pause_if(index, after=after)

    def _gated_after(self) -> bool:
        """Whether this thread pauses just after its current step (a read is then read in
        full first, so that the pause falls after the read really happened)."""
        session, index = _here()
        gate = session.gate if session is not None else None
        return gate is not None and index is not None and gate.wants(index, after=True)

    def _record(self, kind: str, label: str) -> str | None:
        _this_thread.at = (None, None)
        with self._lock:
            session = self._sessions.get(threading.get_ident()) or self._sessions.get(None)
            if session is None:
                return None
            steps = session.steps
            index = len(steps)
            _this_thread.at = (session, index)
            steps.append(Step(kind, label))
            wanted = session.injection
            if wanted is None or session.injected:
                return None
            of_kind = sum(1 for step in steps if step.kind == kind) - 1
            if (
                wanted.index == index
                or (wanted.label is not None and wanted.label == label)
                or (wanted.kind == kind and wanted.nth == of_kind)
            ):
                session.injected = True
                return wanted.fault
            return None

    # -- Firestore ---------------------------------------------------------------------------

    def wrap_commit(self, original: Callable[..., Any]) -> Callable[..., Any]:
        def commit(api: Any, *args: Any, **kwargs: Any) -> Any:
            request = kwargs.get("request") or (args[0] if args else {})
            fault = self._next("write", _commit_label(request))
            if fault is None:
                answer = original(api, *args, **kwargs)
                self._pause(after=True)
                return answer
            if fault == "refused":
                raise gexc.ServiceUnavailable("injected: refused, not applied")  # type: ignore[no-untyped-call]
            original(api, *args, **kwargs)
            if fault == "applied-then-deadline":
                raise gexc.DeadlineExceeded("injected: applied, answer lost")  # type: ignore[no-untyped-call]
            if fault == "applied-then-retried":
                # The answer was lost; the client's retry sends the same commit again, and
                # meets AlreadyExists or a failed precondition where that would.
                return original(api, *args, **kwargs)
            raise ProcessDied

        return commit

    def wrap_read(self, original: Callable[..., Any], what: str) -> Callable[..., Any]:
        def read(api: Any, *args: Any, **kwargs: Any) -> Any:
            request = kwargs.get("request") or (args[0] if args else {})
            fault = self._next("read", f"{what} {_read_target(request)}")
            if fault == "refused":
                raise gexc.ServiceUnavailable("injected: read refused")  # type: ignore[no-untyped-call]
            result = original(api, *args, **kwargs)
            if fault == "died":
                list(result)  # the read happened
                raise ProcessDied
            if self._gated_after():
                if what != "begin-transaction":
                    result = iter(list(result))  # the read happened
                self._pause(after=True)
            return result

        return read

    # -- Keyloop -----------------------------------------------------------------------------

    def wrap_keyloop(self, original: Callable[..., Any], kind: str) -> Callable[..., Any]:
        def call(client: Any, *args: Any, **kwargs: Any) -> Any:
            fault = self._next(kind, f"keyloop {kind}")
            if fault is None:
                answer = original(client, *args, **kwargs)
                self._pause(after=True)
                return answer
            if fault == "refused-before-sending":
                # What the client raises on a refused connection (tested against the
                # sandbox in tests/integration): the sandbox cannot refuse its own port.
                raise KeyloopUnavailableError(f"keyloop {kind}: cannot connect (injected)")
            if fault == "died":
                original(client, *args, **kwargs)
                raise ProcessDied
            spec = dict(_SANDBOX_FAULTS[fault])
            requests.post(
                f"{self.sandbox_url}/_sandbox/faults",
                json={"endpoint": kind, **spec},
                timeout=5,
            ).raise_for_status()
            return original(client, *args, **kwargs)

        return call


@contextmanager
def patched(recorder: StepRecorder) -> Iterator[StepRecorder]:
    """Install the recorder's wrappers on the Firestore RPC layer and the Keyloop client."""
    originals = {
        (FirestoreClient, "commit"): FirestoreClient.commit,
        (FirestoreClient, "batch_get_documents"): FirestoreClient.batch_get_documents,
        (FirestoreClient, "run_query"): FirestoreClient.run_query,
        (FirestoreClient, "begin_transaction"): FirestoreClient.begin_transaction,
        (KeyloopClient, "create_appointment"): KeyloopClient.create_appointment,
        (KeyloopClient, "cancel_appointment"): KeyloopClient.cancel_appointment,
        (KeyloopClient, "get_repair_order"): KeyloopClient.get_repair_order,
    }
    FirestoreClient.commit = recorder.wrap_commit(FirestoreClient.commit)  # type: ignore[method-assign]
    FirestoreClient.batch_get_documents = recorder.wrap_read(  # type: ignore[method-assign]
        FirestoreClient.batch_get_documents, "get"
    )
    FirestoreClient.run_query = recorder.wrap_read(FirestoreClient.run_query, "query")  # type: ignore[method-assign]
    FirestoreClient.begin_transaction = recorder.wrap_read(  # type: ignore[method-assign]
        FirestoreClient.begin_transaction, "begin-transaction"
    )
    KeyloopClient.create_appointment = recorder.wrap_keyloop(  # type: ignore[method-assign]
        KeyloopClient.create_appointment, "create"
    )
    KeyloopClient.cancel_appointment = recorder.wrap_keyloop(  # type: ignore[method-assign]
        KeyloopClient.cancel_appointment, "cancel"
    )
    KeyloopClient.get_repair_order = recorder.wrap_keyloop(  # type: ignore[method-assign]
        KeyloopClient.get_repair_order, "lookup"
    )
    try:
        yield recorder
    finally:
        for (owner, name), original in originals.items():
            setattr(owner, name, original)


def _collection(path: str) -> str:
    parts = path.split("/documents/", 1)[-1].split("/")
    return parts[-2] if len(parts) >= 2 else parts[0]


def _commit_label(request: Any) -> str:
    writes = request.get("writes", []) if isinstance(request, dict) else request.writes
    verbs = []
    for write in writes:
        pb = getattr(write, "_pb", write)
        operation = pb.WhichOneof("operation")
        if operation == "delete":
            verbs.append(f"delete {_collection(pb.delete)}")
            continue
        verb = "set"
        if pb.HasField("current_document"):
            condition = pb.current_document.WhichOneof("condition_type")
            if condition == "exists":
                verb = "update" if pb.current_document.exists else "create"
            else:
                verb = "update-if-unchanged"
        verbs.append(f"{verb} {_collection(pb.update.name)}")
    transaction = request.get("transaction") if isinstance(request, dict) else None
    return ("commit-txn " if transaction else "commit ") + ", ".join(verbs)


def _read_target(request: Any) -> str:
    if not isinstance(request, dict):
        return ""
    if "documents" in request:
        return ", ".join(_collection(d) for d in request["documents"])
    query = request.get("structured_query")
    if query is not None:
        sources = getattr(query, "from_", None) or []
        return ", ".join(getattr(s, "collection_id", "?") for s in sources)
    return ""
