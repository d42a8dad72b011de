"""The saga's deadline: a saga that cannot make its closing write in time does not make it.

The reconciler takes an operation untouched for `stuck_after` (10 min) to belong to a call
that died. That is only true if no live call writes that late: every Firestore call is
bounded (visn/infra/db.py), and before each closing write a saga checks its deadline, well
inside the callable's 60 s timeout. A closing write that arrives late anyway is refused by
its precondition (the operation's version), never applied over the reconciler's decision.
Measured on the monotonic clock: the business clock (visn.infra.clock) may be pinned.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

# Seconds from the call's start. The callable's timeout is 60 s (visn/entry/runtime.py); the
# reconciler's stuck_after (10 min) is 20 times this.
SAGA_SECONDS = 30.0


class DeadlinePassedError(RuntimeError):
    """The saga's time is up: its closing write is not made."""


@dataclass(frozen=True)
class Deadline:
    at: float  # time.monotonic()

    @classmethod
    def start(cls, seconds: float = SAGA_SECONDS) -> Deadline:
        return cls(time.monotonic() + seconds)

    def remaining(self) -> float:
        return max(0.0, self.at - time.monotonic())

    def check(self) -> None:
        if time.monotonic() >= self.at:
            raise DeadlinePassedError("the saga's deadline passed before its closing write")
