"""A gate: one actor, on a thread of its own, paused just before or just after one of its
recorded steps (tests/saga/steps.py) while another actor runs to completion, then let go.

The recorder records and gates only the paused actor's thread, so the other actor's own
steps run straight through. A pause never lasts for ever: when the other actor cannot finish
while this one is paused (it waits on a lock this one holds), the explorer lets this one go
after `Gate.timeout` and says so.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Generic, TypeVar

T = TypeVar("T")

# How long a paused actor waits to be let go before going on by itself (a safety net: the
# explorer always lets it go well before).
PAUSE_LIMIT = 120.0


@dataclass
class Gate:
    """Pause the thread `thread` at its step `index` (just after it when `after`)."""

    index: int
    after: bool
    thread: int  # the paused actor's thread (Running.ident)
    reached: threading.Event = field(default_factory=threading.Event)
    released: threading.Event = field(default_factory=threading.Event)

    def wants(self, index: int, *, after: bool) -> bool:
        return (
            index == self.index
            and after == self.after
            and threading.get_ident() == self.thread
            and not self.reached.is_set()
        )

    def pause_if(self, index: int, *, after: bool) -> None:
        if not self.wants(index, after=after):
            return
        self.reached.set()
        self.released.wait(PAUSE_LIMIT)

    def release(self) -> None:
        self.released.set()


@dataclass
class Running(Generic[T]):
    """An actor's run on a thread of its own: its answer, or what it raised. The thread
    waits for `go()`, so that the recorder can be told its id first."""

    thread: threading.Thread
    ready: threading.Event = field(default_factory=threading.Event)
    done: threading.Event = field(default_factory=threading.Event)
    value: list[T] = field(default_factory=list)
    error: list[BaseException] = field(default_factory=list)

    @property
    def ident(self) -> int:
        assert self.thread.ident is not None
        return self.thread.ident

    def go(self) -> Running[T]:
        self.ready.set()
        return self

    def wait(self, timeout: float) -> bool:
        return self.done.wait(timeout)

    def result(self) -> T:
        if self.error:
            raise self.error[0]
        return self.value[0]


def start(run: Callable[[], T], name: str = "actor") -> Running[T]:
    """`run` on a new thread, started but held until `go()`."""
    running: Running[T] = Running(threading.Thread())

    def body() -> None:
        running.ready.wait()
        try:
            running.value.append(run())
        except BaseException as exc:
            running.error.append(exc)
        finally:
            running.done.set()

    running.thread = threading.Thread(target=body, name=name, daemon=True)
    running.thread.start()
    return running
