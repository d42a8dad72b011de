"""The step-fault explorer: each flow run once cleanly to record its steps, then once per step
and per fault kind with that fault at that step only; each run ends with the reconciler (the
clock past every threshold), the invariants, the person for what only a person can settle,
the invariants again, and a retry of the same request, after which they must still hold."""

from __future__ import annotations

import pytest

from tests.functions.harness import Outcome
from tests.saga.conftest import ROWS, Row, end_summary
from tests.saga.invariants import World, told_truth, violations
from tests.saga.steps import FAULTS, Injection
from tests.saga.world import FLOWS, Context, Flow, SagaWorld


def _told(flow: Flow, outcome: Outcome | None) -> str:
    if flow.retry is None:
        return "(no caller)"
    if outcome is None:
        return "(died)"
    if outcome.ok:
        return f"ok {outcome.result.get('status', '')}".strip()
    return str(outcome.reason)


def _check_end(
    world: SagaWorld, flow: Flow, ctx: Context, outcome: Outcome | None
) -> tuple[list[str], str]:
    """Settle, then every promise; the person; the promises; a same-request retry; again.
    Returns the problems and the end state (before the retry)."""
    world.settle()
    end = World.read(world.harness)
    problems = violations(end, settled=True)
    problems += told_truth(
        end,
        flow.name,
        outcome,
        op_id=ctx.op_id,
        enquiry_id=ctx.enquiry_id,
        old_appointment=ctx.old_appointment,
    )
    if world.person():
        world.settle()
        end = World.read(world.harness)
        problems += violations(end, settled=True, person_done=True)
    summary = end_summary(end)
    if flow.retry is None:
        return problems, summary
    again = flow.retry(world, ctx)
    world.settle()
    world.person()
    world.settle()
    after = World.read(world.harness)
    problems += [f"after a retry: {p}" for p in violations(after, settled=True, person_done=True)]
    if outcome is not None and outcome.ok and flow.name != "cancel":
        replayed = again is not None and again.ok and again.result == outcome.result
        if not replayed:
            problems.append("a retry of a success did not answer the same result")
    return problems, summary


@pytest.mark.parametrize("flow", FLOWS, ids=[f.name for f in FLOWS])
def test_every_fault_at_every_step_keeps_the_promises(saga_world: SagaWorld, flow: Flow) -> None:
    world = saga_world
    ctx = flow.setup(world)
    with world.recorder.recording() as recorded:
        clean = flow.run(world, ctx)
    steps = list(recorded)
    assert steps, "the clean run recorded no step"
    assert clean is None or clean.ok, f"the clean run failed: {clean}"
    assert _check_end(world, flow, ctx, clean)[0] == []
    for index, step in enumerate(steps):
        for fault in FAULTS[step.kind]:
            world.reset()
            ctx = flow.setup(world)
            with world.recorder.recording(Injection(index, fault)):
                outcome = flow.run(world, ctx)
            seen = world.recorder.steps
            assert world.recorder.injected, f"step {index} ({step.label}) was not reached"
            assert seen[index] == step, f"step {index} is {seen[index]}, was {step} when clean"
            problems, end = _check_end(world, flow, ctx, outcome)
            row = Row(
                flow.name, index, step.label, fault, _told(flow, outcome), end, tuple(problems)
            )
            ROWS.append(row)
    broken = [r for r in ROWS if r.flow == flow.name and r.problems]
    assert broken == [], "\n".join(f"{r.index} {r.step} / {r.fault}: {r.problems}" for r in broken)
