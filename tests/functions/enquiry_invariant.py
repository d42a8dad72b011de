"""The saga's enquiry-number invariant (issue 11), checked after every test that books:
every enquiry carries its own number, and the counter moved by exactly the numbers on
enquiries and on ViSN's abandoned list. A number is taken before Keyloop is asked (issue 20):
while its operation is still open (in flight, or waiting for the reconciler or a person) it is
held there, and `held_ok` counts it as accounted for."""

from __future__ import annotations

from collections import Counter
from typing import Any

from devtools.seed import DEMO_NEXT_ENQUIRY_NUMBER
from visn.records import enquiry_numbers
from visn.records.namespace import OPERATIONS

OPEN_OPERATIONS = frozenset({"IN_PROGRESS", "BOOKED", "COMPENSATING", "OUTCOME_UNKNOWN"})


def number_problems(db: Any, *, held_ok: bool = False) -> list[str]:
    numbers = [
        (s.to_dict() or {}).get(enquiry_numbers.FIELD) for s in db.collection("enquiries").stream()
    ]
    problems = [
        f"an enquiry without an integer number: {n!r}" for n in numbers if type(n) is not int
    ]
    given = Counter(n for n in numbers if type(n) is int)
    problems += [f"number {n} on {k} enquiries" for n, k in given.items() if k > 1]
    abandoned = enquiry_numbers.abandoned_numbers(db)
    drawn = set(range(DEMO_NEXT_ENQUIRY_NUMBER, enquiry_numbers.counter_total(db)))
    accounted = set(given) | abandoned
    if held_ok:
        for snapshot in db.collection(OPERATIONS).stream():
            op = snapshot.to_dict() or {}
            held = enquiry_numbers.number_of(op)
            if held is not None and op.get("status") in OPEN_OPERATIONS:
                accounted.add(held)
    if accounted != drawn:
        problems.append(
            f"drawn but on no enquiry nor abandoned: {sorted(drawn - accounted)}; "
            f"not drawn from the counter: {sorted(accounted - drawn)}"
        )
    return problems
